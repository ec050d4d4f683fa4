//! Snippets: the best short passage of a body, with the query terms located.
//!
//! tantivy's `SnippetGenerator` runs the full analyzer over the whole stored
//! text: on the demo corpus's long manual pages that was 98% of a query
//! (3.8 of 3.9 ms at p50). Here one pass walks the words without allocating;
//! a word is stemmed only if it can match — the English stemmer never
//! changes a word's first letter, and its second only in the exceptional
//! forms *dying*, *lying*, *tying*, whose stems have three letters — and the
//! passage is chosen from the matches found.

use std::collections::{BTreeMap, BTreeSet};

use tantivy::schema::Field;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Score, Searcher, Term};

use crate::index::Ranking;

/// A word of the body that matches a query term.
#[derive(Debug, Clone, Copy)]
struct Match {
    start: usize,
    end: usize,
    term: usize,
}

/// Finds snippets for one query.
pub(crate) struct Snippeter {
    /// Query stems and their weights (rarer terms weigh more).
    terms: Vec<(String, Score)>,
    /// Lower-cased first letter (stems of up to three letters) or first two
    /// letters of each stem: a word that starts otherwise cannot match.
    prefixes: Vec<String>,
    /// `ascii_starts[b]`: an ASCII word starting with byte `b` (lower-cased)
    /// may match. Rejects most words at their first byte.
    ascii_starts: [bool; 128],
    analyzer: TextAnalyzer,
    max_bytes: usize,
    word: String,
    /// Words already looked at for this query, and what they matched: a
    /// manual page repeats its vocabulary hundreds of times.
    seen: std::collections::HashMap<String, Option<usize>>,
}

