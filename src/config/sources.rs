//! `[sources]`: database and folder sources.
//!
//! Parsing checks shapes (names, globs, cron expressions, identifiers that
//! cannot be SQL). Whether a table or column exists is checked against the
//! source's own schema when the source is opened (the sources module),
//! at start-up and on reload.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::check::KeyError;
use super::check::{at_least, between, first};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    /// Recall weight of a new concept (users may edit it per concept).
    pub default_strength: f64,
    /// Rows read and written per step of a full sync.
    pub batch_size: usize,
    /// Retries of a failed sync step before the source is marked down.
    pub max_retries: u32,
    /// Linear backoff: the n-th retry waits n × this many seconds.
    pub retry_delay_s: f64,
    /// Quiet time after the last file-system event before a watched SQLite
    /// file or folder is read.
    pub debounce_ms: u64,
    /// Seconds between attempts to reach a source that is down.
    pub down_retry_s: u64,
    /// Target size of a document chunk, in characters.
    pub chunk_chars: usize,
    /// Files larger than this are skipped (and reported).
    pub max_file_bytes: u64,
    pub sqlite: Vec<SqliteSource>,
    pub postgres: Vec<PostgresSource>,
    pub files: Vec<FilesSource>,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        Self {
            default_strength: 0.85,
            batch_size: 50,
            max_retries: 3,
            retry_delay_s: 0.5,
            debounce_ms: 200,
            down_retry_s: 10,
            chunk_chars: 1200,
            max_file_bytes: 8 * 1024 * 1024,
            sqlite: Vec::new(),
            postgres: Vec::new(),
            files: Vec::new(),
        }
    }
}

