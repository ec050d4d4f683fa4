//! The text path of the pipeline: cleaning a title or snippet for display,
//! cutting it at a word boundary, marking the query's terms and rendering
//! the marks as escaped HTML.
//!
//! Offsets are in Unicode characters, as on the wire. Everything here runs
//! for every result of every request, so it copies runs of text rather
//! than characters, and takes a byte-wise path for ASCII words; the tests
//! hold it to a plain character-by-character definition of the same
//! functions.

/// Query terms shorter than this are not highlighted on their own.
const MIN_TERM_CHARS: usize = 2;
/// How many trailing characters may differ between a query term and a word
/// for the word still to count as a form of the term (`index`/`indexes`).
const MAX_SUFFIX_CHARS: usize = 3;

/// A query term, lower-cased.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    text: String,
    chars: usize,
}

/// Lower-cased words of the query, each once, longest first so a longer
/// term wins where two overlap.
pub(crate) fn query_terms(query: &str) -> Vec<Term> {
    let mut terms: Vec<String> = words(query)
        .map(|(_, word)| word.to_lowercase())
        .filter(|word| word.chars().count() >= MIN_TERM_CHARS)
        .collect();
    terms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    terms.dedup();
    terms
        .into_iter()
        .map(|text| Term {
            chars: text.chars().count(),
            text,
        })
        .collect()
}

/// Display text with a mark per character.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Marked {
    pub text: String,
    /// Characters in `text`.
    pub chars: usize,
    /// One per character, or empty when none is marked.
    marks: Vec<bool>,
}

