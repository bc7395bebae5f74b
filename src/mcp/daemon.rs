//! The daemon behind the server: one keep-alive connection over its socket,
//! opened on first use and again after it broke, each call bounded by a
//! timeout so a stuck daemon is reported instead of hanging the agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Method;
use serde_json::Value;
use tokio::sync::Mutex;

use super::error::DaemonError;
use crate::ctl::Connection;

pub struct Daemon {
    socket: PathBuf,
    timeout: Duration,
    /// Calls take turns on the one connection: HTTP/1.1 answers in order
    /// anyway, and the daemon caps connections per uid.
    conn: Mutex<Option<Connection>>,
}

impl Daemon {
    /// Connects lazily: the server starts (and can say the daemon is down)
    /// even while the daemon is not running.
    pub fn new(socket: PathBuf, timeout: Duration) -> Daemon {
        Daemon {
            socket,
            timeout,
            conn: Mutex::new(None),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request; a 2xx answer's JSON, else why not.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DaemonError> {
        let mut slot = self.conn.lock().await;
        let attempt = async {
            let conn = match &mut *slot {
                Some(conn) => conn,
                empty => empty.insert(Connection::open(&self.socket).await?),
            };
            conn.call(method, path, body).await
        };
        let outcome = tokio::time::timeout(self.timeout, attempt).await;
        match outcome {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(answer))) => Err(DaemonError::from_answer(&answer)),
            Ok(Err(e)) => {
                // Connection reopens a connection the daemon closed while
                // idle by itself; one that failed mid-request is dropped
                // here so the next call starts clean.
                *slot = None;
                Err(DaemonError::Unreachable(e.to_string()))
            }
            Err(_) => {
                // The request may still be in flight on it: never reuse.
                *slot = None;
                Err(DaemonError::Timeout {
                    socket: self.socket.clone(),
                    after: self.timeout,
                })
            }
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, DaemonError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post<B: serde::Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Value, DaemonError> {
        let body = serde_json::to_value(body).map_err(|e| DaemonError::Internal(e.to_string()))?;
        self.call(Method::POST, path, Some(body)).await
    }
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(enc("chat-1"), "chat-1");
        assert_eq!(enc("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
    }

    #[tokio::test]
    async fn a_missing_daemon_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = Daemon::new(dir.path().join("none.sock"), Duration::from_secs(5));
        let t = std::time::Instant::now();
        let e = d.get("/v1/health").await.unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(e.code(), "daemon_unreachable");
        assert!(e.to_string().contains("none.sock"), "{e}");
    }

    #[tokio::test]
    async fn a_daemon_that_never_answers_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mute.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        // Accepts and holds connections without a word.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let d = Daemon::new(path, Duration::from_millis(300));
        let e = d.get("/v1/health").await.unwrap_err();
        assert_eq!(e.code(), "daemon_timeout");
        // The next call gets a fresh connection (and the same verdict).
        let e = d.get("/v1/health").await.unwrap_err();
        assert_eq!(e.code(), "daemon_timeout");
    }
}
