//! Test fixture: runs the real `memd` binary on a temp data dir and socket,
//! and talks to it with a minimal HTTP/1.1 client written against the wire
//! (not the crate's own client, so the protocol itself is under test).
//! Starting and stopping the daemon is `memd-bench`'s own spawn module,
//! included here, so that logic exists once.

#![allow(dead_code)]

#[path = "../../src/bin/memd-bench/spawn.rs"]
mod spawn;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_memd");

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    /// Extra environment for the daemon process.
    pub env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts a daemon with `extra` TOML appended to the base config.
    pub fn start(extra: &str) -> Daemon {
        let d = Daemon::configure(extra);
        d.spawn_and_wait()
    }

    /// Writes the config without starting anything.
    pub fn configure(extra: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("memd-t")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("run/memd.sock");
        let data_dir = dir.path().join("data");
        let config = dir.path().join("memd.toml");
        let log = dir.path().join("daemon.log");
        write_config(&config, &data_dir, &socket, extra);
        Daemon {
            dir,
            child: None,
            socket,
            data_dir,
            config,
            log,
            env: Vec::new(),
        }
    }

    pub fn spawn(&mut self) {
        let child = spawn::spawn(Path::new(BIN), &self.config, &self.log, &self.env).unwrap();
        self.child = Some(child);
    }

    pub fn spawn_and_wait(mut self) -> Daemon {
        self.spawn();
        self.wait_ready();
        self
    }

    pub fn wait_ready(&mut self) {
        let child = self.child.as_mut().unwrap();
        if let Err(e) = spawn::wait_ready(child, &self.socket, Duration::from_secs(30)) {
            panic!("{e}; log:\n{}", self.log_text());
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn signal(&self, sig: i32) {
        spawn::signal(self.child.as_ref().unwrap(), sig).expect("kill failed");
    }

    /// SIGTERM, then waits for exit (bounded) and returns the status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(20))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        match spawn::wait_exit(child, limit).unwrap() {
            Some(status) => {
                self.child = None;
                status
            }
            None => {
                let _ = child.kill();
                panic!(
                    "daemon did not exit within {limit:?}; log:\n{}",
                    self.log_text()
                );
            }
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let (status, bytes) = http(&self.socket, method, path, body);
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, b"")
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, body.to_string().as_bytes())
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("MEMD_SOCKET")
            .output()
            .unwrap()
    }

    /// Waits until `needle` appears in the log.
    pub fn wait_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "`{needle}` never logged; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(Some(status)) = spawn::terminate(&mut child, Duration::from_secs(10)) {
                if !std::thread::panicking() {
                    assert!(
                        status.success(),
                        "daemon exited with {status}; log:\n{}",
                        self.log_text()
                    );
                }
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            if !std::thread::panicking() {
                panic!("daemon ignored SIGTERM for 10 s; log:\n{}", self.log_text());
            }
        }
    }
}

/// `extra` may carry its own [daemon] keys as `daemon.key = v` lines; they
/// go into our section.
pub fn write_config(path: &Path, data_dir: &Path, socket: &Path, extra: &str) {
    std::fs::write(path, spawn::config_text(data_dir, socket, extra)).unwrap();
}

/// One HTTP/1.1 request over a Unix socket with `Connection: close`.
pub fn http(socket: &Path, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: memd\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The server may answer (413) and close before reading everything.
    let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> (u16, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = &raw[split + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if !chunked {
        return (status, body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).unwrap();
        rest = &rest[nl + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    (status, out)
}

/// Runs `memd daemon --config CFG` to completion (for start-up refusals).
pub fn run_daemon(cfg: &Path) -> Output {
    Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(cfg)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The local model's directory (scripts/test.sh fetches it into
/// target/models; `MEMD_MODEL_DIR` overrides). Under CI a missing model is
/// a failure; elsewhere the caller skips, saying so.
pub fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("MEMD_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/models/all-MiniLM-L6-v2")
        });
    let complete = ["config.json", "tokenizer.json", "model.safetensors"]
        .iter()
        .all(|f| dir.join(f).is_file());
    if complete {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "model files missing in {} under CI: scripts/test.sh must fetch them",
        dir.display()
    );
    eprintln!(
        "SKIPPED: no model in {}; run scripts/fetch-model.sh {}",
        dir.display(),
        dir.display()
    );
    None
}

/// Polls status until `f` holds (bounded).
pub fn wait_status(d: &Daemon, what: &str, limit: Duration, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, s) = d.get("/v1/status");
        if f(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
