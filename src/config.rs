//! Configuration: built-in defaults, overridden by one TOML file.
//!
//! Lookup order (first hit wins): `--config FILE`, `$MEMD_CONFIG`,
//! `$XDG_CONFIG_HOME/memd/memd.toml` (or `~/.config/memd/memd.toml`),
//! `/etc/memd/memd.toml`, else built-in defaults. A file named explicitly
//! (flag or environment) must exist; the well-known locations are optional.
//!
//! Every section rejects unknown keys, and every error names the file and the
//! key, so a typo never silently falls back to a default. `config/memd.toml`
//! documents every option with its default; a unit test keeps the two in step.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path}: invalid value for `{key}`: {message}")]
    Invalid {
        path: String,
        key: &'static str,
        message: String,
    },
    /// Like `Invalid`, for keys inside lists (e.g. `sources.sqlite[shop].path`).
    #[error("config file {path}: invalid value for `{key}`: {message}")]
    InvalidKey {
        path: String,
        key: String,
        message: String,
    },
}

/// Where the effective configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("<built-in defaults>"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub daemon: DaemonConfig,
    pub log: LogConfig,
    pub store: StoreConfig,
    pub embed: EmbedConfig,
    pub api: ApiConfig,
    pub recall: RecallConfig,
    pub index: IndexConfig,
    pub checkpoint: CheckpointConfig,
    pub dream: DreamConfig,
    pub sources: crate::sources::config::SourcesConfig,
}

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
    fn default() -> Self {
        let p = crate::index::Params::default();
        Self {
            ann_min_vectors: p.ann_min_vectors,
            cell_factor: p.cell_factor,
            nprobe: p.nprobe,
            layout_file: true,
        }
    }
}

