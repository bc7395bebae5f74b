//! The openai provider's facts: one call per batch of turns, shown the live
//! facts of the same speakers, answering `{add: [...], supersede: [...]}`
//! under a JSON schema. The model only proposes; applying is plain code
//! (the store checks that what it supersedes is live and in the namespace,
//! and the rules' guards against echoes and duplicates apply as well).

use serde::Deserialize;
use serde_json::{Value, json};

use super::person::subject_name;
use super::rules::Proposal;
use crate::dream::provider::ProviderError;
use crate::dream::text::{self, Turn};
use crate::http::snippet;
use crate::slots;
use crate::store::{Fact, FactKind};

/// Facts one call may add or supersede (the schema's `maxItems`: a small
/// model otherwise repeats itself until the token limit).
const MAX_ITEMS: usize = 24;

pub const FACTS_PROMPT: &str = "You extract durable facts about the speakers of a conversation, for a long-term memory.\n\
A fact is one short, self-contained, third-person sentence naming its subject (\"Ana moved to Lisbon.\"), about the \
speaker's life: identity, home, work, family, pets, possessions, plans, preferences, events. Skip greetings, small talk, \
questions, compliments, and anything the speaker only considered, almost did, or said of someone else.\n\
`turn` is the number of the turn the fact comes from. `slot` names the attribute when the fact is one of a kind that \
holds one value at a time (residence, employer, job_title, partner, pet, car, phone, diet, gym, course, hobby, band, \
kid_school, run_pr), else null.\n\
If a turn changes a fact listed under KNOWN FACTS (the speaker moved, changed jobs, …), put it under `supersede` with \
that fact's id instead of under `add`. Do not repeat known facts.\n\nKNOWN FACTS\n{known}\n\nTURNS\n{turns}\n";

/// The answer's shape.
pub fn response_format() -> Value {
    let fact = json!({
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "subject": {"type": "string"},
            "kind": {"type": "string", "enum": FactKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()},
            "slot": {"type": ["string", "null"]},
            "turn": {"type": "integer"}
        },
        "required": ["text", "subject", "kind", "slot", "turn"],
        "additionalProperties": false
    });
    let mut replaces = fact.clone();
    replaces["properties"]["id"] = json!({"type": "integer"});
    replaces["required"] = json!(["id", "text", "subject", "kind", "slot", "turn"]);
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "facts",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "add": {"type": "array", "items": fact, "maxItems": MAX_ITEMS},
                    "supersede": {"type": "array", "items": replaces, "maxItems": MAX_ITEMS}
                },
                "required": ["add", "supersede"],
                "additionalProperties": false
            }
        }
    })
}

