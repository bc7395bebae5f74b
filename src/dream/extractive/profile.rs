//! The profile: first-person statements found by rules, counted over
//! sessions with their last-seen date.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::dream::text::{self, Turn};

/// A standing fact stated in the first person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub subject: String,
    pub kind: String,
    pub text: String,
}

/// First-person statements of a session's user turns (assistant turns are
/// the agent speaking, not the user).
pub fn statements(turns: &[Turn]) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    for t in turns.iter().filter(|t| t.role != "assistant") {
        for s in text::split_sentences(&t.text) {
            if s.trim_end().ends_with('?') {
                continue;
            }
            for (kind, text) in first_person(&s) {
                if !out.iter().any(|o| o.subject == t.speaker && o.text == text) {
                    out.push(Statement {
                        subject: t.speaker.clone(),
                        kind: kind.to_owned(),
                        text,
                    });
                }
            }
        }
    }
    out
}

/// The statements of a sentence: one pattern per clause at most.
fn first_person(sentence: &str) -> Vec<(&'static str, String)> {
    const PATTERNS: &[(&str, &str, &str)] = &[
        // (prefix, kind, rendered as)
        ("i am a ", "identity", "is a "),
        ("i am an ", "identity", "is an "),
        ("i'm a ", "identity", "is a "),
        ("i'm an ", "identity", "is an "),
        ("i work as ", "work", "works as "),
        ("i work at ", "work", "works at "),
        ("i work in ", "work", "works in "),
        ("i work for ", "work", "works for "),
        ("i'm working on ", "work", "is working on "),
        ("i am working on ", "work", "is working on "),
        ("i live in ", "place", "lives in "),
        ("i moved to ", "place", "moved to "),
        ("i'm from ", "place", "is from "),
        ("i am from ", "place", "is from "),
        ("i really like ", "preference", "likes "),
        ("i really love ", "preference", "loves "),
        ("i like ", "preference", "likes "),
        ("i love ", "preference", "loves "),
        ("i enjoy ", "preference", "enjoys "),
        ("i prefer ", "preference", "prefers "),
        ("i hate ", "preference", "hates "),
        ("i don't like ", "preference", "does not like "),
        ("i have a ", "has", "has a "),
        ("i have an ", "has", "has an "),
        ("i have two ", "has", "has two "),
        ("i have three ", "has", "has three "),
        ("i've been ", "history", "has been "),
        ("i started ", "history", "started "),
        ("i'm planning to ", "plan", "plans to "),
        ("i am planning to ", "plan", "plans to "),
        ("i'm going to ", "plan", "is going to "),
        ("i want to ", "plan", "wants to "),
    ];
    let original = sentence.replace('’', "'");
    let lower = original.to_lowercase();
    // Objects keep their case when lower-casing kept every byte offset.
    let source = if lower.len() == original.len() {
        &original
    } else {
        &lower
    };
    let mut out = Vec::new();
    for clause_start in clause_starts(&lower) {
        let rest = &lower[clause_start..];
        let mut found = None;
        for (prefix, kind, render) in PATTERNS {
            if rest.starts_with(prefix) {
                let from = clause_start + prefix.len();
                if let Some(obj) = object(&source[from..]) {
                    found = Some((*kind, format!("{render}{obj}")));
                }
                break;
            }
        }
        // "my X is Y" / "my X are Y"
        if found.is_none()
            && let Some(after) = rest.strip_prefix("my ")
        {
            let words: Vec<&str> = after.split_whitespace().collect();
            let src_words: Vec<&str> = source[clause_start + 3..].split_whitespace().collect();
            if let Some(pos) = words
                .iter()
                .take(4)
                .position(|w| *w == "is" || *w == "are" || *w == "was")
                && pos > 0
                && let Some(obj) = object(&src_words[pos + 1..].join(" "))
            {
                found = Some((
                    "attribute",
                    format!("'s {} {} {obj}", words[..pos].join(" "), words[pos]),
                ));
            }
        }
        if let Some(f) = found
            && !out.contains(&f)
        {
            out.push(f);
        }
    }
    out
}

