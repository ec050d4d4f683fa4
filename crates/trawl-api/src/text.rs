//! Characters no displayed text keeps.

/// Whether `c` is an invisible formatting character that can change how
/// the text around it reads without showing itself: the bidirectional
/// controls (U+202E turns "RTL \u{202e}gnp.exe" into "RTL exe.png"), zero-width
/// spaces and joiners that hide words from filters, the byte-order mark,
/// the soft hyphen, interlinear annotations and the tag characters.
/// Zero-width non-joiner and joiner (U+200C, U+200D) are kept: scripts
/// such as Persian and emoji sequences need them, and they move nothing.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// `text` without the characters `drop` picks: borrowed when there are
/// none, the common case.
pub fn without(text: &str, drop: fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if text.chars().any(drop) {
        text.chars()
            .filter(|c| !drop(*c))
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// Whether display text drops `c`: a control character or an
/// [invisible](is_invisible) one.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_zero_width_characters_are_hidden_letters_are_not() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{0007}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        for c in ['a', 'é', 'ש', '\u{200D}', '\u{200C}', ' '] {
            assert!(!is_hidden(c), "{c:?}");
        }
    }
}