/// The prompt for one batch, cut to `max_chars` (known facts first go).
pub fn prompt(turns: &[Turn], live: &[Fact], max_chars: usize) -> String {
    let lines: Vec<String> = turns
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "[{}] {} {}: {}",
                i + 1,
                text::day(t.created_at),
                t.speaker,
                t.text
            )
        })
        .collect();
    let turns_text = text::clip(&lines.join("\n"), max_chars * 3 / 4);
    let mut known: Vec<String> = live
        .iter()
        .map(|f| {
            format!(
                "id {}: {}{}",
                f.id,
                f.text,
                f.slot
                    .as_deref()
                    .map(|s| format!(" (slot {s})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let budget = max_chars.saturating_sub(turns_text.len());
    while known.iter().map(|k| k.len() + 1).sum::<usize>() > budget && !known.is_empty() {
        known.pop();
    }
    let known = if known.is_empty() {
        "(none)".to_owned()
    } else {
        known.join("\n")
    };
    FACTS_PROMPT
        .replace("{known}", &known)
        .replace("{turns}", &turns_text)
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    add: Vec<Item>,
    #[serde(default)]
    supersede: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    id: Option<i64>,
    text: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    slot: Option<String>,
    #[serde(default)]
    turn: Option<i64>,
}

/// The proposals of an answer; a fact naming a turn outside the batch
/// takes the batch's last, one superseding an id it was not shown is
/// added plainly.
pub fn parse(answer: &str, turns: &[Turn], live: &[Fact]) -> Result<Vec<Proposal>, ProviderError> {
    let a: Answer = serde_json::from_str(answer).map_err(|e| {
        ProviderError::Unusable(format!(
            "facts are not the JSON asked for ({e}): {}",
            snippet(answer)
        ))
    })?;
    let Some(last) = turns.last() else {
        return Ok(Vec::new());
    };
    let items = a
        .add
        .into_iter()
        .map(|i| (i, false))
        .chain(a.supersede.into_iter().map(|i| (i, true)));
    let mut out = Vec::new();
    for (item, replaces) in items {
        let text = item.text.trim().to_owned();
        if text.is_empty() {
            continue;
        }
        let turn = item
            .turn
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| turns.get(n))
            .unwrap_or(last);
        let subject = item
            .subject
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| subject_name(&turn.speaker));
        let slot = item
            .slot
            .map(|s| s.trim().to_lowercase().replace([' ', '-'], "_"))
            .filter(|s| !s.is_empty() && s != "null");
        let supersedes = item
            .id
            .filter(|id| replaces && live.iter().any(|f| f.id == *id));
        out.push(Proposal {
            kind: item
                .kind
                .as_deref()
                .and_then(FactKind::parse)
                .or_else(|| slot.as_deref().and_then(slots::slot).map(|d| d.kind))
                .unwrap_or(FactKind::Other),
            entities: text::entities(&text)
                .into_iter()
                .filter(|e| *e != subject)
                .collect(),
            subject,
            slot,
            exchange_ids: vec![turn.id],
            valid_from: turn.created_at,
            source: turn.text.clone(),
            supersedes,
            text,
            screen: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_proposals() {
        let turns: Vec<Turn> = ["Ana: I moved to Lisbon last week!", "Ben: Nice."]
            .iter()
            .enumerate()
            .map(|(i, l)| Turn::new(i as i64 + 10, "user", l, None, 5_000 + i as i64))
            .collect();
        let answer = r#"{"add": [{"text": "Ben said nice.", "subject": "Ben", "kind": "other", "slot": null, "turn": 9}],
            "supersede": [{"id": 7, "text": "Ana lives in Lisbon.", "subject": "Ana", "kind": "user_profile", "slot": "residence", "turn": 1},
                          {"id": 99, "text": "Ana has a dog.", "subject": "Ana", "kind": "bogus", "slot": "pet", "turn": 1}]}"#;
        let mut live_fact = crate::store::Fact {
            id: 7,
            namespace: "n".into(),
            text: "Ana lives in Porto.".into(),
            kind: FactKind::UserProfile,
            subject: Some("Ana".into()),
            entities: vec![],
            slot: Some("residence".into()),
            status: crate::store::FactStatus::Active,
            confidence: 1.0,
            reference_count: 0,
            last_referenced_at: None,
            valid_from: 0,
            valid_to: None,
            recorded_at: Some(0),
            retired_at: None,
            superseded_by: None,
            provenance: json!({}),
            created_at: 0,
            updated_at: 0,
            support: 1,
        };
        live_fact.confidence = 1.0;
        let p = parse(answer, &turns, &[live_fact]).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0].exchange_ids,
            vec![11],
            "turn 9 is outside: the last one"
        );
        assert_eq!((p[1].supersedes, p[1].valid_from), (Some(7), 5_000));
        assert_eq!(p[1].slot.as_deref(), Some("residence"));
        assert_eq!(p[2].supersedes, None, "an id it was not shown");
        assert_eq!(
            p[2].kind,
            FactKind::UserProfile,
            "a bad kind falls back to the slot's"
        );
        assert!(parse("not json", &turns, &[]).is_err());
        let pr = prompt(&turns, &[], 10_000);
        assert!(pr.contains("[1] ") && pr.contains("Ana: I moved") && pr.contains("(none)"));
    }
}
