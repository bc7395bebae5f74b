//! Self-state: reflections from novelty (new names and topics, recurring
//! ones, questions left unanswered) and a coarse mood.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::narrative::top_words;
use crate::dream::text::{self, Turn};

/// What the reflection is given: texts of the gists since the last one, the
/// names and topics already known, and the questions of recent sessions.
pub struct ReflectInput<'a> {
    pub new_gists: &'a [String],
    pub known_entities: &'a [String],
    pub known_topics: &'a [String],
    pub open_questions: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reflection {
    pub new_entities: Vec<String>,
    pub new_topics: Vec<String>,
    pub recurring_topics: Vec<String>,
    pub reflections: Vec<String>,
    pub open_questions: Vec<String>,
    pub mood: String,
}

pub fn reflect(input: &ReflectInput<'_>) -> Reflection {
    let known: HashSet<&str> = input.known_entities.iter().map(String::as_str).collect();
    let known_topics: HashSet<&str> = input.known_topics.iter().map(String::as_str).collect();
    let mut new_entities = Vec::new();
    let mut topics_now: HashSet<String> = HashSet::new();
    let joined = input.new_gists.join(" ");
    for e in text::entities(&joined) {
        if !known.contains(e.as_str()) && !new_entities.contains(&e) {
            new_entities.push(e);
        }
    }
    topics_now.extend(top_words(&joined, 15));
    // A name is an entity, not a topic.
    let names: HashSet<String> = text::entities(&joined)
        .into_iter()
        .chain(input.known_entities.iter().cloned())
        .map(|e| e.to_lowercase())
        .collect();
    topics_now.retain(|t| !names.contains(t));
    let mut new_topics: Vec<String> = topics_now
        .iter()
        .filter(|t| !known_topics.contains(t.as_str()))
        .cloned()
        .collect();
    new_topics.sort();
    let mut recurring: Vec<String> = topics_now
        .iter()
        .filter(|t| known_topics.contains(t.as_str()))
        .cloned()
        .collect();
    recurring.sort();
    let mut reflections = Vec::new();
    if !new_entities.is_empty() {
        reflections.push(format!(
            "New names came up: {}.",
            new_entities
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !new_topics.is_empty() {
        reflections.push(format!(
            "New topics: {}.",
            new_topics
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !recurring.is_empty() {
        reflections.push(format!(
            "Keeps coming back to: {}.",
            recurring
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !input.open_questions.is_empty() {
        reflections.push(format!(
            "{} question(s) were left unanswered.",
            input.open_questions.len()
        ));
    }
    Reflection {
        new_entities,
        new_topics,
        recurring_topics: recurring,
        reflections,
        open_questions: input.open_questions.clone(),
        mood: mood(&joined),
    }
}

/// A coarse tone from a small lexicon: what the recent sessions felt like.
fn mood(text: &str) -> String {
    const POS: &[&str] = &[
        "happy",
        "glad",
        "excited",
        "proud",
        "love",
        "great",
        "fun",
        "enjoy",
        "thankful",
        "grateful",
        "amazing",
        "wonderful",
    ];
    const NEG: &[&str] = &[
        "sad",
        "worried",
        "stress",
        "stressed",
        "angry",
        "tired",
        "hard",
        "difficult",
        "upset",
        "anxious",
        "lonely",
        "sorry",
    ];
    let words = text::content_words(text);
    let pos = words.iter().filter(|w| POS.contains(&w.as_str())).count();
    let neg = words.iter().filter(|w| NEG.contains(&w.as_str())).count();
    match (pos, neg) {
        (0, 0) => "neutral",
        (p, n) if p > 2 * n => "upbeat",
        (p, n) if n > 2 * p => "concerned",
        _ => "mixed",
    }
    .to_owned()
}

/// Questions a session ends on, or that the next turn answers with a question.
pub fn open_questions(turns: &[Turn]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        let Some(q) = text::split_sentences(&t.text)
            .into_iter()
            .rev()
            .find(|s| s.ends_with('?'))
        else {
            continue;
        };
        if !t.text.trim_end().ends_with('?') {
            continue;
        }
        let answered = turns[i + 1..].iter().any(|n| n.speaker != t.speaker);
        if !answered && q.split_whitespace().count() >= 4 {
            out.push(format!("{}: {q}", t.speaker));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dream::extractive::fixtures::turns;

    #[test]
    fn reflection_finds_what_is_new_and_unanswered() {
        let t = turns(&["Caroline: Have you ever been to Rome with Oscar?"]);
        let q = open_questions(&t);
        assert_eq!(q.len(), 1);
        let r = reflect(&ReflectInput {
            new_gists: &["They met Oscar in Rome and were happy about painting.".to_owned()],
            known_entities: &["Rome".to_owned()],
            known_topics: &["painting".to_owned()],
            open_questions: q,
        });
        assert_eq!(r.new_entities, vec!["Oscar"]);
        assert!(r.recurring_topics.contains(&"painting".to_owned()));
        assert_eq!(r.mood, "upbeat");
        assert_eq!(r.open_questions.len(), 1);
    }
}
