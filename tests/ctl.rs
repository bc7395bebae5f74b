//! `memd ctl` against the real daemon: output, --json and exit codes.

mod common;

use common::{Daemon, stderr, stdout};
use serde_json::Value;

#[test]
fn remember_recall_history_sessions_forget() {
    let d = Daemon::start("");
    let out = d.ctl(&[
        "remember",
        "--session",
        "trip",
        "--ext-id",
        "t1",
        "--at",
        "2024-06-01T09:00:00Z",
        "We",
        "booked",
        "a",
        "ferry",
        "to",
        "Hydra",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored exchange 1 in session trip"),
        "{}",
        stdout(&out)
    );
    let out = d.ctl(&[
        "remember",
        "--session",
        "trip",
        "--ext-id",
        "t1",
        "We booked a ferry to Hydra",
    ]);
    assert!(
        stdout(&out).contains("already stored as exchange 1"),
        "{}",
        stdout(&out)
    );
    d.ctl(&[
        "remember",
        "--session",
        "trip",
        "--role",
        "assistant",
        "Enjoy the islands",
    ]);
    d.ctl(&[
        "remember",
        "--session",
        "work",
        "--namespace",
        "job",
        "Deploy on Friday",
    ]);

    let out = d.ctl(&["recall", "ferry", "to", "Hydra"]);
    assert!(out.status.success());
    let first = stdout(&out).lines().next().unwrap_or_default().to_owned();
    assert!(
        first.contains("We booked a ferry to Hydra") && first.starts_with(" 1."),
        "{first}"
    );

    let out = d.ctl(&[
        "--json",
        "recall",
        "--namespace",
        "job",
        "-k",
        "1",
        "deploy",
    ]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["results"][0]["session_id"], "work");

    let out = d.ctl(&["history", "trip"]);
    let text = stdout(&out);
    assert!(
        text.contains("[2024-06-01T09:00:00.000Z] user: We booked a ferry to Hydra"),
        "{text}"
    );
    assert!(text.contains("assistant: Enjoy the islands"), "{text}");

    let out = d.ctl(&["sessions"]);
    assert!(
        stdout(&out).contains("trip") && !stdout(&out).contains("work"),
        "{}",
        stdout(&out)
    );
    let out = d.ctl(&["--json", "sessions", "--namespace", "job"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["sessions"][0]["id"], "work");

    let out = d.ctl(&["forget-session", "trip"]);
    assert!(
        stdout(&out).contains("deleted session trip (2 exchanges)"),
        "{}",
        stdout(&out)
    );

    let out = d.ctl(&["status"]);
    assert!(stdout(&out).contains("exchanges: 1"), "{}", stdout(&out));
}

#[test]
fn daemon_errors_exit_1_and_usage_errors_exit_2() {
    let d = Daemon::start("");
    let out = d.ctl(&["history", "no-such-session"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not_found"), "{}", stderr(&out));
    let out = d.ctl(&["--json", "forget-session", "no-such-session"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    let out = d.ctl(&["remember", "--session", "s", "--role", "robot", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid_value"));
    let out = d.ctl(&["recall"]);
    assert_eq!(out.status.code(), Some(2));
    let out = d.ctl(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn import_from_file_and_stdin_with_line_numbers() {
    let d = Daemon::start("");
    let path = d.dir.path().join("in.jsonl");
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!("{{\"session_id\":\"f\",\"role\":\"user\",\"content\":\"line {i}\",\"ext_id\":\"{i}\"}}\n"));
        if i == 4 {
            text.push_str("{broken\n");
        }
    }
    std::fs::write(&path, &text).unwrap();
    let out = d.ctl(&["import", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 20, duplicates 0, rejected 1"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("line 6:"), "{}", stderr(&out));

    let mut child = std::process::Command::new(common::BIN)
        .args(["ctl", "--json", "--socket"])
        .arg(&d.socket)
        .args(["import", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["imported"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(20)),
        "{v}"
    );
}
