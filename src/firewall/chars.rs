//! One pass over the characters: what hides (tag characters, bidi
//! controls, zero-width characters splitting words, variation selectors
//! carrying bytes) and what impersonates (words mixing Latin with Cyrillic
//! or Greek look-alikes); and the folded copy the phrase features read.
//!
//! Legitimate uses are told apart by context, not by the character alone:
//! a zero-width joiner between emoji (👨‍👩‍👧) or a non-joiner inside a
//! Persian or Hindi word, a zero-width space between Khmer or Thai words
//! (scripts written without spaces), and the tag characters of a
//! subdivision flag (🏴 + lower-case tags + cancel tag) are all fine. What
//! is not: the same characters splitting a word of a script written with
//! spaces ("I\u{200B}g\u{200B}nore"), tags spelling text, overrides that
//! reverse what is shown.

use super::classes::*;
pub(super) use super::fold::{fold, original_offset};
use super::{FLAG_AT, Hidden, Tally, ThreatClass, excerpt};

const TAGS: &str = "Unicode tag characters";

/// A count, the byte offset of the first one, and which character it was.
#[derive(Default, Clone, Copy)]
struct Seen {
    n: usize,
    at: usize,
    c: char,
}

impl Seen {
    fn add(&mut self, at: usize, c: char) {
        if self.n == 0 {
            self.at = at;
            self.c = c;
        }
        self.n += 1;
    }
}

/// What the character pass found.
#[derive(Default)]
pub(super) struct Report {
    /// Tag characters outside a flag sequence.
    tags: Seen,
    /// Bidi embeddings and isolates, fine in right-to-left text only.
    bidi: Seen,
    /// Bidi overrides: they reverse what is shown, never needed.
    overrides: Seen,
    /// Zero-width and other invisible characters where a script written
    /// with spaces would never have them.
    invisible: Seen,
    /// Runs of variation selectors longer than any emoji or ideograph uses.
    selectors: Seen,
    /// Words mixing Latin with look-alike letters (and look-alike-only
    /// words in Latin text), with the first one.
    mixed: Seen,
    mixed_word: String,
    latin: usize,
    lookalike: usize,
    /// Cyrillic or Greek letters without a Latin look-alike: real Cyrillic
    /// or Greek text.
    foreign: usize,
    rtl: usize,
    /// Text decoded from tags, selectors or a right-to-left override.
    pub hidden: Vec<Hidden>,
}

impl Report {
    /// Whether look-alike letters stand for Latin ones in this text (and so
    /// are folded to them) rather than being Cyrillic or Greek text.
    pub fn latin_dominant(&self) -> bool {
        self.foreign * 4 < self.latin + self.lookalike && self.latin * 2 >= self.lookalike
    }

    pub fn add_findings(&self, tally: &mut Tally) {
        let class = ThreatClass::InvisibleChars;
        if self.tags.n > 0 {
            let spelled = self
                .hidden
                .iter()
                .find(|h| h.how == TAGS)
                .map_or(String::new(), |h| excerpt(&h.text, 40));
            let reason = format!(
                "{} Unicode tag characters spelling {spelled:?}",
                self.tags.n
            );
            tally.add(class, FLAG_AT, self.tags.at, reason);
        }
        if self.overrides.n > 0 {
            let Seen { n, at, c } = self.overrides;
            tally.add(class, FLAG_AT, at, format!("{n} × {}", char_name(c)));
        }
        if self.bidi.n > 0 && self.rtl == 0 {
            let Seen { n, at, c } = self.bidi;
            let reason = format!("{n} × {} in left-to-right text", char_name(c));
            tally.add(class, FLAG_AT, at, reason);
        }
        if self.selectors.n > 0 {
            let reason = format!(
                "{} variation selectors in a row (bytes hidden after a character)",
                self.selectors.n
            );
            tally.add(class, FLAG_AT, self.selectors.at, reason);
        }
        if self.invisible.n > 0 {
            let Seen { n, at, c } = self.invisible;
            // One stray character is a copy-paste accident as often as not.
            let weight = if n >= 2 { FLAG_AT } else { 0.4 };
            tally.add(
                class,
                weight,
                at,
                format!("{n} × {} inside words", char_name(c)),
            );
        }
        let words = self.mixed.n;
        if words > 0 {
            let weight = if words >= 2 { FLAG_AT } else { 0.5 };
            let reason = format!(
                "{words} words mixing Latin letters with Cyrillic/Greek look-alikes, first {:?}",
                excerpt(&self.mixed_word, 30)
            );
            tally.add(ThreatClass::MixedScript, weight, self.mixed.at, reason);
        }
    }
}

