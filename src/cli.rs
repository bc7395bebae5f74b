//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "memd",
    version,
    about = "Long-term memory daemon for AI agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (systemd runs exactly this).
    Daemon {
        /// Configuration file (else $MEMD_CONFIG, the XDG path, /etc/memd/memd.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Talk to a running daemon over its socket.
    Ctl(CtlArgs),
    /// Serve the Model Context Protocol for an agent app (Claude Desktop,
    /// Cursor, …) on stdin/stdout, or Streamable HTTP on loopback with
    /// --http, bridging to the running daemon.
    Mcp(McpArgs),
    /// Validate the configuration and print it with every default filled in.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The benchmarks moved to their own binary, `memd-bench`; this only
    /// says so.
    #[command(hide = true, disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Source helpers that need no daemon.
    Sources(SourcesArgs),
    /// Replace the database with a snapshot (the daemon must be stopped).
    /// The current database is moved aside, never deleted.
    Restore {
        /// A snapshot file (see `memd ctl checkpoints`).
        snapshot: PathBuf,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Socket of the daemon (else daemon.socket from the config, else the default).
    #[arg(long, value_name = "PATH", global = true, env = "MEMD_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Configuration file to take the socket path from.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Socket of the daemon (else daemon.socket from the config, else the default).
    #[arg(long, value_name = "PATH", env = "MEMD_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Configuration file to take the socket path from.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The one namespace this server reads and writes (default "default").
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,
    /// Seconds each call to the daemon may take before it is reported as
    /// a timeout.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout_s: u64,
    /// Serve Streamable HTTP at this loopback address (e.g. 127.0.0.1:8765;
    /// port 0 picks a free one) instead of stdio; clients must send the
    /// bearer token.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// File holding the bearer token for --http (owner-only, e.g. mode
    /// 0600); without it the token is taken from $MEMD_MCP_TOKEN.
    #[arg(long, value_name = "PATH", requires = "http")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Daemon status: version, paths, embedder, counts.
    Status,
    /// Store one exchange.
    Remember {
        #[arg(long, value_name = "SESSION")]
        session: String,
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, default_value = "user")]
        role: String,
        #[arg(long, value_name = "ID")]
        ext_id: Option<String>,
        /// RFC 3339 time of the exchange (default: now).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The text; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Import NDJSON exchanges (one JSON object per line with session_id); `-` reads stdin.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Find the memories that match a query.
    Recall {
        #[arg(long, short = 'k')]
        k: Option<usize>,
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
        /// Show why each result ranked (BM25 rank, vector rank, fused score).
        #[arg(long)]
        explain: bool,
        /// hybrid (default), lexical or vector.
        #[arg(long, value_parser = ["hybrid", "lexical", "vector"])]
        mode: Option<String>,
        /// Keep results while their text fits this many characters.
        #[arg(long, value_name = "CHARS")]
        budget: Option<usize>,
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
    },
    /// List the sessions of a namespace, most recent first.
    Sessions {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show a session's exchanges, oldest first.
    History { session: String },
    /// Delete a session and all its exchanges.
    ForgetSession { session: String },
    /// Re-embed rows made by another model (with --all: every row) in the background.
    Reembed {
        #[arg(long)]
        all: bool,
    },
    /// Take a checkpoint now: WAL truncation and a verified snapshot.
    Checkpoint,
    /// List the snapshots on disk, newest first.
    Checkpoints,
    /// Write all memory (every tier) as JSONL to FILE (`-` for stdout).
    Export {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Load an export into an empty store.
    ImportAll {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Run the dream cycle now (or `dream runs` to list past passes).
    #[command(args_conflicts_with_subcommands = true)]
    Dream {
        #[command(subcommand)]
        list: Option<DreamList>,
        /// Only this namespace (default: every namespace).
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// Act whatever the drive levels.
        #[arg(long)]
        force: bool,
        /// Only this drive: continuity, coherence or curiosity.
        #[arg(long, value_parser = ["continuity", "coherence", "curiosity"])]
        drive: Option<String>,
        /// Report what would run; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Repeat bounded passes until the backlog is empty.
        #[arg(long)]
        until_caught_up: bool,
        /// Wait for the passes to finish and print what they did.
        #[arg(long)]
        wait: bool,
    },
    /// A session's gist.
    Gist { session: String },
    /// The monthly eras of a namespace.
    Eras {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// The profile of a namespace.
    Profile {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// The narrative of a namespace.
    Narrative {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// The agent's self-state in a namespace.
    #[command(name = "self")]
    SelfState {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// The context pack for a query: profile, narrative, self, gists, eras,
    /// concepts, chunks, exchanges and the session's recent turns.
    Context {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
        /// Characters the pack may hold (default 4000).
        #[arg(long, value_name = "CHARS")]
        budget: Option<usize>,
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
    },
    /// Each source (database or folder) with its state and sync stats.
    Sources,
    /// Sync a source now: changes since the last sync, or everything with --full.
    Sync {
        source: String,
        /// Only this table.
        #[arg(long, value_name = "TABLE")]
        table: Option<String>,
        /// Read every row (also removes concepts whose rows are gone).
        #[arg(long)]
        full: bool,
    },
    /// Show a concept (`table:row_id`); with options, edit or remove it in
    /// memory (the source is never touched).
    Concept {
        name: String,
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// Set its recall weight.
        #[arg(long, value_name = "X")]
        strength: Option<f64>,
        /// Replace its text in memory (an overlay; the source keeps its own).
        #[arg(long, value_name = "TEXT", conflicts_with = "clear_text")]
        text: Option<String>,
        /// Drop the overlay: back to the source's text.
        #[arg(long)]
        clear_text: bool,
        /// Remove it from memory (syncing will not bring it back).
        #[arg(long, conflicts_with_all = ["strength", "text", "clear_text", "restore"])]
        remove: bool,
        /// Bring a removed concept back.
        #[arg(long)]
        restore: bool,
    },
    /// The facts tier: list, show, add, review, promote, reject, forget, history.
    Facts {
        #[command(subcommand)]
        command: FactsCommand,
    },
    /// The write firewall's quarantine: list, release, drop.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Where a fact (`ID` or `fact:ID`) or an exchange (`exchange:ID`) came
    /// from, and every recorded interaction that used it, newest first.
    Why {
        #[arg(value_name = "ID")]
        id: String,
        /// At most this many interactions.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// The interaction log (prompts, context ids, responses).
    Interactions {
        #[command(subcommand)]
        command: InteractionsCommand,
    },
    /// The web inspector's address with its token ([ui] in the config).
    Ui,
}

/// A row is named `TIER/ID` (`exchange/42`, `fact/7`, `concept/9`,
/// `chunk/3`), as `list` prints it; a bare number is an exchange.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Rows the firewall quarantined (and, with --flagged or --all, flagged), newest first.
    List {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// Flagged rows (stored and usable) instead of quarantined ones.
        #[arg(long, conflicts_with = "all")]
        flagged: bool,
        /// Quarantined and flagged rows.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Let a row into recall and context packs (at once).
    Release {
        #[arg(value_name = "TIER/ID")]
        id: String,
    },
    /// Delete a marked row for good (from its table, full-text search and vectors).
    Drop {
        #[arg(value_name = "TIER/ID")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InteractionsCommand {
    /// Recorded interactions of a namespace, newest first.
    List {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, value_name = "SESSION")]
        session: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum FactsCommand {
    /// Facts of a namespace, newest first (default: live facts and candidates).
    List {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// candidate, active, superseded or invalid.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        slot: Option<String>,
        /// RFC 3339: what memd believed at that instant.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Superseded and rejected facts too.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One fact.
    Show { id: i64 },
    /// Every version of a fact, oldest first.
    History { id: i64 },
    /// Write a fact.
    Add {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// user_profile, preference, env, project, event or other.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// The attribute it sets (residence, employer, …).
        #[arg(long)]
        slot: Option<String>,
        /// A name it mentions (repeatable).
        #[arg(long = "entity", value_name = "NAME")]
        entities: Vec<String>,
        /// Put it in the review queue instead of making it active.
        #[arg(long)]
        candidate: bool,
        #[arg(long)]
        confidence: Option<f64>,
        /// RFC 3339: since when it is true (default: now).
        #[arg(long, value_name = "TIME")]
        valid_from: Option<String>,
        /// The id of the live fact it replaces.
        #[arg(long, value_name = "ID")]
        supersedes: Option<i64>,
        /// The text; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// The review queue: candidates waiting to be promoted or rejected.
    Review {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Make a candidate active.
    Promote { id: i64 },
    /// Mark a candidate invalid.
    Reject { id: i64 },
    /// Delete a fact everywhere (the one hard delete).
    Forget { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum DreamList {
    /// Past passes, newest first.
    Runs {
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct SourcesArgs {
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: SourcesCommand,
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Print the SQL of a trigger that announces a PostgreSQL table's
    /// changes on the source's notify_channel. memd never installs it: run
    /// it yourself (e.g. `| psql …`) as the table's owner.
    TriggerSql { source: String, table: String },
}
