//! memd: a long-term memory daemon for AI agents on embedded SQLite.
//!
//! Layers, bottom up: [`config`], [`store`] (SQLite + the writer thread),
//! [`index`] (in-memory vectors), [`embed`] (providers and the background
//! queue), [`recall`] (hybrid search), [`checkpoint`] and [`restore`]
//! (snapshots), [`api`] (HTTP over a Unix socket), [`daemon`] (lifecycle),
//! and the clients [`ctl`] and [`mcp`] (the Model Context Protocol server).
//! [`ui`] is the read-only web inspector the daemon serves next to the API.
//! [`firewall`] scans text bound for a prompt for attacks on the model; it
//! depends on nothing else of memd's, and [`screen`] applies the
//! `[firewall]` policy to its verdicts on every write. The benchmarks are the `memd-bench` binary
//! (src/bin/memd-bench/), a user of this library's public API.

pub mod api;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod cron;
pub mod ctl;
pub mod daemon;
pub mod dream;
pub mod embed;
pub mod events;
pub mod firewall;
pub mod fsperm;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod index;
pub mod ingest;
pub mod learn;
pub mod logging;
pub mod mcp;
pub mod recall;
pub mod restore;
pub mod screen;
pub mod slots;
pub mod sources;
pub mod store;
pub mod text;
pub mod time;
pub mod ui;
pub mod unicode;
pub mod wire;
