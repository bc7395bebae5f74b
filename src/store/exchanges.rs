//! Reading conversations: sessions, their exchanges, and the rows recall
//! fetches by id. The SQL lives in [`super::read`]; this is the typed
//! surface the rest of the daemon calls.

use std::collections::HashMap;
use std::future::Future;

use super::facts::{Fact, facts_by_id};
use super::items::{Item, Tier, items_by_id};
use super::quarantine::quarantined;
use super::read::{self, Adjacent};
use super::types::{Counts, Exchange, SessionInfo};
use super::{Store, StoreError};

/// Recall's candidates as stored rows, read in one snapshot.
#[derive(Debug, Default)]
pub struct CandidateRows {
    /// In the order of the ids asked for; missing ids are skipped.
    pub exchanges: Vec<Exchange>,
    pub items: HashMap<i64, Item>,
    pub facts: HashMap<i64, Fact>,
    /// The session's most recent exchanges, newest first, when asked for.
    pub recent: Vec<Exchange>,
}

/// What the daemon reads of conversations.
pub trait Conversations {
    fn session(
        &self,
        id: String,
    ) -> impl Future<Output = Result<Option<SessionInfo>, StoreError>> + Send;

    /// Sessions of one namespace, most recently written first.
    fn sessions(
        &self,
        namespace: String,
        limit: usize,
        offset: usize,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, StoreError>> + Send;

    /// One page of a session's exchanges in (created_at, id) order, after
    /// exchange id `after` and after `from`, the previous page's last row.
    fn session_page(
        &self,
        session_id: String,
        after: i64,
        from: Option<(i64, i64)>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Exchange>, StoreError>> + Send;

    /// The `limit` most recent exchanges of a session, newest first.
    fn recent_exchanges(
        &self,
        session_id: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Exchange>, StoreError>> + Send;

    /// Exchanges, items and facts by id, and optionally a session's `n`
    /// most recent exchanges, from one read.
    fn candidate_rows(
        &self,
        exchanges: Vec<i64>,
        items: Vec<i64>,
        facts: Vec<i64>,
        recent: Option<(String, usize)>,
    ) -> impl Future<Output = Result<CandidateRows, StoreError>> + Send;

    /// For each id, the previous and next exchange of its session.
    fn adjacent(
        &self,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<Vec<Adjacent>, StoreError>> + Send;

    fn counts(&self) -> impl Future<Output = Result<Counts, StoreError>> + Send;

    /// Namespaces that hold sessions, in name order.
    fn namespaces(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Session ids of every namespace, in id order.
    fn session_ids(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

fn strings(c: &rusqlite::Connection, sql: &str, limit: usize) -> Result<Vec<String>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = c
        .prepare_cached(sql)?
        .query_map([limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

impl Conversations for Store {
    async fn session(&self, id: String) -> Result<Option<SessionInfo>, StoreError> {
        self.read(move |c| read::session(c, &id)).await
    }

    async fn sessions(
        &self,
        namespace: String,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        self.read(move |c| read::sessions(c, &namespace, limit, offset))
            .await
    }

    async fn session_page(
        &self,
        session_id: String,
        after: i64,
        from: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<Vec<Exchange>, StoreError> {
        self.read(move |c| read::session_exchanges_from(c, &session_id, after, from, limit))
            .await
    }

    async fn recent_exchanges(
        &self,
        session_id: String,
        limit: usize,
    ) -> Result<Vec<Exchange>, StoreError> {
        self.read(move |c| read::recent_exchanges(c, &session_id, limit))
            .await
    }

    async fn candidate_rows(
        &self,
        exchanges: Vec<i64>,
        items: Vec<i64>,
        facts: Vec<i64>,
        recent: Option<(String, usize)>,
    ) -> Result<CandidateRows, StoreError> {
        self.read(move |c| {
            // Quarantined rows never reach a prompt: whichever side found
            // them, they are read past here, in the same snapshot.
            let hidden = quarantined(c, Tier::Exchange, &exchanges)?;
            let mut rows = CandidateRows {
                exchanges: read::exchanges_by_id(c, &exchanges)?,
                items: items_by_id(c, &items)?,
                facts: facts_by_id(c, &facts)?,
                recent: match recent {
                    Some((sid, n)) => read::recent_exchanges(c, &sid, n)?,
                    None => Vec::new(),
                },
            };
            rows.exchanges.retain(|x| !hidden.contains(&x.id));
            let hidden_items: Vec<(Tier, i64)> =
                rows.items.values().map(|i| (i.tier, i.id)).collect();
            for (tier, id) in hidden_items {
                if !quarantined(c, tier, &[id])?.is_empty() {
                    rows.items.remove(&id);
                }
            }
            let ids: Vec<i64> = rows.facts.keys().copied().collect();
            for id in quarantined(c, Tier::Fact, &ids)? {
                rows.facts.remove(&id);
            }
            Ok(rows)
        })
        .await
    }

    async fn adjacent(&self, ids: Vec<i64>) -> Result<Vec<Adjacent>, StoreError> {
        self.read(move |c| read::adjacent(c, &ids)).await
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        self.read(read::counts).await
    }

    async fn namespaces(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            strings(
                c,
                "SELECT DISTINCT namespace FROM sessions ORDER BY namespace LIMIT ?1",
                limit,
            )
        })
        .await
    }

    async fn session_ids(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.read(move |c| strings(c, "SELECT id FROM sessions ORDER BY id LIMIT ?1", limit))
            .await
    }
}
