//! `memd ctl`: a thin HTTP/1.1 client of the API over the Unix socket.
//!
//! Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage (clap),
//! 3 the daemon is not reachable.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::cli::{CtlArgs, CtlCommand, DreamList};
use crate::config::Config;

pub const EXIT_OK: i32 = 0;
pub const EXIT_DAEMON_ERROR: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 3;

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

fn full(b: Bytes) -> BoxBody<Bytes, std::io::Error> {
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
        self.sender.ready().await.map_err(|e| self.protocol(&e))?;
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

pub async fn run(args: CtlArgs) -> i32 {
    let socket = match resolve_socket(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memd ctl: {e}");
            return EXIT_USAGE;
        }
    };
    let mut conn = match Connection::open(&socket).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("memd ctl: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    match dispatch(&mut conn, &args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("memd ctl: {e}");
            match e {
                CtlError::Client(ClientError::Unreachable { .. }) => EXIT_UNREACHABLE,
                CtlError::Client(ClientError::Protocol { .. }) => EXIT_UNREACHABLE,
                CtlError::Client(ClientError::Untrusted { .. }) => EXIT_UNREACHABLE,
                CtlError::Usage(_) => EXIT_USAGE,
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CtlError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
}

fn enc(s: &str) -> String {
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

async fn dispatch(conn: &mut Connection, args: &CtlArgs) -> Result<i32, CtlError> {
    let json_out = args.json;
    let answer = match &args.command {
        CtlCommand::Status => conn.call(Method::GET, "/v1/status", None).await?,
        CtlCommand::Remember {
            session,
            namespace,
            role,
            ext_id,
            at,
            text,
        } => {
            let mut body = json!({"role": role, "content": text.join(" ")});
            if let Some(ns) = namespace {
                body["namespace"] = json!(ns);
            }
            if let Some(x) = ext_id {
                body["ext_id"] = json!(x);
            }
            if let Some(t) = at {
                body["created_at"] = json!(t);
            }
            let path = format!("/v1/sessions/{}/exchanges", enc(session));
            conn.call(Method::POST, &path, Some(body)).await?
        }
        CtlCommand::Import { file } => return import(conn, file, json_out).await,
        CtlCommand::Export { file } => return export(conn, file, json_out).await,
        CtlCommand::ImportAll { file } => return import_all(conn, file, json_out).await,
        CtlCommand::Checkpoint => conn.call(Method::POST, "/v1/checkpoint", None).await?,
        CtlCommand::Reembed { all } => {
            conn.call(Method::POST, "/v1/reembed", Some(json!({"all": all})))
                .await?
        }
        CtlCommand::Checkpoints => conn.call(Method::GET, "/v1/checkpoints", None).await?,
        CtlCommand::Recall {
            k,
            namespace,
            session,
            explain,
            mode,
            budget,
            query,
        } => {
            let mut body = json!({"query": query.join(" "), "explain": explain});
            if let Some(m) = mode {
                body["mode"] = json!(m);
            }
            if let Some(b) = budget {
                body["budget_chars"] = json!(b);
            }
            if let Some(k) = k {
                body["k"] = json!(k);
            }
            if let Some(ns) = namespace {
                body["namespace"] = json!(ns);
            }
            if let Some(s) = session {
                body["session_id"] = json!(s);
            }
            conn.call(Method::POST, "/v1/recall", Some(body)).await?
        }
        CtlCommand::Dream {
            list: Some(DreamList::Runs { namespace, limit }),
            ..
        } => {
            let mut path = format!("/v1/dream/runs?limit={limit}");
            if let Some(ns) = namespace {
                path.push_str(&format!("&namespace={}", enc(ns)));
            }
            conn.call(Method::GET, &path, None).await?
        }
        CtlCommand::Dream {
            list: None,
            namespace,
            force,
            drive,
            dry_run,
            until_caught_up,
            wait,
        } => {
            let mut body = json!({"force": force, "dry_run": dry_run,
                "until_caught_up": until_caught_up, "wait": wait});
            if let Some(ns) = namespace {
                body["namespace"] = json!(ns);
            }
            if let Some(d) = drive {
                body["drive"] = json!(d);
            }
            conn.call(Method::POST, "/v1/dream", Some(body)).await?
        }
        CtlCommand::Gist { session } => {
            conn.call(
                Method::GET,
                &format!("/v1/sessions/{}/gist", enc(session)),
                None,
            )
            .await?
        }
        CtlCommand::Eras { namespace }
        | CtlCommand::Profile { namespace }
        | CtlCommand::Narrative { namespace }
        | CtlCommand::SelfState { namespace } => {
            let route = match &args.command {
                CtlCommand::Eras { .. } => "eras",
                CtlCommand::Profile { .. } => "profile",
                CtlCommand::Narrative { .. } => "narrative",
                _ => "self",
            };
            let mut path = format!("/v1/{route}");
            if let Some(ns) = namespace {
                path.push_str(&format!("?namespace={}", enc(ns)));
            }
            conn.call(Method::GET, &path, None).await?
        }
        CtlCommand::Context {
            namespace,
            session,
            budget,
            query,
        } => {
            let mut body = json!({"query": query.join(" ")});
            if let Some(ns) = namespace {
                body["namespace"] = json!(ns);
            }
            if let Some(s) = session {
                body["session_id"] = json!(s);
            }
            if let Some(b) = budget {
                body["budget_chars"] = json!(b);
            }
            conn.call(Method::POST, "/v1/context", Some(body)).await?
        }
        CtlCommand::Sessions { namespace, limit } => {
            let mut path = format!("/v1/sessions?limit={limit}");
            if let Some(ns) = namespace {
                path.push_str(&format!("&namespace={}", enc(ns)));
            }
            conn.call(Method::GET, &path, None).await?
        }
        CtlCommand::History { session } => {
            conn.call(Method::GET, &format!("/v1/sessions/{}", enc(session)), None)
                .await?
        }
        CtlCommand::ForgetSession { session } => {
            conn.call(
                Method::DELETE,
                &format!("/v1/sessions/{}", enc(session)),
                None,
            )
            .await?
        }
        CtlCommand::Sources => conn.call(Method::GET, "/v1/sources", None).await?,
        CtlCommand::Sync {
            source,
            table,
            full,
        } => {
            let mut body = json!({"full": full});
            if let Some(t) = table {
                body["table"] = json!(t);
            }
            let path = format!("/v1/sources/{}/sync", enc(source));
            conn.call(Method::POST, &path, Some(body)).await?
        }
        CtlCommand::Concept {
            name,
            namespace,
            strength,
            text,
            clear_text,
            remove,
            restore,
        } => {
            let mut path = format!("/v1/concepts/{}", enc(name));
            if let Some(ns) = namespace {
                path.push_str(&format!("?namespace={}", enc(ns)));
            }
            if *remove {
                conn.call(Method::DELETE, &path, None).await?
            } else if strength.is_some() || text.is_some() || *clear_text || *restore {
                let mut body = json!({"restore": restore});
                if let Some(x) = strength {
                    body["strength"] = json!(x);
                }
                if let Some(t) = text {
                    body["text"] = json!(t);
                }
                if *clear_text {
                    body["text"] = Value::Null;
                }
                conn.call(Method::PATCH, &path, Some(body)).await?
            } else {
                conn.call(Method::GET, &path, None).await?
            }
        }
    };
    Ok(print_answer(&args.command, answer, json_out))
}

fn print_answer(cmd: &CtlCommand, answer: Result<Value, Value>, json_out: bool) -> i32 {
    let value = match answer {
        Ok(v) => v,
        Err(err) => {
            if json_out {
                println!("{err}");
            } else {
                let code = err["error"]["code"].as_str().unwrap_or("error");
                let msg = err["error"]["message"].as_str().unwrap_or("");
                eprintln!("memd: {code}: {msg}");
            }
            return EXIT_DAEMON_ERROR;
        }
    };
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return EXIT_OK;
    }
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    match cmd {
        CtlCommand::Status => {
            println!(
                "memd {} (pid {}), up {}s",
                s(&value["version"]),
                s(&value["pid"]),
                s(&value["uptime_s"])
            );
            println!("socket:    {}", s(&value["socket"]));
            println!("database:  {}", s(&value["db_path"]));
            println!("config:    {}", s(&value["config"]));
            let e = &value["embedder"];
            println!(
                "embedder:  {} {} ({}-d), backlog {}, {:.1}/s",
                s(&e["provider"]),
                s(&e["model"]),
                s(&e["dim"]),
                s(&e["backlog"]),
                e["rate_per_s"].as_f64().unwrap_or(0.0)
            );
            if let Some(r) = e["fallback_reason"].as_str() {
                println!("           WARNING: {r}");
            }
            if let Some(err) = e["last_error"].as_str() {
                println!("           last error: {err}");
            }
            if e["reembed"].is_object() {
                println!(
                    "           re-embedding: {}/{} ({}%)",
                    s(&e["reembed"]["done"]),
                    s(&e["reembed"]["total"]),
                    s(&e["reembed"]["percent"])
                );
            }
            let c = &value["counts"];
            println!("sessions:  {}", s(&c["sessions"]));
            println!("exchanges: {}", s(&c["exchanges"]));
            let d = &value["dream"];
            if d.is_object() {
                let dirty: u64 = d["backlog"]
                    .as_object()
                    .map(|m| m.values().filter_map(|b| b["dirty"].as_u64()).sum())
                    .unwrap_or(0);
                println!(
                    "dream:     {} ({}), next {}, {} dirty session(s){}",
                    if d["enabled"].as_bool() == Some(true) {
                        "on"
                    } else {
                        "off"
                    },
                    s(&d["provider"]),
                    s(&d["next_scheduled"]),
                    dirty,
                    if d["running"].is_object() {
                        format!(", running: {}", s(&d["running"]["namespace"]))
                    } else {
                        String::new()
                    }
                );
                if let Some(r) = d["last_run"].as_object() {
                    println!(
                        "           last pass: {} {} → {}",
                        s(&r["namespace"]),
                        s(&r["started_at"]),
                        s(&r["outcome"])
                    );
                }
            }
        }
        CtlCommand::Remember { .. } => {
            if value["duplicate"].as_bool() == Some(true) {
                println!(
                    "already stored as exchange {} in session {} (namespace {})",
                    s(&value["id"]),
                    s(&value["session_id"]),
                    s(&value["namespace"])
                );
            } else {
                println!(
                    "stored exchange {} in session {} (namespace {})",
                    s(&value["id"]),
                    s(&value["session_id"]),
                    s(&value["namespace"])
                );
            }
        }
        CtlCommand::Recall { .. } => {
            let results = value["results"].as_array().cloned().unwrap_or_default();
            if results.is_empty() {
                println!("no matches");
            }
            for (i, r) in results.iter().enumerate() {
                println!(
                    "{:>2}. [{:.4}] {} {} #{} {} {}: {}",
                    i + 1,
                    r["score"].as_f64().unwrap_or(0.0),
                    s(&r["tier"]),
                    s(&r["session_id"]),
                    s(&r["id"]),
                    s(&r["created_at"]),
                    s(&r["role"]),
                    one_line(&s(&r["content"]), 160)
                );
                let e = &r["explain"];
                if e.is_object() {
                    println!(
                        "      bm25 rank {}, vector rank {}, fused {:.5}{}",
                        s(&e["bm25_rank"]),
                        s(&e["vector_rank"]),
                        e["fused"].as_f64().unwrap_or(0.0),
                        e["supplement"]
                            .as_str()
                            .map(|x| format!(", supplement: {x}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        CtlCommand::Sessions { .. } => {
            let sessions = value["sessions"].as_array().cloned().unwrap_or_default();
            if sessions.is_empty() {
                println!("no sessions in namespace {}", s(&value["namespace"]));
            } else {
                println!("{:<40} {:>9}  UPDATED", "SESSION", "EXCHANGES");
                for x in sessions {
                    println!(
                        "{:<40} {:>9}  {}",
                        s(&x["id"]),
                        s(&x["exchanges"]),
                        s(&x["updated_at"])
                    );
                }
            }
        }
        CtlCommand::History { .. } => {
            let sess = &value["session"];
            println!(
                "session {} (namespace {}), {} exchanges",
                s(&sess["id"]),
                s(&sess["namespace"]),
                s(&sess["exchanges"])
            );
            for x in value["exchanges"].as_array().cloned().unwrap_or_default() {
                println!(
                    "[{}] {}: {}",
                    s(&x["created_at"]),
                    s(&x["role"]),
                    s(&x["content"])
                );
            }
        }
        CtlCommand::ForgetSession { .. } => {
            println!(
                "deleted session {} ({} exchanges)",
                s(&value["deleted"]),
                s(&value["exchanges"])
            );
        }
        CtlCommand::Checkpoint => {
            println!(
                "snapshot {} ({} bytes) in {:.0} ms{}",
                s(&value["path"]),
                s(&value["bytes"]),
                value["duration_ms"].as_f64().unwrap_or(0.0),
                if value["wal_truncated"].as_bool() == Some(true) {
                    "; WAL truncated"
                } else {
                    ""
                }
            );
            for r in value["removed"].as_array().cloned().unwrap_or_default() {
                println!("rotated out {}", s(&r));
            }
        }
        CtlCommand::Reembed { all } => {
            if *all {
                println!(
                    "re-embedding every row up to id {} in the background; `memd ctl status` shows progress",
                    s(&value["upto_id"])
                );
            } else {
                println!(
                    "re-embedding rows of other models in the background; `memd ctl status` shows progress"
                );
            }
        }
        CtlCommand::Checkpoints => {
            let snaps = value["snapshots"].as_array().cloned().unwrap_or_default();
            if snaps.is_empty() {
                println!("no snapshots in {}", s(&value["dir"]));
            }
            for x in snaps {
                println!(
                    "{}  {:>12} bytes  {}",
                    s(&x["created_at"]),
                    s(&x["bytes"]),
                    s(&x["path"])
                );
            }
        }
        CtlCommand::Import { .. } | CtlCommand::Export { .. } | CtlCommand::ImportAll { .. } => {}
        CtlCommand::Dream { list: Some(_), .. } => {
            let runs = value["runs"].as_array().cloned().unwrap_or_default();
            if runs.is_empty() {
                println!("no dream runs yet");
            }
            for r in runs {
                println!(
                    "#{} {} {} {}{} {} action(s), {} error(s) → {}",
                    s(&r["id"]),
                    s(&r["started_at"]),
                    s(&r["namespace"]),
                    s(&r["trigger"]),
                    if r["dry_run"].as_bool() == Some(true) {
                        " (dry run)"
                    } else {
                        ""
                    },
                    r["actions"].as_array().map_or(0, Vec::len),
                    r["errors"].as_array().map_or(0, Vec::len),
                    s(&r["outcome"])
                );
                if let Some(n) = r["note"].as_str() {
                    println!("      {n}");
                }
            }
        }
        CtlCommand::Dream { list: None, .. } => {
            let Some(runs) = value["runs"].as_array() else {
                println!("dream pass started in the background; `memd ctl dream runs` shows it");
                return EXIT_OK;
            };
            if runs.is_empty() {
                println!("no namespace to consolidate");
            }
            for r in runs {
                println!(
                    "{} ({}): {} in {} ms",
                    s(&r["namespace"]),
                    s(&r["trigger"]),
                    s(&r["outcome"]),
                    s(&r["took_ms"])
                );
                let d = &r["drives_before"];
                println!(
                    "  drives: continuity {} coherence {} curiosity {} stability {}",
                    s(&d["continuity"]),
                    s(&d["coherence"]),
                    s(&d["curiosity"]),
                    s(&d["stability"])
                );
                for a in r["actions"].as_array().into_iter().flatten() {
                    println!("  {} {}", s(&a["drive"]), one_line(&a.to_string(), 150));
                }
                for e in r["errors"].as_array().into_iter().flatten() {
                    println!("  error: {}", s(e));
                }
                if let Some(n) = r["note"].as_str() {
                    println!("  {n}");
                }
            }
        }
        CtlCommand::Gist { .. } => {
            println!(
                "session {} (namespace {}), turns up to #{}, by {}:",
                s(&value["session_id"]),
                s(&value["namespace"]),
                s(&value["last_exchange_id"]),
                s(&value["provider"])
            );
            println!("{}", s(&value["text"]));
        }
        CtlCommand::Eras { .. } => {
            let eras = value["eras"].as_array().cloned().unwrap_or_default();
            if eras.is_empty() {
                println!("no eras yet in namespace {}", s(&value["namespace"]));
            }
            for e in eras {
                println!(
                    "{}{}: {}",
                    s(&e["month"]),
                    if e["stale"].as_bool() == Some(true) {
                        " (stale)"
                    } else {
                        ""
                    },
                    s(&e["text"])
                );
            }
        }
        CtlCommand::Profile { .. } => {
            println!("covers {} session(s):", s(&value["sessions_covered"]));
            println!("{}", s(&value["text"]));
        }
        CtlCommand::Narrative { .. } => println!("{}", s(&value["text"])),
        CtlCommand::SelfState { .. } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value["state"]).unwrap_or_default()
            );
        }
        CtlCommand::Context { .. } => {
            for sec in value["sections"].as_array().into_iter().flatten() {
                println!("## {}", s(&sec["name"]));
                for it in sec["items"].as_array().into_iter().flatten() {
                    println!("[{} {}] {}", s(&it["tier"]), s(&it["id"]), s(&it["text"]));
                }
            }
            println!(
                "({} of {} characters)",
                s(&value["used_chars"]),
                s(&value["budget_chars"])
            );
        }
        CtlCommand::Sources => print_sources(&value),
        CtlCommand::Sync { .. } => {
            for t in value["tables"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{}/{}: {} rows read, {} synced, {} deleted{}",
                    s(&value["source"]),
                    s(&t["table"]),
                    s(&t["rows"]),
                    s(&t["synced"]),
                    s(&t["deleted"]),
                    if t["full"].as_bool() == Some(true) {
                        " (full)"
                    } else {
                        ""
                    }
                );
            }
        }
        CtlCommand::Concept { .. } => {
            let c = &value["concept"];
            if value["removed"].as_bool() == Some(true) {
                println!(
                    "removed {} from memory (the source is unchanged)",
                    s(&c["name"])
                );
            } else {
                println!(
                    "{}  [{} {}/{} row {}]",
                    s(&c["name"]),
                    s(&c["namespace"]),
                    s(&c["source"]),
                    s(&c["table"]),
                    s(&c["row_id"])
                );
                println!(
                    "strength {}  synced {}{}{}",
                    s(&c["strength"]),
                    s(&c["synced_at"]),
                    if c["overlay"].is_string() {
                        "  (edited text)"
                    } else {
                        ""
                    },
                    if c["removed"].as_bool() == Some(true) {
                        "  (removed from memory)"
                    } else {
                        ""
                    }
                );
                println!("{}", s(&c["text"]));
            }
        }
    }
    EXIT_OK
}

fn print_sources(value: &Value) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let list = value["sources"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!(
            "no sources configured ([[sources.sqlite]], [[sources.postgres]], [[sources.files]])"
        );
    }
    for src in list {
        println!(
            "{} ({}) {}  since {}",
            s(&src["name"]),
            s(&src["kind"]),
            s(&src["state"]),
            s(&src["since"])
        );
        if !src["last_error"].is_null() {
            println!("  error: {}", s(&src["last_error"]));
        }
        if src["kind"] == "files" {
            let st = &src["stats"];
            println!(
                "  {} documents, {} chunks; synced {} deleted {} unchanged {} errors {}",
                s(&src["documents"]),
                s(&src["chunks"]),
                s(&st["synced"]),
                s(&st["deleted"]),
                s(&st["unchanged"]),
                s(&st["errors"])
            );
            continue;
        }
        for (t, st) in src["tables"].as_object().cloned().unwrap_or_default() {
            println!(
                "  {t}: {} concepts; synced {} deleted {} errors {} retries {} overwrite_warnings {} last sync {}",
                s(&st["concepts"]),
                s(&st["synced"]),
                s(&st["deleted"]),
                s(&st["errors"]),
                s(&st["retries"]),
                s(&st["overwrite_warnings"]),
                s(&st["last_sync_at"])
            );
            if !st["last_error"].is_null() {
                println!("    last error: {}", s(&st["last_error"]));
            }
        }
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Largest import request ctl sends; bigger files go in several requests
/// split at line boundaries, with line numbers adjusted in the report.
const IMPORT_REQUEST_BYTES: usize = 4 * 1024 * 1024;

async fn import(conn: &mut Connection, file: &Path, json_out: bool) -> Result<i32, CtlError> {
    let mut data = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut data)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut data))
    };
    read.map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", file.display())))?;

    let (mut imported, mut duplicates) = (0u64, 0u64);
    let mut rejected: Vec<Value> = Vec::new();
    let mut line_offset = 0usize;
    let mut rest: &[u8] = &data;
    while !rest.is_empty() {
        let mut end = rest.len().min(IMPORT_REQUEST_BYTES);
        if end < rest.len() {
            // Cut after the last newline in the window (or send one long line whole).
            end = match rest[..end].iter().rposition(|b| *b == b'\n') {
                Some(p) => p + 1,
                None => rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |p| p + 1),
            };
        }
        let (chunk, tail) = rest.split_at(end);
        let lines_in_chunk = chunk.iter().filter(|b| **b == b'\n').count();
        let (status, body) = conn
            .request(
                Method::POST,
                "/v1/import",
                Some(Bytes::copy_from_slice(chunk)),
            )
            .await?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let code = value["error"]["code"].as_str().unwrap_or("error");
            let msg = value["error"]["message"].as_str().unwrap_or("");
            eprintln!(
                "memd: {code}: {msg} (request covering lines {}..{}; {imported} lines imported before it)",
                line_offset + 1,
                line_offset + lines_in_chunk.max(1)
            );
            return Ok(EXIT_DAEMON_ERROR);
        }
        imported += value["imported"].as_u64().unwrap_or(0);
        duplicates += value["duplicates"].as_u64().unwrap_or(0);
        for r in value["rejected"].as_array().cloned().unwrap_or_default() {
            let line = r["line"].as_u64().unwrap_or(0) as usize + line_offset;
            rejected.push(json!({"line": line, "error": r["error"]}));
        }
        line_offset += lines_in_chunk;
        rest = tail;
    }
    let report = json!({"imported": imported, "duplicates": duplicates, "rejected": rejected});
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "imported {imported}, duplicates {duplicates}, rejected {}",
            rejected.len()
        );
        let mut err = std::io::stderr().lock();
        for r in &rejected {
            let _ = writeln!(
                err,
                "  line {}: {}",
                r["line"],
                r["error"].as_str().unwrap_or("")
            );
        }
    }
    Ok(EXIT_OK)
}

