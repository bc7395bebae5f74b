//! Recall and the context pack.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

use super::is_false;
use crate::recall::Mode;

/// `POST /v1/recall`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallIn {
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_chars: Option<usize>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub explain: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// A query vector from the current model, used instead of embedding
    /// `query` (which may then be empty: the lexical side finds nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    /// Per-request overrides of the fusion settings (evaluation, tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fts_weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_boost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_term_df: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_terms: Option<usize>,
    /// RFC 3339: facts as memd believed them at that instant, not the live ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// `POST /v1/recall`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecallOut {
    pub results: Vec<Hit>,
    pub mode: Mode,
    pub took_ms: f64,
}

/// One recall result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    pub tier: String,
    pub id: i64,
    #[serde(default)]
    pub ext_id: Option<String>,
    /// The exchange's session, or the session a gist summarises.
    #[serde(default)]
    pub session_id: Option<String>,
    pub namespace: String,
    #[serde(default)]
    pub role: Option<String>,
    pub content: String,
    pub created_at: String,
    pub score: f64,
    /// An item's key within its tier (month of an era, concept name, …).
    #[serde(default)]
    pub key: Option<String>,
    /// With `explain`: how the hit was ranked.
    #[serde(default)]
    pub explain: Option<HitExplain>,
    /// An item's own attributes (a concept's source, a chunk's path, …).
    #[serde(flatten)]
    pub attrs: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HitExplain {
    #[serde(default)]
    pub bm25_rank: Option<usize>,
    #[serde(default)]
    pub vector_rank: Option<usize>,
    pub fused: f64,
    #[serde(default)]
    pub vector_score: Option<f32>,
    #[serde(default)]
    pub neighbor_boost: Option<f64>,
    #[serde(default)]
    pub supplement: Option<String>,
}

/// `POST /v1/context`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextIn {
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_chars: Option<usize>,
    /// Exchanges recalled (default recall.default_k).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// Leave the dream tiers out (evaluation: recall alone).
    #[serde(default, skip_serializing_if = "is_false")]
    pub without_dream: bool,
    /// RFC 3339: the facts section as memd believed it at that instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// `POST /v1/context`: sections of items within a character budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextOut {
    pub namespace: String,
    pub budget_chars: usize,
    pub used_chars: usize,
    pub sections: Vec<ContextSection>,
    /// `{tier, id}` of every item, in order.
    #[serde(default)]
    pub ids: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextSection {
    pub name: String,
    pub items: Vec<ContextItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContextItem {
    pub tier: String,
    pub id: ItemId,
    pub text: String,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    /// The text was cut to fit the budget.
    #[serde(default)]
    pub clipped: bool,
    /// An item's own attributes (a concept's source, a chunk's path, …).
    #[serde(flatten)]
    pub attrs: Map<String, Value>,
}

/// A context item's id: a row id, or a namespace for the per-namespace
/// tiers (profile, narrative, self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ItemId {
    Row(i64),
    Name(String),
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemId::Row(id) => write!(f, "{id}"),
            ItemId::Name(name) => f.write_str(name),
        }
    }
}
