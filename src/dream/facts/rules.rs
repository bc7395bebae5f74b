//! The extractive provider's facts: no model, rules over the speaker's own
//! sentences.
//!
//! A turn yields at most one fact. Its sentences pass a salience gate
//! (statements, not questions; about the speaker, not addressed to the
//! listener; enough content words), are told in the third person with the
//! speaker's name, and the first two that pass make the fact. A sentence
//! that fills a slot (a value for where the speaker lives, works, what
//! they drive …) makes a fact of its own, slotted, unless it is about
//! someone else or only hypothetical (see [`super::guard`]). Per session,
//! the unslotted facts with the most content are kept, up to a cap: a
//! conversation says more than it asserts.

use super::guard::{self, Subject};
use super::person::{rewrite, subject_name};
use crate::dream::text::{self, Turn};
use crate::slots::{self, SlotDef};
use crate::store::FactKind;

/// A fact a provider proposes; applying it is the store's plain code
/// (`screen` is filled in by the pass, after the firewall has read it).
pub use crate::store::ExtractedFact as Proposal;

/// Content words a fact needs (of the sentences it is made of).
const MIN_CONTENT_WORDS: usize = 4;
/// Sentences of one turn joined into its fact.
const MAX_SENTENCES: usize = 2;

/// The facts of `turns` (one session's, oldest first), at most `cap`
/// unslotted ones; slotted facts are never capped.
pub fn extract(turns: &[Turn], cap: usize) -> Vec<Proposal> {
    let mut free: Vec<(usize, usize, Proposal)> = Vec::new();
    let mut slotted: Vec<(usize, Proposal)> = Vec::new();
    for (pos, t) in turns.iter().enumerate() {
        if matches!(t.role.as_str(), "assistant" | "system" | "tool") {
            continue;
        }
        let name = subject_name(&t.speaker);
        let mut kept: Vec<String> = Vec::new();
        for s in text::split_sentences(&t.text) {
            let Some(s) = guard::statement(&s) else {
                continue;
            };
            let ws = slots::words(&s);
            if let Some(def) = slots::statement_slot(&ws)
                && guard::has_value(def, &s, &t.speaker)
            {
                let subject = guard::subject(&ws, def);
                if subject == Subject::Speaker
                    && !guard::hypothetical(&ws)
                    && !guard::addressed(&ws)
                {
                    slotted.push((pos, proposal(t, &name, &s, Some(def))));
                    continue;
                }
            }
            if guard::first_person(&ws) && !guard::addressed(&ws) {
                kept.push(s);
            }
        }
        if kept.is_empty() {
            continue;
        }
        kept.truncate(MAX_SENTENCES);
        let joined = kept.join(" ");
        let weight = text::content_words(&joined).len();
        if weight < MIN_CONTENT_WORDS {
            continue;
        }
        free.push((weight, pos, proposal(t, &name, &joined, None)));
    }
    // The richest turns, kept in conversation order.
    free.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    free.truncate(cap);
    let mut all: Vec<(usize, Proposal)> = free.into_iter().map(|(_, p, f)| (p, f)).collect();
    all.extend(slotted);
    all.sort_by_key(|(pos, _)| *pos);
    all.into_iter().map(|(_, f)| f).collect()
}

fn proposal(t: &Turn, name: &str, source: &str, slot: Option<&SlotDef>) -> Proposal {
    let told = if guard::first_person(&slots::words(source)) {
        rewrite(source, name)
    } else {
        // "New phone: a Pixel 6!" is the speaker's own news, unsaid.
        format!("{name}: {source}")
    };
    Proposal {
        kind: slot.map_or_else(|| kind_of(source), |d| d.kind),
        subject: t.speaker.clone(),
        slot: slot.map(|d| d.name.to_owned()),
        entities: text::entities(&told)
            .into_iter()
            .filter(|e| e != name)
            .collect(),
        text: told,
        exchange_ids: vec![t.id],
        valid_from: t.created_at,
        source: source.to_owned(),
        supersedes: None,
        screen: None,
    }
}