async fn daemon_error(resp: hyper::Response<Incoming>, json_out: bool) -> i32 {
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    print_answer(&CtlCommand::Status, Err(value), json_out)
}

/// Streams `GET /v1/export` into FILE (via FILE.partial, renamed only once
/// the end marker arrived), or to stdout for `-`.
async fn export(conn: &mut Connection, file: &Path, json_out: bool) -> Result<i32, CtlError> {
    use tokio::io::AsyncWriteExt;
    let resp = conn
        .send(Method::GET, "/v1/export", full(Bytes::new()), false)
        .await?;
    if !resp.status().is_success() {
        return Ok(daemon_error(resp, json_out).await);
    }
    let to_stdout = file.as_os_str() == "-";
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin> = if to_stdout {
        Box::new(tokio::io::stdout())
    } else {
        // An export is the whole memory: readable by its owner only.
        let file = crate::fsperm::create_private(&partial)
            .map_err(|e| CtlError::Usage(format!("cannot create {}: {e}", partial.display())))?;
        Box::new(tokio::fs::File::from_std(file))
    };
    let write_err = |e: std::io::Error| CtlError::Usage(format!("writing {}: {e}", file.display()));
    let mut body = resp.into_body();
    let mut tail: Vec<u8> = Vec::new();
    let mut bytes = 0u64;
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    out.write_all(&data).await.map_err(write_err)?;
                    bytes += data.len() as u64;
                    tail.extend_from_slice(&data);
                    if tail.len() > 8192 {
                        tail.drain(..tail.len() - 8192);
                    }
                }
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    out.flush().await.map_err(write_err)?;
    drop(out);
    let text = String::from_utf8_lossy(&tail);
    let last = text.trim_end().rsplit('\n').next().unwrap_or_default();
    let end: Option<Value> = serde_json::from_str(last)
        .ok()
        .filter(|v: &Value| v["memd_export_end"] == true);
    let Some(end) = end else {
        if !to_stdout {
            let _ = std::fs::remove_file(&partial);
        }
        eprintln!(
            "memd ctl: the export was cut short{}; nothing was written",
            failure.map(|f| format!(" ({f})")).unwrap_or_default()
        );
        return Ok(EXIT_DAEMON_ERROR);
    };
    if !to_stdout {
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&partial, file))
            .map_err(write_err)?;
        let report = json!({"file": file, "rows": end["rows"], "bytes": bytes});
        if json_out {
            println!("{report}");
        } else {
            println!(
                "exported {} rows ({bytes} bytes) to {}",
                end["rows"],
                file.display()
            );
        }
    }
    Ok(EXIT_OK)
}

/// Streams FILE (or stdin for `-`) to `POST /v1/import-all`.
async fn import_all(conn: &mut Connection, file: &Path, json_out: bool) -> Result<i32, CtlError> {
    use futures_util::StreamExt;
    let reader: Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin> = if file.as_os_str() == "-" {
        Box::new(tokio::io::stdin())
    } else {
        Box::new(
            tokio::fs::File::open(file)
                .await
                .map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", file.display())))?,
        )
    };
    let stream =
        tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).map(|r| r.map(Frame::data));
    let body = BodyExt::boxed(StreamBody::new(stream));
    let (status, bytes) = conn
        .send_collect(Method::POST, "/v1/import-all", body, false)
        .await?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        return Ok(print_answer(&CtlCommand::Status, Err(value), json_out));
    }
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!(
            "loaded {} rows; {} vectors indexed",
            value["rows"], value["vectors"]
        );
        if let Some(t) = value["tables"].as_object() {
            for (table, n) in t {
                println!("  {table}: {n}");
            }
        }
    }
    Ok(EXIT_OK)
}
