//! One function per `memd ctl` command (or small group): the request it
//! sends, as a [`crate::wire`] type, and the renderer of its answer.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Method;
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use super::client::{Connection, full};
use super::{CtlError, EXIT_DAEMON_ERROR, EXIT_OK, render};
use crate::wire::{
    ContextIn, DreamIn, ErrorOut, ExchangeIn, ExportEnd, ImportOut, PatchIn, RecallIn, ReembedIn,
    Rejected, SyncIn,
};

pub(super) type Done = Result<i32, CtlError>;

/// Percent-encodes a path segment or query value.
pub(super) fn enc(s: &str) -> String {
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

/// `path`, with `?namespace=NS` (or `&…` when it has a query) if given.
fn with_namespace(mut path: String, namespace: Option<&str>) -> String {
    if let Some(ns) = namespace {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&format!("namespace={}", enc(ns)));
    }
    path
}

pub(super) async fn status(conn: &mut Connection, json_out: bool) -> Done {
    let answer = conn.call(Method::GET, "/v1/status", None).await?;
    Ok(render::answer(answer, json_out, render::status))
}

pub(super) async fn remember(
    conn: &mut Connection,
    json_out: bool,
    session: &str,
    exchange: &ExchangeIn,
) -> Done {
    let path = format!("/v1/sessions/{}/exchanges", enc(session));
    let answer = conn.call_with(Method::POST, &path, exchange).await?;
    Ok(render::answer(answer, json_out, render::remembered))
}

pub(super) async fn recall(conn: &mut Connection, json_out: bool, req: &RecallIn) -> Done {
    let answer = conn.call_with(Method::POST, "/v1/recall", req).await?;
    Ok(render::answer(answer, json_out, render::recall))
}

pub(super) async fn context(conn: &mut Connection, json_out: bool, req: &ContextIn) -> Done {
    let answer = conn.call_with(Method::POST, "/v1/context", req).await?;
    Ok(render::answer(answer, json_out, render::context))
}

pub(super) async fn sessions(
    conn: &mut Connection,
    json_out: bool,
    namespace: Option<&str>,
    limit: usize,
) -> Done {
    let path = with_namespace(format!("/v1/sessions?limit={limit}"), namespace);
    let answer = conn.call(Method::GET, &path, None).await?;
    Ok(render::answer(answer, json_out, render::sessions))
}

pub(super) async fn history(conn: &mut Connection, json_out: bool, session: &str) -> Done {
    let path = format!("/v1/sessions/{}", enc(session));
    let answer = conn.call(Method::GET, &path, None).await?;
    Ok(render::answer(answer, json_out, render::history))
}

pub(super) async fn forget_session(conn: &mut Connection, json_out: bool, session: &str) -> Done {
    let path = format!("/v1/sessions/{}", enc(session));
    let answer = conn.call(Method::DELETE, &path, None).await?;
    Ok(render::answer(answer, json_out, render::deleted))
}

pub(super) async fn checkpoint(conn: &mut Connection, json_out: bool) -> Done {
    let answer = conn.call(Method::POST, "/v1/checkpoint", None).await?;
    Ok(render::answer(answer, json_out, render::checkpoint))
}

pub(super) async fn checkpoints(conn: &mut Connection, json_out: bool) -> Done {
    let answer = conn.call(Method::GET, "/v1/checkpoints", None).await?;
    Ok(render::answer(answer, json_out, render::checkpoints))
}

pub(super) async fn reembed(conn: &mut Connection, json_out: bool, all: bool) -> Done {
    let answer = conn
        .call_with(Method::POST, "/v1/reembed", &ReembedIn { all })
        .await?;
    Ok(render::answer(answer, json_out, |r| {
        render::reembed(r, all)
    }))
}

pub(super) async fn dream(conn: &mut Connection, json_out: bool, req: &DreamIn) -> Done {
    let answer = conn.call_with(Method::POST, "/v1/dream", req).await?;
    Ok(render::answer(answer, json_out, render::dream_started))
}

pub(super) async fn dream_runs(
    conn: &mut Connection,
    json_out: bool,
    namespace: Option<&str>,
    limit: usize,
) -> Done {
    let path = with_namespace(format!("/v1/dream/runs?limit={limit}"), namespace);
    let answer = conn.call(Method::GET, &path, None).await?;
    Ok(render::answer(answer, json_out, render::dream_runs))
}

pub(super) async fn gist(conn: &mut Connection, json_out: bool, session: &str) -> Done {
    let path = format!("/v1/sessions/{}/gist", enc(session));
    let answer = conn.call(Method::GET, &path, None).await?;
    Ok(render::answer(answer, json_out, render::gist))
}

/// A namespace's consolidated tier: eras, profile, narrative or self.
#[derive(Debug, Clone, Copy)]
pub(super) enum Tier {
    Eras,
    Profile,
    Narrative,
    SelfState,
}

