//! What the embedding queue reads and writes: rows waiting for a vector of
//! the current model, the backlog it reports, and the bookkeeping of a
//! forced re-embed (two `meta` keys, so a restart resumes it).

use std::future::Future;

use rusqlite::params;

use super::facts::{fact_embedding_backlog, pending_fact_embeddings, set_fact_embeddings};
use super::items::{item_embedding_backlog, pending_item_embeddings};
use super::read::{self, PendingRow};
use super::{Store, StoreError};

/// `meta` key: re-embed every exchange up to this id, whatever its model.
pub const REEMBED_UPTO: &str = "reembed_all_upto";
/// `meta` key: how far the forced re-embed has got.
pub const REEMBED_CURSOR: &str = "reembed_all_cursor";

/// A forced re-embed in progress (both 0 when none is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reembed {
    pub upto: i64,
    pub cursor: i64,
}

/// Rows without a vector of the current model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Exchanges never embedded.
    pub unembedded: i64,
    /// Exchanges holding another model's vector.
    pub stale: i64,
    /// Items (gists, eras, concepts, chunks) without a current vector.
    pub items: i64,
    /// Facts without a current vector.
    pub facts: i64,
    /// Exchanges of the current model still inside a forced re-embed.
    pub forced: i64,
}

pub trait EmbeddingWork {
    /// Exchanges after `cursor` (by id) whose vector is missing or from
    /// another model, plus every exchange up to `force_upto`.
    fn pending_exchanges(
        &self,
        cursor: i64,
        force_upto: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingRow>, StoreError>> + Send;

    /// Items without a vector of the current model: (id, text).
    fn pending_items(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;

    /// Stores item vectors where the text is still the one embedded;
    /// returns how many were stored.
    fn set_item_embeddings(
        &self,
        rows: Vec<(i64, String, Vec<f32>)>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Facts without a vector of the current model: (id, text).
    fn pending_facts(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(i64, String)>, StoreError>> + Send;

    /// Stores fact vectors where the text is still the one embedded, in
    /// the index partition the fact's status calls for; returns how many.
    fn set_fact_embeddings(
        &self,
        rows: Vec<(i64, String, Vec<f32>)>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// `items`, `facts` and `forced` are counted only with `full`.
    fn backlog(&self, full: bool) -> impl Future<Output = Result<Backlog, StoreError>> + Send;

    fn reembed(&self) -> impl Future<Output = Result<Reembed, StoreError>> + Send;

    /// The highest exchange id (0 when there is none).
    fn max_exchange_id(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

fn meta_i64(c: &rusqlite::Connection, key: &str) -> Result<i64, StoreError> {
    Ok(read::meta(c, key)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

fn reembed(c: &rusqlite::Connection) -> Result<Reembed, StoreError> {
    Ok(Reembed {
        upto: meta_i64(c, REEMBED_UPTO)?,
        cursor: meta_i64(c, REEMBED_CURSOR)?,
    })
}

impl EmbeddingWork for Store {
    async fn pending_exchanges(
        &self,
        cursor: i64,
        force_upto: i64,
        limit: usize,
    ) -> Result<Vec<PendingRow>, StoreError> {
        let model = self.model_id();
        self.read(move |c| read::pending_embeddings(c, model, cursor, force_upto, limit))
            .await
    }

    async fn pending_items(&self, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let model = self.model_id();
        self.read(move |c| pending_item_embeddings(c, model, limit))
            .await
    }

    async fn set_item_embeddings(
        &self,
        rows: Vec<(i64, String, Vec<f32>)>,
    ) -> Result<usize, StoreError> {
        self.write(move |ctx| ctx.set_item_embeddings(rows)).await
    }

    async fn pending_facts(&self, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let model = self.model_id();
        self.read(move |c| pending_fact_embeddings(c, model, limit))
            .await
    }

    async fn set_fact_embeddings(
        &self,
        rows: Vec<(i64, String, Vec<f32>)>,
    ) -> Result<usize, StoreError> {
        self.write(move |ctx| set_fact_embeddings(ctx, rows)).await
    }

    async fn backlog(&self, full: bool) -> Result<Backlog, StoreError> {
        let model = self.model_id();
        self.read(move |c| {
            let (unembedded, stale) = read::embedding_backlog(c, model)?;
            let mut b = Backlog {
                unembedded,
                stale,
                ..Backlog::default()
            };
            if full {
                b.items = item_embedding_backlog(c, model)?;
                b.facts = fact_embedding_backlog(c, model)?;
                let r = reembed(c)?;
                if r.upto > r.cursor {
                    b.forced = c.query_row(
                        "SELECT count(*) FROM exchanges WHERE id > ?1 AND id <= ?2 AND embed_model_id = ?3",
                        params![r.cursor, r.upto, model],
                        |r| r.get(0),
                    )?;
                }
            }
            Ok(b)
        })
        .await
    }

    async fn reembed(&self) -> Result<Reembed, StoreError> {
        self.read(reembed).await
    }

    async fn max_exchange_id(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT coalesce(max(id), 0) FROM exchanges", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }
}
