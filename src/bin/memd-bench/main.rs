//! memd-bench: the benchmarks of memd, a binary of their own so the
//! daemon carries none of them. Each drives memd the way a client would
//! (over the socket of a daemon it is given or starts itself) or times a
//! part of the library in process. Timing lives here, never in tests.

mod cli;
mod core;
mod daemon;
mod dream;
mod embed;
mod firewall;
mod sources;
mod spawn;
mod vectors;

use std::process::ExitCode;

use clap::Parser;

use cli::{BenchCommand, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("memd-bench: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            BenchCommand::Embed {
                model_dir,
                threads,
                json,
            } => embed::run(&model_dir, threads, json).await,
            BenchCommand::Core(args) => core::run(args).await,
            BenchCommand::Vectors(args) => vectors::run(args).await,
            BenchCommand::Gists {
                file,
                model_dir,
                gist_chars,
                mmr_lambda,
                json,
            } => dream::gists(file, model_dir, gist_chars, mmr_lambda, json).await,
            BenchCommand::Dream {
                socket,
                sessions,
                turns,
                queries,
                json,
            } => dream::pass(socket, sessions, turns, queries, json).await,
            BenchCommand::Sources(args) => sources::run(args).await,
            BenchCommand::Firewall {
                file,
                locomo,
                verbose,
                json,
            } => firewall::run(&file, locomo.as_deref(), json, verbose),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memd-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// xorshift64*: deterministic, dependency-free, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "pe", "zo", "ri", "mu", "sa", "ne", "to",
    "ba", "le", "fi", "go", "ha", "ju", "ke", "ma",
];

fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let len = 2 + rng.below(3);
            (0..len)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect()
        })
        .collect()
}

/// Word frequencies follow a rough Zipf law, like real text.
fn sentence(rng: &mut Rng, vocab: &[String], words: usize) -> String {
    (0..words)
        .map(|_| {
            let r = rng.below(vocab.len()) + 1;
            let idx = (vocab.len() as f64).powf(rng.below(1000) as f64 / 1000.0) as usize;
            vocab[(idx + r / 97) % vocab.len()].as_str()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn peak_rss_kib(pid: u64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
