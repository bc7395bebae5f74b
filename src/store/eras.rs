//! Eras: one digest item per namespace and month, built from that month's
//! gists, and marked stale when a session it covered is deleted.

use std::future::Future;

use rusqlite::params;
use serde_json::{Value, json};

use super::singles::json_column;
use super::{ItemSel, NewItem, Store, StoreError, Tier};

/// A month's digest as the dream cycle built it.
#[derive(Debug, Clone)]
pub struct NewEra {
    pub namespace: String,
    /// `YYYY-MM`.
    pub month: String,
    pub text: String,
    /// The gists it was built from: their item ids and sessions.
    pub gist_ids: Vec<i64>,
    pub sessions: Vec<String>,
    /// The oldest gist's time (the item's time).
    pub first_at: i64,
    pub provider: &'static str,
}

pub trait Eras {
    /// Removes a month's era and its item.
    fn remove_era(
        &self,
        ns: &str,
        month: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates or replaces a month's era and its item; the item's id. The
    /// era is stale at once when one of its gists was deleted meanwhile.
    fn write_era(&self, era: NewEra) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// A namespace's eras by month, as the API shows them.
    fn eras(&self, ns: &str) -> impl Future<Output = Result<Vec<Value>, StoreError>> + Send;

    /// A namespace's eras that have an item: (month, text) by month.
    fn era_texts(
        &self,
        ns: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;
}

impl Eras for Store {
    async fn remove_era(&self, ns: &str, month: &str) -> Result<(), StoreError> {
        let (ns, month) = (ns.to_owned(), month.to_owned());
        self.write(move |ctx| {
            ctx.delete_items(Tier::Era, &ns, ItemSel::Keys(vec![month.clone()]))?;
            ctx.conn().execute(
                "DELETE FROM eras WHERE namespace = ?1 AND month = ?2",
                params![ns, month],
            )?;
            Ok(())
        })
        .await
    }

    async fn write_era(&self, era: NewEra) -> Result<i64, StoreError> {
        let n = era.gist_ids.len();
        let sessions_json = json!(era.sessions).to_string();
        let ids_json = json!(era.gist_ids).to_string();
        self.write(move |ctx| {
            // A session deleted while this digest was being written leaves
            // the era stale, so the next pass rebuilds it without that
            // session.
            let still: i64 = ctx.conn().query_row(
                "SELECT count(*) FROM gists WHERE item_id IN (SELECT value FROM json_each(?1))",
                [&ids_json],
                |r| r.get(0),
            )?;
            let stale = still as usize != n;
            let w = ctx.upsert_item(NewItem {
                tier: Tier::Era,
                namespace: era.namespace.clone(),
                key: era.month.clone(),
                parent: None,
                text: era.text,
                attrs: json!({"month": era.month, "sessions": n}),
                weight: 1.0,
                created_at: era.first_at,
            })?;
            ctx.conn().execute(
                "INSERT INTO eras (namespace, month, item_id, gist_ids, sessions, stale, provider, built_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?8, ?6, ?7)
                 ON CONFLICT (namespace, month) DO UPDATE SET item_id = excluded.item_id, gist_ids = excluded.gist_ids,
                   sessions = excluded.sessions, stale = excluded.stale, provider = excluded.provider, built_at = excluded.built_at",
                params![
                    era.namespace,
                    era.month,
                    w.id,
                    ids_json,
                    sessions_json,
                    era.provider,
                    crate::time::now_ms(),
                    stale
                ],
            )?;
            Ok(w.id)
        })
        .await
    }

    async fn eras(&self, ns: &str) -> Result<Vec<Value>, StoreError> {
        let ns = ns.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT e.month, i.id, coalesce(i.text, ''), e.gist_ids, e.sessions, e.stale, e.provider, e.built_at
                 FROM eras e LEFT JOIN items i ON i.id = e.item_id WHERE e.namespace = ?1 ORDER BY e.month",
            )?;
            let v = stmt
                .query_map([&ns], |r| {
                    Ok(json!({
                        "month": r.get::<_, String>(0)?,
                        "id": r.get::<_, Option<i64>>(1)?,
                        "text": r.get::<_, String>(2)?,
                        "gist_ids": json_column(r.get(3)?),
                        "sessions": json_column(r.get(4)?),
                        "stale": r.get::<_, bool>(5)?,
                        "provider": r.get::<_, Option<String>>(6)?,
                        "built_at": crate::time::to_rfc3339(r.get(7)?),
                    }))
                })?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }

    async fn era_texts(&self, ns: &str) -> Result<Vec<(String, String)>, StoreError> {
        let ns = ns.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.month, i.text FROM eras e JOIN items i ON i.id = e.item_id WHERE e.namespace = ?1 ORDER BY e.month",
            )?;
            let v = stmt
                .query_map([&ns], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }
}
