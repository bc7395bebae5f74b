//! The client side of the API: one keep-alive HTTP/1.1 connection over the
//! daemon's Unix socket, which socket that is, and whether the server on
//! it may be trusted with memory.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::CtlArgs;
use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach memd at {socket}: {source}\n\
         Is the daemon running? Start it with `memd daemon` (or `systemctl --user start memd`), \
         or point to its socket with --socket PATH."
    )]
    Unreachable {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("connection to memd at {socket} failed: {message}")]
    Protocol { socket: PathBuf, message: String },
    #[error(
        "refusing to talk to the server on {socket}: it runs as uid {uid}, {why}. \
         Whoever runs it would read everything sent to it; check who owns that socket"
    )]
    Untrusted {
        socket: PathBuf,
        uid: u32,
        why: String,
    },
}

/// Whether a server running as `uid` on `socket` may be sent memory: one
/// running as us or root, or as the owner of the socket's directory when
/// that directory sits in one only root or we can write (as `/run/memd`
/// of the system unit does). A directory under a world-writable parent
/// such as `/tmp` could have been made by anyone, so its owner proves
/// nothing.
pub fn check_server_uid(socket: &Path, uid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = crate::fsperm::euid();
    if uid == me || uid == 0 {
        return Ok(());
    }
    let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Err("which is neither you nor root".into());
    };
    let dir_meta = std::fs::metadata(dir).map_err(|e| format!("and {}: {e}", dir.display()))?;
    if dir_meta.uid() != uid {
        return Err(format!(
            "which is neither you, root, nor the owner of {} (uid {})",
            dir.display(),
            dir_meta.uid()
        ));
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let parent_meta =
        std::fs::metadata(parent).map_err(|e| format!("and {}: {e}", parent.display()))?;
    let parent_safe =
        (parent_meta.uid() == 0 || parent_meta.uid() == me) && parent_meta.mode() & 0o022 == 0;
    if dir_meta.mode() & 0o022 != 0 || !parent_safe {
        return Err(format!(
            "which owns {} but that directory could have been made or changed by any user",
            dir.display()
        ));
    }
    Ok(())
}

/// One keep-alive connection to the daemon.
pub struct Connection {
    socket: PathBuf,
    sender: SendRequest<BoxBody<Bytes, std::io::Error>>,
}

pub(crate) fn full(b: Bytes) -> BoxBody<Bytes, std::io::Error> {
    Full::new(b).map_err(|never| match never {}).boxed()
}

impl Connection {
    pub async fn open(socket: &Path) -> Result<Connection, ClientError> {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|source| ClientError::Unreachable {
                socket: socket.to_owned(),
                source,
            })?;
        let uid = stream
            .peer_cred()
            .map_err(|e| ClientError::Protocol {
                socket: socket.to_owned(),
                message: format!("cannot read the server's credentials: {e}"),
            })?
            .uid();
        check_server_uid(socket, uid).map_err(|why| ClientError::Untrusted {
            socket: socket.to_owned(),
            uid,
            why,
        })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol {
                socket: socket.to_owned(),
                message: e.to_string(),
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            socket: socket.to_owned(),
            sender,
        })
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let has_body = body.is_some();
        self.send_collect(method, path, full(body.unwrap_or_default()), has_body)
            .await
    }

    /// Sends any body and reads the whole answer.
    pub async fn send_collect(
        &mut self,
        method: Method,
        path: &str,
        body: BoxBody<Bytes, std::io::Error>,
        json_body: bool,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let resp = self.send(method, path, body, json_body).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.protocol(&e))?
            .to_bytes();
        Ok((status, bytes))
    }

    fn protocol(&self, e: &dyn std::fmt::Display) -> ClientError {
        ClientError::Protocol {
            socket: self.socket.clone(),
            message: e.to_string(),
        }
    }

    /// Sends any body and hands back the response with its body unread.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: BoxBody<Bytes, std::io::Error>,
        json_body: bool,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        if self.sender.is_closed() || self.sender.ready().await.is_err() {
            // The daemon closes connections left idle longer than
            // api.idle_timeout_s; a client that paused (a benchmark between
            // phases, an agent between turns) goes on with a new one. Nothing
            // was sent on the closed one, so nothing is sent twice.
            *self = Connection::open(&self.socket).await?;
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "memd");
        if json_body {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body).map_err(|e| self.protocol(&e))?;
        self.sender
            .send_request(req)
            .await
            .map_err(|e| self.protocol(&e))
    }

    /// Sends a request and parses a JSON answer; non-2xx → `Err(answer)`.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Result<Value, Value>, ClientError> {
        let body = body.map(|b| Bytes::from(b.to_string()));
        let (status, bytes) = self.request(method, path, body).await?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"error": {"code": "bad_response", "message": String::from_utf8_lossy(&bytes)}}));
        Ok(if status.is_success() {
            Ok(value)
        } else {
            Err(value)
        })
    }

    /// [`Connection::call`] with a typed request body.
    pub async fn call_with<B: Serialize + ?Sized>(
        &mut self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Result<Value, Value>, ClientError> {
        let body = serde_json::to_value(body).map_err(|e| self.protocol(&e))?;
        self.call(method, path, Some(body)).await
    }
}

/// Which socket `ctl` talks to: `--socket`/`$MEMD_SOCKET`, the config's
/// `daemon.socket`, else the default; if that does not exist but the system
/// unit's socket does, that one.
pub fn resolve_socket(args: &CtlArgs) -> Result<PathBuf, String> {
    if let Some(s) = &args.socket {
        return Ok(s.clone());
    }
    let loaded = Config::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    if loaded.config.daemon.socket.is_some() {
        return Ok(loaded.config.socket_path());
    }
    let default = loaded.config.socket_path();
    let system = PathBuf::from("/run/memd/memd.sock");
    if !default.exists() && system.exists() {
        return Ok(system);
    }
    Ok(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers one request per connection and then closes
    /// it, as the daemon does with a connection idle too long.
    async fn one_answer_per_connection(listener: tokio::net::UnixListener) {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = b"{\"status\":\"ok\"}";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body).await;
                let _ = s.shutdown().await;
            });
        }
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(one_answer_per_connection(listener));
        let mut conn = Connection::open(&path).await.unwrap();
        for _ in 0..3 {
            let v = conn.call(Method::GET, "/v1/health", None).await.unwrap();
            assert_eq!(v.unwrap()["status"], "ok");
            // Let the close reach the client, as an idle timeout would.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