/// An unslotted fact's kind, from its verbs.
fn kind_of(sentence: &str) -> FactKind {
    let ws = slots::words(sentence);
    let any = |list: &[&str]| list.iter().any(|p| slots::has_phrase(&ws, p));
    if any(&[
        "love",
        "like",
        "enjoy",
        "favourite",
        "favorite",
        "prefer",
        "hate",
        "fan of",
    ]) {
        FactKind::Preference
    } else if any(&["i'm a", "i am a", "i work", "my job", "my name", "i live"]) {
        FactKind::UserProfile
    } else if any(&[
        "working on",
        "project",
        "building",
        "writing",
        "planning",
        "studying",
        "learning",
    ]) {
        FactKind::Project
    } else if any(&[
        "yesterday",
        "last week",
        "last weekend",
        "last month",
        "last year",
        "went",
        "visited",
        "attended",
        "got",
        "had",
        "was",
        "took",
    ]) {
        FactKind::Event
    } else {
        FactKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(lines: &[(&str, &str)]) -> Vec<Turn> {
        lines
            .iter()
            .enumerate()
            .map(|(i, (who, l))| {
                Turn::new(
                    i as i64 + 1,
                    "user",
                    &format!("{who}: {l}"),
                    None,
                    1_000 + i as i64,
                )
            })
            .collect()
    }

    #[test]
    fn statements_become_third_person_facts() {
        let f = extract(
            &turns(&[
                ("Ana", "Hey! How are you?"),
                (
                    "Ana",
                    "I went to a pottery class yesterday and made a bowl for my mum.",
                ),
                ("Ben", "That's so cool, you must be proud!"),
                ("Ben", "Thanks!"),
            ]),
            12,
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            f[0].text,
            "Ana went to a pottery class yesterday and made a bowl for Ana's mum."
        );
        assert_eq!(f[0].subject, "Ana");
        assert_eq!(f[0].exchange_ids, vec![2]);
    }

    #[test]
    fn slots_are_filled_by_the_speaker_only() {
        let f = extract(
            &turns(&[
                ("Ana", "I bought a Skoda Octavia last week!"),
                (
                    "Ana",
                    "My brother works at Saltmarsh Energy and keeps telling me to apply.",
                ),
                (
                    "Ana",
                    "I thought about moving to Tallinn, but in the end we stayed put.",
                ),
                ("Ana", "New phone: a Pixel 6, finally!"),
            ]),
            12,
        );
        let slotted: Vec<(&str, &str)> = f
            .iter()
            .filter_map(|p| p.slot.as_deref().map(|s| (s, p.text.as_str())))
            .collect();
        assert_eq!(
            slotted,
            vec![
                ("car", "Ana bought a Skoda Octavia last week!"),
                ("phone", "Ana: New phone: a Pixel 6, finally!"),
            ]
        );
    }

    #[test]
    fn the_cap_keeps_the_richest_turns() {
        let f = extract(
            &turns(&[
                (
                    "Ana",
                    "I really love the blue paint we bought for the kitchen walls.",
                ),
                (
                    "Ana",
                    "I am taking my kids swimming at the lake near Porto, then hiking the coastal trail.",
                ),
                ("Ana", "I am tired today."),
            ]),
            1,
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].text.contains("swimming"), "{f:?}");
    }
}

/// Prints what the rules make of every turn of a LoCoMo-format file that
/// carries `updates` (the knowledge-updates set): its evidence and
/// distractor turns, with the slot each got. A tool for reading, not a
/// test: `MEMD_KU=…/dev.json cargo test --lib ku_dump -- --ignored --nocapture`.
#[cfg(test)]
mod ku_dump {
    use super::*;
    use serde_json::Value;

    #[test]
    #[ignore = "a tool for reading the rules against the knowledge-update set (MEMD_KU=path), not a check"]
    fn ku_dump() {
        let path = std::env::var("MEMD_KU").expect("MEMD_KU=path to dev.json");
        let data: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for s in data.as_array().unwrap() {
            let conv = &s["conversation"];
            let mut by_dia = std::collections::HashMap::new();
            for (k, v) in conv.as_object().unwrap() {
                if k.starts_with("session_") && v.is_array() {
                    for t in v.as_array().unwrap() {
                        by_dia.insert(t["dia_id"].as_str().unwrap().to_owned(), t.clone());
                    }
                }
            }
            let show = |tag: &str, slot: &str, dia: &str| {
                let t = &by_dia[dia];
                let turn = Turn::new(
                    1,
                    "user",
                    &format!(
                        "{}: {}",
                        t["speaker"].as_str().unwrap(),
                        t["text"].as_str().unwrap()
                    ),
                    None,
                    0,
                );
                let f = extract(&[turn], 12);
                let got: Vec<String> = f
                    .iter()
                    .map(|p| format!("{:?} {}", p.slot, p.text))
                    .collect();
                let ok = f.iter().any(|p| p.slot.as_deref() == Some(slot));
                println!(
                    "{tag} {slot} {} | {} -> {got:?}",
                    if ok == (tag == "H") { "ok " } else { "BAD" },
                    t["text"]
                );
            };
            for u in s["updates"].as_array().unwrap() {
                let slot = match u["slot"].as_str().unwrap() {
                    "city" => "residence",
                    x => x,
                };
                for h in u["history"].as_array().unwrap() {
                    for e in h["evidence"].as_array().unwrap() {
                        show("H", slot, e.as_str().unwrap());
                    }
                }
                for x in u["distractors"].as_array().unwrap() {
                    for e in x["evidence"].as_array().unwrap() {
                        show("D", slot, e.as_str().unwrap());
                    }
                }
            }
        }
    }
}
