//! The context pack: what an agent puts in front of an LLM. Sections in
//! priority order — profile, narrative, self-state, relevant live facts
//! (with `as_of`: the facts believed then), relevant gists and eras,
//! concepts and chunks, relevant exchanges, the session's recent turns —
//! packed greedily under one character budget (an item that does not fit is
//! skipped and smaller ones after it may still go), each with its tier and
//! id, and the list of ids used so the interaction can be recorded.
//!
//! The consolidated sections have shares of the budget ([`SHARES`]): a long
//! profile or narrative is cut to its share rather than crowding out the
//! evidence (measured on LoCoMo: without shares the pack held fewer answers
//! with the dream tiers than without them). Exchanges carry their date, and
//! their number grows with the budget.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{RecallEngine, RecallError, RecallHit, RecallQuery};
use crate::store::{Conversations, SingleTiers, Singles, Tier};

pub struct ContextRequest {
    pub query: String,
    pub namespace: String,
    pub session_id: Option<String>,
    pub budget_chars: usize,
    /// Template for the recall calls (fusion, k); tiers and session are set here.
    pub recall: RecallQuery,
    /// Leave out the consolidated tiers (profile, narrative, self, gists,
    /// eras): what recall alone would give.
    pub without_dream: bool,
    /// Facts the "facts" section asks for (0: no section). Which facts
    /// count (live, or `as_of`) comes with the recall template.
    pub facts_k: usize,
}

/// Most of the budget each consolidated section may take; exchanges, concepts,
/// chunks and recent turns share the rest and whatever these leave unused.
pub const SHARES: [(&str, f64); 5] = [
    ("profile", 0.10),
    ("narrative", 0.05),
    ("self", 0.03),
    ("facts", 0.10),
    ("gists and eras", 0.20),
];

/// A clipped item keeps at least this many characters, or is left out.
const MIN_CLIP: usize = 120;

struct Packer {
    left: usize,
    used: usize,
    sections: Vec<Value>,
    ids: Vec<Value>,
    seen: HashSet<(String, String)>,
}

impl Packer {
    /// Adds what fits of one section; with a share, items are clipped to
    /// what is left of it.
    fn section(&mut self, name: &str, items: Vec<Value>, budget: usize) {
        let mut cap = SHARES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, share)| (budget as f64 * share) as usize);
        let mut kept = Vec::new();
        for mut it in items {
            let key = (
                it["tier"].as_str().unwrap_or_default().to_owned(),
                it["id"].to_string(),
            );
            if self.seen.contains(&key) {
                continue;
            }
            let mut n = it["text"].as_str().map_or(0, |t| t.chars().count());
            if let Some(c) = cap {
                let room = c.min(self.left);
                if n > room {
                    if room < MIN_CLIP {
                        continue;
                    }
                    let clipped = crate::text::clip(it["text"].as_str().unwrap_or(""), room - 1);
                    n = clipped.chars().count();
                    it["text"] = json!(clipped);
                    it["clipped"] = json!(true);
                }
                cap = Some(c - n.min(c));
            }
            if n == 0 || n > self.left {
                continue;
            }
            self.left -= n;
            self.used += n;
            self.seen.insert(key);
            self.ids.push(json!({"tier": it["tier"], "id": it["id"]}));
            kept.push(it);
        }
        if !kept.is_empty() {
            self.sections.push(json!({"name": name, "items": kept}));
        }
    }
}

/// `[8 May 2023] ` for an RFC 3339 time: an answer to "when" needs the date.
fn dated(created_at: &str, text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(created_at) {
        Ok(t) => format!("[{}] {text}", t.format("%-d %B %Y")),
        Err(_) => text.to_owned(),
    }
}

fn hit_item(h: &RecallHit) -> Value {
    let text = if h.tier == "exchange" {
        dated(&h.created_at, &h.content)
    } else {
        h.content.clone()
    };
    let mut v = json!({"tier": h.tier, "id": h.id, "text": text, "score": h.score,
        "created_at": h.created_at});
    if let Some(s) = &h.session_id {
        v["session_id"] = json!(s);
    }
    if let Some(k) = &h.key {
        v["key"] = json!(k);
    }
    for (k, x) in &h.attrs {
        v[k] = x.clone();
    }
    v
}

