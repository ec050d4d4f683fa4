//! Upstream snippets arrive as HTML fragments: matches wrapped in elements
//! (`<span class="searchmatch">`, `<em>`, `<b>`), entities, stray tags.
//! [`text_with_marks`] reduces one to plain text and the character ranges
//! of the marked matches; nothing of the markup survives, so nothing an
//! upstream sends can reach a page unescaped.

/// Plain text of `html`, whitespace collapsed, and the `[start, end)`
/// character ranges inside it of elements whose opening tag `is_mark`
/// accepts (e.g. `span class="searchmatch"`).
pub fn text_with_marks(html: &str, is_mark: impl Fn(&str) -> bool) -> (String, Vec<[usize; 2]>) {
    let mut text = String::with_capacity(html.len());
    let mut chars = 0usize;
    let mut marks = Vec::new();
    // Open elements: whether each is a mark, and where its mark began.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut pending_space = false;
    let mut rest = html;
    // Appends `s` with its whitespace runs collapsed, a word at a time.
    let push = |s: &str, text: &mut String, chars: &mut usize, pending: &mut bool| {
        let mut rest = s;
        while !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if end > 0 {
                if *pending {
                    text.push(' ');
                    *chars += 1;
                    *pending = false;
                }
                let word = &rest[..end];
                text.push_str(word);
                *chars += if word.is_ascii() {
                    word.len()
                } else {
                    word.chars().count()
                };
            }
            rest = &rest[end..];
            let space = rest
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len());
            if space > 0 {
                *pending = *chars > 0;
            }
            rest = &rest[space..];
        }
    };
    while !rest.is_empty() {
        match rest.find(['<', '&']) {
            None => {
                push(rest, &mut text, &mut chars, &mut pending_space);
                break;
            }
            Some(i) => {
                push(&rest[..i], &mut text, &mut chars, &mut pending_space);
                rest = &rest[i..];
            }
        }
        if let Some(after) = rest.strip_prefix('<') {
            let Some(end) = after.find('>') else {
                // A lone `<`: text, not a tag.
                push("<", &mut text, &mut chars, &mut pending_space);
                rest = after;
                continue;
            };
            let tag = after[..end].trim();
            rest = &after[end + 1..];
            if tag.starts_with('/') {
                if let Some(Some(start)) = open.pop()
                    && chars > start
                {
                    marks.push([start, chars]);
                }
            } else if !tag.ends_with('/') && !is_void(tag) {
                // A space pending before the mark belongs before it.
                let start = if pending_space { chars + 1 } else { chars };
                open.push(is_mark(tag).then_some(start));
            }
        } else {
            // An entity, or a lone `&`.
            let (decoded, used) = entity(rest);
            push(&decoded, &mut text, &mut chars, &mut pending_space);
            rest = &rest[used..];
        }
    }
    (text, marks)
}

fn is_void(tag: &str) -> bool {
    let name = tag
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        name.as_str(),
        "br" | "hr" | "img" | "wbr" | "input" | "meta" | "link"
    )
}

/// Decodes the entity at the start of `s` (which starts with `&`); returns
/// the text and the bytes used. Unknown or malformed entities are kept as
/// written.
fn entity(s: &str) -> (String, usize) {
    let Some(end) = s[1..].find(';').map(|i| i + 1).filter(|&i| i <= 10) else {
        return ("&".to_owned(), 1);
    };
    let name = &s[1..end];
    let decoded = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        "hellip" => Some('…'),
        "ndash" => Some('–'),
        "mdash" => Some('—'),
        _ => {
            let number = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()
            } else {
                name.strip_prefix('#').and_then(|d| d.parse().ok())
            };
            number
                .and_then(char::from_u32)
                .filter(|c| !c.is_control() || c.is_whitespace())
        }
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".to_owned(), 1),
    }
}

/// The non-empty parts, joined by ` · `: how a snippet lists a result's
/// facts (authors, year, version, …) when the API gives no excerpt.
pub(crate) fn facts<const N: usize>(parts: [String; N]) -> String {
    parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn searchmatch(tag: &str) -> bool {
        tag.contains("searchmatch")
    }

    fn marked(text: &str, marks: &[[usize; 2]]) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        marks
            .iter()
            .map(|[s, e]| chars[*s..*e].iter().collect())
            .collect()
    }

    #[test]
    fn mediawiki_snippets() {
        let (text, marks) = text_with_marks(
            r#"The <span class="searchmatch">Rust</span> programming language &amp; its <span class="searchmatch">compiler</span> (&quot;rustc&quot;)"#,
            searchmatch,
        );
        assert_eq!(
            text,
            r#"The Rust programming language & its compiler ("rustc")"#
        );
        assert_eq!(marked(&text, &marks), ["Rust", "compiler"]);
    }

    #[test]
    fn hostile_and_broken_markup_becomes_inert_text() {
        let (text, marks) = text_with_marks(
            r#"<script>alert(1)</script> a &lt;b&gt; <img src=x onerror=alert(1)> 1 < 2 && café&#233; &#x1F600; &bogus; &#0;"#,
            searchmatch,
        );
        assert_eq!(text, "alert(1) a <b> 1 < 2 && caféé 😀 &bogus; &#0;");
        assert!(marks.is_empty());
        assert!(!text.contains("<script"));
    }

    #[test]
    fn whitespace_collapses_and_offsets_count_characters() {
        let (text, marks) = text_with_marks("  déjà\n\n  <em>vu</em>   <b>x</b> ", |tag| {
            tag == "em" || tag == "b"
        });
        assert_eq!(text, "déjà vu x");
        assert_eq!(marks, [[5, 7], [8, 9]]);
    }
}