pub(super) async fn tier(
    conn: &mut Connection,
    json_out: bool,
    tier: Tier,
    namespace: Option<&str>,
) -> Done {
    let route = match tier {
        Tier::Eras => "eras",
        Tier::Profile => "profile",
        Tier::Narrative => "narrative",
        Tier::SelfState => "self",
    };
    let path = with_namespace(format!("/v1/{route}"), namespace);
    let answer = conn.call(Method::GET, &path, None).await?;
    Ok(match tier {
        Tier::Eras => render::answer(answer, json_out, render::eras),
        Tier::Profile => render::answer(answer, json_out, render::profile),
        Tier::Narrative => render::answer(answer, json_out, render::narrative),
        Tier::SelfState => render::answer(answer, json_out, render::self_state),
    })
}

pub(super) async fn sources(conn: &mut Connection, json_out: bool) -> Done {
    let answer = conn.call(Method::GET, "/v1/sources", None).await?;
    Ok(render::answer(answer, json_out, render::sources))
}

pub(super) async fn sync(
    conn: &mut Connection,
    json_out: bool,
    source: &str,
    req: &SyncIn,
) -> Done {
    let path = format!("/v1/sources/{}/sync", enc(source));
    let answer = conn.call_with(Method::POST, &path, req).await?;
    Ok(render::answer(answer, json_out, render::synced))
}

/// What `ctl concept` does to the concept.
pub(super) enum ConceptOp {
    Show,
    Edit(PatchIn),
    Remove,
}

pub(super) async fn concept(
    conn: &mut Connection,
    json_out: bool,
    name: &str,
    namespace: Option<&str>,
    op: &ConceptOp,
) -> Done {
    let path = with_namespace(format!("/v1/concepts/{}", enc(name)), namespace);
    let answer = match op {
        ConceptOp::Show => conn.call(Method::GET, &path, None).await?,
        ConceptOp::Edit(patch) => conn.call_with(Method::PATCH, &path, patch).await?,
        ConceptOp::Remove => conn.call(Method::DELETE, &path, None).await?,
    };
    Ok(render::answer(answer, json_out, render::concept))
}

/// Largest import request ctl sends; bigger files go in several requests
/// split at line boundaries, with line numbers adjusted in the report.
const IMPORT_REQUEST_BYTES: usize = 4 * 1024 * 1024;

pub(super) async fn import(conn: &mut Connection, file: &Path, json_out: bool) -> Done {
    let mut data = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut data)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut data))
    };
    read.map_err(|e| CtlError::Usage(format!("cannot read {}: {e}", file.display())))?;

    let mut report = ImportOut::default();
    let mut line_offset = 0u64;
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
        let lines_in_chunk = chunk.iter().filter(|b| **b == b'\n').count() as u64;
        let (status, body) = conn
            .request(
                Method::POST,
                "/v1/import",
                Some(Bytes::copy_from_slice(chunk)),
            )
            .await?;
        if !status.is_success() {
            let e = serde_json::from_slice::<ErrorOut>(&body)
                .unwrap_or_default()
                .error;
            eprintln!(
                "memd: {}: {} (request covering lines {}..{}; {} lines imported before it)",
                e.code.as_deref().unwrap_or("error"),
                e.message.as_deref().unwrap_or(""),
                line_offset + 1,
                line_offset + lines_in_chunk.max(1),
                report.imported
            );
            return Ok(EXIT_DAEMON_ERROR);
        }
        let part: ImportOut = serde_json::from_slice(&body).unwrap_or_default();
        report.imported += part.imported;
        report.duplicates += part.duplicates;
        report.quarantined += part.quarantined;
        report.flagged += part.flagged;
        report
            .rejected
            .extend(part.rejected.into_iter().map(|r| Rejected {
                line: r.line + line_offset,
                ..r
            }));
        line_offset += lines_in_chunk;
        rest = tail;
    }
    if json_out {
        let report = serde_json::to_value(&report).unwrap_or_default();
        println!("{}", render::pretty(&report));
    } else {
        println!(
            "imported {}, duplicates {}, rejected {}",
            report.imported,
            report.duplicates,
            report.rejected.len()
        );
        if report.quarantined + report.flagged > 0 {
            println!(
                "write firewall: quarantined {}, flagged {} (memd ctl quarantine list)",
                report.quarantined, report.flagged
            );
        }
        let mut err = std::io::stderr().lock();
        for r in &report.rejected {
            let _ = writeln!(err, "  line {}: {}", r.line, r.error);
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
    render::error(&value, json_out)
}

/// Streams `GET /v1/export` into FILE (via FILE.partial, renamed only once
/// the end marker arrived), or to stdout for `-`.
pub(super) async fn export(conn: &mut Connection, file: &Path, json_out: bool) -> Done {
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
    let end = serde_json::from_str::<ExportEnd>(last)
        .ok()
        .filter(|end| end.memd_export_end);
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
        if json_out {
            println!(
                "{}",
                json!({"file": file, "rows": end.rows, "bytes": bytes})
            );
        } else {
            println!(
                "exported {} rows ({bytes} bytes) to {}",
                end.rows,
                file.display()
            );
        }
    }
    Ok(EXIT_OK)
}

/// Streams FILE (or stdin for `-`) to `POST /v1/import-all`.
pub(super) async fn import_all(conn: &mut Connection, file: &Path, json_out: bool) -> Done {
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
    let answer = if status.is_success() {
        Ok(value)
    } else {
        Err(value)
    };
    Ok(render::answer(answer, json_out, render::imported_all))
}
