//! The folded copy of a text that the phrase features read, and the way
//! back from an offset in it to the original text.

use super::classes::*;

/// The copy of `text` the phrase features read: lower case, invisible
/// characters dropped, styled and (in Latin text) look-alike letters
/// mapped to ASCII, leetspeak digits inside words mapped to letters.
pub(super) fn fold(text: &str, lookalikes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, lookalikes, |_, c| out.push(c));
    out
}

/// The byte offset in `text` of the character at byte `at` of its folded
/// copy (for reasons; the fold is replayed rather than kept).
pub(super) fn original_offset(text: &str, lookalikes: bool, at: usize) -> usize {
    let mut pos = 0;
    let mut found = None;
    fold_into(text, lookalikes, |i, c| {
        if found.is_none() && pos >= at {
            found = Some(i);
        }
        pos += c.len_utf8();
    });
    found.unwrap_or(text.len())
}

pub(super) fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        _ => return None,
    })
}

pub(super) fn fold_into(text: &str, lookalikes: bool, mut emit: impl FnMut(usize, char)) {
    // A word is held back until its end: digits become letters only in
    // words where a digit stands between letters ("1nstruct10ns", not
    // "2024", nor a suffix as in "base64" or "rot13").
    let mut run: Vec<(usize, char)> = Vec::new();
    let flush = |run: &mut Vec<(usize, char)>, emit: &mut dyn FnMut(usize, char)| {
        let leetspeak = run
            .windows(2)
            .any(|w| leet(w[0].1).is_some() && w[1].1.is_alphabetic());
        for &(i, c) in run.iter() {
            let c = if leetspeak { leet(c).unwrap_or(c) } else { c };
            emit(i, c);
        }
        run.clear();
    };
    for (i, c) in text.char_indices() {
        if invisible(c) {
            continue;
        }
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => '"',
            _ => styled(c)
                .or_else(|| if lookalikes { lookalike(c) } else { None })
                .unwrap_or(c),
        };
        // A hyphen inside a word ("in-struc-tions") splits it for a
        // tokenizer but not for a reader; the features read it joined.
        if c == '-'
            && run.last().is_some_and(|(_, p)| p.is_ascii_alphabetic())
            && text[i + 1..].starts_with(|n: char| n.is_ascii_alphabetic())
        {
            continue;
        }
        if c.is_alphanumeric() {
            if c.is_ascii() {
                run.push((i, c.to_ascii_lowercase()));
            } else {
                run.extend(c.to_lowercase().map(|l| (i, l)));
            }
        } else {
            flush(&mut run, &mut emit);
            emit(i, c);
        }
    }
    flush(&mut run, &mut emit);
}
