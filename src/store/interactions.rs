//! Interactions: the audit log of prompts, the context memd gave for them
//! and the responses, and the reinforcement of the facts a response echoed,
//! written together in one savepoint.
//!
//! Which facts to reinforce is decided by the caller (the echo matcher is
//! domain logic, in `learn`); the store only applies it, and only to facts
//! that are still live at the write: the UPDATE's own WHERE clause keeps a
//! fact that was superseded or forgotten in between from moving.

use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::items::WriteCtx;
use super::types::Exchange;
use super::{Fact, Store, StoreError};

/// One entry of a context pack's `ids`, the id as text (a row id's digits,
/// or a namespace for the per-namespace tiers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRef {
    pub tier: String,
    pub id: String,
}

/// An interaction to record.
#[derive(Debug, Clone)]
pub struct NewInteraction {
    pub namespace: String,
    pub session_id: Option<String>,
    pub client: Option<String>,
    pub prompt: String,
    pub response: String,
    /// The client's `[{tier, id}]`, kept verbatim.
    pub context_ids: Value,
    /// The same entries, for the lookup by tier and id.
    pub refs: Vec<ContextRef>,
    /// Facts of `namespace` the response echoed; each moves only if it is
    /// still live when the interaction is written.
    pub reinforce: Vec<i64>,
    /// Confidence each reinforced fact gains (the result is capped at 1.0).
    pub step: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    pub id: i64,
    pub namespace: String,
    pub session_id: Option<String>,
    pub client: Option<String>,
    pub prompt: String,
    pub response: String,
    pub context_ids: Value,
    /// Facts this interaction reinforced.
    pub reinforced: Vec<i64>,
    pub created_at: i64,
}

/// A fact after its reinforcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Reinforcement {
    pub fact_id: i64,
    pub confidence: f64,
    pub reference_count: i64,
    pub last_referenced_at: i64,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub interaction: Interaction,
    pub reinforced: Vec<Reinforcement>,
    /// Facts chosen for reinforcement that were no longer live at the write.
    pub no_longer_live: Vec<i64>,
}

