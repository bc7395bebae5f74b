//! Characters that make a string display as something other than what it is.
//!
//! An identifier (session id, namespace) is shown to people in `memd ctl`,
//! logs and exports; one holding a bidi override (`abc\u{202E}fdp.exe` reads
//! as `abcexe.pdf`) or an invisible character (two ids that look the same but
//! differ) is a spoofing tool, so ids refuse them. Zero-width joiner and
//! non-joiner are *not* refused: emoji sequences (👨‍👩‍👧) and Persian or
//! Indic words need them.

/// Why `c` is refused in an identifier, or `None` when it is fine.
pub fn deceptive_char(c: char) -> Option<&'static str> {
    match c {
        // Explicit bidi embeddings, overrides and isolates, and the marks.
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => Some("a bidirectional control character"),
        // Zero-width space, word joiner and invisible operators, BOM, soft
        // hyphen, Mongolian vowel separator, Hangul fillers.
        '\u{200B}'
        | '\u{2060}'..='\u{2064}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{115F}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{FFA0}' => Some("an invisible character"),
        // Unicode tags: invisible ASCII look-alikes used to smuggle text.
        '\u{E0000}'..='\u{E007F}' => Some("a Unicode tag character"),
        // Non-characters and private-use planes have no agreed rendering.
        '\u{FFF9}'..='\u{FFFB}' => Some("an interlinear annotation character"),
        c if c.is_control() => Some("a control character"),
        _ => None,
    }
}

/// The first deceptive character of `s` with its reason.
pub fn find_deceptive(s: &str) -> Option<(char, &'static str)> {
    s.chars()
        .find_map(|c| deceptive_char(c).map(|why| (c, why)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_invisible_and_tag_characters_are_found() {
        for s in [
            "abc\u{202E}fdp.exe",
            "a\u{2066}b",
            "\u{200B}",
            "x\u{FEFF}",
            "tag\u{E0041}",
            "nul\0",
            "soft\u{00AD}hyphen",
        ] {
            assert!(find_deceptive(s).is_some(), "{s:?} should be refused");
        }
    }

    #[test]
    fn emoji_joiners_flags_and_other_scripts_are_fine() {
        for s in ["👨‍👩‍👧", "🇵🇹", "🏳️‍🌈", "café", "東京", "می‌خواهم", "chat-1", "👍🏽"]
        {
            assert_eq!(find_deceptive(s), None, "{s:?} should be accepted");
        }
    }
}