/// Where clauses may begin: the sentence start and after a comma + "and/but/so".
fn clause_starts(s: &str) -> Vec<usize> {
    let mut v = vec![0];
    for pat in [", and ", ", but ", ", so ", " and ", "; "] {
        let mut from = 0;
        while let Some(i) = s[from..].find(pat) {
            v.push(from + i + pat.len());
            from += i + pat.len();
        }
    }
    v
}

/// The statement's object: up to the end of its clause, at most 8 words.
fn object(s: &str) -> Option<String> {
    let end = s.find([',', '.', ';', '!', '?', '(']).unwrap_or(s.len());
    let words: Vec<&str> = s[..end].split_whitespace().take(8).collect();
    let stop = [
        "and", "but", "because", "so", "when", "which", "that", "who",
    ];
    let cut = words
        .iter()
        .position(|w| stop.contains(&w.to_lowercase().as_str()))
        .unwrap_or(words.len());
    let words = &words[..cut];
    if words.is_empty() || words.iter().all(|w| w.len() <= 2) {
        return None;
    }
    Some(words.join(" "))
}

/// One line of the profile: a statement, how many sessions made it, when last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StandingFact {
    pub subject: String,
    pub kind: String,
    pub text: String,
    pub sessions: usize,
    pub last_seen: String,
}

/// The profile from every gist's statements: (statements, session day).
pub fn profile(
    per_session: &[(Vec<Statement>, i64)],
    max_facts: usize,
) -> (String, Vec<StandingFact>) {
    let mut agg: HashMap<(String, String), (String, usize, i64)> = HashMap::new();
    for (stmts, at) in per_session {
        let mut seen = HashSet::new();
        for s in stmts {
            let key = (s.subject.clone(), s.text.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            let e = agg.entry(key).or_insert((s.kind.clone(), 0, *at));
            e.1 += 1;
            e.2 = e.2.max(*at);
        }
    }
    let mut facts: Vec<StandingFact> = agg
        .into_iter()
        .map(|((subject, text), (kind, n, at))| StandingFact {
            subject,
            kind,
            text,
            sessions: n,
            last_seen: text::day(at),
        })
        .collect();
    let at_of =
        |f: &StandingFact| chrono::NaiveDate::parse_from_str(&f.last_seen, "%-d %B %Y").ok();
    facts.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then(at_of(b).cmp(&at_of(a)))
            .then(a.text.cmp(&b.text))
    });
    facts.truncate(max_facts);
    let mut by_subject: BTreeMap<String, Vec<&StandingFact>> = BTreeMap::new();
    for f in &facts {
        by_subject.entry(f.subject.clone()).or_default().push(f);
    }
    let text = by_subject
        .iter()
        .map(|(subject, fs)| {
            let items: Vec<String> = fs
                .iter()
                .map(|f| {
                    let sep = if f.text.starts_with("'s") { "" } else { " " };
                    format!(
                        "{subject}{sep}{} ({}×, last {})",
                        f.text, f.sessions, f.last_seen
                    )
                })
                .collect();
            format!("{}.", items.join("; "))
        })
        .collect::<Vec<_>>()
        .join(" ");
    (text, facts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dream::extractive::fixtures::turns;

    #[test]
    fn first_person_statements() {
        let t = turns(&[
            "Caroline: I'm a counselor in training, and I love painting landscapes.",
            "Caroline: My favourite book is Charlotte's Web.",
            "Caroline: Do I like tea?",
            "Bot: ok",
        ]);
        let s = statements(&t);
        let texts: Vec<&str> = s.iter().map(|x| x.text.as_str()).collect();
        assert!(texts.contains(&"is a counselor in training"), "{texts:?}");
        assert!(texts.contains(&"loves painting landscapes"), "{texts:?}");
        assert!(
            texts.contains(&"'s favourite book is Charlotte's Web"),
            "{texts:?}"
        );
        assert_eq!(s.len(), 3, "questions are not statements: {texts:?}");
        let (text, facts) = profile(&[(s.clone(), 0), (s, 86_400_000)], 10);
        assert_eq!(facts[0].sessions, 2);
        assert!(
            text.contains("Caroline is a counselor in training (2×, last 2 January 1970)"),
            "{text}"
        );
    }
}
