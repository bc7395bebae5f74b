//! The offline consolidator: no model beyond the embedder.
//!
//! - gists: centrality + MMR over the session's sentences (each sentence's
//!   similarity to the session's mean vector, minus its redundancy with what
//!   is already chosen), kept in conversation order under a length budget,
//!   with a header naming the speakers and the date;
//! - eras: the same selection over a month's gists;
//! - profile: first-person statements found by rules (I am / I like / I
//!   work / my X is …), counted over sessions with their last-seen date;
//! - narrative: eras and recency (the latest month, what recurs across
//!   months, callbacks from earlier months);
//! - self-state: reflections from novelty (new names and topics, recurring
//!   ones, questions left unanswered).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::text::{self, Sentence, Turn};
use crate::embed::{EmbedError, Embedder};

/// Picks sentence indexes by MMR; returns them in their original order.
pub fn select(
    vectors: &[Vec<f32>],
    lengths: &[usize],
    penalties: &[f32],
    budget: usize,
    lambda: f32,
) -> Vec<usize> {
    let n = vectors.len();
    if n == 0 {
        return Vec::new();
    }
    let dim = vectors[0].len();
    let mut centre = vec![0f32; dim];
    for v in vectors {
        for (c, x) in centre.iter_mut().zip(v) {
            *c += x;
        }
    }
    let norm = centre.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    centre.iter_mut().for_each(|x| *x /= norm);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let relevance: Vec<f32> = vectors
        .iter()
        .zip(penalties)
        .map(|(v, p)| dot(v, &centre) - p)
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    let mut used = 0usize;
    let mut redundancy = vec![0f32; n];
    loop {
        let best = (0..n)
            .filter(|i| {
                !chosen.contains(i) && used + lengths[*i] <= budget.max(lengths[*i].min(budget))
            })
            .map(|i| (i, lambda * relevance[i] - (1.0 - lambda) * redundancy[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((i, _)) = best else { break };
        if used + lengths[i] > budget && !chosen.is_empty() {
            break;
        }
        chosen.push(i);
        used += lengths[i] + 1;
        for j in 0..n {
            redundancy[j] = redundancy[j].max(dot(&vectors[i], &vectors[j]));
        }
        if used >= budget {
            break;
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Questions and very short sentences say little on their own.
fn penalty(s: &str) -> f32 {
    let words = s.split_whitespace().count();
    let mut p = 0.0;
    if s.trim_end().ends_with('?') {
        p += 0.15;
    }
    if words < 6 {
        p += 0.1;
    }
    p
}

/// The gist of a session.
pub fn gist(
    embedder: &dyn Embedder,
    turns: &[Turn],
    budget: usize,
    lambda: f64,
) -> Result<String, EmbedError> {
    let mut speakers: Vec<String> = Vec::new();
    for t in turns {
        if !speakers.contains(&t.speaker) {
            speakers.push(t.speaker.clone());
        }
    }
    let when = turns
        .first()
        .map(|t| text::day(t.created_at))
        .unwrap_or_default();
    let header = format!("{} talked on {when}.", text::join_names(&speakers));
    let sentences: Vec<Sentence> = text::sentences(turns);
    let body = if sentences.is_empty() {
        // Nothing of 3+ words: keep the turns as they are.
        turns
            .iter()
            .map(|t| format!("{}: {}", t.speaker, t.text))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        let lines: Vec<String> = sentences.iter().map(|s| s.text.clone()).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&refs)?;
        let lengths: Vec<usize> = sentences
            .iter()
            .map(|s| s.text.chars().count() + s.speaker.chars().count() + 2)
            .collect();
        let penalties: Vec<f32> = sentences.iter().map(|s| penalty(&s.text)).collect();
        let budget = budget.saturating_sub(header.chars().count() + 1);
        let picked = select(&vectors, &lengths, &penalties, budget, lambda as f32);
        render(&sentences, &picked)
    };
    Ok(text::clip(
        &format!("{header} {body}"),
        budget.max(header.len() + 40) + 40,
    ))
}

/// Sentences in order, the speaker named when it changes; a named
/// speaker's sentence that starts in the first person is told in the third
/// ("I went" → "Caroline went"), which reads as memory rather than quote.
fn render(sentences: &[Sentence], picked: &[usize]) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    for &i in picked {
        let s = &sentences[i];
        if !out.is_empty() {
            out.push(' ');
        }
        if let Some(told) = third_person(&s.text, &s.speaker) {
            out.push_str(&told);
            last = None;
            continue;
        }
        if last != Some(s.speaker.as_str()) {
            out.push_str(&s.speaker);
            out.push_str(": ");
            last = Some(&s.speaker);
        }
        out.push_str(&s.text);
    }
    out
}

/// `I <verb> …` → `Name <verb>s …` for a speaker with a name (not a role).
pub fn third_person(sentence: &str, speaker: &str) -> Option<String> {
    if matches!(speaker, "user" | "assistant" | "system" | "tool")
        || !speaker.chars().next().is_some_and(char::is_uppercase)
    {
        return None;
    }
    let text = sentence.replace('’', "'");
    const FIXED: &[(&str, &str)] = &[
        ("I'm ", "is "),
        ("I am ", "is "),
        ("I've ", "has "),
        ("I have ", "has "),
        ("I was ", "was "),
        ("I'll ", "will "),
        ("I will ", "will "),
        ("I'd ", "would "),
        ("My ", "'s "),
    ];
    for (from, to) in FIXED {
        if let Some(rest) = text.strip_prefix(from) {
            let sep = if to.starts_with('\'') { "" } else { " " };
            return Some(format!("{speaker}{sep}{to}{rest}"));
        }
    }
    let rest = text.strip_prefix("I ")?;
    let (verb, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let bare = verb.trim_end_matches(|c: char| !c.is_alphanumeric());
    if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    const KEEP: &[&str] = &[
        "can",
        "could",
        "should",
        "would",
        "might",
        "must",
        "will",
        "shall",
        "just",
        "really",
        "also",
        "never",
        "always",
        "still",
        "recently",
        "finally",
        "actually",
        "already",
        "went",
        "did",
        "had",
        "got",
        "made",
        "saw",
        "took",
        "said",
        "found",
        "felt",
        "thought",
        "knew",
        "met",
        "ran",
        "began",
        "bought",
        "brought",
        "came",
        "gave",
        "kept",
        "left",
        "lost",
        "read",
        "told",
        "won",
        "wrote",
        "sold",
        "spent",
        "put",
        "set",
        "let",
        "cut",
        "hit",
        "hurt",
        "may",
        "used",
        "totally",
        "definitely",
        "especially",
        "usually",
        "often",
        "sometimes",
        "even",
        "only",
        "once",
        "too",
    ];
    let conj = if KEEP.contains(&bare) || bare.ends_with("ed") {
        bare.to_owned()
    } else if bare == "have" {
        "has".into()
    } else if bare == "do" || bare == "go" {
        format!("{bare}es")
    } else if bare.ends_with('y')
        && !bare.ends_with("ay")
        && !bare.ends_with("ey")
        && !bare.ends_with("oy")
        && !bare.ends_with("uy")
    {
        format!("{}ies", &bare[..bare.len() - 1])
    } else if ["s", "sh", "ch", "x", "z"]
        .iter()
        .any(|e| bare.ends_with(e))
    {
        format!("{bare}es")
    } else {
        format!("{bare}s")
    };
    let punct = &verb[bare.len()..];
    Some(if tail.is_empty() {
        format!("{speaker} {conj}{punct}")
    } else {
        format!("{speaker} {conj}{punct} {tail}")
    })
}

/// The leading sentences of a session cut at exactly `budget` characters
/// (the last one clipped): the baseline gists are measured against.
pub fn lead(turns: &[Turn], budget: usize) -> String {
    let sentences = text::sentences(turns);
    let all: Vec<usize> = (0..sentences.len()).collect();
    let full = render(&sentences, &all);
    full.chars().take(budget).collect()
}

/// A month's digest from its gists (oldest first).
pub fn era(
    embedder: &dyn Embedder,
    month: &str,
    gists: &[String],
    budget: usize,
    lambda: f64,
) -> Result<String, EmbedError> {
    let header = format!(
        "{}: {} conversation{}.",
        text::month_words(month),
        gists.len(),
        if gists.len() == 1 { "" } else { "s" }
    );
    let mut units: Vec<String> = Vec::new();
    for g in gists {
        units.extend(
            text::split_sentences(g)
                .into_iter()
                .filter(|s| s.split_whitespace().count() >= 4),
        );
    }
    if units.is_empty() {
        return Ok(header);
    }
    let refs: Vec<&str> = units.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs)?;
    let lengths: Vec<usize> = units.iter().map(|s| s.chars().count()).collect();
    let penalties: Vec<f32> = units
        .iter()
        .map(|s| {
            if s.contains(" talked on ") {
                0.3
            } else {
                penalty(s)
            }
        })
        .collect();
    let picked = select(
        &vectors,
        &lengths,
        &penalties,
        budget.saturating_sub(header.len()),
        lambda as f32,
    );
    let body: Vec<&str> = picked.iter().map(|&i| units[i].as_str()).collect();
    Ok(text::clip(
        &format!("{header} {}", body.join(" ")),
        budget + 40,
    ))
}

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

/// The current arc from the eras (oldest first, as (month, digest)).
pub fn narrative(eras: &[(String, String)], budget: usize) -> String {
    if eras.is_empty() {
        return String::new();
    }
    let topics: Vec<HashSet<String>> = eras
        .iter()
        .map(|(_, t)| top_words(strip_header(t), 12))
        .collect();
    let (latest_month, latest) = eras.last().expect("not empty");
    let mut parts = vec![format!(
        "Most recently ({}): {}",
        text::month_words(latest_month),
        strip_header(latest)
    )];
    // Recurring: topics in at least half the months (and at least two).
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for t in &topics {
        for w in t {
            *counts.entry(w).or_default() += 1;
        }
    }
    let need = (eras.len().div_ceil(2)).max(2);
    let mut recurring: Vec<(&String, usize)> =
        counts.into_iter().filter(|(_, c)| *c >= need).collect();
    recurring.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !recurring.is_empty() {
        let words: Vec<String> = recurring
            .iter()
            .take(8)
            .map(|(w, _)| (*w).clone())
            .collect();
        parts.push(format!("Recurring across months: {}.", words.join(", ")));
    }
    // Callbacks: what the latest month shares with a month at least two back.
    if eras.len() >= 3 {
        let last = &topics[topics.len() - 1];
        for (i, (m, _)) in eras.iter().enumerate().take(eras.len() - 2) {
            let shared: Vec<&String> = topics[i].intersection(last).collect();
            if !shared.is_empty() {
                let mut shared: Vec<String> = shared.into_iter().cloned().collect();
                shared.sort();
                shared.truncate(4);
                parts.push(format!(
                    "Callback to {}: {} again.",
                    text::month_words(m),
                    shared.join(", ")
                ));
                break;
            }
        }
    }
    if eras.len() >= 2 {
        let earlier: Vec<String> = eras[..eras.len() - 1]
            .iter()
            .rev()
            .take(3)
            .map(|(m, t)| {
                format!(
                    "{}: {}",
                    text::month_words(m),
                    text::clip(strip_header(t), 160)
                )
            })
            .collect();
        parts.push(format!("Before that — {}", earlier.join(" | ")));
    }
    text::clip(&parts.join(" "), budget)
}

fn strip_header(era: &str) -> &str {
    match era.find(". ") {
        Some(i) if era[..i].contains("conversation") => &era[i + 2..],
        _ => era,
    }
}

/// The `n` most frequent content words of a text.
pub fn top_words(text: &str, n: usize) -> HashSet<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in text::content_words(text) {
        if w.chars().count() >= 4 && !w.chars().all(|c| c.is_ascii_digit()) {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(n).map(|(w, _)| w).collect()
}

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
    use crate::embed::HashEmbedder;

    fn turns(lines: &[&str]) -> Vec<Turn> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| Turn::new(i as i64 + 1, "user", l, None, 1_683_554_160_000 + i as i64))
            .collect()
    }

    #[test]
    fn mmr_prefers_central_and_avoids_repeats() {
        let v = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        // Two near-copies of the centre and one off to the side.
        let vectors = vec![v(1.0, 0.1), v(1.0, 0.11), v(0.2, 1.0)];
        let picked = select(&vectors, &[10, 10, 10], &[0.0; 3], 21, 0.5);
        assert_eq!(picked.len(), 2);
        assert!(picked.contains(&0) || picked.contains(&1));
        assert!(picked.contains(&2), "diversity: {picked:?}");
        // Budget is respected.
        assert_eq!(select(&vectors, &[10, 10, 10], &[0.0; 3], 10, 0.5).len(), 1);
    }

    #[test]
    fn gist_names_speakers_and_date_and_fits() {
        let t = turns(&[
            "Caroline: I went to an LGBTQ support group yesterday and it was powerful.",
            "Melanie: That sounds wonderful, what did you learn there?",
            "Caroline: The transgender stories made me feel accepted and brave.",
            "Melanie: I painted a lake sunrise last year to express myself.",
        ]);
        let g = gist(&HashEmbedder::new(), &t, 200, 0.7).unwrap();
        assert!(
            g.starts_with("Caroline and Melanie talked on 8 May 2023."),
            "{g}"
        );
        assert!(g.chars().count() <= 240, "{g}");
        // First-person sentences are told in the third person.
        assert!(g.contains("Caroline went to an LGBTQ support group"), "{g}");
        assert!(!g.contains(" I went"), "{g}");
    }

    #[test]
    fn third_person_for_named_speakers() {
        let t = |s: &str| third_person(s, "Caroline");
        assert_eq!(
            t("I went to a support group.").unwrap(),
            "Caroline went to a support group."
        );
        assert_eq!(t("I love painting.").unwrap(), "Caroline loves painting.");
        assert_eq!(t("I'm a counselor.").unwrap(), "Caroline is a counselor.");
        assert_eq!(t("I’ve been busy.").unwrap(), "Caroline has been busy.");
        assert_eq!(
            t("My kids are great.").unwrap(),
            "Caroline's kids are great."
        );
        assert_eq!(
            t("I study and I watch.").unwrap(),
            "Caroline studies and I watch."
        );
        assert_eq!(t("I finish.").unwrap(), "Caroline finishes.");
        assert_eq!(t("I can swim.").unwrap(), "Caroline can swim.");
        assert!(t("We went out.").is_none());
        assert!(third_person("I went out.", "user").is_none());
    }

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

    #[test]
    fn narrative_mentions_latest_and_recurring() {
        let eras = vec![
            (
                "2023-05".to_owned(),
                "May 2023: 2 conversations. Painting and swimming with the kids.".to_owned(),
            ),
            (
                "2023-06".to_owned(),
                "June 2023: 1 conversation. Painting a sunset, adoption research.".to_owned(),
            ),
            (
                "2023-07".to_owned(),
                "July 2023: 1 conversation. Painting class and swimming again.".to_owned(),
            ),
        ];
        let n = narrative(&eras, 2000);
        assert!(
            n.starts_with("Most recently (July 2023): Painting class"),
            "{n}"
        );
        assert!(n.contains("Recurring across months: painting"), "{n}");
        assert!(n.contains("Callback to May 2023"), "{n}");
    }

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