impl RecallEngine {
    pub async fn context(&self, req: ContextRequest) -> Result<Value, RecallError> {
        let ns = req.namespace.clone();
        let budget = req.budget_chars;
        let mut p = Packer {
            left: req.budget_chars,
            used: 0,
            sections: Vec::new(),
            ids: Vec::new(),
            seen: HashSet::new(),
        };
        if !req.without_dream {
            let Singles {
                profile,
                narrative,
                self_state: state,
            } = self.store.singles(&ns).await?;
            if let Some(pr) = profile {
                p.section(
                    "profile",
                    vec![json!({"tier": "profile", "id": ns, "text": pr["text"]})],
                    budget,
                );
            }
            if let Some(n) = narrative {
                p.section(
                    "narrative",
                    vec![json!({"tier": "narrative", "id": ns, "text": n["text"]})],
                    budget,
                );
            }
            if let Some(s) = state {
                let st = &s["state"];
                let mut parts = vec![format!(
                    "Mood: {}.",
                    st["mood"].as_str().unwrap_or("neutral")
                )];
                for r in st["reflections"].as_array().into_iter().flatten() {
                    parts.push(r.as_str().unwrap_or_default().to_owned());
                }
                let open: Vec<&str> = st["open_questions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|q| q.as_str())
                    .take(3)
                    .collect();
                if !open.is_empty() {
                    parts.push(format!("Open questions: {}", open.join(" ")));
                }
                p.section(
                    "self",
                    vec![json!({"tier": "self", "id": ns, "text": parts.join(" ")})],
                    budget,
                );
            }
        }
        // One query vector for the recalls below.
        let mut template = req.recall.clone();
        if template.mode != super::Mode::Lexical && template.vector.is_none() {
            let (embedder, text) = (self.embedder.clone(), req.query.clone());
            let v = tokio::task::spawn_blocking(move || embedder.embed(&[text.as_str()]))
                .await
                .map_err(|e| RecallError::Task(e.to_string()))??;
            template.vector = v.into_iter().next();
        }
        let recall = |tiers: Vec<Tier>, k: usize, session: Option<String>| {
            let mut q = template.clone();
            q.query = req.query.clone();
            q.namespace = ns.clone();
            q.tiers = tiers;
            q.k = k;
            q.session_id = session;
            q.budget_chars = None;
            q
        };
        // Facts come from clients as well as the dream cycle, so they stay
        // when the dream tiers are left out.
        if req.facts_k > 0 {
            let (hits, _) = self
                .recall(recall(vec![Tier::Fact], req.facts_k, None))
                .await?;
            p.section("facts", hits.iter().map(hit_item).collect(), budget);
        }
        if !req.without_dream {
            let (hits, _) = self
                .recall(recall(vec![Tier::Gist, Tier::Era], 6, None))
                .await?;
            p.section(
                "gists and eras",
                hits.iter().map(hit_item).collect(),
                budget,
            );
        }
        let (hits, _) = self
            .recall(recall(vec![Tier::Concept, Tier::Chunk], 6, None))
            .await?;
        p.section(
            "concepts and chunks",
            hits.iter().map(hit_item).collect(),
            budget,
        );
        // Enough candidates to fill what is left (turns average ~120 chars).
        // Never fewer than the client asked for (validated against
        // recall.max_k), never more than the budget could plausibly hold.
        let k = (p.left / 120).clamp(1, 100).max(req.recall.k);
        let (hits, _) = self.recall(recall(vec![Tier::Exchange], k, None)).await?;
        p.section("exchanges", hits.iter().map(hit_item).collect(), budget);
        if let Some(sid) = req.session_id.clone() {
            let recent = self.store.recent_exchanges(sid, 6).await?;
            let mut items: Vec<Value> = recent
                .into_iter()
                // A session of another namespace is not this namespace's memory.
                .filter(|r| r.namespace == ns)
                .map(|r| {
                    let at = crate::time::to_rfc3339(r.created_at);
                    json!({"tier": "exchange", "id": r.id, "text": dated(&at, &r.content),
                        "session_id": r.session_id, "role": r.role, "created_at": at})
                })
                .collect();
            // Oldest first reads as a conversation.
            items.reverse();
            p.section("recent turns", items, budget);
        }
        Ok(json!({
            "namespace": ns,
            "budget_chars": req.budget_chars,
            "used_chars": p.used,
            "sections": p.sections,
            "ids": p.ids,
        }))
    }
}
