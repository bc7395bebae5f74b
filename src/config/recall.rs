//! `[recall]`: hybrid search and fusion.

use serde::{Deserialize, Serialize};

use super::check::{Check, at_least, between, ensure, first, non_negative};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecallConfig {
    /// `k` when the request gives none.
    pub default_k: usize,
    /// Largest `k` a request may ask for.
    pub max_k: usize,
    /// K of Reciprocal Rank Fusion: score = Σ w / (K + rank).
    pub rrf_k: f64,
    /// Weight of the lexical (BM25) list in the fusion.
    pub fts_weight: f64,
    /// Weight of the vector list in the fusion.
    pub vector_weight: f64,
    /// Candidates taken from each side before fusion (at least `k`).
    pub candidates: usize,
    /// Share of a top match's fused score added to its session neighbours.
    pub neighbor_weight: f64,
    /// Relative lift of candidates that mention the names the query mentions.
    pub entity_boost: f64,
    /// Lexical terms in more than this share of rows are dropped (≥ 1: none).
    pub max_term_df: f64,
    /// At most this many lexical terms per query, the rarest kept.
    pub max_terms: usize,
    /// Words dropped from the lexical query; unset: the built-in English list.
    pub stopwords: Option<Vec<String>>,
    /// Multipliers of a fact's fused score by its kind.
    pub fact_weight_user_profile: f64,
    pub fact_weight_preference: f64,
    pub fact_weight_env: f64,
    pub fact_weight_project: f64,
    pub fact_weight_event: f64,
    pub fact_weight_other: f64,
    /// Relative lift of a fact holding the slot a question asks about.
    pub fact_slot_boost: f64,
    /// Live facts the context pack's "facts" section asks recall for.
    pub context_facts: usize,
}

impl Default for RecallConfig {
    fn default() -> Self {
        Self {
            default_k: 10,
            max_k: 1000,
            rrf_k: 3.0,
            fts_weight: 1.5,
            vector_weight: 1.0,
            candidates: 50,
            neighbor_weight: 0.25,
            entity_boost: 0.5,
            max_term_df: 0.1,
            max_terms: 16,
            stopwords: None,
            fact_weight_user_profile: 1.3,
            fact_weight_preference: 1.2,
            fact_weight_env: 1.1,
            fact_weight_project: 1.0,
            fact_weight_event: 1.0,
            fact_weight_other: 1.0,
            fact_slot_boost: 2.0,
            context_facts: 8,
        }
    }
}

impl RecallConfig {
    pub(super) fn validate(&self) -> Check {
        first([
            non_negative("recall.rrf_k", self.rrf_k),
            non_negative("recall.fts_weight", self.fts_weight),
            non_negative("recall.vector_weight", self.vector_weight),
            // NaN would make every fused score NaN (found by the config fuzz target).
            non_negative("recall.neighbor_weight", self.neighbor_weight),
            non_negative("recall.entity_boost", self.entity_boost),
            non_negative("recall.max_term_df", self.max_term_df),
            between("recall.candidates", self.candidates, 1, 10_000),
            between("recall.max_k", self.max_k, 1, 10_000),
            at_least("recall.max_terms", self.max_terms, 1),
            non_negative(
                "recall.fact_weight_user_profile",
                self.fact_weight_user_profile,
            ),
            non_negative("recall.fact_weight_preference", self.fact_weight_preference),
            non_negative("recall.fact_weight_env", self.fact_weight_env),
            non_negative("recall.fact_weight_project", self.fact_weight_project),
            non_negative("recall.fact_weight_event", self.fact_weight_event),
            non_negative("recall.fact_weight_other", self.fact_weight_other),
            non_negative("recall.fact_slot_boost", self.fact_slot_boost),
            between("recall.context_facts", self.context_facts, 0, 100),
            ensure(
                "recall.default_k",
                (1..=self.max_k).contains(&self.default_k),
                "must be between 1 and recall.max_k",
            ),
        ])
    }
}
