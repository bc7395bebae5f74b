//! Text helpers shared by the consolidators: turns split into sentences with
//! their speaker and date, content words, dates in words.

use std::collections::HashSet;

pub use crate::text::clip;

use crate::store::TurnRow;

/// One turn of a session as the dream cycle reads it.
#[derive(Debug, Clone)]
pub struct Turn {
    pub id: i64,
    pub role: String,
    /// The speaker's name when the turn names one (`Name: text`, or
    /// `metadata.speaker`); else the role.
    pub speaker: String,
    /// The text without the speaker prefix.
    pub text: String,
    pub created_at: i64,
}

impl Turn {
    pub fn new(
        id: i64,
        role: &str,
        content: &str,
        metadata: Option<&str>,
        created_at: i64,
    ) -> Turn {
        let meta_speaker = metadata
            .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
            .and_then(|v| v.get("speaker").and_then(|s| s.as_str()).map(str::to_owned));
        let (prefix, rest) = split_speaker(content);
        let speaker = meta_speaker
            .or(prefix.map(str::to_owned))
            .unwrap_or_else(|| role.to_owned());
        let text = match prefix {
            Some(_) => rest.to_owned(),
            None => content.to_owned(),
        };
        Turn {
            id,
            role: role.to_owned(),
            speaker,
            text,
            created_at,
        }
    }
}

impl From<TurnRow> for Turn {
    fn from(r: TurnRow) -> Turn {
        Turn::new(
            r.id,
            &r.role,
            &r.content,
            r.metadata.as_deref(),
            r.created_at,
        )
    }
}

/// `Name: text` → (Some(Name), text) when the prefix looks like a name.
fn split_speaker(content: &str) -> (Option<&str>, &str) {
    if let Some((head, rest)) = content.split_once(": ") {
        let words = head.split_whitespace().count();
        if (1..=3).contains(&words)
            && head.len() <= 40
            && head.chars().next().is_some_and(char::is_uppercase)
            && head
                .chars()
                .all(|c| c.is_alphanumeric() || c == ' ' || c == '.' || c == '-' || c == '\'')
        {
            return (Some(head), rest.trim_start());
        }
    }
    (None, content)
}

/// A sentence of a turn.
#[derive(Debug, Clone)]
pub struct Sentence {
    pub turn: usize,
    pub speaker: String,
    pub text: String,
}

/// Splits on `.`, `!`, `?` followed by whitespace (or the end), and on line
/// breaks; drops fragments with fewer than 3 words.
pub fn sentences(turns: &[Turn]) -> Vec<Sentence> {
    let mut out = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        for s in split_sentences(&t.text) {
            if s.split_whitespace().count() >= 3 {
                out.push(Sentence {
                    turn: i,
                    speaker: t.speaker.clone(),
                    text: s,
                });
            }
        }
    }
    out
}

pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '\n' {
            push_trimmed(&mut out, &mut cur);
            continue;
        }
        cur.push(c);
        if matches!(c, '.' | '!' | '?')
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace())
            && !(c == '.' && ends_with_abbreviation(&cur))
        {
            push_trimmed(&mut out, &mut cur);
        }
    }
    push_trimmed(&mut out, &mut cur);
    out
}

/// "St. Brendan's", "Dr. Ortiz": a title's full stop ends no sentence.
fn ends_with_abbreviation(cur: &str) -> bool {
    const ABBR: &[&str] = &[
        "St.", "Dr.", "Mr.", "Mrs.", "Ms.", "Mt.", "Jr.", "Sr.", "Prof.", "vs.", "etc.", "e.g.",
        "i.e.",
    ];
    let last = cur.rsplit(char::is_whitespace).next().unwrap_or("");
    ABBR.contains(&last)
}

fn push_trimmed(out: &mut Vec<String>, cur: &mut String) {
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_owned());
    }
    cur.clear();
}

/// Lower-cased words of 3+ letters that are not stopwords.
pub fn content_words(text: &str) -> Vec<String> {
    let stop: &HashSet<&str> = stopwords();
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| w.chars().count() >= 3 && !stop.contains(w.as_str()))
        .collect()
}