impl IndexConfig {
    pub fn params(&self) -> crate::index::Params {
        crate::index::Params {
            ann_min_vectors: self.ann_min_vectors,
            cell_factor: self.cell_factor,
            nprobe: self.nprobe,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DreamConfig {
    /// Run passes on the schedule and when idle (on-demand passes always work).
    pub enabled: bool,
    /// Cron expression with seconds (`sec min hour day month weekday`).
    pub schedule: String,
    /// Time zone of the schedule: `local` (the system's), `UTC`, or an IANA
    /// name such as `Europe/Berlin`.
    pub timezone: String,
    /// A pass starts after this many seconds without writes, if a drive is
    /// over its threshold; 0 turns the idle trigger off.
    pub idle_after_s: u64,
    /// A session is ripe once it has this many turns and no gist.
    pub min_turns: usize,
    /// A summarised session is ripe again after this many new turns.
    pub resummarise_after: usize,
    /// A session with any new turn is ripe after this long without one.
    pub session_idle_s: u64,
    /// Sessions summarised per pass (the rest wait for the next pass).
    pub max_sessions_per_pass: usize,
    /// A pass stops at the next safe point after this many seconds.
    pub max_pass_s: u64,
    /// Drive levels (0..1) over which the drive acts.
    pub continuity_threshold: f64,
    pub coherence_threshold: f64,
    pub curiosity_threshold: f64,
    /// Maintenance (ANALYZE, FTS optimize) runs when stability is above this.
    pub stability_threshold: f64,
    /// `extractive` (offline, no model) or `openai` (any OpenAI-compatible
    /// `/chat/completions` endpoint, configured in `[dream.openai]`).
    pub provider: DreamProvider,
    /// Target length of an extractive gist, in characters.
    pub gist_chars: usize,
    /// Target length of an era digest, in characters.
    pub era_chars: usize,
    /// Relevance vs. diversity in the extractive selection (1 = relevance only).
    pub mmr_lambda: f64,
    /// A session whose summary failed this many times is skipped until it
    /// gets new turns.
    pub max_attempts: u32,
    /// Run records kept per namespace (older ones are deleted).
    pub keep_runs: usize,
    pub openai: DreamOpenAiConfig,
}

impl Default for DreamConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            schedule: "0 0 3 * * *".into(),
            timezone: "local".into(),
            idle_after_s: 900,
            min_turns: 4,
            resummarise_after: 10,
            session_idle_s: 1800,
            max_sessions_per_pass: 50,
            max_pass_s: 120,
            continuity_threshold: 0.3,
            coherence_threshold: 0.3,
            curiosity_threshold: 0.3,
            stability_threshold: 0.8,
            provider: DreamProvider::Extractive,
            gist_chars: 700,
            era_chars: 1200,
            mmr_lambda: 0.7,
            max_attempts: 3,
            keep_runs: 1000,
            openai: DreamOpenAiConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DreamProvider {
    Extractive,
    Openai,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DreamOpenAiConfig {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key (never the key).
    pub api_key_env: String,
    /// Seconds before a request is abandoned.
    pub timeout_s: u64,
    /// Retries of a request that failed with 429, 5xx or a timeout.
    pub max_retries: u32,
    /// Largest answer asked for, in tokens.
    pub max_tokens: u32,
    pub temperature: f64,
    /// Characters of transcript sent per request (longer sessions are cut
    /// to their most recent turns).
    pub max_input_chars: usize,
    /// Files replacing the built-in prompt templates (unset: built-in).
    pub gist_prompt_file: Option<PathBuf>,
    pub era_prompt_file: Option<PathBuf>,
    pub profile_prompt_file: Option<PathBuf>,
    pub narrative_prompt_file: Option<PathBuf>,
}

impl Default for DreamOpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.2".into(),
            api_key_env: "MEMD_DREAM_API_KEY".into(),
            timeout_s: 120,
            max_retries: 2,
            max_tokens: 512,
            temperature: 0.2,
            max_input_chars: 12000,
            gist_prompt_file: None,
            era_prompt_file: None,
            profile_prompt_file: None,
            narrative_prompt_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Seconds between checkpoints; 0 turns the periodic worker off
    /// (on-demand and shutdown checkpoints still work).
    pub interval_s: u64,
    /// Unset: `<data_dir>/snapshots`.
    pub dir: Option<PathBuf>,
    /// Snapshots kept; older ones are deleted after a new one is verified.
    pub keep: usize,
    /// Truncate the WAL when it has grown past this many bytes.
    pub wal_truncate_bytes: u64,
    /// Pages copied per step of the online backup.
    pub pages_per_step: u32,
    /// Take a final snapshot on graceful shutdown.
    pub on_shutdown: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            interval_s: 300,
            dir: None,
            keep: 24,
            wal_truncate_bytes: 16 * 1024 * 1024,
            pages_per_step: 4096,
            on_shutdown: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Unset: `$STATE_DIRECTORY` (systemd), else `$XDG_DATA_HOME/memd`,
    /// else `~/.local/share/memd`.
    pub data_dir: Option<PathBuf>,
    /// Unset: `$RUNTIME_DIRECTORY/memd.sock` (systemd), else
    /// `$XDG_RUNTIME_DIR/memd/memd.sock`, else `/tmp/memd-$UID/memd.sock`.
    pub socket: Option<PathBuf>,
    pub socket_mode: SocketMode,
    /// Unset: the daemon's own uid and root.
    pub allowed_uids: Option<Vec<u32>>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_s: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            socket: None,
            socket_mode: SocketMode(0o600),
            allowed_uids: None,
            shutdown_timeout_s: 10,
        }
    }
}

/// Unix permission bits for the socket file. Accepted as an octal string
/// (`"0600"`) or a TOML octal integer (`0o600`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct SocketMode(pub u32);

impl From<SocketMode> for String {
    fn from(m: SocketMode) -> String {
        format!("{:04o}", m.0)
    }
}

impl<'de> Deserialize<'de> for SocketMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Str(String),
        }
        let mode = match Raw::deserialize(d)? {
            Raw::Int(i) => i,
            Raw::Str(s) => {
                let digits = s.trim().trim_start_matches("0o");
                u32::from_str_radix(digits, 8).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{s}` is not an octal mode; write e.g. \"0600\""
                    ))
                })?
            }
        };
        if mode > 0o777 {
            return Err(serde::de::Error::custom(format!(
                "{mode} is larger than 0o777; write the mode as an octal string such as \"0600\""
            )));
        }
        Ok(SocketMode(mode))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A level (`error`, `warn`, `info`, `debug`, `trace`) or a full
    /// tracing filter such as `memd=debug,info`. Changes on SIGHUP.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How long a SQLite call waits on a lock before failing.
    pub busy_timeout_ms: u64,
    /// `full`: an acknowledged write survives power loss (fsync per commit).
    /// `normal`: it survives a crash of memd, not of the machine.
    pub synchronous: Synchronous,
    /// Read connections used in parallel by recall and listing.
    pub read_connections: usize,
    /// Most write requests the single writer folds into one transaction.
    pub max_batch_ops: usize,
    /// Integrity check at start-up: `quick`, `full` or `off`.
    pub startup_check: StartupCheck,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartupCheck {
    Quick,
    Full,
    Off,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 5000,
            synchronous: Synchronous::Full,
            read_connections: 4,
            max_batch_ops: 64,
            startup_check: StartupCheck::Quick,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Largest request body accepted (bytes); larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest `content` of one exchange (bytes); larger ones get 422.
    pub max_content_bytes: usize,
    /// Largest `metadata` object of one exchange, serialised (bytes).
    pub max_metadata_bytes: usize,
    /// A request still running after this long is answered with 503.
    pub request_timeout_s: u64,
    /// Connections served at once; when all are taken, the one idle the
    /// longest is closed to make room, and only if every one has a request
    /// in flight do new clients wait in the accept queue.
    pub max_connections: usize,
    /// Connections one uid may hold at once (so one allowed uid cannot
    /// starve another); past it the uid's idlest connection is closed, or,
    /// if all are busy, the new one is answered 503.
    pub max_connections_per_uid: usize,
    /// A connection without a request in flight is closed this many seconds
    /// after it became idle (accepted, or its last response sent). Bounds
    /// slow request headers as well as idle keep-alive.
    pub idle_timeout_s: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            max_content_bytes: 256 * 1024,
            max_metadata_bytes: 64 * 1024,
            request_timeout_s: 30,
            max_connections: 256,
            max_connections_per_uid: 256,
            idle_timeout_s: 15,
        }
    }
}

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
        }
    }
}

/// A configuration together with where it came from and its resolved paths.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
}

impl Config {
    /// Finds and loads the configuration following the documented order.
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
        match locate(explicit)? {
            Some(path) => {
                let config = Self::from_file(&path)?;
                Ok(Loaded {
                    config,
                    source: ConfigSource::File(path),
                })
            }
            None => Ok(Loaded {
                config: Config::default(),
                source: ConfigSource::Defaults,
            }),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates `text`; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner().to_string();
            ConfigError::Parse {
                path: origin.to_owned(),
                message: if key == "." {
                    inner
                } else {
                    format!("key `{key}`: {}", inner.trim())
                },
            }
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key,
            message,
        };
        self.validate_dream(origin)?;
        if let Err(e) = check_log_filter(&self.log.level) {
            return Err(invalid(
                "log.level",
                format!("`{}` is not a level or filter: {e}", self.log.level),
            ));
        }
        if self.daemon.socket_mode.0 & 0o600 != 0o600 {
            return Err(invalid(
                "daemon.socket_mode",
                "the owner needs read and write permission (at least 0600)".into(),
            ));
        }
        if let Some(p) = &self.daemon.data_dir
            && p.as_os_str().is_empty()
        {
            return Err(invalid("daemon.data_dir", "must not be empty".into()));
        }
        if let Some(p) = &self.daemon.socket {
            // sun_path holds 108 bytes including the terminating NUL.
            if p.as_os_str().len() > 107 {
                return Err(invalid(
                    "daemon.socket",
                    format!(
                        "path is {} bytes; Unix sockets allow at most 107",
                        p.as_os_str().len()
                    ),
                ));
            }
            if p.as_os_str().is_empty() {
                return Err(invalid("daemon.socket", "must not be empty".into()));
            }
        }
        if self.index.ann_min_vectors < 64 {
            return Err(invalid(
                "index.ann_min_vectors",
                format!(
                    "{} is too small to partition (at least 64)",
                    self.index.ann_min_vectors
                ),
            ));
        }
        if !(self.index.cell_factor.is_finite() && (0.25..=64.0).contains(&self.index.cell_factor))
        {
            return Err(invalid(
                "index.cell_factor",
                format!("{} is outside 0.25..=64", self.index.cell_factor),
            ));
        }
        if self.index.nprobe == 0 {
            return Err(invalid("index.nprobe", "must be at least 1".into()));
        }
        if self.store.read_connections == 0 || self.store.read_connections > 64 {
            return Err(invalid(
                "store.read_connections",
                "must be between 1 and 64".into(),
            ));
        }
        if self.store.max_batch_ops == 0 {
            return Err(invalid("store.max_batch_ops", "must be at least 1".into()));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(invalid(
                "api.max_body_bytes",
                "must be at least 1024".into(),
            ));
        }
        if self.api.max_content_bytes == 0 || self.api.max_content_bytes > self.api.max_body_bytes {
            return Err(invalid(
                "api.max_content_bytes",
                "must be between 1 and api.max_body_bytes".into(),
            ));
        }
        if self.api.request_timeout_s == 0 {
            return Err(invalid(
                "api.request_timeout_s",
                "must be at least 1".into(),
            ));
        }
        if self.api.max_connections == 0 {
            return Err(invalid("api.max_connections", "must be at least 1".into()));
        }
        if self.api.max_connections_per_uid == 0 {
            return Err(invalid(
                "api.max_connections_per_uid",
                "must be at least 1".into(),
            ));
        }
        if self.api.idle_timeout_s == 0 || self.api.idle_timeout_s > 3600 {
            return Err(invalid(
                "api.idle_timeout_s",
                "must be between 1 and 3600".into(),
            ));
        }
        if self.embed.batch_size == 0 || self.embed.batch_size > 2048 {
            return Err(invalid(
                "embed.batch_size",
                "must be between 1 and 2048".into(),
            ));
        }
        if self.embed.timeout_s == 0 {
            return Err(invalid("embed.timeout_s", "must be at least 1".into()));
        }
        if self.embed.provider == EmbedProvider::Openai {
            if !(self.embed.base_url.starts_with("http://")
                || self.embed.base_url.starts_with("https://"))
            {
                return Err(invalid(
                    "embed.base_url",
                    "must start with http:// or https://".into(),
                ));
            }
            if self.embed.model.trim().is_empty() {
                return Err(invalid(
                    "embed.model",
                    "must name the endpoint's model".into(),
                ));
            }
        }
        if self.checkpoint.keep == 0 {
            return Err(invalid("checkpoint.keep", "must be at least 1".into()));
        }
        if self.checkpoint.pages_per_step == 0 {
            return Err(invalid(
                "checkpoint.pages_per_step",
                "must be at least 1".into(),
            ));
        }
        if let Some(p) = &self.checkpoint.dir
            && p.as_os_str().is_empty()
        {
            return Err(invalid("checkpoint.dir", "must not be empty".into()));
        }
        if !(self.recall.rrf_k >= 0.0 && self.recall.rrf_k.is_finite()) {
            return Err(invalid("recall.rrf_k", "must be a number ≥ 0".into()));
        }
        for (key, w) in [
            ("recall.fts_weight", self.recall.fts_weight),
            ("recall.vector_weight", self.recall.vector_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(ConfigError::Invalid {
                    path: origin.to_owned(),
                    key,
                    message: "must be a number ≥ 0".into(),
                });
            }
        }
        if self.recall.candidates == 0 || self.recall.candidates > 10_000 {
            return Err(invalid(
                "recall.candidates",
                "must be between 1 and 10000".into(),
            ));
        }
        if self.recall.max_k == 0 || self.recall.max_k > 10_000 {
            return Err(invalid(
                "recall.max_k",
                "must be between 1 and 10000".into(),
            ));
        }
        if self.recall.max_terms == 0 {
            return Err(invalid("recall.max_terms", "must be at least 1".into()));
        }
        if self.recall.default_k == 0 || self.recall.default_k > self.recall.max_k {
            return Err(invalid(
                "recall.default_k",
                "must be between 1 and recall.max_k".into(),
            ));
        }
        if let Err(e) = self.sources.validate() {
            return Err(ConfigError::InvalidKey {
                path: origin.to_owned(),
                key: e.key,
                message: e.message,
            });
        }
        Ok(())
    }

    pub fn data_dir(&self) -> PathBuf {
        if let Some(p) = &self.daemon.data_dir {
            return p.clone();
        }
        if let Some(p) = env_path("STATE_DIRECTORY") {
            // systemd may pass several colon-separated directories; the first is ours.
            let first = p
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            return PathBuf::from(first);
        }
        if let Some(p) = env_path("XDG_DATA_HOME") {
            return p.join("memd");
        }
        match env_path("HOME") {
            Some(home) => home.join(".local/share/memd"),
            None => PathBuf::from("/var/lib/memd"),
        }
    }

    pub fn model_dir(&self) -> PathBuf {
        match &self.embed.model_dir {
            Some(d) => d.clone(),
            None => self.data_dir().join("models/all-MiniLM-L6-v2"),
        }
    }

    pub fn embed_threads(&self) -> usize {
        match self.embed.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        match &self.checkpoint.dir {
            Some(d) => d.clone(),
            None => self.data_dir().join("snapshots"),
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        if let Some(p) = &self.daemon.socket {
            return p.clone();
        }
        default_socket_path()
    }

    pub fn allowed_uids(&self) -> Vec<u32> {
        match &self.daemon.allowed_uids {
            Some(list) => list.clone(),
            None => {
                let me = current_uid();
                if me == 0 { vec![0] } else { vec![me, 0] }
            }
        }
    }
}

/// Accepts a level or comma-separated `target=level` directives. Stricter
/// than tracing's own parser, which takes any word as a target name and so
/// would turn a typo such as `inf` into "log nothing".
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |s: &str| LEVELS.contains(&s.trim().to_ascii_lowercase().as_str());
    if filter.trim().is_empty() {
        return Err("empty".into());
    }
    for part in filter.split(',') {
        let ok = match part.split_once('=') {
            Some((target, level)) => {
                !target.trim().is_empty()
                    && target
                        .trim()
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '-')
                    && is_level(level)
            }
            None => is_level(part),
        };
        if !ok {
            return Err(format!(
                "`{part}` is neither a level ({}) nor target=level",
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Config {
    fn validate_dream(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key,
            message,
        };
        let d = &self.dream;
        if let Err(e) = crate::dream::schedule::check(&d.schedule, &d.timezone) {
            let key = if e.starts_with("time zone") {
                "dream.timezone"
            } else {
                "dream.schedule"
            };
            return Err(invalid(key, e));
        }
        for (key, v) in [
            ("dream.continuity_threshold", d.continuity_threshold),
            ("dream.coherence_threshold", d.coherence_threshold),
            ("dream.curiosity_threshold", d.curiosity_threshold),
            ("dream.stability_threshold", d.stability_threshold),
            ("dream.mmr_lambda", d.mmr_lambda),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(key, format!("{v} is not between 0 and 1")));
            }
        }
        for (key, v) in [
            ("dream.min_turns", d.min_turns),
            ("dream.resummarise_after", d.resummarise_after),
            ("dream.max_sessions_per_pass", d.max_sessions_per_pass),
            ("dream.gist_chars", d.gist_chars),
            ("dream.era_chars", d.era_chars),
            ("dream.openai.max_input_chars", d.openai.max_input_chars),
            ("dream.keep_runs", d.keep_runs),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if d.max_pass_s == 0 {
            return Err(invalid("dream.max_pass_s", "must be at least 1".into()));
        }
        if d.max_attempts == 0 {
            return Err(invalid("dream.max_attempts", "must be at least 1".into()));
        }
        if d.openai.max_tokens == 0 {
            return Err(invalid(
                "dream.openai.max_tokens",
                "must be at least 1".into(),
            ));
        }
        if !(0.0..=2.0).contains(&d.openai.temperature) {
            return Err(invalid(
                "dream.openai.temperature",
                "must be between 0 and 2".into(),
            ));
        }
        if d.provider == DreamProvider::Openai && !d.openai.base_url.starts_with("http") {
            return Err(invalid(
                "dream.openai.base_url",
                format!("`{}` is not an http(s) URL", d.openai.base_url),
            ));
        }
        for (key, p) in [
            ("dream.openai.gist_prompt_file", &d.openai.gist_prompt_file),
            ("dream.openai.era_prompt_file", &d.openai.era_prompt_file),
            (
                "dream.openai.profile_prompt_file",
                &d.openai.profile_prompt_file,
            ),
            (
                "dream.openai.narrative_prompt_file",
                &d.openai.narrative_prompt_file,
            ),
        ] {
            if let Some(p) = p
                && d.provider == DreamProvider::Openai
            {
                match std::fs::read_to_string(p) {
                    Err(e) => {
                        return Err(invalid(key, format!("cannot read {}: {e}", p.display())));
                    }
                    Ok(t) if !t.contains("{input}") => {
                        return Err(invalid(
                            key,
                            format!(
                                "{} has no {{input}} placeholder for the material",
                                p.display()
                            ),
                        ));
                    }
                    Ok(_) => {}
                }
            }
        }
        Ok(())
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("memd.db")
}

/// The vector index's saved layout (see `index::persist`).
pub fn index_layout_path(data_dir: &Path) -> PathBuf {
    data_dir.join("index.layout")
}

pub fn default_socket_path() -> PathBuf {
    if let Some(p) = env_path("RUNTIME_DIRECTORY") {
        let first = p
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        return PathBuf::from(first).join("memd.sock");
    }
    if let Some(p) = env_path("XDG_RUNTIME_DIR") {
        return p.join("memd/memd.sock");
    }
    PathBuf::from(format!("/tmp/memd-{}/memd.sock", current_uid()))
}

pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn locate(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    let must_exist = |p: PathBuf| {
        if p.exists() {
            Ok(Some(p))
        } else {
            Err(ConfigError::Read {
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
                path: p,
            })
        }
    };
    if let Some(p) = explicit {
        return must_exist(p.to_owned());
    }
    if let Some(p) = env_path("MEMD_CONFIG") {
        return must_exist(p);
    }
    let user = env_path("XDG_CONFIG_HOME")
        .or_else(|| env_path("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("memd/memd.toml"));
    for candidate in user
        .into_iter()
        .chain([PathBuf::from("/etc/memd/memd.toml")])
    {
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate("<test>").unwrap();
    }

    #[test]
    fn documented_file_parses_to_the_defaults() {
        // config/memd.toml documents every option with its default value; if
        // it parses to anything but the defaults, the docs are lying.
        let text = include_str!("../config/memd.toml");
        let parsed = Config::from_toml(text, "config/memd.toml").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn documented_file_mentions_every_option() {
        let text = include_str!("../config/memd.toml");
        let value = toml::Value::try_from(Config::default()).unwrap();
        let mut missing = Vec::new();
        fn walk(prefix: &str, table: &toml::Table, text: &str, missing: &mut Vec<String>) {
            for (key, v) in table {
                match v.as_table() {
                    Some(sub) => {
                        if !text.contains(&format!("[{prefix}.{key}]")) {
                            missing.push(format!("[{prefix}.{key}]"));
                        }
                        walk(&format!("{prefix}.{key}"), sub, text, missing);
                    }
                    None if !text.contains(&format!("{key} =")) => {
                        missing.push(format!("{prefix}.{key}"));
                    }
                    None => {}
                }
            }
        }
        for (section, table) in value.as_table().unwrap() {
            walk(section, table.as_table().unwrap(), text, &mut missing);
        }
        // Options whose default is "unset" do not serialise; check them by name.
        for key in [
            "data_dir =",
            "socket =",
            "allowed_uids =",
            "dir =",
            "model_dir =",
            "gist_prompt_file =",
            "era_prompt_file =",
            "profile_prompt_file =",
            "narrative_prompt_file =",
            "id_column =",
            "text_columns =",
            "cursor_column =",
            "password_env =",
            "poll_interval_s =",
            "full_sync_schedule =",
            "notify_channel =",
            "connect_timeout_s =",
            "allowed_tables =",
            "include =",
            "exclude =",
            "namespace =",
            "watch =",
        ] {
            if !text.contains(key) {
                missing.push(key.to_owned());
            }
        }
        assert!(missing.is_empty(), "undocumented options: {missing:?}");
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err =
            Config::from_toml("[daemon]\nsocket_mdoe = \"0600\"\n", "/etc/x.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/etc/x.toml"), "{msg}");
        assert!(msg.contains("socket_mdoe"), "{msg}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let err = Config::from_toml("[deamon]\n", "f.toml").unwrap_err();
        assert!(err.to_string().contains("deamon"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = Config::from_toml("[api]\nmax_body_bytes = \"big\"\n", "f.toml").unwrap_err();
        assert!(err.to_string().contains("api.max_body_bytes"), "{err}");
    }

    #[test]
    fn log_filters() {
        for ok in [
            "info",
            "DEBUG",
            "memd=debug,info",
            "memd::store=trace,warn",
            "off",
        ] {
            check_log_filter(ok).unwrap();
        }
        for bad in ["", "inf", "memd=loud", "=debug"] {
            assert!(check_log_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn socket_mode_forms() {
        let c = Config::from_toml("[daemon]\nsocket_mode = \"0660\"\n", "f").unwrap();
        assert_eq!(c.daemon.socket_mode.0, 0o660);
        let c = Config::from_toml("[daemon]\nsocket_mode = 0o640\n", "f").unwrap();
        assert_eq!(c.daemon.socket_mode.0, 0o640);
        assert!(Config::from_toml("[daemon]\nsocket_mode = 600\n", "f").is_err());
        assert!(Config::from_toml("[daemon]\nsocket_mode = \"rw\"\n", "f").is_err());
        let err = Config::from_toml("[daemon]\nsocket_mode = \"0400\"\n", "f").unwrap_err();
        assert!(err.to_string().contains("daemon.socket_mode"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        for (text, key) in [
            ("[log]\nlevel = \"loud!!\"\n", "log.level"),
            ("[log]\nlevel = \"inf\"\n", "log.level"),
            ("[log]\nformat = \"xml\"\n", "log.format"),
            ("[embed]\nprovider = \"magic\"\n", "embed.provider"),
            ("[recall]\ndefault_k = 0\n", "recall.default_k"),
            ("[recall]\nmax_terms = 0\n", "recall.max_terms"),
            ("[index]\nnprobe = 0\n", "index.nprobe"),
            ("[index]\ncell_factor = 0.0\n", "index.cell_factor"),
            ("[store]\nread_connections = 0\n", "store.read_connections"),
            ("[store]\nsynchronous = \"off\"\n", "store.synchronous"),
            ("[dream]\nschedule = \"every day\"\n", "dream.schedule"),
            ("[dream]\ntimezone = \"Mars/Olympus\"\n", "dream.timezone"),
            (
                "[dream]\ncontinuity_threshold = 1.5\n",
                "dream.continuity_threshold",
            ),
            ("[dream]\nprovider = \"gpt\"\n", "dream.provider"),
            (
                "[dream.openai]\nmax_tokens = 0\n",
                "dream.openai.max_tokens",
            ),
            ("[sources]\nbatch_size = 0\n", "sources.batch_size"),
            (
                "[[sources.sqlite]]\nname = \"s\"\npath = \"/x.db\"\nallowed_tables = [\"a;b\"]\n",
                "sources.sqlite[s].allowed_tables",
            ),
        ] {
            let err = Config::from_toml(text, "f").unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} -> {err}");
        }
    }
}
