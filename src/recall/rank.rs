//! The third stage: the fused candidates as stored rows, filtered to the
//! query's namespace, session and tiers (facts: to what the belief holds),
//! weighted (a concept's strength, a fact's kind),
//! lifted by the names the query mentions, sorted best first (equal
//! scores: the newer memory first) and cut to `k`.

use std::collections::HashMap;

use super::candidates::Scope;
use super::rrf::Fused;
use super::{Explain, RecallHit, RecallQuery, Ref};
use crate::store::{CandidateRows, Exchange, Fact, Item, Tier};

/// A candidate's stored row.
pub(super) enum Row {
    Exchange(Exchange),
    Item(Item),
    Fact(Fact),
}

impl Row {
    fn content(&self) -> &str {
        match self {
            Row::Exchange(e) => &e.content,
            Row::Item(i) => &i.text,
            Row::Fact(f) => &f.text,
        }
    }

    fn created_at(&self) -> i64 {
        match self {
            Row::Exchange(e) => e.created_at,
            Row::Item(i) => i.updated_at,
            Row::Fact(f) => f.recorded_at.unwrap_or(f.created_at),
        }
    }

    fn namespace(&self) -> &str {
        match self {
            Row::Exchange(e) => &e.namespace,
            Row::Item(i) => &i.namespace,
            Row::Fact(f) => &f.namespace,
        }
    }
}

