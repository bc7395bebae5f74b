//! `memd mcp` spoken to by hand: newline-delimited JSON-RPC over its stdin
//! and stdout, against a real daemon. The full client-driven suite is
//! tests/mcp/ (the official Python SDK, run by scripts/test-mcp.sh); this
//! checks the handshake and that stdout carries the protocol alone, and
//! the gate of `--http`: refusals at start (no token, a weak or exposed
//! one, an address off loopback) and 401 for a request without the token.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
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

// --- Streamable HTTP (`--http`) --------------------------------------------

const TOKEN: &str = "3f1d9c0e5b7a4e2f8c6d1b0a9e8f7c6d";

fn mcp_http(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("mcp")
        .args(args)
        .env_remove("MEMD_MCP_TOKEN")
        .stdin(Stdio::null());
    cmd
}

/// Runs `memd mcp ARGS` to completion: a refusal at start.
fn refused(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    err
}

#[test]
fn http_refuses_to_start_without_a_token_or_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("memd.sock");
    let sock = sock.to_str().unwrap();

    let err = refused(mcp_http(&["--http", "127.0.0.1:0", "--socket", sock]));
    assert!(
        err.contains("MEMD_MCP_TOKEN") && err.contains("--token-file"),
        "{err}"
    );

    for outside in ["0.0.0.0:0", "[::]:0", "10.1.2.3:8765"] {
        let mut cmd = mcp_http(&["--http", outside, "--socket", sock]);
        cmd.env("MEMD_MCP_TOKEN", TOKEN);
        let err = refused(cmd);
        assert!(err.contains("loopback only"), "{outside}: {err}");
    }

    let mut weak = mcp_http(&["--http", "127.0.0.1:0", "--socket", sock]);
    weak.env("MEMD_MCP_TOKEN", "hunter2");
    assert!(refused(weak).contains("at least 16"));

    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let file = file.to_str().unwrap();
    let err = refused(mcp_http(&[
        "--http",
        "127.0.0.1:0",
        "--token-file",
        file,
        "--socket",
        sock,
    ]));
    assert!(err.contains("chmod 600"), "{err}");
}

struct HttpServer {
    child: Child,
    addr: std::net::SocketAddr,
}

impl HttpServer {
    /// `memd mcp --http 127.0.0.1:0` with the token in a 0600 file; the
    /// port it took, read from its first line on stderr.
    fn start(socket: &std::path::Path, dir: &std::path::Path) -> HttpServer {
        let file = dir.join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut child = mcp_http(&["--http", "127.0.0.1:0", "--namespace", "web"])
            .arg("--token-file")
            .arg(&file)
            .arg("--socket")
            .arg(socket)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a first line on stderr");
        let url = line
            .split("serving Streamable HTTP at http://")
            .nth(1)
            .unwrap_or_else(|| panic!("{line}"));
        let addr = url.split('/').next().unwrap().parse().unwrap();
        HttpServer { child, addr }
    }

    /// One request with `Connection: close`: status, headers, body.
    fn post(&self, path: &str, auth: Option<&str>, body: &Value) -> (u16, String, String) {
        let mut s = std::net::TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.to_string();
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        std::io::Read::read_to_string(&mut s, &mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let head = head.to_ascii_lowercase();
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, head, body)
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

#[test]
fn http_answers_401_without_the_token_and_serves_with_it() {
    let d = Daemon::start("");
    let mut s = HttpServer::start(&d.socket, d.dir.path());
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "by-hand", "version": "0"}
        }
    });

    let wrong = format!("Bearer {}0", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    for auth in [
        None,
        Some("Bearer "),
        Some(wrong.as_str()),
        Some(basic.as_str()),
    ] {
        for path in ["/mcp", "/elsewhere"] {
            let (status, head, body) = s.post(path, auth, &init);
            assert_eq!(status, 401, "{auth:?} {path}: {head}\n{body}");
            assert!(head.contains("www-authenticate: bearer"), "{head}");
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }

    let bearer = format!("Bearer {TOKEN}");
    let (status, head, body) = s.post("/mcp", Some(&bearer), &init);
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.contains("mcp-session-id:"), "{head}");
    // Server-sent events: the answer is the `data:` line holding JSON.
    let answer: Value = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find_map(|d| serde_json::from_str(d.trim()).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body}"));
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["serverInfo"]["name"], "memd");
    assert!(
        answer["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("`web`")
    );

    // SIGTERM stops it cleanly.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
