//! Recording interactions and reinforcing the facts a response echoes.
//!
//! Only facts the context pack held can move: reinforcement says that a
//! fact memd supplied was used, and a response that happens to repeat a
//! fact memd did not supply says nothing about memd's memory (checking it
//! would also mean matching every live fact of the namespace on each
//! write). Of those, only live facts of the interaction's namespace that
//! the response echoes ([`super::echo`]) move; every other fact of the pack
//! is reported with the reason it stayed.
//!
//! The matching runs on a read before the write; the write itself moves a
//! fact only if it is still live then (see `store::Interactions`).

use std::collections::HashMap;

use super::FactError;
use super::echo::{self, Verdict};
use crate::config::{ApiConfig, LearnConfig};
use crate::ingest::{check_id, check_namespace};
use crate::store::{
    Belief, ContextRef, DEFAULT_NAMESPACE, Interaction, Interactions, NewInteraction, Store,
};
use crate::time::to_rfc3339;
use crate::wire::{
    ContextIdIn, InteractionIn, InteractionOut, InteractionRecordedOut, ItemId, NotReinforcedOut,
    ReinforcedOut,
};

/// Most entries one interaction's `context_ids` may hold (a context pack
/// holds a few dozen).
pub const MAX_CONTEXT_IDS: usize = 1000;

/// The tiers a context pack names.
const TIERS: &[&str] = &[
    "profile",
    "narrative",
    "self",
    "gist",
    "era",
    "concept",
    "chunk",
    "exchange",
    "fact",
];

fn invalid<T>(message: impl Into<String>) -> Result<T, FactError> {
    Err(FactError::Invalid(message.into()))
}

fn text(field: &str, t: &str, limits: &ApiConfig, required: bool) -> Result<(), FactError> {
    if required && t.trim().is_empty() {
        return invalid(format!("`{field}` must not be empty"));
    }
    if t.len() > limits.max_content_bytes {
        return invalid(format!(
            "`{field}` is {} bytes; the limit is api.max_content_bytes = {}",
            t.len(),
            limits.max_content_bytes
        ));
    }
    Ok(())
}

/// A context entry as stored: the tier checked, the id as text. Facts and
/// exchanges are named by positive row ids.
fn context_ref(c: &ContextIdIn) -> Result<ContextRef, FactError> {
    if !TIERS.contains(&c.tier.as_str()) {
        return invalid(format!(
            "`context_ids`: unknown tier `{}`; tiers are {}",
            c.tier.escape_debug(),
            TIERS.join(", ")
        ));
    }
    let id = match &c.id {
        ItemId::Row(n) if *n > 0 => n.to_string(),
        ItemId::Row(n) => return invalid(format!("`context_ids`: id {n} is not a row id")),
        ItemId::Name(_) if matches!(c.tier.as_str(), "fact" | "exchange") => {
            return invalid(format!(
                "`context_ids`: a {} is named by its numeric id",
                c.tier
            ));
        }
        ItemId::Name(name) => {
            check_id("context_ids.id", name)?;
            name.clone()
        }
    };
    Ok(ContextRef {
        tier: c.tier.clone(),
        id,
    })
}

/// The checked parts of a request.
struct Checked {
    namespace: String,
    refs: Vec<ContextRef>,
    /// Fact ids of the pack, in its order, once each.
    facts: Vec<i64>,
}

fn check(body: &InteractionIn, limits: &ApiConfig) -> Result<Checked, FactError> {
    text("prompt", &body.prompt, limits, true)?;
    text("response", &body.response, limits, false)?;
    let namespace = body
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    if let Some(s) = &body.session_id {
        check_id("session_id", s)?;
    }
    if let Some(c) = &body.client {
        check_id("client", c)?;
    }
    if body.context_ids.len() > MAX_CONTEXT_IDS {
        return invalid(format!(
            "`context_ids` may hold at most {MAX_CONTEXT_IDS} entries"
        ));
    }
    let refs = body
        .context_ids
        .iter()
        .map(context_ref)
        .collect::<Result<Vec<_>, _>>()?;
    let mut facts: Vec<i64> = Vec::new();
    for r in refs.iter().filter(|r| r.tier == "fact") {
        let id = r.id.parse().unwrap_or_default();
        if !facts.contains(&id) {
            facts.push(id);
        }
    }
    Ok(Checked {
        namespace,
        refs,
        facts,
    })
}

/// Records interactions and reinforces what their responses echo.
pub struct InteractionRecorder {
    pub store: Store,
}