fn stopwords() -> &'static HashSet<&'static str> {
    static SET: std::sync::OnceLock<HashSet<&'static str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut s: HashSet<&str> = crate::text::STOPWORDS.iter().copied().collect();
        s.extend([
            "yeah", "really", "that's", "it's", "i'm", "you're", "don't", "thanks", "thank",
            "also", "much", "lot", "like", "know", "think", "got", "get", "one", "would", "will",
            "great", "good", "awesome", "wow", "sure", "can't", "i've", "i'll", "let", "way",
            "things", "thing", "make", "made", "going", "want", "feel", "love", "glad", "hey",
            "amazing", "always", "keep", "see", "time", "cool", "totally", "what's", "you've",
            "that",
        ]);
        s
    })
}

/// Capitalised words not at a sentence start (nor after a `Speaker: `
/// prefix), other than calendar words: the names a text mentions.
pub fn entities(text: &str) -> Vec<String> {
    const CALENDAR: &[&str] = &[
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "today",
        "tomorrow",
        "yesterday",
    ];
    let mut out: Vec<String> = Vec::new();
    let clauses: Vec<String> = split_sentences(text)
        .into_iter()
        .flat_map(|s| s.split(": ").map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for s in clauses {
        for (i, w) in s
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .enumerate()
        {
            let w = w.trim_end_matches("'s");
            if i > 0
                && w.chars().count() > 2
                && w.chars().next().is_some_and(char::is_uppercase)
                && !stopwords().contains(w.to_lowercase().as_str())
                && !CALENDAR.contains(&w.to_lowercase().as_str())
                && !out.iter().any(|o| o == w)
            {
                out.push(w.to_owned());
            }
        }
    }
    out
}

/// `8 May 2023` for a unix-ms time.
pub fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%-d %B %Y").to_string())
        .unwrap_or_default()
}

/// `YYYY-MM` for a unix-ms time.
pub fn month(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_default()
}

/// `May 2023` for `2023-05`.
pub fn month_words(ym: &str) -> String {
    chrono::NaiveDate::parse_from_str(&format!("{ym}-01"), "%Y-%m-%d")
        .map(|d| d.format("%B %Y").to_string())
        .unwrap_or_else(|_| ym.to_owned())
}

/// Joins names as "A", "A and B", "A, B and C".
pub fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaker_prefix_and_metadata() {
        let t = Turn::new(
            1,
            "user",
            "Caroline: I went to a support group. It was great!",
            None,
            0,
        );
        assert_eq!(t.speaker, "Caroline");
        assert_eq!(t.text, "I went to a support group. It was great!");
        let t = Turn::new(1, "user", "note: this is lower case", None, 0);
        assert_eq!(t.speaker, "user");
        let t = Turn::new(1, "user", "hello there", Some(r#"{"speaker":"Bob"}"#), 0);
        assert_eq!(t.speaker, "Bob");
    }

    #[test]
    fn sentence_split_keeps_decimals_and_drops_fragments() {
        let s = split_sentences("It costs 3.5 dollars. Really? Yes!\nNew line here");
        assert_eq!(
            s,
            vec!["It costs 3.5 dollars.", "Really?", "Yes!", "New line here"]
        );
        let turns = vec![Turn::new(
            1,
            "user",
            "Ok. I painted a lake sunrise last year.",
            None,
            0,
        )];
        let ss = sentences(&turns);
        assert_eq!(ss.len(), 1);
        assert_eq!(ss[0].text, "I painted a lake sunrise last year.");
    }

    #[test]
    fn dates_and_names() {
        assert_eq!(day(1_683_554_160_000), "8 May 2023");
        assert_eq!(month(1_683_554_160_000), "2023-05");
        assert_eq!(month_words("2023-05"), "May 2023");
        assert_eq!(
            join_names(&["A".into(), "B".into(), "C".into()]),
            "A, B and C"
        );
        assert_eq!(
            entities("We met Alice in Paris. Then Bob came."),
            vec!["Alice", "Paris", "Bob"]
        );
    }
}
