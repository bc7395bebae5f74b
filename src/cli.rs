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
    /// Validate the configuration and print it with every default filled in.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Benchmarks against a running daemon.
    Bench(BenchArgs),
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
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time the local embedding model in process (same workload as
    /// shared/bench/embed_peer.py): query latency, sentences/s at batch 1 and 32.
    Embed {
        /// Directory with config.json, tokenizer.json, model.safetensors.
        #[arg(long, value_name = "DIR")]
        model_dir: PathBuf,
        /// Inference threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Import synthetic exchanges over the socket, then time recalls.
    Core(CoreArgs),
    /// memd's vector index on a shared/bench/gen.py data set, measured like
    /// shared/bench/peers.py measures the peer stores (same results file).
    Vectors(VectorsArgs),
    /// Gist quality on a LoCoMo-format file: extractive vs lead-k against
    /// the data set's session summaries (ROUGE-1/L F1, MiniLM cosine).
    Gists {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The local model (cosines are MiniLM's); without it, the hash embedder.
        #[arg(long, value_name = "DIR")]
        model_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 700)]
        gist_chars: usize,
        #[arg(long, default_value_t = 0.7)]
        mmr_lambda: f64,
        #[arg(long)]
        json: bool,
    },
    /// A running daemon gets N synthetic sessions; a forced pass until
    /// caught up is timed, with recall latency idle and during the pass.
    Dream {
        #[arg(long, value_name = "PATH")]
        socket: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        #[arg(long, default_value_t = 10)]
        turns: usize,
        /// Recalls in the idle round.
        #[arg(long, default_value_t = 300)]
        queries: usize,
        #[arg(long)]
        json: bool,
    },
    /// Database sources: full-sync rows/s and change → recallable latency
    /// (scripts/bench-sources.sh also starts a PostgreSQL for it).
    Sources(SourcesBenchArgs),
}

#[derive(Debug, Args)]
pub struct VectorsArgs {
    /// Directory written by `gen.py --out DIR`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Results file to append to (default DIR/results.jsonl, as peers.py).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Use only the first N queries.
    #[arg(long, value_name = "N")]
    pub max_queries: Option<usize>,
    /// Cells scanned per query; one results row per value.
    #[arg(long, value_delimiter = ',', default_value = "8,16,24,32,48")]
    pub nprobe: Vec<usize>,
    /// Cells per square root of the vector count (index.cell_factor).
    #[arg(long)]
    pub cell_factor: Option<f64>,
    /// Where the layout file is written.
    #[arg(long, value_name = "DIR", default_value = "/tmp/memd-bench-work")]
    pub workdir: PathBuf,
    /// Also measure end to end: start a release daemon (this binary) on a
    /// temporary data dir, import the vectors as exchanges, and time
    /// `/v1/recall` in vector and hybrid mode over its socket.
    #[arg(long)]
    pub e2e: bool,
    /// index.nprobe of the daemon started by --e2e.
    #[arg(long, default_value_t = 16)]
    pub e2e_nprobe: usize,
    /// Only the end-to-end measurement.
    #[arg(long, requires = "e2e")]
    pub skip_in_process: bool,
}

#[derive(Debug, Args)]
pub struct CoreArgs {
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    pub exchanges: usize,
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Exchanges per import request.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Concurrent import connections.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// After the recalls, take a snapshot while a client keeps writing,
    /// and report its time, size and the writes' worst latency meanwhile.
    #[arg(long)]
    pub checkpoint: bool,
    /// Client counts for concurrent recall rounds, e.g. 1,4,16.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub concurrent: Vec<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
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

#[derive(Debug, Args)]
pub struct SourcesBenchArgs {
    /// Rows of the synced table.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Embedder of the daemon: hash or local.
    #[arg(long, default_value = "hash")]
    pub embed: String,
    /// The local model's directory (with --embed local).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Stop waiting for the embeddings after this many seconds (reported as such).
    #[arg(long, default_value_t = 1800)]
    pub embed_timeout_s: u64,
    /// Changes timed from write to recallable, per mode.
    #[arg(long, default_value_t = 50)]
    pub changes: usize,
    /// A PostgreSQL server to use (a table memd_bench_items is made and dropped).
    #[arg(long, value_name = "URL")]
    pub pg_url: Option<String>,
    /// Environment variable holding its password.
    #[arg(long, value_name = "VAR")]
    pub pg_password_env: Option<String>,
    /// Only PostgreSQL.
    #[arg(long)]
    pub skip_sqlite: bool,
    /// Read SQLite changes by an `updated_at` cursor column instead of
    /// comparing every row's fingerprint.
    #[arg(long)]
    pub sqlite_cursor: bool,
    #[arg(long, value_name = "DIR", default_value = "/tmp/memd-bench-sources")]
    pub workdir: PathBuf,
    /// One JSON object per source type.
    #[arg(long)]
    pub json: bool,
}
