//! Gists: one per session, a summary item watermarked with the last turn
//! it covers, and `dream_attempts`, the failed summaries counted so a
//! session that keeps failing is left alone. Also the turns a summary is
//! made from, and the gists as era and profile inputs.

use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::quarantine::EXCHANGE_NOT_QUARANTINED;
use super::singles::json_column;
use super::{NewItem, Store, StoreError, Tier};

/// One turn of a session, as stored.
#[derive(Debug, Clone)]
pub struct TurnRow {
    pub id: i64,
    pub role: String,
    pub content: String,
    /// Serialised JSON object.
    pub metadata: Option<String>,
    pub created_at: i64,
}

/// A session's summary, ready to be written as its gist.
#[derive(Debug, Clone)]
pub struct NewGist {
    pub session_id: String,
    /// The namespace the session was summarised in: a session that is gone
    /// or in another namespace by now gets no gist.
    pub namespace: String,
    pub text: String,
    /// The last turn the summary covers (the watermark).
    pub upto: i64,
    pub turns: usize,
    /// The session's first turn (the item's time).
    pub first_at: i64,
    /// `YYYY-MM` of `first_at`.
    pub month: String,
    /// JSON array of the first-person statements found.
    pub facts: String,
    pub provider: &'static str,
    pub model: Option<String>,
}

/// A session's gist as the API shows it, or why there is none.
#[derive(Debug, Clone)]
pub enum GistLookup {
    Found(Value),
    NoGist,
    NoSession,
}

/// A gist as an era's input.
#[derive(Debug, Clone)]
pub struct MonthGist {
    pub session_id: String,
    pub item_id: i64,
    pub text: String,
    pub created_at: i64,
}

/// A gist's statements (JSON array) and its time, as the profile's input.
#[derive(Debug, Clone)]
pub struct GistFacts {
    pub facts: String,
    pub created_at: i64,
}

