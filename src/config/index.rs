//! `[index]`: the in-memory vector index. `IndexConfig::params()`, which
//! turns these settings into the index's own parameters, lives beside those
//! parameters in the index module, so this module needs nothing from it.

use serde::{Deserialize, Serialize};

use super::check::{Check, at_least, ensure, first};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// A namespace with this many vectors is searched through k-means
    /// cells (approximate); smaller ones, and every session-filtered
    /// search, are scanned exactly.
    pub ann_min_vectors: usize,
    /// Cells per square root of a namespace's vector count.
    pub cell_factor: f64,
    /// Cells scanned per query: more is slower and finds more.
    pub nprobe: usize,
    /// Save the index layout at each checkpoint so start-up places rows
    /// instead of clustering again.
    pub layout_file: bool,
}

impl Default for IndexConfig {
    /// The same values as `index::Params::default()` (a test keeps them equal).
    fn default() -> Self {
        Self {
            ann_min_vectors: 20_000,
            cell_factor: 4.0,
            nprobe: 16,
            layout_file: true,
        }
    }
}

impl IndexConfig {
    pub(super) fn validate(&self) -> Check {
        first([
            ensure(
                "index.ann_min_vectors",
                self.ann_min_vectors >= 64,
                format!(
                    "{} is too small to partition (at least 64)",
                    self.ann_min_vectors
                ),
            ),
            ensure(
                "index.cell_factor",
                self.cell_factor.is_finite() && (0.25..=64.0).contains(&self.cell_factor),
                format!("{} is outside 0.25..=64", self.cell_factor),
            ),
            at_least("index.nprobe", self.nprobe, 1),
        ])
    }
}
