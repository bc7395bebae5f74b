//! memd-bench's command line (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "memd-bench",
    version,
    about = "Benchmarks of memd: in process, or against a daemon over its socket"
)]
pub struct Cli {
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
    /// The write firewall's threat scanner on a labelled JSONL corpus
    /// (shared/data/injection/dev.jsonl): detection per attack kind, false
    /// positives per benign kind, scan throughput.
    Firewall {
        /// One JSON object a line: `text`, `label` (attack|benign), `kind`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also count false positives over every turn of this LoCoMo file.
        #[arg(long, value_name = "FILE")]
        locomo: Option<PathBuf>,
        /// Print each missed attack and each false positive to stderr.
        #[arg(long)]
        verbose: bool,
        #[arg(long)]
        json: bool,
    },
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
    /// Also measure end to end: start a daemon (the `memd` beside this
    /// binary, or $MEMD_BIN) on a temporary data dir, import the vectors as
    /// exchanges, and time `/v1/recall` in vector and hybrid mode over its
    /// socket.
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
