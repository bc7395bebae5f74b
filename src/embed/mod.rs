//! Embedders turn text into L2-normalised f32 vectors.
//!
//! The trait is synchronous and CPU- or I/O-bound: callers run it on a
//! blocking thread, never on the async executor.

mod bert;
mod hashing;
pub mod local;
pub mod openai;
pub mod queue;

use std::sync::Arc;

pub use hashing::HashEmbedder;

use crate::config::{Config, EmbedProvider};
use local::LocalEmbedder;

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
    /// Cheap enough to run on the write path (so a row is searchable by
    /// vector as soon as it is acknowledged). Others go through the queue.
    fn inline(&self) -> bool {
        false
    }
}

/// The embedder the configuration asks for, and why it is not the one
/// asked for when `auto` fell back to `hash`.
pub struct Selected {
    pub embedder: Arc<dyn Embedder>,
    pub fallback_reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(
        "embed.provider = \"local\" but the model files are missing from {dir} ({missing}).\n\
         Fetch them with:  scripts/fetch-model.sh {dir}"
    )]
    MissingModel { dir: String, missing: String },
    #[error("cannot load the local model from {dir}: {source}")]
    Load { dir: String, source: EmbedError },
    #[error("the embedding endpoint does not answer as configured: {0}")]
    Endpoint(EmbedError),
}

/// Builds the configured embedder. Blocking (loads model weights, or asks
/// an endpoint for its dimension).
pub fn select(config: &Config) -> Result<Selected, SelectError> {
    let cfg = &config.embed;
    let dir = config.model_dir();
    let local = || -> Result<Arc<dyn Embedder>, SelectError> {
        let m = LocalEmbedder::load(&dir, config.embed_threads()).map_err(|source| {
            SelectError::Load {
                dir: dir.display().to_string(),
                source,
            }
        })?;
        Ok(Arc::new(m))
    };
    let missing = local::missing_files(&dir);
    Ok(match cfg.provider {
        EmbedProvider::Hash => Selected {
            embedder: Arc::new(HashEmbedder::new()),
            fallback_reason: None,
        },
        EmbedProvider::Local => {
            if !missing.is_empty() {
                return Err(SelectError::MissingModel {
                    dir: dir.display().to_string(),
                    missing: missing.join(", "),
                });
            }
            Selected {
                embedder: local()?,
                fallback_reason: None,
            }
        }
        EmbedProvider::Auto if missing.is_empty() => match local() {
            Ok(e) => Selected {
                embedder: e,
                fallback_reason: None,
            },
            Err(e) => Selected {
                embedder: Arc::new(HashEmbedder::new()),
                fallback_reason: Some(format!("{e}; using the hashing embedder")),
            },
        },
        EmbedProvider::Auto => Selected {
            embedder: Arc::new(HashEmbedder::new()),
            fallback_reason: Some(format!(
                "no local model in {} (missing {}); using the hashing embedder, which knows no meaning. \
                 Fetch the model with: scripts/fetch-model.sh {}",
                dir.display(),
                missing.join(", "),
                dir.display()
            )),
        },
        EmbedProvider::Openai => {
            let e = openai::OpenAiEmbedder::new(cfg);
            if cfg.dim == 0 {
                e.probe().map_err(SelectError::Endpoint)?;
            }
            Selected {
                embedder: Arc::new(e),
                fallback_reason: None,
            }
        }
    })
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
