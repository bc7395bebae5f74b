//! Whether a response echoes a fact: both texts normalised (lower-case,
//! every run of characters that are not letters or digits one space), the
//! fact long enough to mean something, and its leading window found in the
//! response on word boundaries. A paraphrase does not echo; a response that
//! quotes the fact inside a longer sentence does.

use crate::config::LearnConfig;

pub use crate::text::normalise;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Echoed,
    /// Shorter than `learn.echo_min_chars` once normalised.
    TooShort,
    NotEchoed,
}

/// A normalised response, padded so that a window matches whole words.
pub struct Response(String);

impl Response {
    pub fn new(text: &str) -> Response {
        Response(format!(" {} ", normalise(text)))
    }
}

/// The first `chars` characters of a normalised text, cut back to the end
/// of a word (a first word longer than the window is kept whole).
fn window(norm: &str, chars: usize) -> &str {
    let Some((cut, next)) = norm.char_indices().nth(chars) else {
        return norm;
    };
    if next == ' ' {
        return &norm[..cut];
    }
    match norm[..cut].rfind(' ') {
        Some(space) => &norm[..space],
        None => norm.split(' ').next().unwrap_or(norm),
    }
}

/// Whether `response` echoes the fact `text`, by `cfg`'s thresholds.
pub fn echoes(text: &str, response: &Response, cfg: &LearnConfig) -> Verdict {
    let norm = normalise(text);
    if norm.chars().count() < cfg.echo_min_chars {
        return Verdict::TooShort;
    }
    let lead = window(&norm, cfg.echo_window_chars);
    if response.0.contains(&format!(" {lead} ")) {
        Verdict::Echoed
    } else {
        Verdict::NotEchoed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(min: usize, window: usize) -> LearnConfig {
        LearnConfig {
            echo_min_chars: min,
            echo_window_chars: window,
            ..LearnConfig::default()
        }
    }

    #[test]
    fn normalising_lowers_and_collapses() {
        for (input, want) in [
            ("Alice lives in Lisbon.", "alice lives in lisbon"),
            ("  ALICE\t lives--in\n\nLisbon!!! ", "alice lives in lisbon"),
            ("Ça va? Über-cool, 東京 42", "ça va über cool 東京 42"),
            ("", ""),
            ("?!", ""),
            ("don't", "don t"),
        ] {
            assert_eq!(normalise(input), want, "{input:?}");
        }
    }

    #[test]
    fn windows_end_on_word_boundaries() {
        let n = "alice moved to lisbon in 2021";
        for (chars, want) in [
            (100, n),
            (29, n),
            (21, "alice moved to lisbon"),
            (20, "alice moved to"),
            (14, "alice moved to"),
            (3, "alice"),
        ] {
            assert_eq!(window(n, chars), want, "{chars}");
        }
    }

    #[test]
    fn echoes_by_the_table() {
        let fact = "Alice lives in Lisbon";
        for (response, c, want) in [
            // Verbatim, with other case and punctuation, inside a sentence.
            ("Alice lives in Lisbon.", cfg(12, 48), Verdict::Echoed),
            (
                "As you said, ALICE LIVES IN LISBON — so the 9am call is fine.",
                cfg(12, 48),
                Verdict::Echoed,
            ),
            ("alice   lives\nin lisbon", cfg(12, 48), Verdict::Echoed),
            // A paraphrase, a partial echo, a word glued to the end.
            ("Alice is based in Lisbon", cfg(12, 48), Verdict::NotEchoed),
            ("Alice lives in", cfg(12, 48), Verdict::NotEchoed),
            ("Alice lives in Lisbonne", cfg(12, 48), Verdict::NotEchoed),
            ("Malice lives in Lisbon", cfg(12, 48), Verdict::NotEchoed),
            // A window shorter than the fact: its leading words suffice.
            ("Alice lives in Porto now", cfg(12, 14), Verdict::Echoed),
            ("Alice lives in Porto now", cfg(12, 48), Verdict::NotEchoed),
            // Too short to count, whatever the response.
            ("Alice lives in Lisbon", cfg(22, 48), Verdict::TooShort),
            ("", cfg(12, 48), Verdict::NotEchoed),
        ] {
            assert_eq!(
                echoes(fact, &Response::new(response), &c),
                want,
                "{response:?}"
            );
        }
        assert_eq!(
            echoes("?!", &Response::new("?!"), &cfg(1, 48)),
            Verdict::TooShort
        );
    }
}