/// A run of invisible characters waiting for the visible character after it.
#[derive(Default)]
struct Pending {
    n: usize,
    at: usize,
    first: char,
    /// Only joiners (ZWJ/ZWNJ) and zero-width spaces: judged by context.
    contextual: bool,
}

/// The character pass.
pub(super) fn inspect(text: &str) -> Report {
    let mut r = Report::default();
    let mut prev: Option<char> = None;
    let mut pending = Pending::default();
    // Tag run: start, count, decoded text, whether it follows 🏴 and is
    // still a plausible flag.
    let mut tag_run: Option<(usize, usize, String, bool)> = None;
    let mut sel_run: (usize, usize, Vec<u8>) = (0, 0, Vec::new());
    let mut rlo: Option<(usize, String)> = None;
    let mut word: (usize, bool, bool, bool) = (0, false, false, false);
    let mut in_word = false;

    for (i, c) in text.char_indices() {
        let u = c as u32;
        // Tag characters: a flag's tags are lower-case letters and digits
        // ended by CANCEL TAG, a handful of them.
        if (0xE0000..=0xE007F).contains(&u) {
            let run =
                tag_run.get_or_insert_with(|| (i, 0, String::new(), prev == Some('\u{1F3F4}')));
            if u == 0xE007F {
                let (at, n, decoded, flag) = tag_run.take().unwrap_or_default();
                end_tags(&mut r, at, n, decoded, flag && n <= 7);
            } else {
                run.1 += 1;
                let plain = char::from_u32(u - 0xE0000).unwrap_or(' ');
                run.3 &= plain.is_ascii_lowercase() || plain.is_ascii_digit();
                run.2.push(plain);
            }
            continue;
        }
        if let Some((at, n, decoded, _)) = tag_run.take() {
            end_tags(&mut r, at, n, decoded, false);
        }
        if let Some(b) = selector_byte(c) {
            if sel_run.1 == 0 {
                sel_run.0 = i;
                sel_run.2.clear();
            }
            sel_run.1 += 1;
            sel_run.2.push(b);
            continue;
        }
        if sel_run.1 > 0 {
            end_selectors(&mut r, &mut sel_run);
        }
        match u {
            0x202D | 0x202E => {
                r.overrides.add(i, c);
                if u == 0x202E {
                    rlo = Some((i, String::new()));
                }
                continue;
            }
            0x202A..=0x202C | 0x2066..=0x2069 => {
                r.bidi.add(i, c);
                if let Some((at, s)) = rlo.take() {
                    end_rlo(&mut r, at, s);
                }
                continue;
            }
            // Marks and soft hyphens have ordinary uses anywhere.
            0x200E | 0x200F | 0x61C | 0xAD => continue,
            _ => {}
        }
        if invisible(c) {
            if pending.n == 0 {
                pending = Pending {
                    n: 0,
                    at: i,
                    first: c,
                    contextual: true,
                };
            }
            pending.n += 1;
            pending.contextual &= matches!(u, 0x200B..=0x200D) || (u == 0xFEFF && i == 0);
            continue;
        }
        if let Some((_, s)) = rlo.as_mut() {
            if c == '\n' {
                let (at, s) = rlo.take().unwrap_or_default();
                end_rlo(&mut r, at, s);
            } else {
                s.push(c);
            }
        }

        if pending.n > 0 {
            judge_invisible(&mut r, &pending, prev, Some(c));
            pending.n = 0;
        }

        // Letters, by script; words for mixing.
        let s = script(c);
        match s {
            Script::Latin => r.latin += 1,
            Script::Cg if lookalike(c).is_some() => r.lookalike += 1,
            Script::Cg => r.foreign += 1,
            Script::Other if rtl(c) => r.rtl += 1,
            _ => {}
        }
        let wordish = s != Script::None || c.is_ascii_digit() || styled(c).is_some();
        if wordish {
            if !in_word {
                word = (i, false, false, false);
                in_word = true;
            }
            match s {
                Script::Latin => word.1 = true,
                Script::Cg if lookalike(c).is_some() => word.2 = true,
                Script::Cg | Script::Other => word.3 = true,
                Script::None => {}
            }
        } else if in_word {
            end_word(&mut r, text, word, i);
            in_word = false;
        }
        prev = Some(c);
    }
    if let Some((at, n, decoded, _)) = tag_run.take() {
        end_tags(&mut r, at, n, decoded, false);
    }
    if sel_run.1 > 0 {
        end_selectors(&mut r, &mut sel_run);
    }
    if let Some((at, s)) = rlo.take() {
        end_rlo(&mut r, at, s);
    }
    if pending.n > 0 {
        judge_invisible(&mut r, &pending, prev, None);
    }
    if in_word {
        end_word(&mut r, text, word, text.len());
    }
    // Look-alike-only words ("а" for "a") count in Latin text only; they
    // were counted as candidates and are dropped otherwise.
    if !r.latin_dominant() {
        r.mixed = Seen::default();
    }
    r
}