/// ASCII bytes that are part of words (`char::is_alphanumeric`).
const ASCII_WORD: [bool; 128] = {
    let mut table = [false; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

impl Snippeter {
    /// For `query`'s terms on `field`, weighed as tantivy weighs them for
    /// snippets: 1 / (1 + document frequency).
    pub(crate) fn new(
        searcher: &Searcher,
        query: &dyn tantivy::query::Query,
        field: Field,
        ranking: Ranking,
        max_bytes: usize,
    ) -> tantivy::Result<Self> {
        let mut query_terms: BTreeSet<&Term> = BTreeSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                query_terms.insert(term);
            }
        });
        let mut terms = BTreeMap::new();
        for term in query_terms {
            let value = term.value();
            let Some(text) = value.as_str() else { continue };
            let doc_freq = searcher.doc_freq(term)?;
            if doc_freq > 0 {
                terms.insert(text.to_owned(), 1.0 / (1.0 + doc_freq as Score));
            }
        }
        let prefixes: BTreeSet<String> = terms.keys().map(|stem| gate_prefix(stem)).collect();
        let mut ascii_starts = [false; 128];
        for prefix in &prefixes {
            match prefix.chars().next() {
                Some(c) if c.is_ascii() => ascii_starts[c as usize] = true,
                // A non-ASCII first letter may be the lower case of an ASCII
                // one (the Kelvin sign's is `k`): let every ASCII word through
                // to the exact check.
                _ => ascii_starts = [true; 128],
            }
        }
        Ok(Self {
            terms: terms.into_iter().collect(),
            prefixes: prefixes.into_iter().collect(),
            ascii_starts,
            analyzer: ranking.analyzer(),
            max_bytes,
            word: String::new(),
            seen: std::collections::HashMap::new(),
        })
    }

    /// The best passage of at most `max_bytes` bytes and the matched words
    /// in it, as `[start, end)` character offsets; `None` when nothing in
    /// `body` matches.
    pub(crate) fn snippet(&mut self, body: &str) -> Option<(String, Vec<[usize; 2]>)> {
        if self.terms.is_empty() {
            return None;
        }
        let matches = self.matches(body);
        let (first, last) = self.best_window(&matches)?;
        let (start, end) = self.context(body, matches[first].start, matches[last].end);
        let fragment = &body[start..end];
        let trimmed = fragment.trim_start();
        let start = start + (fragment.len() - trimmed.len());
        let fragment = trimmed.trim_end();
        let char_at = |byte: usize| fragment[..byte - start].chars().count();
        let highlights = matches[first..=last]
            .iter()
            .map(|m| [char_at(m.start), char_at(m.end)])
            .collect();
        Some((fragment.to_owned(), highlights))
    }

    /// Every word of `body` that stems to a query term, in order. Words are
    /// runs of alphanumeric characters, as the index's tokenizer sees them;
    /// ASCII bytes are classified by table, the rest decoded.
    fn matches(&mut self, body: &str) -> Vec<Match> {
        let bytes = body.as_bytes();
        let mut matches = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            // Skip to the next word.
            let b = bytes[i];
            if b < 0x80 {
                if !ASCII_WORD[usize::from(b)] {
                    i += 1;
                    continue;
                }
            } else {
                let c = body[i..].chars().next().expect("at a char boundary");
                if !c.is_alphanumeric() {
                    i += c.len_utf8();
                    continue;
                }
            }
            let start = i;
            while i < bytes.len() {
                let b = bytes[i];
                if b < 0x80 {
                    if !ASCII_WORD[usize::from(b)] {
                        break;
                    }
                    i += 1;
                } else {
                    let c = body[i..].chars().next().expect("at a char boundary");
                    if !c.is_alphanumeric() {
                        break;
                    }
                    i += c.len_utf8();
                }
            }
            let first = bytes[start];
            if first < 0x80 && !self.ascii_starts[usize::from(first.to_ascii_lowercase())] {
                continue;
            }
            let word = &body[start..i];
            let term = match self.seen.get(word) {
                Some(&term) => term,
                None => {
                    let term = self.match_word(word);
                    self.seen.insert(word.to_owned(), term);
                    term
                }
            };
            if let Some(term) = term {
                matches.push(Match {
                    start,
                    end: i,
                    term,
                });
            }
        }
        matches
    }

    fn match_word(&mut self, word: &str) -> Option<usize> {
        if !self.prefixes.iter().any(|p| starts_with_lowercase(word, p)) {
            return None;
        }
        let mut stream = self.analyzer.token_stream(word);
        self.word.clear();
        if stream.advance() {
            self.word.push_str(&stream.token().text);
        }
        drop(stream);
        self.terms.iter().position(|(stem, _)| *stem == self.word)
    }

    /// The run of matches, spanning at most `max_bytes`, with the highest
    /// score: the weights of the distinct terms in it, plus a little for
    /// repeats. The earliest wins ties.
    fn best_window(&self, matches: &[Match]) -> Option<(usize, usize)> {
        let mut best: Option<(Score, usize, usize)> = None;
        let mut seen = vec![0u32; self.terms.len()];
        let mut last = 0;
        for first in 0..matches.len() {
            seen.iter_mut().for_each(|n| *n = 0);
            let mut score = 0.0;
            last = last.max(first);
            let mut end = first;
            while end < matches.len() && matches[end].end - matches[first].start <= self.max_bytes {
                let term = matches[end].term;
                let weight = self.terms[term].1;
                score += if seen[term] == 0 {
                    weight
                } else {
                    weight * 0.1
                };
                seen[term] += 1;
                end += 1;
            }
            if end > first && best.is_none_or(|(s, ..)| score > s) {
                best = Some((score, first, end - 1));
            }
        }
        best.map(|(_, first, last)| (first, last))
    }

    /// Widens `[from, to)` to `max_bytes` of context around it, without
    /// cutting words at either end.
    fn context(&self, body: &str, from: usize, to: usize) -> (usize, usize) {
        let spare = self.max_bytes.saturating_sub(to - from);
        let mut start = floor_boundary(body, from.saturating_sub(spare / 2));
        let mut end = ceil_boundary(body, (start + self.max_bytes).min(body.len())).max(to);
        if end > start + self.max_bytes {
            end = to;
        }
        // Whole words only: move inwards to whitespace, never past the matches.
        if start > 0 && !body[..start].ends_with(char::is_whitespace) {
            if let Some(space) = body[start..from].find(char::is_whitespace) {
                start += space;
            } else {
                start = from;
            }
        }
        if end < body.len() && !body[end..].starts_with(char::is_whitespace) {
            end = body[to..end]
                .rfind(char::is_whitespace)
                .map_or(to, |space| to + space);
        }
        (start, end)
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn gate_prefix(stem: &str) -> String {
    let keep = if stem.chars().count() <= 3 { 1 } else { 2 };
    stem.chars().take(keep).collect()
}

/// Whether `word`, lower-cased, starts with `prefix` (already lower case).
fn starts_with_lowercase(word: &str, prefix: &str) -> bool {
    let mut chars = word.chars().flat_map(char::to_lowercase);
    prefix.chars().all(|p| chars.next() == Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalIndex;

    fn stem_all(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// Every word that stems to a stem passes that stem's gate.
    #[test]
    fn the_gate_never_turns_away_a_word_that_would_match() {
        let text = "Dying lying tying skies skis idly gently ugly early only singly news happy \
            happiness cries cried crying generously generalization universities universal \
            indexes indexing concurrently concurrent create created creation was were being \
            Yesterday yelled Ypsilanti 42nd 3D résumé naïve Übermäßig ÉCOLE über";
        let mut analyzer = Ranking::default().analyzer();
        for word in text.split_whitespace() {
            for stem in stem_all(&mut analyzer, word) {
                assert!(
                    starts_with_lowercase(word, &gate_prefix(&stem)),
                    "{word} → {stem}"
                );
            }
        }
    }

    /// On real pages (the first 400 of the bundled demo corpus): every word
    /// of a snippet that stems to a query term is marked, nothing else is,
    /// snippets respect the length limit and cut no word, and a page with a
    /// match always gets a snippet.
    #[test]
    fn snippets_mark_exactly_the_matching_words_on_real_pages() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        let pages = crate::demo_pages(400);
        let bodies: Vec<String> = pages.iter().map(|p| p.body.clone()).collect();
        for page in pages {
            writer.upsert(page).unwrap();
        }
        writer.commit().unwrap();
        let mut analyzer = Ranking::default().analyzer();
        let mut checked = 0;
        for q in [
            "create index concurrently",
            "dying process",
            "lying tie",
            "sql functions returning tables",
            "happiness",
            "authentication methods",
            "vacuum full",
            "replication slots",
            "json operators",
            "generously",
        ] {
            let stems: BTreeSet<String> = stem_all(&mut analyzer, q).into_iter().collect();
            let (searcher, text_field, _) = index.snippet_parts();
            let query = index.parse_for_tests(q);
            let mut snippeter =
                Snippeter::new(&searcher, &*query, text_field, Ranking::default(), 220).unwrap();
            for body in &bodies {
                let body_matches = stem_all(&mut analyzer, body)
                    .iter()
                    .any(|s| stems.contains(s));
                let Some((fragment, highlights)) = snippeter.snippet(body) else {
                    assert!(!body_matches, "{q}: no snippet for a matching body");
                    continue;
                };
                assert!(
                    fragment.len() <= 220 && body.contains(&fragment),
                    "{q}: {fragment:?}"
                );
                let chars: Vec<char> = fragment.chars().collect();
                let marked: Vec<String> = highlights
                    .iter()
                    .map(|[s, e]| chars[*s..*e].iter().collect())
                    .collect();
                let expected: Vec<String> = fragment
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| {
                        !w.is_empty()
                            && stem_all(&mut analyzer, w)
                                .first()
                                .is_some_and(|s| stems.contains(s))
                    })
                    .map(str::to_owned)
                    .collect();
                assert_eq!(marked, expected, "{q}: {fragment:?}");
                let at = body.find(&fragment).unwrap();
                let before = body[..at].chars().next_back();
                let after = body[at + fragment.len()..].chars().next();
                assert!(
                    !before.is_some_and(char::is_alphanumeric)
                        || !fragment.starts_with(char::is_alphanumeric),
                    "{q}: cut word at start of {fragment:?}"
                );
                assert!(
                    !after.is_some_and(char::is_alphanumeric)
                        || !fragment.ends_with(char::is_alphanumeric),
                    "{q}: cut word at end of {fragment:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 200, "{checked}");
    }
}
