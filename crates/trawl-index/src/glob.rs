//! Path globs (`*`, `**`, `?`) for ingestion's and crawls' include and
//! exclude lists, with a bounded matcher.

/// A path pattern for `--exclude`: `*` matches within one path segment, `**`
/// across segments, `?` one character. Patterns without a `/` match the file
/// name anywhere in the tree, as in `.gitignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    anchored: bool,
}

impl Glob {
    /// A pattern: `*` any run of characters but `/`, `**` any run, `?` one character.
    pub fn new(pattern: &str) -> Self {
        let pattern = pattern.trim_start_matches("./");
        Self {
            anchored: pattern.contains('/'),
            pattern: pattern.to_owned(),
        }
    }

    /// Whether `relative` (a `/`-separated path relative to the folder being
    /// ingested, or a URL's path without its leading `/`) matches.
    /// Matching is bounded: a pattern that would need more than
    /// 100,000 steps on a path (many stars against a long path) does
    /// not match it.
    pub fn matches(&self, relative: &str) -> bool {
        let mut budget = MAX_STEPS;
        if self.anchored {
            matches(self.pattern.as_bytes(), relative.as_bytes(), &mut budget)
        } else {
            let name = relative.rsplit('/').next().unwrap_or(relative);
            matches(self.pattern.as_bytes(), name.as_bytes(), &mut budget)
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// Steps one match may take.
pub(crate) const MAX_STEPS: u32 = 100_000;

fn matches(pattern: &[u8], text: &[u8], budget: &mut u32) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => {
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=text.len()).any(|i| matches(rest, &text[i..], budget))
        }
        [b'*', rest @ ..] => {
            let segment_end = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
            (0..=segment_end).any(|i| matches(rest, &text[i..], budget))
        }
        [b'?', rest @ ..] => {
            text.first().is_some_and(|&b| b != b'/') && matches(rest, &text[1..], budget)
        }
        [p, rest @ ..] => text.first() == Some(p) && matches(rest, &text[1..], budget),
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn glob_cases() {
        let cases = [
            ("genindex*.html", "genindex-A.html", true),
            ("genindex*.html", "sub/genindex-all.html", true),
            ("genindex*.html", "index.html", false),
            ("whatsnew/**", "whatsnew/3.11.html", true),
            ("whatsnew/**", "whatsnew/a/b.html", true),
            ("whatsnew/**", "library/whatsnew.html", false),
            ("*/changelog.html", "whatsnew/changelog.html", true),
            ("*/changelog.html", "a/b/changelog.html", false),
            ("**/changelog.html", "a/b/changelog.html", true),
            ("search.htm?", "search.html", true),
        ];
        let slow = Glob::new("**a**a**a**a**a**a**a**a**b");
        assert!(!slow.matches(&"a/".repeat(2000)), "bounded, and no match");
        for (pattern, path, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(path),
                expected,
                "{pattern} vs {path}"
            );
        }
    }
}