fn end_tags(r: &mut Report, at: usize, n: usize, decoded: String, is_flag: bool) {
    if is_flag || n == 0 {
        return;
    }
    for _ in 0..n {
        r.tags.add(at, '\u{E0000}');
    }
    r.hidden.push(Hidden {
        text: decoded,
        at,
        carrier: ThreatClass::InvisibleChars,
        how: TAGS,
    });
}

fn end_selectors(r: &mut Report, run: &mut (usize, usize, Vec<u8>)) {
    let (at, n, bytes) = run;
    // An emoji or ideograph takes one selector; text takes many.
    if *n >= 3 {
        for _ in 0..*n {
            r.selectors.add(*at, '\u{FE00}');
        }
        r.hidden.push(Hidden {
            text: String::from_utf8_lossy(bytes).into_owned(),
            at: *at,
            carrier: ThreatClass::InvisibleChars,
            how: "variation selectors",
        });
    }
    *n = 0;
}

fn end_rlo(r: &mut Report, at: usize, shown: String) {
    if shown.trim().is_empty() {
        return;
    }
    r.hidden.push(Hidden {
        text: shown.chars().rev().collect(),
        at,
        carrier: ThreatClass::InvisibleChars,
        how: "a right-to-left override",
    });
}

fn judge_invisible(r: &mut Report, p: &Pending, prev: Option<char>, next: Option<char>) {
    let splits_word = |c: Option<char>| {
        c.is_some_and(|c| matches!(script(c), Script::Latin | Script::Cg) || c.is_ascii_digit())
    };
    let fine = p.contextual
        && p.n <= 2
        && match p.first {
            // A joiner inside an emoji sequence or a word of a joining script.
            '\u{200D}' | '\u{200C}' => {
                let both = |f: fn(char) -> bool| prev.is_some_and(f) && next.is_some_and(f);
                both(emoji_part)
                    || both(complex_script)
                    || (prev.is_some_and(complex_script) && !splits_word(next))
            }
            // A zero-width space may mark word breaks anywhere but inside
            // a word of a script written with spaces.
            _ => !(splits_word(prev) && splits_word(next)),
        };
    if !fine {
        for _ in 0..p.n {
            r.invisible.add(p.at, p.first);
        }
    }
}

