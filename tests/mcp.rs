//! `memd mcp` spoken to by hand: newline-delimited JSON-RPC over its stdin
//! and stdout, against a real daemon. The full client-driven suite is
//! tests/mcp/ (the official Python SDK, run by scripts/test-mcp.sh); this
//! checks the handshake and that stdout carries the protocol alone.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use common::{BIN, Daemon};
use serde_json::{Value, json};

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Server {
    fn start(socket: &std::path::Path, namespace: &str) -> Server {
        let mut child = Command::new(BIN)
            .args(["mcp", "--namespace", namespace, "--socket"])
            .arg(socket)
            // Logs at info go to stderr; stdout must stay protocol only.
            .env("MEMD_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Server {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, msg: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    /// The answer to request `id`; every line on stdout must be JSON-RPC.
    fn answer(&self, id: u64) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("an answer within 30 s");
            let msg: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line}"));
            assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
            if msg["id"] == id {
                return msg;
            }
        }
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.answer(id)
    }
}

#[test]
fn handshake_tools_and_a_clean_exit_on_eof() {
    let d = Daemon::start("");
    let mut s = Server::start(&d.socket, "handshake");
    let init = s.request(
        1,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "by-hand", "version": "0"}
        }),
    );
    let result = &init["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(result["serverInfo"]["name"], "memd");
    assert!(result["capabilities"]["tools"].is_object(), "{init}");
    assert!(result["capabilities"]["resources"].is_object(), "{init}");
    s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    let tools = s.request(2, "tools/list", json!({}));
    let names: Vec<_> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "remember",
            "recall",
            "context",
            "forget",
            "dream_status",
            "dream_run",
            "facts_list",
            "fact_add",
            "fact_forget"
        ]
    );

    let stored = s.request(
        3,
        "tools/call",
        json!({"name": "remember", "arguments": {
            "session_id": "hand-1", "role": "user", "content": "The boat is called Albatross"
        }}),
    );
    assert_eq!(stored["result"]["isError"], false, "{stored}");
    assert_eq!(
        stored["result"]["structuredContent"]["namespace"],
        "handshake"
    );

    let found = s.request(
        4,
        "tools/call",
        json!({"name": "recall", "arguments": {"query": "boat name"}}),
    );
    let hits = &found["result"]["structuredContent"]["results"];
    assert_eq!(
        hits[0]["content"], "The boat is called Albatross",
        "{found}"
    );

    let bad = s.request(
        5,
        "tools/call",
        json!({"name": "recall", "arguments": {"query": "boat", "k": 0}}),
    );
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    let text = bad["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("invalid_value: "), "{text}");

    // The client closing stdin ends the server.
    drop(s.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "memd mcp still runs after EOF"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