/// The first `q.k` candidates that exist, belong to the query's namespace,
/// session and tiers, best first.
pub(super) fn rank(
    fused: Vec<Fused<Ref>>,
    rows: &mut CandidateRows,
    q: &RecallQuery,
    scope: &Scope,
) -> Vec<(Fused<Ref>, Row)> {
    let mut by_ref: HashMap<Ref, Row> = std::mem::take(&mut rows.exchanges)
        .into_iter()
        .map(|r| (Ref::Exchange(r.id), Row::Exchange(r)))
        .collect();
    by_ref.extend(
        std::mem::take(&mut rows.items)
            .into_iter()
            .map(|(id, it)| (Ref::Item(id), Row::Item(it))),
    );
    by_ref.extend(
        std::mem::take(&mut rows.facts)
            .into_iter()
            .map(|(id, f)| (Ref::Fact(id), Row::Fact(f))),
    );
    let mut ranked: Vec<(Fused<Ref>, Row)> = fused
        .into_iter()
        .filter_map(|f| by_ref.remove(&f.id).map(|r| (f, r)))
        // Defence in depth: the searches filter by namespace already.
        .filter(|(_, r)| r.namespace() == q.namespace)
        .filter(|(_, r)| match (r, &q.session_id) {
            (Row::Item(i), Some(sid)) => i.parent.as_deref() == Some(sid.as_str()),
            _ => true,
        })
        .filter(|(_, r)| match r {
            Row::Item(i) => scope.item_tiers.contains(&i.tier),
            Row::Exchange(_) => scope.exchanges,
            // The searches filter by belief already; a fact superseded or
            // forgotten since is dropped here.
            Row::Fact(f) => scope.facts.is_some_and(|b| b.holds(f)),
        })
        .collect();
    // The slot a question asks about ("what car …"): facts holding it
    // are the answer, old or new as the belief decided.
    let asked = crate::slots::query_slot(&q.query).map(|d| d.name);
    for (fu, row) in ranked.iter_mut() {
        match row {
            // An item's weight (a concept's strength) scales its score.
            Row::Item(i) => fu.score *= i.weight.max(0.0),
            Row::Fact(f) => {
                fu.score *= q.fusion.kind_weights.weight(f.kind);
                if asked.is_some() && f.slot.as_deref() == asked {
                    fu.score *= 1.0 + q.fusion.kind_weights.slot_boost;
                }
            }
            Row::Exchange(_) => {}
        }
    }
    // Names in the question (capitalised words after the first) lift the
    // candidates that mention them.
    if q.fusion.entity_boost > 0.0 {
        let names = entities(&q.query);
        if !names.is_empty() {
            for (fu, row) in ranked.iter_mut() {
                let hits = names
                    .iter()
                    .filter(|n| contains_word(row.content(), n))
                    .count();
                if hits > 0 {
                    fu.score *= 1.0 + q.fusion.entity_boost * hits as f64 / names.len() as f64;
                }
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.score
            .total_cmp(&a.0.score)
            .then(b.1.created_at().cmp(&a.1.created_at()))
            .then(b.0.id.cmp(&a.0.id))
    });
    ranked.truncate(q.k);
    ranked
}

/// Ranked rows as hits, each with why it was found.
pub(super) fn to_hits(
    ranked: Vec<(Fused<Ref>, Row)>,
    cosine: &HashMap<Ref, f32>,
    boosted: &HashMap<Ref, f64>,
) -> Vec<RecallHit> {
    ranked
        .into_iter()
        .map(|(f, r)| {
            let explain = Explain {
                bm25_rank: f.lexical_rank,
                vector_rank: f.vector_rank,
                fused: f.score,
                vector_score: cosine.get(&f.id).copied(),
                neighbor_boost: boosted.get(&f.id).copied(),
                supplement: None,
            };
            match r {
                Row::Exchange(e) => hit(e, f.score, explain),
                Row::Item(i) => item_hit(i, f.score, explain),
                Row::Fact(x) => fact_hit(x, f.score, explain),
            }
        })
        .collect()
}

pub(super) fn hit(r: Exchange, score: f64, explain: Explain) -> RecallHit {
    RecallHit {
        tier: "exchange",
        id: r.id,
        ext_id: r.ext_id,
        session_id: Some(r.session_id),
        namespace: r.namespace,
        role: Some(r.role),
        content: r.content,
        created_at: crate::time::to_rfc3339(r.created_at),
        score,
        key: None,
        attrs: serde_json::Map::new(),
        explain,
    }
}

fn item_hit(i: Item, score: f64, explain: Explain) -> RecallHit {
    let attrs = match i.attrs {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    RecallHit {
        tier: i.tier.as_str(),
        id: i.id,
        ext_id: None,
        session_id: (i.tier == Tier::Gist).then(|| i.parent.clone()).flatten(),
        namespace: i.namespace,
        role: None,
        content: i.text,
        created_at: crate::time::to_rfc3339(i.updated_at),
        score,
        key: Some(i.key),
        attrs,
        explain,
    }
}

fn fact_hit(f: Fact, score: f64, explain: Explain) -> RecallHit {
    use serde_json::json;
    let mut attrs = serde_json::Map::new();
    attrs.insert("kind".into(), json!(f.kind.as_str()));
    attrs.insert("status".into(), json!(f.status.as_str()));
    attrs.insert("subject".into(), json!(f.subject));
    attrs.insert("slot".into(), json!(f.slot));
    attrs.insert("entities".into(), json!(f.entities));
    attrs.insert("confidence".into(), json!(f.confidence));
    attrs.insert(
        "valid_from".into(),
        json!(crate::time::to_rfc3339(f.valid_from)),
    );
    attrs.insert(
        "valid_to".into(),
        json!(f.valid_to.map(crate::time::to_rfc3339)),
    );
    RecallHit {
        tier: "fact",
        id: f.id,
        ext_id: None,
        session_id: None,
        namespace: f.namespace,
        role: None,
        content: f.text,
        created_at: crate::time::to_rfc3339(f.recorded_at.unwrap_or(f.created_at)),
        score,
        key: None,
        attrs,
        explain,
    }
}

/// Capitalised words of the query other than its first word: the people,
/// places and things it names.
pub(super) fn entities(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, w) in query
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let w = w.trim_end_matches("'s").trim_matches('\'');
        if i > 0
            && w.chars().next().is_some_and(char::is_uppercase)
            && w.chars().count() > 1
            && !out.iter().any(|o| o == w)
        {
            out.push(w.to_owned());
        }
    }
    out
}

fn contains_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_the_capitalised_words_after_the_first() {
        assert_eq!(entities("What did Caroline research?"), vec!["Caroline"]);
        assert_eq!(
            entities("When did Melanie's kids visit Paris and Paris?"),
            vec!["Melanie", "Paris"]
        );
        assert!(entities("Where is it?").is_empty());
    }
}
