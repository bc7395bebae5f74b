//! What one character is, for the scanner: its script, whether it is
//! invisible, part of an emoji, a look-alike or styled letter, a variation
//! selector carrying a byte, and its printable name for reasons.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    Latin,
    /// Cyrillic or Greek.
    Cg,
    /// Letters of other scripts, and their marks.
    Other,
    /// Not a letter.
    None,
}

pub(super) fn script(c: char) -> Script {
    match c {
        'a'..='z' | 'A'..='Z' => Script::Latin,
        '\u{0}'..='\u{BF}' | '×' | '÷' => Script::None,
        '\u{C0}'..='\u{24F}'
        | '\u{1D00}'..='\u{1DBF}'
        | '\u{1E00}'..='\u{1EFF}'
        | '\u{2C60}'..='\u{2C7F}'
        | '\u{A720}'..='\u{A7FF}'
        | '\u{AB30}'..='\u{AB6F}' => Script::Latin,
        '\u{370}'..='\u{52F}'
        | '\u{1C80}'..='\u{1C8F}'
        | '\u{1F00}'..='\u{1FFF}'
        | '\u{2DE0}'..='\u{2DFF}'
        | '\u{A640}'..='\u{A69F}' => {
            if c.is_alphabetic() {
                Script::Cg
            } else {
                Script::None
            }
        }
        _ if complex_script(c) => Script::Other,
        _ if c.is_alphabetic() => Script::Other,
        _ => Script::None,
    }
}

/// Scripts where joiners, non-joiners and zero-width spaces are part of
/// ordinary writing: everything but Latin, Greek and Cyrillic (their
/// combining marks included, so a joiner after a virama counts).
pub(super) fn complex_script(c: char) -> bool {
    matches!(c as u32,
        0x0530..=0x1C7F
        | 0x1C90..=0x1CFF
        | 0x2E80..=0xA63F
        | 0xA6A0..=0xA71F
        | 0xA800..=0xAB2F
        | 0xAB70..=0xD7FF
        | 0xF900..=0xFAFF
        | 0xFB1D..=0xFDFF
        | 0xFE70..=0xFEFC
        | 0x10000..=0x1CFFF
        | 0x1E800..=0x1EFFF
        | 0x20000..=0x3FFFF)
}

pub(super) fn rtl(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFC | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

/// Pictographs, symbols and the pieces of emoji sequences.
pub(super) fn emoji_part(c: char) -> bool {
    matches!(c as u32,
        0xA9 | 0xAE | 0x203C | 0x2049 | 0x20E3 | 0x2122 | 0x2139
        | 0x2194..=0x21FF
        | 0x231A..=0x23FF
        | 0x24C2
        | 0x25A0..=0x27BF
        | 0x2934..=0x2935
        | 0x2B00..=0x2BFF
        | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0xFE0E..=0xFE0F
        | 0x1F000..=0x1FAFF
        | 0xE0020..=0xE007F)
}

/// The Latin letter a Cyrillic or Greek look-alike passes for, lower case.
pub(super) fn lookalike(c: char) -> Option<char> {
    Some(match c {
        'А' | 'а' | 'Α' | 'α' => 'a',
        'В' | 'Β' | 'β' => 'b',
        'С' | 'с' | 'Ϲ' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'Е' | 'е' | 'Ё' | 'ё' | 'Ε' | 'ε' => 'e',
        'ɡ' => 'g',
        'Н' | 'Η' | 'һ' | 'Һ' => 'h',
        'І' | 'і' | 'Ї' | 'ї' | 'Ι' | 'ι' | 'ӏ' | 'Ӏ' => 'i',
        'Ј' | 'ј' => 'j',
        'К' | 'к' | 'Κ' | 'κ' => 'k',
        'М' | 'Μ' => 'm',
        'Ν' | 'η' => 'n',
        'О' | 'о' | 'Ο' | 'ο' | 'σ' => 'o',
        'Р' | 'р' | 'Ρ' | 'ρ' => 'p',
        'Ԛ' | 'ԛ' => 'q',
        'Ѕ' | 'ѕ' => 's',
        'Т' | 'Τ' | 'τ' => 't',
        'υ' | 'ս' => 'u',
        'ν' | 'ѵ' => 'v',
        'Ԝ' | 'ԝ' | 'ω' => 'w',
        'Х' | 'х' | 'Χ' | 'χ' => 'x',
        'У' | 'у' | 'Υ' | 'Ү' | 'ү' | 'γ' => 'y',
        'Ζ' => 'z',
        _ => return None,
    })
}

/// Latin letters written in another block: fullwidth, mathematical
/// alphanumerics, circled letters, small look-alikes.
pub(super) fn styled(c: char) -> Option<char> {
    let u = c as u32;
    let letter = |i: u32| char::from_u32(u32::from(b'a') + i);
    match u {
        0xFF21..=0xFF3A => letter(u - 0xFF21),
        0xFF41..=0xFF5A => letter(u - 0xFF41),
        0xFF10..=0xFF19 => char::from_u32(u - 0xFF10 + u32::from(b'0')),
        0x1D400..=0x1D6A3 => {
            let i = (u - 0x1D400) % 52;
            letter(if i < 26 { i } else { i - 26 })
        }
        0x1D7CE..=0x1D7FF => char::from_u32((u - 0x1D7CE) % 10 + u32::from(b'0')),
        0x24B6..=0x24CF => letter(u - 0x24B6),
        0x24D0..=0x24E9 => letter(u - 0x24D0),
        0x0131 => Some('i'),
        0x0251 => Some('a'),
        0x2113 => Some('l'),
        _ => None,
    }
}

/// Characters that do not show: the folded copy drops them.
pub(super) fn invisible(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x61C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2069
        | 0x3164
        | 0xFE00..=0xFE0F
        | 0xFEFF
        | 0xFFA0
        | 0xE0000..=0xE007F
        | 0xE0100..=0xE01EF)
}

pub(super) fn selector_byte(c: char) -> Option<u8> {
    match c as u32 {
        u @ 0xFE00..=0xFE0F => Some((u - 0xFE00) as u8),
        u @ 0xE0100..=0xE01EF => Some((u - 0xE0100 + 16) as u8),
        _ => None,
    }
}

pub(super) fn char_name(c: char) -> String {
    let name = match c {
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        _ => "",
    };
    format!("U+{:04X} {name}", c as u32).trim_end().to_owned()
}