pub trait Gists {
    /// A session's turns, oldest first.
    fn session_turns(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Vec<TurnRow>, StoreError>> + Send;

    /// Writes a gist (and clears the session's failed attempts) unless its
    /// session was deleted or moved meanwhile or already has a gist this
    /// far; its item id when written.
    fn write_gist(
        &self,
        g: NewGist,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// Counts a failed summary of a session up to turn `upto` (a later
    /// turn starts the count again).
    fn count_gist_attempt(
        &self,
        session_id: &str,
        upto: i64,
        error: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn gist(&self, session_id: &str)
    -> impl Future<Output = Result<GistLookup, StoreError>> + Send;

    /// A month's gists in a namespace, oldest first.
    fn month_gists(
        &self,
        ns: &str,
        month: &str,
    ) -> impl Future<Output = Result<Vec<MonthGist>, StoreError>> + Send;

    /// Every gist's statements in a namespace.
    fn gist_facts(
        &self,
        ns: &str,
    ) -> impl Future<Output = Result<Vec<GistFacts>, StoreError>> + Send;
}

/// A session's turns for its gist. Quarantined turns are left out: a gist
/// goes to context packs, and an extractive gist copies sentences.
pub(super) fn turns(conn: &Connection, session_id: &str) -> Result<Vec<TurnRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, role, content, metadata, created_at FROM exchanges e
         WHERE session_id = ?1 AND {EXCHANGE_NOT_QUARANTINED} ORDER BY id"
    ))?;
    let v = stmt
        .query_map([session_id], |r| {
            Ok(TurnRow {
                id: r.get(0)?,
                role: r.get(1)?,
                content: r.get(2)?,
                metadata: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

fn gist(conn: &Connection, session_id: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT g.session_id, g.namespace, g.month, g.last_exchange_id, g.turns, g.provider, g.model,
                    g.created_at, g.updated_at, i.id, i.text, g.facts
             FROM gists g JOIN items i ON i.id = g.item_id WHERE g.session_id = ?1",
            [session_id],
            |r| {
                Ok(json!({
                    "session_id": r.get::<_, String>(0)?,
                    "namespace": r.get::<_, String>(1)?,
                    "month": r.get::<_, String>(2)?,
                    "last_exchange_id": r.get::<_, i64>(3)?,
                    "turns": r.get::<_, i64>(4)?,
                    "provider": r.get::<_, String>(5)?,
                    "model": r.get::<_, Option<String>>(6)?,
                    "created_at": crate::time::to_rfc3339(r.get(7)?),
                    "updated_at": crate::time::to_rfc3339(r.get(8)?),
                    "id": r.get::<_, i64>(9)?,
                    "text": r.get::<_, String>(10)?,
                    "statements": json_column(r.get(11)?),
                }))
            },
        )
        .optional()?)
}

impl Gists for Store {
    async fn session_turns(&self, session_id: &str) -> Result<Vec<TurnRow>, StoreError> {
        let sid = session_id.to_owned();
        self.read(move |c| turns(c, &sid)).await
    }

    async fn write_gist(&self, g: NewGist) -> Result<Option<i64>, StoreError> {
        self.write(move |ctx| {
            let sid = g.session_id;
            // Deleted meanwhile: nothing to summarise any more.
            let ns: Option<String> = ctx
                .conn()
                .query_row("SELECT namespace FROM sessions WHERE id = ?1", [&sid], |r| r.get(0))
                .optional()?;
            let Some(ns) = ns.filter(|n| *n == g.namespace) else {
                return Ok(None);
            };
            let current: Option<i64> = ctx
                .conn()
                .query_row("SELECT last_exchange_id FROM gists WHERE session_id = ?1", [&sid], |r| r.get(0))
                .optional()?;
            if current.is_some_and(|c| c >= g.upto) {
                return Ok(None);
            }
            let w = ctx.upsert_item(NewItem {
                tier: Tier::Gist,
                namespace: ns.clone(),
                key: sid.clone(),
                parent: Some(sid.clone()),
                text: g.text,
                attrs: json!({"month": g.month, "turns": g.turns, "last_exchange_id": g.upto}),
                weight: 1.0,
                created_at: g.first_at,
            })?;
            let now = crate::time::now_ms();
            ctx.conn().execute(
                "INSERT INTO gists (session_id, item_id, namespace, month, last_exchange_id, turns, facts, provider, model, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                 ON CONFLICT (session_id) DO UPDATE SET item_id = excluded.item_id, month = excluded.month,
                   last_exchange_id = excluded.last_exchange_id, turns = excluded.turns, facts = excluded.facts,
                   provider = excluded.provider, model = excluded.model, updated_at = excluded.updated_at",
                params![sid, w.id, ns, g.month, g.upto, g.turns as i64, g.facts, g.provider, g.model, now],
            )?;
            ctx.conn().execute("DELETE FROM dream_attempts WHERE session_id = ?1", [&sid])?;
            Ok(Some(w.id))
        })
        .await
    }

    async fn count_gist_attempt(
        &self,
        session_id: &str,
        upto: i64,
        error: String,
    ) -> Result<(), StoreError> {
        let sid = session_id.to_owned();
        self.write(move |ctx| {
            ctx.conn().execute(
                "INSERT INTO dream_attempts (session_id, attempts, upto_exchange_id, last_error, last_attempt_at)
                 VALUES (?1, 1, ?2, ?3, ?4)
                 ON CONFLICT (session_id) DO UPDATE SET
                   attempts = CASE WHEN upto_exchange_id = excluded.upto_exchange_id THEN attempts + 1 ELSE 1 END,
                   upto_exchange_id = excluded.upto_exchange_id,
                   last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at",
                params![sid, upto, error, crate::time::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn gist(&self, session_id: &str) -> Result<GistLookup, StoreError> {
        let sid = session_id.to_owned();
        self.read(move |c| {
            let exists = super::read::session(c, &sid)?.is_some();
            Ok(match (exists, gist(c, &sid)?) {
                (_, Some(g)) => GistLookup::Found(g),
                (true, None) => GistLookup::NoGist,
                (false, None) => GistLookup::NoSession,
            })
        })
        .await
    }

    async fn month_gists(&self, ns: &str, month: &str) -> Result<Vec<MonthGist>, StoreError> {
        let (ns, month) = (ns.to_owned(), month.to_owned());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT g.session_id, i.id, i.text, i.created_at FROM gists g JOIN items i ON i.id = g.item_id
                 WHERE g.namespace = ?1 AND g.month = ?2 ORDER BY i.created_at, g.session_id",
            )?;
            let v = stmt
                .query_map(params![ns, month], |r| {
                    Ok(MonthGist {
                        session_id: r.get(0)?,
                        item_id: r.get(1)?,
                        text: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }

    async fn gist_facts(&self, ns: &str) -> Result<Vec<GistFacts>, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT g.facts, i.created_at FROM gists g JOIN items i ON i.id = g.item_id WHERE g.namespace = ?1",
            )?;
            let v = stmt
                .query_map([&ns], |r| {
                    Ok(GistFacts {
                        facts: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }
}
