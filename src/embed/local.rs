//! The local model provider: all-MiniLM-L6-v2 in process.
//!
//! Files (from `scripts/fetch-model.sh`): `config.json`, `tokenizer.json`,
//! `model.safetensors` in `embed.model_dir`. The shipped tokenizer.json pads
//! and truncates at 128; sentence-transformers uses 256 and no padding, so
//! both are overridden here. Inference runs on a dedicated rayon pool of
//! `embed.threads` threads, never on the async executor.

use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::bert::Bert;
use super::{EmbedError, Embedder};

pub const MODEL_ID: &str = "all-MiniLM-L6-v2";
pub const MAX_TOKENS: usize = 256;
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Tokens per forward pass: bounds the activations' memory (about 20 KB a
/// token for this model) while keeping the matrix products large.
const TOKENS_PER_PASS: usize = 8192;

pub struct LocalEmbedder {
    tokenizer: Tokenizer,
    bert: Bert,
    pool: rayon::ThreadPool,
    threads: usize,
    dir: PathBuf,
}

fn failed(message: impl Into<String>) -> EmbedError {
    EmbedError::Failed {
        model: MODEL_ID.into(),
        message: message.into(),
    }
}

/// Which of the model's files are missing from `dir`.
pub fn missing_files(dir: &Path) -> Vec<&'static str> {
    FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect()
}

impl LocalEmbedder {
    pub fn load(dir: &Path, threads: usize) -> Result<LocalEmbedder, EmbedError> {
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| failed(format!("{}: {e}", tok_path.display())))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| failed(format!("truncation: {e}")))?;
        tokenizer.with_padding(None);
        let bert = Bert::load(dir)?;
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("memd-embed-{i}"))
            .build()
            .map_err(|e| failed(format!("thread pool: {e}")))?;
        Ok(LocalEmbedder {
            tokenizer,
            bert,
            pool,
            threads,
            dir: dir.to_owned(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Word-piece ids as fed to the model (with [CLS]/[SEP], truncated).
    pub fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| failed(format!("tokenizer: {e}")))?;
        Ok(enc.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dim(&self) -> usize {
        self.bert.cfg.hidden_size
    }

    fn provider(&self) -> &'static str {
        "local"
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.token_ids(texts)?;
        let mut out = Vec::with_capacity(ids.len());
        let mut start = 0;
        while start < ids.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < ids.len() && (end == start || tokens + ids[end].len() <= TOKENS_PER_PASS) {
                tokens += ids[end].len();
                end += 1;
            }
            let chunk = &ids[start..end];
            let vectors = self
                .pool
                .install(|| self.bert.encode(chunk, self.threads))?;
            out.extend(vectors);
            start = end;
        }
        Ok(out)
    }
}
