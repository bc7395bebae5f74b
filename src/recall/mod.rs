//! Recall: find the stored memories that matter for a query.
//!
//! v0 is exact cosine top-k over the current model's exchange vectors
//! (see [`crate::index`]). The hybrid engine (BM25 + ANN + RRF) replaces the
//! body of [`RecallEngine::recall`]; the request and result types are the API.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::embed::{EmbedError, Embedder};
use crate::store::{Store, StoreError, read};

#[derive(Debug, thiserror::Error)]
pub enum RecallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("recall task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone)]
pub struct RecallQuery {
    pub query: String,
    pub k: usize,
    pub namespace: String,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecallHit {
    pub tier: &'static str,
    pub id: i64,
    pub ext_id: Option<String>,
    pub session_id: String,
    pub namespace: String,
    pub role: String,
    pub content: String,
    pub created_at: String,
    pub score: f32,
}

#[derive(Clone)]
pub struct RecallEngine {
    store: Store,
    embedder: Arc<dyn Embedder>,
}

impl RecallEngine {
    pub fn new(store: Store, embedder: Arc<dyn Embedder>) -> Self {
        Self { store, embedder }
    }

    pub async fn recall(&self, q: RecallQuery) -> Result<(Vec<RecallHit>, f64), RecallError> {
        let started = Instant::now();
        let embedder = self.embedder.clone();
        let index = self.store.index().clone();
        let hits = tokio::task::spawn_blocking(move || -> Result<_, RecallError> {
            let vector = embedder
                .embed(&[q.query.as_str()])?
                .pop()
                .unwrap_or_default();
            let index = index.read().unwrap_or_else(|p| p.into_inner());
            Ok(index.search(&q.namespace, q.session_id.as_deref(), &vector, q.k))
        })
        .await
        .map_err(|e| RecallError::Task(e.to_string()))??;

        let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
        let rows = self
            .store
            .read(move |c| read::exchanges_by_id(c, &ids))
            .await?;
        let mut by_id: std::collections::HashMap<i64, _> =
            rows.into_iter().map(|r| (r.id, r)).collect();
        let results = hits
            .into_iter()
            .filter_map(|h| {
                // A row deleted between the search and the fetch is skipped.
                let row = by_id.remove(&h.id)?;
                Some(RecallHit {
                    tier: "exchange",
                    id: row.id,
                    ext_id: row.ext_id,
                    session_id: row.session_id,
                    namespace: row.namespace,
                    role: row.role,
                    content: row.content,
                    created_at: crate::time::to_rfc3339(row.created_at),
                    score: h.score,
                })
            })
            .collect();
        Ok((results, started.elapsed().as_secs_f64() * 1000.0))
    }
}
