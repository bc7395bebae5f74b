//! `[embed]`: the embedding provider.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::check::{Check, at_least, between, ensure, first};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbedConfig {
    pub provider: EmbedProvider,
    /// Unset: `<data_dir>/models/all-MiniLM-L6-v2`.
    pub model_dir: Option<PathBuf>,
    /// Inference threads of the local model; 0 = all cores.
    pub threads: usize,
    /// Texts per embedding call (local batch, or one HTTP request).
    pub batch_size: usize,
    /// OpenAI-compatible endpoint, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    /// Model name sent to the endpoint.
    pub model: String,
    /// Name of the environment variable holding the API key (never the key).
    pub api_key_env: String,
    /// Dimension the endpoint must return; 0 = accept what the first answer has.
    pub dim: usize,
    /// Seconds before an embedding request is abandoned (and retried).
    pub timeout_s: u64,
    /// Retries of a request that failed with 429, 5xx or a timeout.
    pub max_retries: u32,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            provider: EmbedProvider::Auto,
            model_dir: None,
            threads: 0,
            batch_size: 32,
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "all-minilm".into(),
            api_key_env: "MEMD_EMBED_API_KEY".into(),
            dim: 0,
            timeout_s: 30,
            max_retries: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EmbedProvider {
    /// The local model when its files are present, else `hash` (loudly).
    Auto,
    /// all-MiniLM-L6-v2 in process; refuses to start without its files.
    Local,
    /// Any OpenAI-compatible `/embeddings` endpoint.
    Openai,
    /// Deterministic feature hashing: no model, weakly semantic.
    Hash,
}

impl EmbedConfig {
    pub(super) fn validate(&self) -> Check {
        let openai = self.provider == EmbedProvider::Openai;
        first([
            between("embed.batch_size", self.batch_size, 1, 2048),
            at_least("embed.timeout_s", self.timeout_s, 1),
            ensure(
                "embed.base_url",
                !openai
                    || self.base_url.starts_with("http://")
                    || self.base_url.starts_with("https://"),
                "must start with http:// or https://",
            ),
            ensure(
                "embed.model",
                !openai || !self.model.trim().is_empty(),
                "must name the endpoint's model",
            ),
        ])
    }
}