fn end_word(r: &mut Report, text: &str, w: (usize, bool, bool, bool), end: usize) {
    let (start, latin, lookalike, other) = w;
    // Mixed: Latin with look-alikes in one word. A word of look-alikes only
    // is a candidate too; `inspect` drops them unless the text is Latin.
    if lookalike && (latin || !other) {
        if r.mixed.n == 0 {
            r.mixed_word = text[start..end].to_owned();
        }
        r.mixed.add(start, ' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_reads_what_a_model_reads() {
        assert_eq!(fold("IGNORE Ａｌｌ", true), "ignore all");
        assert_eq!(
            fold("1gn0r3 pr3v10u5 in 2024", true),
            "ignore previous in 2024"
        );
        assert_eq!(fold("base64 rot13 l33t", true), "base64 rot13 leet");
        assert_eq!(fold("I\u{200B}gn\u{2060}ore", true), "ignore");
        assert_eq!(
            fold("in-struc-tions, well-known, gpt-4", true),
            "instructions, wellknown, gpt-4"
        );
        assert_eq!(fold("don\u{2019}t", true), "don't");
        // Look-alikes map only where they stand for Latin letters.
        assert_eq!(fold("Ехрlаin", true), "explain");
        assert_eq!(fold("Привет", false), "привет");
    }

    #[test]
    fn offsets_map_back_through_the_fold() {
        let text = "a\u{200B}b 1gn0r3 Ｘ";
        let folded = fold(text, true);
        let at = folded.find("ignore").unwrap();
        assert_eq!(
            original_offset(text, true, at),
            text.find("1gn0r3").unwrap()
        );
        let at = folded.find('x').unwrap();
        assert_eq!(original_offset(text, true, at), text.find('Ｘ').unwrap());
    }

    #[test]
    fn hidden_text_is_recovered() {
        let tags: String = "hi there"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let r = inspect(&format!("x{tags}y"));
        assert_eq!(r.tags.n, 8);
        assert_eq!(r.hidden[0].text, "hi there");
        let r = inspect("see \u{202E}txet neddih\u{202C} here");
        assert_eq!(r.overrides.n, 1);
        assert_eq!(r.hidden[0].text, "hidden text");
        // Bytes carried by variation selectors after an emoji.
        let selectors: String = "secret"
            .bytes()
            .map(|b| match b {
                0..=15 => char::from_u32(0xFE00 + u32::from(b)).unwrap(),
                _ => char::from_u32(0xE0100 + u32::from(b) - 16).unwrap(),
            })
            .collect();
        let r = inspect(&format!("😀{selectors}"));
        assert_eq!(r.selectors.n, 6);
        assert_eq!(r.hidden[0].text, "secret");
    }

    #[test]
    fn invisible_characters_are_judged_by_their_neighbours() {
        let n = |s: &str| inspect(s).invisible.n;
        assert_eq!(n("I\u{200B}gnore"), 1);
        assert_eq!(n("word\u{200B} next"), 0);
        assert_eq!(n("👨\u{200D}👩"), 0);
        assert_eq!(n("a\u{200D}b"), 1);
        assert_eq!(n("می\u{200C}خواهم"), 0);
        assert_eq!(n("\u{FEFF}bom first"), 0);
        assert_eq!(n("in\u{FEFF}side"), 1);
        assert_eq!(n("x\u{2060}y"), 1);
    }

    #[test]
    fn flags_are_not_tags_but_spelled_tags_are() {
        let scotland = "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
        assert_eq!(inspect(scotland).tags.n, 0);
        assert_eq!(inspect("🏴\u{E0048}\u{E0049}\u{E007F}").tags.n, 2);
        assert_eq!(inspect("plain \u{E0067}\u{E0062}").tags.n, 2);
    }

    #[test]
    fn mixed_words_count_only_in_latin_text() {
        assert_eq!(inspect("Plеasе hеlp").mixed.n, 2);
        assert_eq!(inspect("tell me а story").mixed.n, 1);
        assert_eq!(inspect("Я и ты, а он?").mixed.n, 0);
        assert_eq!(inspect("Η Αθήνα είναι όμορφη").mixed.n, 0);
    }
}
