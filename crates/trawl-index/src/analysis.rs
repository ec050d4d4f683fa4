//! The last step of the analyzer, English stemming, with a memo.
//!
//! Stemming was 54 % of all instructions spent indexing IMDB reviews (about
//! 1,650 per word). Word frequencies are Zipfian, so each analyzer instance
//! (tantivy clones one per indexing thread) remembers the stems it has
//! computed; the output is exactly tantivy's `Stemmer`'s, which calls the
//! same `frostem` English stemmer.

use std::collections::HashMap;

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// Words remembered before the memo starts over: bounds its memory (a few
/// MiB) whatever the vocabulary.
const MEMO_LIMIT: usize = if cfg!(test) { 64 } else { 100_000 };

#[derive(Clone, Copy)]
pub(crate) struct MemoStemmer;

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter {
            inner: tokenizer,
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
            memo: HashMap::new(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct MemoStemmerFilter<T> {
    inner: T,
    stemmer: frostem::Stemmer,
    memo: HashMap<String, String>,
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        MemoStemmerStream {
            tail: self.inner.token_stream(text),
            stemmer: self.stemmer,
            memo: &mut self.memo,
        }
    }
}

pub(crate) struct MemoStemmerStream<'a, S> {
    tail: S,
    stemmer: frostem::Stemmer,
    memo: &'a mut HashMap<String, String>,
}

impl<S: TokenStream> TokenStream for MemoStemmerStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if let Some(stem) = self.memo.get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
        } else {
            let stem = self.stemmer.stem(&token.text).into_owned();
            if self.memo.len() >= MEMO_LIMIT {
                self.memo.clear();
            }
            let word = std::mem::replace(&mut token.text, stem.clone());
            self.memo.insert(word, stem);
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::{
        Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
    };

    use crate::Ranking;

    /// Token for token — text, offsets, positions — the same as tantivy's own
    /// chain, over the first 300 pages of the demo corpus (far more distinct
    /// words than the test build's memo holds, so it also starts over).
    #[test]
    fn same_tokens_as_tantivy_s_stemmer() {
        let mut ours = Ranking::default().analyzer();
        let mut stock = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(Stemmer::new(Language::English))
            .build();
        let mut tokens = 0;
        for page in crate::demo_pages(300) {
            let body = page.body.as_str();
            let (mut a, mut b) = (ours.token_stream(body), stock.token_stream(body));
            loop {
                match (a.next(), b.next()) {
                    (None, None) => break,
                    (Some(x), Some(y)) => {
                        assert_eq!(
                            (&x.text, x.offset_from, x.offset_to, x.position),
                            (&y.text, y.offset_from, y.offset_to, y.position)
                        );
                        tokens += 1;
                    }
                    (x, y) => panic!("streams differ in length: {x:?} vs {y:?}"),
                }
            }
        }
        assert!(tokens > 100_000, "{tokens}");
    }
}