/// Per-table options of a database source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TableConfig {
    /// Unset: `id` when the table has it, else SQLite's rowid (PostgreSQL:
    /// the primary key).
    pub id_column: Option<String>,
    /// Unset: every text-like column.
    pub text_columns: Option<Vec<String>>,
    /// A column that grows on every insert and update (a timestamp or a
    /// counter); changes are read by it. Unset: rows are compared by
    /// fingerprint.
    pub cursor_column: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqliteSource {
    pub name: String,
    pub path: PathBuf,
    pub allowed_tables: Vec<String>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Optional cron expression (sec min hour day month weekday) for a full sync.
    #[serde(default)]
    pub full_sync_schedule: Option<String>,
    /// Watch the file (and its WAL) for changes.
    #[serde(default = "yes")]
    pub watch: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostgresSource {
    pub name: String,
    /// `postgres://user@host:port/db`; the password never goes here.
    pub url: String,
    /// Environment variable holding the password (unset: none is sent).
    #[serde(default)]
    pub password_env: Option<String>,
    pub allowed_tables: Vec<String>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Seconds between incremental reads by the cursor column.
    #[serde(default = "default_poll")]
    pub poll_interval_s: u64,
    /// Cron expression (sec min hour day month weekday) for a full sync,
    /// which also finds deleted rows.
    #[serde(default)]
    pub full_sync_schedule: Option<String>,
    /// LISTEN on this channel for the trigger printed by
    /// `memd sources trigger-sql` (unset: poll only).
    #[serde(default)]
    pub notify_channel: Option<String>,
    /// Seconds to wait for a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilesSource {
    pub name: String,
    pub path: PathBuf,
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

/// The namespace a source writes into unless it names one: the store's
/// default namespace (a test keeps the two equal; the store depends on the
/// configuration, not the other way round).
/// The store's default namespace (kept equal by a store test).
pub const DEFAULT_NAMESPACE: &str = "default";

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}
fn yes() -> bool {
    true
}
fn default_poll() -> u64 {
    5
}
fn default_connect_timeout() -> u64 {
    5
}
pub fn default_include() -> Vec<String> {
    vec!["**/*.md".into(), "**/*.txt".into(), "**/*.jsonl".into()]
}

/// True for a plain SQL identifier: a letter or `_`, then letters, digits,
/// `_` (at most 63 bytes, PostgreSQL's limit). Anything else — quotes,
/// spaces, semicolons — is refused before it could reach a query.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

fn is_source_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl SourcesConfig {
    /// Shape checks that need no source; the first problem found.
    pub fn validate(&self) -> Result<(), KeyError> {
        let err = |key: String, message: String| Err(KeyError { key, message });
        first([
            between("sources.default_strength", self.default_strength, 0.0, 10.0),
            between("sources.batch_size", self.batch_size, 1, 10_000),
            // Doubled per attempt into a Duration: 1e300 panicked the retry policy.
            between("sources.retry_delay_s", self.retry_delay_s, 0.0, 3600.0),
            at_least("sources.chunk_chars", self.chunk_chars, 100),
            at_least("sources.down_retry_s", self.down_retry_s, 1),
        ])?;
        let mut names = std::collections::HashSet::new();
        let all_names = self
            .sqlite
            .iter()
            .map(|s| ("sqlite", &s.name))
            .chain(self.postgres.iter().map(|s| ("postgres", &s.name)))
            .chain(self.files.iter().map(|s| ("files", &s.name)));
        for (kind, name) in all_names {
            if !is_source_name(name) {
                return err(
                    format!("sources.{kind}.name"),
                    format!("`{name}` must be 1-64 letters, digits, `_` or `-`"),
                );
            }
            if !names.insert(name.clone()) {
                return err(
                    format!("sources.{kind}.name"),
                    format!("`{name}` names two sources"),
                );
            }
        }
        for s in &self.sqlite {
            let p = format!("sources.sqlite[{}]", s.name);
            check_tables(&p, &s.allowed_tables, &s.tables)?;
            if s.path.as_os_str().is_empty() {
                return err(format!("{p}.path"), "must not be empty".into());
            }
            check_schedule(&p, s.full_sync_schedule.as_deref())?;
        }
        for s in &self.postgres {
            let p = format!("sources.postgres[{}]", s.name);
            check_tables(&p, &s.allowed_tables, &s.tables)?;
            let cfg: tokio_postgres::Config = match s.url.parse() {
                Ok(c) => c,
                Err(e) => return err(format!("{p}.url"), format!("not a PostgreSQL URL: {e}")),
            };
            if cfg.get_password().is_some() {
                return err(
                    format!("{p}.url"),
                    "carries a password; put it in the environment variable named by password_env"
                        .into(),
                );
            }
            if s.poll_interval_s == 0 {
                return err(format!("{p}.poll_interval_s"), "must be at least 1".into());
            }
            if let Some(ch) = &s.notify_channel
                && !is_identifier(ch)
            {
                return err(
                    format!("{p}.notify_channel"),
                    format!("`{ch}` is not a plain identifier"),
                );
            }
            check_schedule(&p, s.full_sync_schedule.as_deref())?;
        }
        for s in &self.files {
            let p = format!("sources.files[{}]", s.name);
            if s.path.as_os_str().is_empty() {
                return err(format!("{p}.path"), "must not be empty".into());
            }
            if s.include.is_empty() {
                return err(format!("{p}.include"), "must name at least one glob".into());
            }
            for (key, list) in [("include", &s.include), ("exclude", &s.exclude)] {
                for g in list {
                    if let Err(e) = globset::Glob::new(g) {
                        return err(format!("{p}.{key}"), format!("`{g}`: {e}"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_tables(
    prefix: &str,
    allowed: &[String],
    tables: &BTreeMap<String, TableConfig>,
) -> Result<(), KeyError> {
    let err = |key: String, message: String| Err(KeyError { key, message });
    if allowed.is_empty() {
        return err(
            format!("{prefix}.allowed_tables"),
            "is required and must name at least one table".into(),
        );
    }
    for t in allowed {
        if !is_identifier(t) {
            return err(
                format!("{prefix}.allowed_tables"),
                format!("`{t}` is not a plain table name (letters, digits, `_`)"),
            );
        }
    }
    for (t, tc) in tables {
        let key = format!("{prefix}.tables.{t}");
        if !allowed.contains(t) {
            return err(key, format!("`{t}` is not in allowed_tables"));
        }
        let cols = tc
            .id_column
            .iter()
            .map(|c| ("id_column", c))
            .chain(tc.cursor_column.iter().map(|c| ("cursor_column", c)))
            .chain(
                tc.text_columns
                    .iter()
                    .flatten()
                    .map(|c| ("text_columns", c)),
            );
        for (k, c) in cols {
            if !is_identifier(c) {
                return err(
                    format!("{key}.{k}"),
                    format!("`{c}` is not a plain column name"),
                );
            }
        }
        if tc.text_columns.as_ref().is_some_and(|c| c.is_empty()) {
            return err(
                format!("{key}.text_columns"),
                "must name at least one column (or be left out)".into(),
            );
        }
    }
    Ok(())
}

fn check_schedule(prefix: &str, schedule: Option<&str>) -> Result<(), KeyError> {
    if let Some(s) = schedule
        && let Err(e) = super::cron::parse(s)
    {
        return Err(KeyError {
            key: format!("{prefix}.full_sync_schedule"),
            message: format!("`{s}`: {e}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SourcesConfig, String> {
        let c: SourcesConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()
            .map_err(|e| format!("{}: {}", e.key, e.message))?;
        Ok(c)
    }

    #[test]
    fn identifiers() {
        for ok in ["products", "_x", "T1_a"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1x", "a b", "x;drop table y", "\"x\"", "a-b", "é"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn issue_example_parses() {
        let c = parse(
            r#"
[[sqlite]]
name = "shop"
path = "/srv/shop/app.db"
allowed_tables = ["products"]
[sqlite.tables.products]
id_column = "id"
text_columns = ["name", "description"]
cursor_column = "updated_at"

[[postgres]]
name = "crm"
url = "postgres://memd@127.0.0.1:5432/crm"
password_env = "MEMD_CRM_PASSWORD"
allowed_tables = ["customers"]
poll_interval_s = 5
full_sync_schedule = "0 0 4 * * *"

[[files]]
name = "notes"
path = "/home/me/notes"
include = ["**/*.md", "**/*.txt", "**/*.jsonl"]
"#,
        )
        .unwrap();
        assert_eq!(
            c.sqlite[0].tables["products"].id_column.as_deref(),
            Some("id")
        );
        assert_eq!(c.postgres[0].namespace, "default");
    }

    #[test]
    fn refusals_name_the_key() {
        for (text, key) in [
            (
                "[[sqlite]]\nname='a'\npath='/x'\nallowed_tables=[]\n",
                "sources.sqlite[a].allowed_tables",
            ),
            (
                "[[sqlite]]\nname='a'\npath='/x'\nallowed_tables=['t; DROP TABLE t']\n",
                "sources.sqlite[a].allowed_tables",
            ),
            (
                "[[sqlite]]\nname='a'\npath='/x'\nallowed_tables=['t']\n[sqlite.tables.u]\n",
                "sources.sqlite[a].tables.u",
            ),
            (
                "[[sqlite]]\nname='a'\npath='/x'\nallowed_tables=['t']\n[sqlite.tables.t]\ntext_columns=['a b']\n",
                "sources.sqlite[a].tables.t.text_columns",
            ),
            (
                "[[postgres]]\nname='p'\nurl='postgres://u:secret@h/db'\nallowed_tables=['t']\n",
                "sources.postgres[p].url",
            ),
            (
                "[[postgres]]\nname='p'\nurl='postgres://u@h/db'\nallowed_tables=['t']\nfull_sync_schedule='every day'\n",
                "sources.postgres[p].full_sync_schedule",
            ),
            (
                "[[files]]\nname='n'\npath='/x'\ninclude=['[']\n",
                "sources.files[n].include",
            ),
            (
                "[[files]]\nname='n'\npath='/x'\n[[files]]\nname='n'\npath='/y'\n",
                "sources.files.name",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(key), "{text:?} -> {e}");
        }
    }
}
