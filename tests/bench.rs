//! `memd-bench` runs end to end on tiny inputs: against a daemon it is
//! given (`core`) and with daemons it starts itself (`sources`). Only that
//! it works and reports is checked; timing is the benchmarks' business.

mod common;

use std::process::Command;

use common::{BIN, Daemon, stderr, stdout};
use serde_json::Value;

const BENCH: &str = env!("CARGO_BIN_EXE_memd-bench");

#[test]
fn core_against_a_running_daemon() {
    let d = Daemon::start("[embed]\nprovider = \"hash\"");
    let out = Command::new(BENCH)
        .arg("core")
        .arg("--socket")
        .arg(&d.socket)
        .args(["--exchanges", "300", "--queries", "20", "--batch", "100"])
        .args(["--concurrent", "1,2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["exchanges"], 300, "{v}");
    assert_eq!(v["concurrent_recall"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn sources_starts_its_own_daemons() {
    let work = tempfile::Builder::new()
        .prefix("memd-bench-t")
        .tempdir_in("/tmp")
        .unwrap();
    let out = Command::new(BENCH)
        .args(["sources", "--rows", "200", "--changes", "2", "--json"])
        .arg("--workdir")
        .arg(work.path())
        .env_remove("MEMD_BIN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["source"], "sqlite", "{v}");
    assert_eq!(v["rows"], 200, "{v}");
    assert_eq!(v["change_watch_fingerprint_ms"]["n"], 2, "{v}");
    // The daemon it started was stopped cleanly and left its log.
    let log = work.path().join("sqlite-hash/daemon.log");
    assert!(log.is_file(), "no {}", log.display());
}

#[test]
fn memd_bench_is_gone_from_memd_and_says_where_it_went() {
    let out = Command::new(BIN)
        .args(["bench", "core", "--socket", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("memd-bench core --socket /nonexistent"),
        "{}",
        stderr(&out)
    );
}
