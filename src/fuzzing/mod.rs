//! Fuzzing entry points (issue 17): one function per target, shared by the
//! cargo-fuzz crate in `fuzz/` (run by `scripts/fuzz.sh`) and by
//! `tests/fuzz_regressions.rs`, which replays every input a fuzzer ever
//! failed on. Each takes arbitrary bytes and panics only when it finds a
//! bug: a panic inside memd, a 5xx answer, or a broken invariant.
//!
//! The HTTP targets run the real router ([`crate::api::router`]) in
//! process, over a real store in a temp dir built once per process with
//! the hashing embedder and one SQLite source. Routes left out, and why:
//! `POST /v1/checkpoint` (writes a snapshot per call; it takes no body),
//! `GET /v1/export` except after an import (streams the whole store).
//! `POST /v1/dream` runs with `wait` forced on, so no pass outlives its
//! input. Not an API of the daemon.

mod config;
mod fts_query;
mod harness;
mod ids;
mod import_line;
mod route_bodies;

pub use config::config;
pub use fts_query::fts_query;
pub use harness::Harness;
pub use ids::ids;
pub use import_line::import_line;
pub use route_bodies::{BODY_ROUTES, route_bodies};
