//! Hybrid recall: FTS5/BM25 and vector KNN over the tiers' rows, fused with
//! weighted Reciprocal Rank Fusion, ties broken by recency, back-filled with
//! the session's recent turns, packed under a character budget.
//!
//! The engine is written around a list of tiers: exchanges, the item tiers
//! (gists, eras, concepts, chunks) and facts, each with its lexical and
//! vector sources. Rows not yet embedded are still found through the
//! lexical side. Facts are filtered by belief: the live ones, or with
//! `as_of` what memd believed at that instant (see `store::Belief`).

mod candidates;
pub mod context;
mod fusion;
mod kinds;
pub mod lexical;
mod pack;
mod rank;
pub mod rrf;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::config::RecallConfig;
use crate::embed::{EmbedError, Embedder};
use crate::store::{Conversations, DfCache, Store, StoreError, Tier};

pub use candidates::{Scope, search_index};
pub use kinds::KindWeights;
pub use pack::pack;

#[derive(Debug, thiserror::Error)]
pub enum RecallError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("recall task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Hybrid,
    Lexical,
    Vector,
}

/// The tiers recall searches, as the API names them.
pub const TIERS: &[&str] = &["exchange", "gist", "era", "concept", "chunk", "fact"];

/// A candidate: exchanges, items and facts have separate id spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    Exchange(i64),
    Item(i64),
    Fact(i64),
}

/// Fusion parameters; the request may override the configured ones.
#[derive(Debug, Clone, Copy)]
pub struct Fusion {
    pub rrf_k: f64,
    pub fts_weight: f64,
    pub vector_weight: f64,
    pub candidates: usize,
    /// Share of a strong match's score given to the turns just before and
    /// after it in its session (an answer often sits next to the turn that
    /// shares the question's words). 0 turns it off.
    pub neighbor_weight: f64,
    /// Relative lift of a candidate that mentions names the query mentions.
    pub entity_boost: f64,
    /// Lexical terms found in more than this share of rows are dropped
    /// (the two rarest are always kept).
    pub max_term_df: f64,
    /// At most this many lexical terms, the rarest first (bounds the cost
    /// of long queries: every term adds its posting list to the union).
    pub max_terms: usize,
    /// Multipliers of a fact's score by its kind.
    pub kind_weights: KindWeights,
}

#[derive(Debug, Clone)]
pub struct RecallQuery {
    pub query: String,
    pub k: usize,
    pub namespace: String,
    pub session_id: Option<String>,
    pub mode: Mode,
    pub budget_chars: Option<usize>,
    pub fusion: Fusion,
    /// The query's vector when the client supplied it (else `query` is embedded).
    pub vector: Option<Vec<f32>>,
    /// Tiers to search; empty means all.
    pub tiers: Vec<Tier>,
    /// Facts as memd believed them at this instant (unix ms) instead of
    /// the live ones; the other tiers are not affected.
    pub as_of: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Explain {
    pub bm25_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    pub fused: f64,
    /// Cosine similarity to the query, when the row was a vector candidate.
    pub vector_score: Option<f32>,
    /// Score passed on from a strong match next to it in its session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_boost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplement: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecallHit {
    pub tier: &'static str,
    pub id: i64,
    pub ext_id: Option<String>,
    /// The exchange's session, or the session a gist summarises.
    pub session_id: Option<String>,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub content: String,
    pub created_at: String,
    pub score: f64,
    /// An item's key within its tier (month of an era, concept name, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// An item's own attributes (a concept's source and name, a chunk's
    /// path and heading path, …).
    #[serde(flatten)]
    pub attrs: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    pub explain: Explain,
}

#[derive(Clone)]
pub struct RecallEngine {
    store: Store,
    embedder: Arc<dyn Embedder>,
    stopwords: Arc<HashSet<String>>,
    df_cache: Arc<DfCache>,
}

impl RecallEngine {
    pub fn new(store: Store, embedder: Arc<dyn Embedder>, cfg: &RecallConfig) -> Self {
        let stopwords = match &cfg.stopwords {
            Some(list) => list.iter().map(|w| w.to_lowercase()).collect(),
            None => lexical::STOPWORDS.iter().map(|w| w.to_string()).collect(),
        };
        Self {
            store,
            embedder,
            stopwords: Arc::new(stopwords),
            df_cache: Arc::default(),
        }
    }

    /// Candidates per side → fusion → neighbour supplement → rows, filters
    /// and ranking → recent-turn back-fill → packing; the stages are
    /// functions of their own (`candidates`, `fusion`, `rank`, `pack`).
    pub async fn recall(&self, q: RecallQuery) -> Result<(Vec<RecallHit>, f64), RecallError> {
        let started = Instant::now();
        let scope = Scope::of(&q);
        // The sides are independent: the lexical one runs on a reader
        // thread while the vector one embeds and scans on a blocking one.
        let (lexical, vector) =
            tokio::join!(self.lexical_side(&q, &scope), self.vector_side(&q, &scope));
        let (lexical, vector) = (lexical?, vector?);
        let mut fused = fusion::fuse(&lexical, &vector, &q.fusion);
        let mut boosted = HashMap::new();
        if q.fusion.neighbor_weight > 0.0 && !fused.is_empty() {
            let seeds = fusion::neighbour_seeds(&fused, q.k);
            let adjacent = self
                .store
                .adjacent(seeds.iter().map(|s| s.0).collect())
                .await?;
            boosted =
                fusion::add_neighbours(&mut fused, &seeds, &adjacent, q.fusion.neighbor_weight);
        }
        let (exchange_ids, item_ids) = fusion::split_ids(&fused);
        let fact_ids = fusion::fact_ids(&fused);
        let recent = q.session_id.clone().map(|s| (s, q.k));
        let mut rows = self
            .store
            .candidate_rows(exchange_ids, item_ids, fact_ids, recent)
            .await?;
        let ranked = rank::rank(fused, &mut rows, &q, &scope);
        let mut hits = rank::to_hits(ranked, &vector.cosine, &boosted);
        if scope.exchanges {
            hits = pack::backfill(hits, rows.recent, q.k);
        }
        if let Some(budget) = q.budget_chars {
            hits = pack(hits, budget);
        }
        Ok((hits, started.elapsed().as_secs_f64() * 1000.0))
    }
}
