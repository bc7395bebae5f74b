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

/// The first deceptive character of `s` with its reason. Tag characters
/// are allowed only where emoji use them: in a tag sequence after a black
/// flag (🏴 + tags = the flag of Scotland, England, Wales).
pub fn find_deceptive(s: &str) -> Option<(char, &'static str)> {
    let joiner = |c: char| c == '\u{200C}' || c == '\u{200D}';
    // A joiner joins two visible characters; alone, first, last or doubled
    // it is just an invisible character.
    let dangling = "a zero-width joiner that joins nothing";
    if let Some(c) = s.chars().next().filter(|c| joiner(*c)) {
        return Some((c, dangling));
    }
    if let Some(c) = s.chars().last().filter(|c| joiner(*c)) {
        return Some((c, dangling));
    }
    let mut prev = None;
    let mut in_flag = false;
    for c in s.chars() {
        if joiner(c) && prev.is_some_and(joiner) {
            return Some((c, dangling));
        }
        prev = Some(c);
        let tag = ('\u{E0020}'..='\u{E007F}').contains(&c);
        if tag && in_flag {
            // U+E007F CANCEL TAG ends the sequence.
            in_flag = c != '\u{E007F}';
            continue;
        }
        in_flag = c == '\u{1F3F4}';
        if let Some(why) = deceptive_char(c) {
            return Some((c, why));
        }
    }
    None
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
            "🏴\u{E0067}\u{E007F}\u{E0041}",
            "nul\0",
            "soft\u{00AD}hyphen",
            "\u{200D}",
            "a\u{200D}",
            "a\u{200C}\u{200D}b",
        ] {
            assert!(find_deceptive(s).is_some(), "{s:?} should be refused");
        }
    }

    #[test]
    fn emoji_joiners_flags_and_other_scripts_are_fine() {
        for s in [
            "👨‍👩‍👧",
            "🇵🇹",
            "🏳️‍🌈",
            "café",
            "東京",
            "می‌خواهم",
            "chat-1",
            "👍🏽",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
        ] {
            assert_eq!(find_deceptive(s), None, "{s:?} should be accepted");
        }
    }
}
