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
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(key) = &self.api_key {
            req = req.header("authorization", &format!("Bearer {key}"));
        }
        let mut resp = match req.send_json(json!({"model": self.model, "input": texts})) {
            Ok(r) => r,
            // Connection refused, reset, timeouts: worth another try.
            Err(e) => return Err((true, self.failed(format!("POST {}: {e}", self.url)))),
        };
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| (true, self.failed(format!("reading the answer: {e}"))))?;
        if status == 429 || status >= 500 {
            return Err((
                true,
                self.failed(format!("HTTP {status}: {}", snippet(&body))),
            ));
        }
        if status != 200 {
            return Err((
                false,
                self.failed(format!("HTTP {status}: {}", snippet(&body))),
            ));
        }
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
        let mut attempt = 0;
        loop {
            match self.request(texts) {
                Ok(v) => return Ok(v),
                Err((true, e)) if attempt < self.max_retries => {
                    let wait = Duration::from_millis(250 * 2u64.pow(attempt));
                    tracing::warn!(error = %e, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "embedding request failed; retrying");
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err((_, e)) => return Err(e),
            }
        }
    }

    /// Asks the endpoint once, to learn (or check) the dimension at start.
    pub fn probe(&self) -> Result<usize, EmbedError> {
        self.request_with_retry(&["memd dimension probe"])?;
        Ok(self.dim.load(Ordering::Relaxed))
    }
}

fn snippet(body: &str) -> String {
    let s: String = body.chars().take(300).collect();
    s.replace('\n', " ")
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
