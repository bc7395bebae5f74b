//! Configuration: built-in defaults, overridden by one TOML file, overridden
//! by `MEMD_<SECTION>__<KEY>` environment variables.
//!
//! Lookup order (first hit wins): `--config FILE`, `$MEMD_CONFIG`,
//! `$XDG_CONFIG_HOME/memd/memd.toml` (or `~/.config/memd/memd.toml`),
//! `/etc/memd/memd.toml`, else built-in defaults. A file named explicitly
//! (flag or environment) must exist; the well-known locations are optional.
//! The environment layer ([`env`]) is overlaid on what was read, and the
//! result is checked as a whole.
//!
//! Every section rejects unknown keys, and every error names the file (or
//! the environment variable) and the key, so a typo never silently falls
//! back to a default. `config/memd.toml` documents every option with its
//! default; a unit test keeps the two in step.
//!
//! One file per section; each checks its own values with the declarative
//! helpers of [`check`]. This module depends on no other module of the
//! crate: the others read their settings from it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod api;
pub mod check;
mod checkpoint;
mod daemon;
mod dream;
mod embed;
pub mod env;
mod firewall;
mod index;
mod learn;
mod log;
mod recall;
pub mod sources;
mod store;
mod ui;

pub use api::ApiConfig;
pub use check::KeyError;
pub use checkpoint::CheckpointConfig;
pub use daemon::{DaemonConfig, SocketMode};
pub use dream::{DreamConfig, DreamOpenAiConfig, DreamProvider};
pub use embed::{EmbedConfig, EmbedProvider};
pub use firewall::{FirewallAction, FirewallConfig};
pub use index::IndexConfig;
pub use learn::{ExtractAs, LearnConfig};
pub use log::{LogConfig, LogFormat};
pub use recall::RecallConfig;
pub use sources::SourcesConfig;
pub use store::{StartupCheck, StoreConfig, Synchronous};
pub use ui::{MIN_TOKEN_CHARS, UiConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type. `origin` is
    /// `config file <path>` or `environment variable <name>`.
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    /// A value that parsed but is out of bounds; `key` is dotted, with list
    /// entries by name (e.g. `sources.sqlite[shop].path`).
    #[error("{origin}: invalid value for `{key}`: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// Where the effective configuration came from (before the environment).
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
    pub sources: SourcesConfig,
    pub firewall: FirewallConfig,
    pub learn: LearnConfig,
    pub ui: UiConfig,
}

/// A configuration together with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
    /// The `MEMD_*__*` variables overlaid on `source`, by name.
    pub env: Vec<String>,
}

impl Loaded {
    /// `source`, followed by the environment variables applied, if any:
    /// `/etc/memd/memd.toml + environment (MEMD_API__REQUEST_TIMEOUT_S)`.
    pub fn describe(&self) -> String {
        if self.env.is_empty() {
            self.source.to_string()
        } else {
            format!("{} + environment ({})", self.source, self.env.join(", "))
        }
    }
}