impl InteractionRecorder {
    pub async fn record(
        &self,
        body: InteractionIn,
        limits: &ApiConfig,
        learn: &LearnConfig,
    ) -> Result<InteractionRecordedOut, FactError> {
        let c = check(&body, limits)?;
        let found: HashMap<i64, _> = self
            .store
            .facts_by_ids(c.facts.clone())
            .await?
            .into_iter()
            .map(|f| (f.id, f))
            .collect();
        let response = echo::Response::new(&body.response);
        let mut reinforce = Vec::new();
        let mut stayed = Vec::new();
        for id in &c.facts {
            let reason = match found.get(id) {
                None => "not_found",
                Some(f) if f.namespace != c.namespace => "other_namespace",
                Some(f) if !Belief::Live.holds(f) => f.status.as_str(),
                Some(_) if !learn.reinforce => "reinforcement_off",
                Some(f) => match echo::echoes(&f.text, &response, learn) {
                    Verdict::Echoed => {
                        reinforce.push(*id);
                        continue;
                    }
                    Verdict::TooShort => "too_short",
                    Verdict::NotEchoed => "not_echoed",
                },
            };
            stayed.push((*id, reason));
        }
        let context_ids = serde_json::to_value(&body.context_ids)
            .map_err(|e| FactError::Internal(format!("context ids: {e}")))?;
        let recorded = self
            .store
            .record_interaction(NewInteraction {
                namespace: c.namespace,
                session_id: body.session_id,
                client: body.client,
                prompt: body.prompt,
                response: body.response,
                context_ids,
                refs: c.refs,
                reinforce,
                step: learn.reinforce_step,
            })
            .await?;
        stayed.extend(
            recorded
                .no_longer_live
                .iter()
                .map(|id| (*id, "no_longer_live")),
        );
        // In the pack's order.
        stayed.sort_by_key(|(id, _)| c.facts.iter().position(|f| f == id));
        Ok(InteractionRecordedOut {
            interaction: interaction_out(&recorded.interaction),
            reinforced: recorded
                .reinforced
                .iter()
                .map(|r| ReinforcedOut {
                    fact_id: r.fact_id,
                    confidence: r.confidence,
                    reference_count: r.reference_count,
                    last_referenced_at: to_rfc3339(r.last_referenced_at),
                })
                .collect(),
            not_reinforced: stayed
                .into_iter()
                .map(|(fact_id, reason)| NotReinforcedOut {
                    fact_id,
                    reason: reason.to_owned(),
                })
                .collect(),
        })
    }
}

/// An interaction as the API shows it.
pub fn interaction_out(i: &Interaction) -> InteractionOut {
    InteractionOut {
        id: i.id,
        namespace: i.namespace.clone(),
        session_id: i.session_id.clone(),
        client: i.client.clone(),
        prompt: i.prompt.clone(),
        response: i.response.clone(),
        context_ids: i.context_ids.clone(),
        reinforced: i.reinforced.clone(),
        created_at: to_rfc3339(i.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> InteractionIn {
        serde_json::from_value(v).unwrap()
    }

    fn refused(v: serde_json::Value) -> String {
        let limits = crate::config::Config::default().api;
        match check(&body(v), &limits) {
            Err(FactError::Invalid(m)) => m,
            Err(e) => panic!("expected Invalid, got {e:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_valid_request_lists_its_facts_once_in_order() {
        let limits = crate::config::Config::default().api;
        let c = check(
            &body(json!({"prompt": "p", "response": "", "context_ids": [
                {"tier": "fact", "id": 9}, {"tier": "profile", "id": "default"},
                {"tier": "fact", "id": 3}, {"tier": "fact", "id": 9}]})),
            &limits,
        )
        .unwrap();
        assert_eq!(c.facts, vec![9, 3]);
        assert_eq!(c.refs.len(), 4);
        assert_eq!(c.namespace, "default");
    }

    #[test]
    fn bad_fields_are_named() {
        for (v, want) in [
            (
                json!({"prompt": " ", "response": "r"}),
                "`prompt` must not be empty",
            ),
            (
                json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fiction", "id": 1}]}),
                "unknown tier `fiction`",
            ),
            (
                json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fact", "id": "x"}]}),
                "numeric id",
            ),
            (
                json!({"prompt": "p", "response": "r", "context_ids": [{"tier": "fact", "id": 0}]}),
                "not a row id",
            ),
            (
                json!({"prompt": "p", "response": "r", "namespace": ""}),
                "namespace",
            ),
            (
                json!({"prompt": "p", "response": "r", "session_id": "a\u{202E}b"}),
                "session_id",
            ),
            (
                json!({"prompt": "p", "response": "x".repeat(300 * 1024)}),
                "api.max_content_bytes",
            ),
        ] {
            let m = refused(v.clone());
            assert!(m.contains(want), "{v}: {m}");
        }
    }
}