impl Marked {
    /// `[start, end)` character ranges of the marked runs.
    pub(crate) fn ranges(&self) -> Vec<[usize; 2]> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, &mark) in self.marks.iter().chain(std::iter::once(&false)).enumerate() {
            match (mark, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    out.push([s, i]);
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    fn mark(&mut self, start: usize, end: usize) {
        if self.marks.is_empty() {
            self.marks = vec![false; self.chars];
        }
        self.marks[start..end].fill(true);
    }
}

/// Collapses whitespace runs to one space, trims, and drops control
/// characters and invisible formatting ([`trawl_api::text::is_hidden`]:
/// bidirectional overrides, zero-width spaces), carrying the engine's `highlights` (character ranges of
/// `text`; invalid ones are ignored) through the change.
pub(crate) fn clean(text: &str, highlights: &[[usize; 2]]) -> Marked {
    // Marks by input character, only when there are any.
    let mut marked: Vec<bool> = Vec::new();
    if !highlights.is_empty() {
        let chars = text.chars().count();
        for &[start, end] in highlights {
            if start < end && end <= chars {
                if marked.is_empty() {
                    marked = vec![false; chars];
                }
                marked[start..end].fill(true);
            }
        }
    }
    if is_clean_ascii(text) {
        // Most text arrives clean: one copy, and the marks as they are,
        // but for the rule below: a space between two marked characters
        // is inside the mark.
        let marks = if marked.contains(&true) {
            let mut marks = marked;
            for (at, byte) in text.bytes().enumerate() {
                if byte == b' ' {
                    marks[at] = marks[at - 1] && marks[at + 1];
                }
            }
            marks
        } else {
            Vec::new()
        };
        return Marked {
            text: text.to_owned(),
            chars: text.len(),
            marks,
        };
    }
    let mut out = Marked {
        text: String::with_capacity(text.len()),
        chars: 0,
        marks: Vec::with_capacity(if marked.is_empty() { 0 } else { text.len() }),
    };
    let mut pending_space = false;
    // The run of kept characters not yet copied: where it began, in bytes
    // and in characters.
    let mut run: Option<(usize, usize)> = None;
    let flush = |out: &mut Marked, run: (usize, usize), end: (usize, usize)| {
        out.text.push_str(&text[run.0..end.0]);
        if !marked.is_empty() {
            out.marks.extend_from_slice(&marked[run.1..end.1]);
        }
        out.chars += end.1 - run.1;
    };
    for (index, (byte, c)) in text.char_indices().enumerate() {
        let space = c.is_whitespace();
        if !space && !trawl_api::text::is_hidden(c) {
            if run.is_none() {
                if pending_space {
                    out.text.push(' ');
                    if !marked.is_empty() {
                        // A space between two marked characters stays
                        // inside the mark.
                        let mark = marked[index] && out.marks.last() == Some(&true);
                        out.marks.push(mark);
                    }
                    out.chars += 1;
                    pending_space = false;
                }
                run = Some((byte, index));
            }
            continue;
        }
        if let Some(begun) = run.take() {
            flush(&mut out, begun, (byte, index));
        }
        if space {
            pending_space = out.chars > 0;
        }
    }
    if let Some(begun) = run {
        let chars = if marked.is_empty() {
            begun.1 + text[begun.0..].chars().count()
        } else {
            marked.len()
        };
        flush(&mut out, begun, (text.len(), chars));
    }
    if !out.marks.contains(&true) {
        out.marks = Vec::new();
    }
    out
}

/// Cuts `text` to at most `max` characters at the last space before the
/// limit (mid-word only when there is none), ending it with `…`.
pub(crate) fn truncate(mut text: Marked, max: usize) -> Marked {
    if text.chars <= max {
        return text;
    }
    let limit = max.saturating_sub(1).max(1);
    let cut_byte = byte_offset(&text.text, limit);
    let (kept_bytes, kept_chars) = match text.text[..cut_byte].rfind(' ') {
        // The limit falls just after a whole word.
        _ if text.text[cut_byte..].starts_with(' ') => (cut_byte, limit),
        Some(space) if space > 0 => (space, char_count(&text.text[..space])),
        _ => (cut_byte, limit),
    };
    let kept = text.text[..kept_bytes].trim_end().len();
    let trimmed_chars = char_count(&text.text[kept..kept_bytes]);
    text.text.truncate(kept);
    text.text.push('…');
    text.chars = kept_chars - trimmed_chars + 1;
    if !text.marks.is_empty() {
        text.marks.truncate(text.chars - 1);
        text.marks.push(false);
    }
    text
}

/// Marks the words of `text` that are forms of a query term
/// (case-insensitively, up to [`MAX_SUFFIX_CHARS`] characters apart).
pub(crate) fn mark_terms(text: &mut Marked, terms: &[Term]) {
    if terms.is_empty() {
        return;
    }
    // One buffer for every word's lower-case form.
    let mut lower = String::new();
    let mut found: Vec<[usize; 2]> = Vec::new();
    for (offset, word) in words(&text.text) {
        lower.clear();
        let (chars, lower_chars) = if word.is_ascii() {
            lower.push_str(word);
            lower.make_ascii_lowercase();
            (word.len(), word.len())
        } else {
            lower.extend(word.chars().flat_map(char::to_lowercase));
            (word.chars().count(), lower.chars().count())
        };
        if terms
            .iter()
            .any(|term| is_form_of(&lower, lower_chars, term))
        {
            found.push([offset, offset + chars]);
        }
    }
    for [start, end] in found {
        text.mark(start, end);
    }
}

fn is_form_of(word: &str, word_chars: usize, term: &Term) -> bool {
    if word == term.text {
        return true;
    }
    let ((short, short_chars), (long, long_chars)) = if word.len() < term.text.len() {
        ((word, word_chars), (term.text.as_str(), term.chars))
    } else {
        ((term.text.as_str(), term.chars), (word, word_chars))
    };
    short_chars >= 3 && long.starts_with(short) && long_chars - short_chars <= MAX_SUFFIX_CHARS
}

/// `text` escaped for HTML with each of `highlights` (sorted, disjoint
/// character ranges) in a `<mark>` element.
pub(crate) fn marked_html(text: &str, highlights: &[[usize; 2]]) -> String {
    let mut html = String::with_capacity(text.len() + highlights.len() * 13 + 16);
    let ascii = text.is_ascii();
    let mut bytes = text.char_indices().map(|(b, _)| b).chain([text.len()]);
    let mut seen_chars = 0;
    let mut to_byte = |char_offset: usize| {
        if ascii {
            return char_offset.min(text.len());
        }
        let byte = bytes.nth(char_offset - seen_chars).unwrap_or(text.len());
        seen_chars = char_offset + 1;
        byte
    };
    let mut done = 0;
    for &[start, end] in highlights {
        let (start, end) = (to_byte(start), to_byte(end));
        escape_into(&mut html, &text[done..start]);
        html.push_str("<mark>");
        escape_into(&mut html, &text[start..end]);
        html.push_str("</mark>");
        done = end;
    }
    escape_into(&mut html, &text[done..]);
    html
}

/// Appends `text` escaped for HTML element content and quoted attribute
/// values.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    let mut done = 0;
    for (at, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[done..at]);
        out.push_str(entity);
        done = at + 1;
    }
    out.push_str(&text[done..]);
}

/// Maximal runs of alphanumeric characters, with their character offset.
fn words(text: &str) -> Words<'_> {
    Words {
        text,
        chars: text.char_indices().enumerate(),
    }
}