impl Config {
    /// Finds and loads the configuration following the documented order,
    /// with the process's `MEMD_*__*` environment variables overlaid.
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::load_with_env(explicit, std::env::vars_os())
    }

    /// [`Config::load`] with the environment given as `(name, value)` pairs.
    pub fn load_with_env<I>(explicit: Option<&Path>, vars: I) -> Result<Loaded, ConfigError>
    where
        I: IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    {
        let overrides = env::overrides(vars)?;
        let (config, source) = match locate(explicit)? {
            Some(path) => {
                let text = read(&path)?;
                let origin = format!("config file {}", path.display());
                let config = Self::assemble(&text, &origin, &overrides)?;
                (config, ConfigSource::File(path))
            }
            None if overrides.is_empty() => (Config::default(), ConfigSource::Defaults),
            None => (
                Self::assemble("", "built-in defaults", &overrides)?,
                ConfigSource::Defaults,
            ),
        };
        Ok(Loaded {
            config,
            source,
            env: overrides.into_iter().map(|o| o.var).collect(),
        })
    }

    /// Reads and validates one file, without the environment layer.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = read(path)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates `text` (without the environment layer);
    /// `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Self::assemble(text, &format!("config file {origin}"), &[])
    }

    /// The file's `text`, the `overrides` on top, deserialised and checked.
    /// `origin` describes the text in errors (`config file …`).
    fn assemble(
        text: &str,
        origin: &str,
        overrides: &[env::Override],
    ) -> Result<Config, ConfigError> {
        let parse_error = |origin: &str, message: String| ConfigError::Parse {
            origin: origin.to_owned(),
            message,
        };
        let config = if overrides.is_empty() {
            // Straight from the text, so type errors keep their line numbers.
            let de =
                toml::Deserializer::parse(text).map_err(|e| parse_error(origin, e.to_string()))?;
            deserialize(de).map_err(|(_, message)| parse_error(origin, message))?
        } else {
            let file: toml::Table =
                toml::from_str(text).map_err(|e| parse_error(origin, e.to_string()))?;
            Self::overlay(text, file, origin, overrides.to_vec())?
        };
        config.check().map_err(|e| {
            let origin = match env::blame_key(overrides, &e.key) {
                Some(o) => format!("environment variable {}", o.var),
                None if overrides.is_empty() => origin.to_owned(),
                None => format!(
                    "{origin} with environment {}",
                    overrides
                        .iter()
                        .map(|o| o.var.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            ConfigError::Invalid {
                origin,
                key: e.key,
                message: e.message,
            }
        })?;
        Ok(config)
    }

    /// Deserialises `file` (parsed from `text`) with `overrides` overlaid.
    /// A variable whose value read as a number, boolean or date where the
    /// key wants something else (`MEMD_EMBED__MODEL=123`,
    /// `MEMD_DAEMON__SOCKET_MODE=600`) is tried again as the text it was
    /// written as; if that fails too, the first error is reported.
    fn overlay(
        text: &str,
        file: toml::Table,
        origin: &str,
        mut overrides: Vec<env::Override>,
    ) -> Result<Config, ConfigError> {
        let mut first_errors: Vec<(String, String)> = Vec::new();
        loop {
            let mut table = file.clone();
            env::apply(&mut table, &overrides)?;
            let (key, message) = match deserialize(toml::Value::Table(table)) {
                Ok(config) => return Ok(config),
                Err(e) => e,
            };
            if let Some(o) = overrides
                .iter_mut()
                .find(|o| o.key() == key && !o.value.is_str())
            {
                first_errors.push((key, message));
                o.value = toml::Value::String(o.raw.clone());
                continue;
            }
            let mut message = first_errors
                .into_iter()
                .find(|(k, _)| *k == key)
                .map_or(message, |(_, m)| m);
            // Errors from a parsed value end with a line `in `key``, which
            // the message already says.
            if let Some((head, last)) = message.rsplit_once('\n')
                && last.starts_with("in `")
            {
                message = head.trim_end().to_owned();
            }
            if let Some(o) = env::blame_parse(&overrides, &key, &message) {
                return Err(ConfigError::Parse {
                    origin: format!("environment variable {}", o.var),
                    message,
                });
            }
            // The file's own mistake: read from the text alone, the error
            // shows the line.
            if let Ok(de) = toml::Deserializer::parse(text)
                && let Err((_, spanned)) = deserialize(de)
            {
                message = spanned;
            }
            return Err(ConfigError::Parse {
                origin: origin.to_owned(),
                message,
            });
        }
    }

    /// Checks every section; `origin` names the file in the error.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.check().map_err(|e| ConfigError::Invalid {
            origin: format!("config file {origin}"),
            key: e.key,
            message: e.message,
        })
    }

    /// The first problem of any section.
    fn check(&self) -> Result<(), KeyError> {
        self.dream.validate()?;
        self.log.validate()?;
        self.daemon.validate()?;
        self.index.validate()?;
        self.store.validate()?;
        self.api.validate()?;
        self.embed.validate()?;
        self.checkpoint.validate()?;
        self.recall.validate()?;
        self.firewall.validate()?;
        self.learn.validate()?;
        self.ui.validate()?;
        self.sources.validate()
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

/// Deserialises a whole configuration; on failure, the dotted key (`.` for
/// the top level) and a message naming it.
fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Config, (String, String)>
where
    D::Error: fmt::Display,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = if key == "." {
            inner
        } else {
            format!("key `{key}`: {}", inner.trim())
        };
        (key, message)
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
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
        let text = include_str!("../../config/memd.toml");
        let parsed = Config::from_toml(text, "config/memd.toml").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn documented_file_mentions_every_option() {
        let text = include_str!("../../config/memd.toml");
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
            "listen =",
            "token_file =",
            "token_env =",
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
            // Values that overflowed deadlines or SQLite's i32 busy timeout.
            (
                "[store]\nbusy_timeout_ms = 99999999999\n",
                "store.busy_timeout_ms",
            ),
            (
                "[dream]\nmax_pass_s = 18446744073709551615\n",
                "dream.max_pass_s",
            ),
            (
                "[dream]\nidle_after_s = 18446744073709551615\n",
                "dream.idle_after_s",
            ),
            (
                "[dream]\nsession_idle_s = 9223372036854775807\n",
                "dream.session_idle_s",
            ),
            (
                "[checkpoint]\ninterval_s = 18446744073709551615\n",
                "checkpoint.interval_s",
            ),
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
            ("[learn]\nreinforce_step = 1.5\n", "learn.reinforce_step"),
            ("[learn]\nreinforce_step = nan\n", "learn.reinforce_step"),
            ("[learn]\necho_min_chars = 0\n", "learn.echo_min_chars"),
            (
                "[learn]\necho_min_chars = 20\necho_window_chars = 10\n",
                "learn.echo_window_chars",
            ),
            // NaN fused scores; a retry delay that overflowed its Duration.
            (
                "[recall]\nneighbor_weight = nan\n",
                "recall.neighbor_weight",
            ),
            ("[recall]\nentity_boost = inf\n", "recall.entity_boost"),
            ("[recall]\nmax_term_df = -0.5\n", "recall.max_term_df"),
            (
                "[sources]\nretry_delay_s = 1e300\n",
                "sources.retry_delay_s",
            ),
            (
                "[[sources.sqlite]]\nname = \"s\"\npath = \"/x.db\"\nallowed_tables = [\"a;b\"]\n",
                "sources.sqlite[s].allowed_tables",
            ),
        ] {
            let err = Config::from_toml(text, "f").unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} -> {err}");
        }
    }

    fn env(list: &[(&str, &str)]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    /// Loads `text` as a config file with `vars` as the environment.
    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memd.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(Some(&path), env(vars))
    }

    #[test]
    fn environment_overrides_the_file() {
        let l = load(
            "[api]\nrequest_timeout_s = 5\nmax_connections = 8\n",
            &[
                ("MEMD_API__REQUEST_TIMEOUT_S", "60"),
                ("MEMD_DAEMON__SOCKET", "/tmp/x.sock"),
                ("MEMD_DREAM__ENABLED", "false"),
                ("MEMD_DAEMON__ALLOWED_UIDS", "[1000, 0]"),
                ("MEMD_DREAM__OPENAI__MODEL", "qwen2"),
                ("MEMD_RECALL__FTS_WEIGHT", "2"),
                ("MEMD_SOCKET", "/elsewhere.sock"),
                ("MEMD_EMBED_API_KEY", "not-config"),
            ],
        )
        .unwrap();
        let c = &l.config;
        assert_eq!(c.api.request_timeout_s, 60);
        assert_eq!(c.api.max_connections, 8, "the file's other keys stay");
        assert_eq!(c.daemon.socket.as_deref(), Some(Path::new("/tmp/x.sock")));
        assert!(!c.dream.enabled);
        assert_eq!(c.daemon.allowed_uids, Some(vec![1000, 0]));
        assert_eq!(c.dream.openai.model, "qwen2");
        assert_eq!(c.recall.fts_weight, 2.0, "an integer where a float goes");
        assert_eq!(l.env.len(), 6);
        let d = l.describe();
        assert!(d.contains("memd.toml + environment (MEMD_API__"), "{d}");
    }

    #[test]
    fn environment_alone_overrides_the_defaults() {
        let l = Config::load_with_env(
            Some(Path::new("/nonexistent/memd.toml")),
            env(&[("MEMD_LOG__LEVEL", "debug")]),
        );
        assert!(
            matches!(l, Err(ConfigError::Read { .. })),
            "an explicit file must exist"
        );
        let o = env::overrides(env(&[("MEMD_LOG__LEVEL", "debug")])).unwrap();
        let c = Config::assemble("", "built-in defaults", &o).unwrap();
        assert_eq!(c.log.level, "debug");
        let o = env::overrides(env(&[("MEMD_LOG__LEVEL", "inf")])).unwrap();
        let err = Config::assemble("", "built-in defaults", &o).unwrap_err();
        assert!(err.to_string().contains("MEMD_LOG__LEVEL"), "{err}");
        let l = load("", &[]).unwrap();
        assert!(l.env.is_empty());
        assert_eq!(l.config, Config::default());
    }

    #[test]
    fn environment_text_where_text_is_wanted() {
        let c = load(
            "",
            &[
                ("MEMD_EMBED__MODEL", "123"),
                ("MEMD_DAEMON__SOCKET_MODE", "660"),
                ("MEMD_LOG__LEVEL", "memd=debug,info"),
            ],
        )
        .unwrap()
        .config;
        assert_eq!(c.embed.model, "123");
        assert_eq!(c.daemon.socket_mode.0, 0o660);
        assert_eq!(c.log.level, "memd=debug,info");
    }

    #[test]
    fn environment_unknown_key_names_the_variable() {
        for (var, name) in [
            ("MEMD_API__REQUEST_TIMOUT", "request_timout"),
            ("MEMD_DEAMON__SOCKET", "deamon"),
            ("MEMD_DREAM__OPENAI__MODLE", "modle"),
        ] {
            let err = load("[api]\nmax_connections = 8\n", &[(var, "1")])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("environment variable {var}")),
                "{err}"
            );
            assert!(err.contains(name), "{err}");
            assert!(err.contains("unknown field"), "{err}");
        }
    }

    #[test]
    fn environment_errors_name_variable_and_key() {
        let err = load("", &[("MEMD_API__MAX_CONNECTIONS", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable MEMD_API__MAX_CONNECTIONS")
                && err.contains("api.max_connections"),
            "{err}"
        );
        let err = load("", &[("MEMD_API__MAX_BODY_BYTES", "big")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MEMD_API__MAX_BODY_BYTES") && err.contains("api.max_body_bytes"),
            "{err}"
        );
        let err = load("", &[("MEMD_DREAM__ENABLED", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("MEMD_DREAM__ENABLED"), "{err}");
        // A problem between keys names the file and the variables.
        let err = load(
            "[recall]\ndefault_k = 50\n",
            &[("MEMD_RECALL__MAX_K", "20")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("memd.toml with environment MEMD_RECALL__MAX_K")
                && err.contains("recall.default_k"),
            "{err}"
        );
        // Errors in the file still name the file.
        let err = load("[api]\nbogus = 1\n", &[("MEMD_LOG__LEVEL", "info")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config file") && err.contains("bogus"),
            "{err}"
        );
    }
}
