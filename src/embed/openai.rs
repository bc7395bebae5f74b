//! OpenAI-compatible embeddings: `POST {base_url}/embeddings`.
//!
//! Works with OpenAI, Ollama, llama.cpp server and vLLM (all speak
//! `{"model","input":[…]}` → `{"data":[{"index","embedding"}]}`). The API key
//! is read from the environment variable named in the config at start and
//! never logged. 429, 5xx, timeouts and connection errors are retried a few
//! times with backoff; anything else fails the batch, which the embedding
//! queue keeps for a later attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{EmbedError, Embedder, l2_normalise};
use crate::config::EmbedConfig;
use crate::http::snippet;

pub struct OpenAiEmbedder {
    agent: ureq::Agent,
    url: String,
    model: String,
    model_id: String,
    api_key: Option<String>,
    /// Fixed by config, or learnt from the first answer (then fixed).
    dim: AtomicUsize,
    max_retries: u32,
    batch_size: usize,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    pub fn new(cfg: &EmbedConfig) -> OpenAiEmbedder {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(cfg.timeout_s)))
            .http_status_as_error(false)
            .build()
            .into();
        let api_key = std::env::var(&cfg.api_key_env)
            .ok()
            .filter(|k| !k.is_empty());
        OpenAiEmbedder {
            agent,
            url: format!("{}/embeddings", cfg.base_url.trim_end_matches('/')),
            model_id: format!("openai:{}", cfg.model),
            model: cfg.model.clone(),
            api_key,
            dim: AtomicUsize::new(cfg.dim),
            max_retries: cfg.max_retries,
            batch_size: cfg.batch_size,
        }
    }

    fn failed(&self, message: impl Into<String>) -> EmbedError {
        EmbedError::Failed {
            model: self.model_id.clone(),
            message: message.into(),
        }
    }

    /// One request; `Err((retryable, error))`.
    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, (bool, EmbedError)> {
        let body = crate::http::post_json(
            &self.agent,
            &self.url,
            self.api_key.as_deref(),
            &json!({"model": self.model, "input": texts}),
            256 * 1024 * 1024,
        )
        .map_err(|f| (f.retry, self.failed(f.message)))?;
        let parsed: Response = serde_json::from_str(&body).map_err(|e| {
            (
                false,
                self.failed(format!("unexpected answer ({e}): {}", snippet(&body))),
            )
        })?;
        if parsed.data.len() != texts.len() {
            return Err((
                false,
                self.failed(format!(
                    "asked for {} embeddings, got {}",
                    texts.len(),
                    parsed.data.len()
                )),
            ));
        }
        let mut items = parsed.data;
        if items.iter().all(|i| i.index.is_some()) {
            items.sort_by_key(|i| i.index);
        }
        let want = self.dim.load(Ordering::Relaxed);
        let got = items[0].embedding.len();
        if items.iter().any(|i| i.embedding.len() != got) {
            return Err((false, self.failed("the answer mixes dimensions")));
        }
        if want != 0 && got != want {
            return Err((
                false,
                self.failed(format!(
                    "the endpoint returned {got}-d vectors; embed.dim is {want}"
                )),
            ));
        }
        if want == 0 {
            self.dim.store(got, Ordering::Relaxed);
        }
        Ok(items
            .into_iter()
            .map(|i| {
                let mut v = i.embedding;
                l2_normalise(&mut v);
                v
            })
            .collect())
    }

    fn request_with_retry(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        crate::http::with_retries(
            self.max_retries,
            Duration::from_millis(250),
            "embedding request",
            || self.request(texts),
        )
    }

    /// Asks the endpoint once, to learn (or check) the dimension at start.
    pub fn probe(&self) -> Result<usize, EmbedError> {
        self.request_with_retry(&["memd dimension probe"])?;
        Ok(self.dim.load(Ordering::Relaxed))
    }
}

impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim.load(Ordering::Relaxed)
    }

    fn provider(&self) -> &'static str {
        "openai"
    }

    fn inline(&self) -> bool {
        false
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size.max(1)) {
            out.extend(self.request_with_retry(chunk)?);
        }
        Ok(out)
    }
}
