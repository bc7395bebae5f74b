//! Embedders turn text into L2-normalised f32 vectors.
//!
//! The trait is synchronous and CPU- or I/O-bound: callers run it on a
//! blocking thread, never on the async executor.

mod bert;
mod hashing;
pub mod local;

use std::sync::Arc;

pub use hashing::HashEmbedder;

use crate::config::{EmbedConfig, EmbedProvider};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedder {model} failed: {message}")]
    Failed { model: String, message: String },
}

pub trait Embedder: Send + Sync {
    /// Stable id stored next to every vector; a change triggers re-embedding.
    fn model_id(&self) -> &str;
    fn dim(&self) -> usize;
    /// The provider name shown in status (`hash`, …).
    fn provider(&self) -> &'static str;
    /// One vector per input, in order, each of length `dim()` and L2 norm 1
    /// (or all zeros for an input with no features, such as "").
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

pub fn from_config(cfg: &EmbedConfig) -> Arc<dyn Embedder> {
    match cfg.provider {
        EmbedProvider::Hash => Arc::new(HashEmbedder::new()),
    }
}

/// Scales `v` to unit length; leaves an all-zero vector as it is.
pub fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x /= norm;
        }
    }
}