struct Words<'a> {
    text: &'a str,
    chars: std::iter::Enumerate<std::str::CharIndices<'a>>,
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (offset, begin) = loop {
            let (at, (byte, c)) = self.chars.next()?;
            if c.is_alphanumeric() {
                break (at, byte);
            }
        };
        for (_, (byte, c)) in self.chars.by_ref() {
            if !c.is_alphanumeric() {
                return Some((offset, &self.text[begin..byte]));
            }
        }
        Some((offset, &self.text[begin..]))
    }
}

/// Printable ASCII with single spaces between words and none at either
/// end: what [`clean`] would return unchanged.
fn is_clean_ascii(text: &str) -> bool {
    // As if preceded by a space, so that a leading one fails.
    let mut after_space = true;
    for &byte in text.as_bytes() {
        match byte {
            b' ' if after_space => return false,
            b' ' => after_space = true,
            0x21..=0x7e => after_space = false,
            _ => return false,
        }
    }
    !after_space || text.is_empty()
}

fn char_count(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Byte offset of character `n` (the length when there are fewer).
fn byte_offset(text: &str, n: usize) -> usize {
    if text.is_ascii() {
        return n.min(text.len());
    }
    text.char_indices().nth(n).map_or(text.len(), |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The same functions, character by character: the definition the
    /// faster code above is held to.
    mod reference {
        use super::super::{MAX_SUFFIX_CHARS, words};

        pub(super) fn clean(text: &str, highlights: &[[usize; 2]]) -> (String, Vec<bool>) {
            let chars = text.chars().count();
            let mut marked = vec![false; chars];
            for &[start, end] in highlights {
                if start < end && end <= chars {
                    marked[start..end].iter_mut().for_each(|m| *m = true);
                }
            }
            let mut out = String::new();
            let mut marks = Vec::new();
            let mut pending_space = false;
            for (i, c) in text.chars().enumerate() {
                if c.is_whitespace() {
                    pending_space = !out.is_empty();
                    continue;
                }
                if trawl_api::text::is_hidden(c) {
                    continue;
                }
                if pending_space {
                    out.push(' ');
                    marks.push(marked[i] && marks.last() == Some(&true));
                    pending_space = false;
                }
                out.push(c);
                marks.push(marked[i]);
            }
            (out, marks)
        }

        pub(super) fn truncate(
            text: String,
            mut marks: Vec<bool>,
            max: usize,
        ) -> (String, Vec<bool>) {
            if text.chars().count() <= max {
                return (text, marks);
            }
            let limit = max.saturating_sub(1).max(1);
            let cut_byte = text
                .char_indices()
                .nth(limit)
                .map_or(text.len(), |(b, _)| b);
            let (kept_bytes, kept_chars) = match text[..cut_byte].rfind(' ') {
                _ if text[cut_byte..].starts_with(' ') => (cut_byte, limit),
                Some(space) if space > 0 => (space, text[..space].chars().count()),
                _ => (cut_byte, limit),
            };
            let mut out = text[..kept_bytes].trim_end().to_owned();
            let kept_chars = kept_chars.min(out.chars().count());
            out.push('…');
            marks.truncate(kept_chars);
            marks.push(false);
            (out, marks)
        }

        fn is_form_of(word: &str, term: &str) -> bool {
            if word == term {
                return true;
            }
            let (short, long) = if word.len() < term.len() {
                (word, term)
            } else {
                (term, word)
            };
            short.chars().count() >= 3
                && long.starts_with(short)
                && long.chars().count() - short.chars().count() <= MAX_SUFFIX_CHARS
        }

        pub(super) fn mark_terms(text: &str, mut marks: Vec<bool>, terms: &[String]) -> Vec<bool> {
            for (offset, word) in words(text) {
                let lower: String = word.chars().flat_map(char::to_lowercase).collect();
                if terms.iter().any(|term| is_form_of(&lower, term)) {
                    let len = word.chars().count();
                    marks[offset..offset + len]
                        .iter_mut()
                        .for_each(|m| *m = true);
                }
            }
            marks
        }

        pub(super) fn marked_html(text: &str, highlights: &[[usize; 2]]) -> String {
            let mut html = String::new();
            let mut next = highlights.iter().peekable();
            let mut open = false;
            for (i, c) in text.chars().enumerate() {
                if open && next.peek().is_some_and(|[_, end]| *end == i) {
                    html.push_str("</mark>");
                    open = false;
                    next.next();
                }
                if !open && next.peek().is_some_and(|[start, _]| *start == i) {
                    html.push_str("<mark>");
                    open = true;
                }
                match c {
                    '&' => html.push_str("&amp;"),
                    '<' => html.push_str("&lt;"),
                    '>' => html.push_str("&gt;"),
                    '"' => html.push_str("&quot;"),
                    '\'' => html.push_str("&#39;"),
                    c => html.push(c),
                }
            }
            if open {
                html.push_str("</mark>");
            }
            html
        }
    }

    /// The whole text path, fast.
    fn present(
        text: &str,
        highlights: &[[usize; 2]],
        query: &str,
        max: usize,
    ) -> (String, Vec<[usize; 2]>, String) {
        let mut marked = truncate(clean(text, highlights), max);
        mark_terms(&mut marked, &query_terms(query));
        assert_eq!(marked.chars, marked.text.chars().count());
        assert!(marked.marks.is_empty() || marked.marks.len() == marked.chars);
        let ranges = marked.ranges();
        let html = marked_html(&marked.text, &ranges);
        (marked.text, ranges, html)
    }

    /// The whole text path, by the definition.
    fn present_reference(
        text: &str,
        highlights: &[[usize; 2]],
        query: &str,
        max: usize,
    ) -> (String, Vec<[usize; 2]>, String) {
        let (text, marks) = reference::clean(text, highlights);
        let (text, marks) = reference::truncate(text, marks, max);
        let terms: Vec<String> = query_terms(query).into_iter().map(|t| t.text).collect();
        let marks = reference::mark_terms(&text, marks, &terms);
        let ranges = Marked {
            chars: marks.len(),
            marks,
            text: String::new(),
        }
        .ranges();
        let html = reference::marked_html(&text, &ranges);
        (text, ranges, html)
    }

    /// Text with what makes the path interesting: case, suffixes,
    /// whitespace runs, controls, markup characters, multi-byte letters
    /// (including ones whose lower case is longer, like `İ`).
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("Index".to_owned()),
                Just("indexes".to_owned()),
                Just("INDEXING".to_owned()),
                Just("idx".to_owned()),
                Just("Café".to_owned()),
                Just("cafés".to_owned()),
                Just("İstanbul".to_owned()),
                Just("İİ".to_owned()),
                Just("straße".to_owned()),
                Just("日本語".to_owned()),
                Just(" ".to_owned()),
                Just("  \n\t".to_owned()),
                Just("\t".to_owned()),
                Just("\n".to_owned()),
                Just("\u{a0}".to_owned()),
                Just("\u{1}".to_owned()),
                Just("\u{85}".to_owned()),
                Just("<b>".to_owned()),
                Just("&amp;".to_owned()),
                Just("\"'".to_owned()),
                "[a-zA-Z0-9]{1,8}",
                any::<char>().prop_map(String::from),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn the_fast_path_is_the_definition(
            text in prop_oneof![
                text(),
                // Already clean, which takes a path of its own.
                proptest::collection::vec("[a-zA-Z<&]{1,6}", 1..8).prop_map(|w| w.join(" ")),
            ],
            highlights in proptest::collection::vec([0usize..24, 0usize..24], 0..6),
            query in prop_oneof![
                Just("index".to_owned()),
                Just("café istanbul".to_owned()),
                Just("İNDEX STRASSE".to_owned()),
                Just("日本語 x".to_owned()),
                "[a-zA-Z ]{0,12}",
            ],
            max in 1usize..80,
        ) {
            prop_assert_eq!(
                present(&text, &highlights, &query, max),
                present_reference(&text, &highlights, &query, max)
            );
        }
    }

    #[test]
    fn marks_survive_cleaning_and_cutting() {
        let (text, ranges, html) = present(
            "  Creating  an\n<b>INDEX</b> & \"indexes\" concurrently\u{1} in idx ",
            &[[2, 10]],
            "create index",
            80,
        );
        assert_eq!(
            text,
            "Creating an <b>INDEX</b> & \"indexes\" concurrently in idx"
        );
        assert_eq!(ranges, [[0, 8], [15, 20], [28, 35]]);
        assert_eq!(
            html,
            "<mark>Creating</mark> an &lt;b&gt;<mark>INDEX</mark>&lt;/b&gt; &amp; &quot;<mark>indexes</mark>&quot; concurrently in idx"
        );
        // Two marked words make one mark, spaces between them included.
        for (text, highlights) in [
            ("CREATE INDEX now", [[0, 6], [7, 12]]),
            ("CREATE \n INDEX now", [[0, 6], [9, 14]]),
        ] {
            assert_eq!(
                present(text, &highlights, "", 80),
                present_reference(text, &highlights, "", 80)
            );
            assert_eq!(clean(text, &highlights).ranges(), [[0, 12]], "{text:?}");
        }
        let cut = truncate(clean(&"a".repeat(80), &[[0, 80]]), 10);
        assert_eq!(
            (cut.chars, cut.text.chars().count(), cut.ranges()),
            (10, 10, vec![[0, 9]])
        );
    }
}