/// Which interactions to list; newest first.
#[derive(Debug, Clone)]
pub struct InteractionFilter {
    pub namespace: String,
    pub session_id: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// An exchange and the facts whose provenance names it.
#[derive(Debug, Clone)]
pub struct ExchangeOrigin {
    pub exchange: Exchange,
    pub facts: Vec<Fact>,
}

/// The interaction log's storage, and the lookups `why` needs.
pub trait Interactions {
    /// The interaction, its index rows and the reinforcement, in one savepoint.
    fn record_interaction(
        &self,
        new: NewInteraction,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    fn list_interactions(
        &self,
        filter: InteractionFilter,
    ) -> impl Future<Output = Result<Vec<Interaction>, StoreError>> + Send;

    /// Interactions whose pack held `(tier, id)` or that reinforced it,
    /// newest first.
    fn interactions_using(
        &self,
        tier: String,
        id: String,
        limit: usize,
        offset: usize,
    ) -> impl Future<Output = Result<Vec<Interaction>, StoreError>> + Send;

    /// The facts among `ids` that exist (in no particular order).
    fn facts_by_ids(
        &self,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<Vec<Fact>, StoreError>> + Send;

    /// Exchange `id` and the facts of its namespace whose provenance lists
    /// it in `exchange_ids`, oldest first; `None` if there is no such
    /// exchange. (The provenance is JSON: this scans the namespace's facts.)
    fn exchange_origin(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<ExchangeOrigin>, StoreError>> + Send;
}

impl Interactions for Store {
    async fn record_interaction(&self, new: NewInteraction) -> Result<Recorded, StoreError> {
        self.write(move |ctx| record(ctx, new)).await
    }

    async fn list_interactions(
        &self,
        filter: InteractionFilter,
    ) -> Result<Vec<Interaction>, StoreError> {
        self.read(move |c| list(c, &filter)).await
    }

    async fn interactions_using(
        &self,
        tier: String,
        id: String,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Interaction>, StoreError> {
        self.read(move |c| using(c, &tier, &id, limit, offset))
            .await
    }

    async fn facts_by_ids(&self, ids: Vec<i64>) -> Result<Vec<Fact>, StoreError> {
        self.read(move |c| Ok(super::facts::facts_by_id(c, &ids)?.into_values().collect()))
            .await
    }

    async fn exchange_origin(&self, id: i64) -> Result<Option<ExchangeOrigin>, StoreError> {
        self.read(move |c| origin(c, id)).await
    }
}

const COLUMNS: &str = "i.id, i.namespace, i.session_id, i.client, i.prompt, i.response, \
     i.context_ids, i.reinforced, i.created_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Interaction> {
    let context: String = r.get(6)?;
    let reinforced: String = r.get(7)?;
    Ok(Interaction {
        id: r.get(0)?,
        namespace: r.get(1)?,
        session_id: r.get(2)?,
        client: r.get(3)?,
        prompt: r.get(4)?,
        response: r.get(5)?,
        context_ids: serde_json::from_str(&context).unwrap_or_else(|_| Value::Array(Vec::new())),
        reinforced: serde_json::from_str(&reinforced).unwrap_or_default(),
        created_at: r.get(8)?,
    })
}

fn record(ctx: &mut WriteCtx<'_>, n: NewInteraction) -> Result<Recorded, StoreError> {
    let conn = ctx.conn();
    let now = crate::time::now_ms();
    // A fact above 1.0 (an import can hold one) keeps its confidence.
    let mut bump = conn.prepare_cached(
        "UPDATE facts SET
             confidence = CASE WHEN confidence >= 1.0 THEN confidence
                               ELSE min(1.0, confidence + ?3) END,
             reference_count = reference_count + 1,
             last_referenced_at = ?4
         WHERE id = ?1 AND namespace = ?2 AND status = 'active' AND retired_at IS NULL
         RETURNING confidence, reference_count",
    )?;
    let mut reinforced = Vec::new();
    let mut no_longer_live = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in n.reinforce.iter().copied().filter(|id| seen.insert(*id)) {
        let moved: Option<(f64, i64)> = bump
            .query_row(params![id, n.namespace, n.step, now], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match moved {
            Some((confidence, reference_count)) => reinforced.push(Reinforcement {
                fact_id: id,
                confidence,
                reference_count,
                last_referenced_at: now,
            }),
            None => no_longer_live.push(id),
        }
    }
    let ids: Vec<i64> = reinforced.iter().map(|r| r.fact_id).collect();
    let context = if n.context_ids.is_array() {
        n.context_ids.to_string()
    } else {
        "[]".to_owned()
    };
    let id: i64 = conn
        .prepare_cached(
            "INSERT INTO interactions (namespace, session_id, client, prompt, response,
                 context_ids, reinforced, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                n.namespace,
                n.session_id,
                n.client,
                n.prompt,
                n.response,
                context,
                serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
                now
            ],
            |r| r.get(0),
        )?;
    let mut add = conn.prepare_cached(
        "INSERT OR IGNORE INTO interaction_refs (interaction_id, tier, ref_id, role)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for r in &n.refs {
        add.execute(params![id, r.tier, r.id, "context"])?;
    }
    for fact in &ids {
        add.execute(params![id, "fact", fact.to_string(), "reinforced"])?;
    }
    let interaction = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM interactions i WHERE i.id = ?1"
        ))?
        .query_row([id], row)?;
    Ok(Recorded {
        interaction,
        reinforced,
        no_longer_live,
    })
}

fn list(c: &Connection, q: &InteractionFilter) -> Result<Vec<Interaction>, StoreError> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM interactions i
             WHERE i.namespace = ?1 AND (?2 IS NULL OR i.session_id = ?2)
             ORDER BY i.id DESC LIMIT ?3 OFFSET ?4"
        ))?
        .query_map(
            params![
                q.namespace,
                q.session_id,
                i64::try_from(q.limit).unwrap_or(i64::MAX),
                i64::try_from(q.offset).unwrap_or(i64::MAX),
            ],
            row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn using(
    c: &Connection,
    tier: &str,
    id: &str,
    limit: usize,
    offset: usize,
) -> Result<Vec<Interaction>, StoreError> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM interactions i
             WHERE i.id IN (SELECT interaction_id FROM interaction_refs
                            WHERE tier = ?1 AND ref_id = ?2)
             ORDER BY i.id DESC LIMIT ?3 OFFSET ?4"
        ))?
        .query_map(
            params![
                tier,
                id,
                i64::try_from(limit).unwrap_or(i64::MAX),
                i64::try_from(offset).unwrap_or(i64::MAX),
            ],
            row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn origin(c: &Connection, id: i64) -> Result<Option<ExchangeOrigin>, StoreError> {
    let Some(exchange) = super::read::exchanges_by_id(c, &[id])?.into_iter().next() else {
        return Ok(None);
    };
    let ids: Vec<i64> = c
        .prepare_cached(
            "SELECT DISTINCT f.id FROM facts f, json_each(f.provenance, '$.exchange_ids') j
             WHERE f.namespace = ?1 AND j.type = 'integer' AND j.value = ?2
             ORDER BY f.id",
        )?
        .query_map(params![exchange.namespace, id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut by_id = super::facts::facts_by_id(c, &ids)?;
    let facts = ids.iter().filter_map(|i| by_id.remove(i)).collect();
    Ok(Some(ExchangeOrigin { exchange, facts }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FactKind, Facts, NewFact};
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::test_store(4)
    }

    fn fact(text: &str, confidence: f64, candidate: bool) -> NewFact {
        NewFact {
            namespace: "default".into(),
            text: text.into(),
            kind: FactKind::Other,
            subject: None,
            entities: Vec::new(),
            slot: None,
            candidate,
            confidence,
            valid_from: None,
            provenance: json!({}),
            supersedes: None,
            embedding: None,
            screen: None,
        }
    }

    fn interaction(reinforce: Vec<i64>) -> NewInteraction {
        NewInteraction {
            namespace: "default".into(),
            session_id: Some("s".into()),
            client: None,
            prompt: "p".into(),
            response: "r".into(),
            context_ids: json!(
                reinforce
                    .iter()
                    .map(|i| json!({"tier": "fact", "id": i}))
                    .collect::<Vec<_>>()
            ),
            refs: reinforce
                .iter()
                .map(|i| ContextRef {
                    tier: "fact".into(),
                    id: i.to_string(),
                })
                .collect(),
            reinforce,
            step: 0.3,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_live_facts_move_and_confidence_is_capped() {
        let (_dir, s) = store();
        let live = s.create_fact(fact("a", 0.8, false)).await.unwrap().unwrap();
        let cand = s.create_fact(fact("b", 0.5, true)).await.unwrap().unwrap();
        let r = s
            .record_interaction(interaction(vec![live.fact.id, cand.fact.id, 999]))
            .await
            .unwrap();
        assert_eq!(r.reinforced.len(), 1);
        assert_eq!(r.reinforced[0].confidence, 1.0);
        assert_eq!(r.reinforced[0].reference_count, 1);
        assert_eq!(r.no_longer_live, vec![cand.fact.id, 999]);
        assert_eq!(r.interaction.reinforced, vec![live.fact.id]);
        let again = s
            .record_interaction(interaction(vec![live.fact.id]))
            .await
            .unwrap();
        assert_eq!(again.reinforced[0].confidence, 1.0);
        assert_eq!(again.reinforced[0].reference_count, 2);
        let used = s
            .interactions_using("fact".into(), live.fact.id.to_string(), 10, 0)
            .await
            .unwrap();
        let ids: Vec<i64> = used.iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![again.interaction.id, r.interaction.id]);
        let listed = s
            .list_interactions(InteractionFilter {
                namespace: "default".into(),
                session_id: Some("other".into()),
                limit: 10,
                offset: 0,
            })
            .await
            .unwrap();
        assert!(listed.is_empty());
    }
}
