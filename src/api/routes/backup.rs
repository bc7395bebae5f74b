//! Checkpoints, snapshots, export and import of everything.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::api::{ApiError, AppState};
use crate::checkpoint;
use crate::store::{Exports, ImportMsg, StoreError, export, migrate};

/// `POST /v1/checkpoint`: take one now.
pub async fn take(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let taken = state.checkpointer.take("requested").await?;
    Ok(Json(json!({
        "path": taken.path,
        "bytes": taken.bytes,
        "duration_ms": taken.duration_ms,
        "wal_truncated": taken.wal_truncated,
        "removed": taken.removed,
        "index_layout_bytes": taken.index_layout_bytes,
    })))
}

/// `GET /v1/checkpoints`: snapshots on disk, newest first.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let dir = state.checkpointer.dir().to_owned();
    let snaps = tokio::task::spawn_blocking(move || checkpoint::list(&dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(
        json!({"dir": state.checkpointer.dir(), "snapshots": snaps}),
    ))
}

const EXPORT_CHUNK: usize = 256 * 1024;

/// `GET /v1/export`: every tier as JSONL, streamed from one read
/// transaction, ending with `{"memd_export_end":true,"rows":N}` so a reader
/// can tell a complete file from a cut one.
pub async fn export(State(state): State<AppState>) -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let store = state.store.clone();
    tokio::spawn(async move {
        let sender = tx.clone();
        // The sink runs on the store's reader thread (blocking sends); what
        // it still holds at the end goes out with the end marker.
        let buf = Arc::new(Mutex::new(String::with_capacity(EXPORT_CHUNK + 4096)));
        let sink = buf.clone();
        let result = store
            .export(move |line| {
                let mut buf = sink.lock().unwrap_or_else(|p| p.into_inner());
                buf.push_str(&line);
                buf.push('\n');
                if buf.len() >= EXPORT_CHUNK {
                    return sender
                        .blocking_send(Ok(Bytes::from(std::mem::take(&mut *buf))))
                        .is_ok();
                }
                true
            })
            .await;
        match result {
            Ok(rows) => {
                let mut rest = std::mem::take(&mut *buf.lock().unwrap_or_else(|p| p.into_inner()));
                rest.push_str(&json!({"memd_export_end": true, "rows": rows}).to_string());
                rest.push('\n');
                let _ = tx.send(Ok(Bytes::from(rest))).await;
                tracing::info!(rows, "export streamed");
            }
            Err(e) => {
                tracing::error!(error = %e, "export failed");
                // Cuts the response short: the reader sees no end marker.
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

const IMPORT_BATCH: usize = 1000;

/// `POST /v1/import-all`: loads an export into an empty store, all or
/// nothing (one transaction; other writes wait until it is done).
pub async fn import_all(
    State(state): State<AppState>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let (tx, done) = state.store.import_all().await?;
    let mut ctx = ImportCtx {
        tx: Some(tx),
        ..ImportCtx::default()
    };
    let mut body = req.into_body().into_data_stream();
    let fed = feed(&state, &mut body, &mut ctx).await;
    let writer_failed = matches!(fed, Err(Feed::WriterGone));
    if let Err(Feed::Bad(e)) = fed {
        ctx.tx = None; // aborts the transaction
        let _ = done.await;
        drain(&mut body).await;
        return Err(e);
    }
    if !writer_failed && !ctx.send(ImportMsg::Commit).await {
        return Err(import_error(done.await, &ctx));
    }
    ctx.tx = None;
    match done.await {
        Ok(Ok((rows, vectors))) => {
            tracing::info!(rows, vectors, "import-all finished");
            Ok(Json(
                json!({"rows": rows, "tables": ctx.per_table, "vectors": vectors}),
            ))
        }
        other => Err(import_error(other, &ctx)),
    }
}

fn import_error(
    result: Result<Result<(u64, usize), StoreError>, tokio::sync::oneshot::error::RecvError>,
    ctx: &ImportCtx,
) -> ApiError {
    match result {
        Ok(Err(StoreError::NotEmpty(n))) => ApiError::new(
            StatusCode::CONFLICT,
            "store_not_empty",
            format!("import-all loads into an empty store; this one holds {n} rows"),
        ),
        Ok(Err(StoreError::Invalid(m))) => ApiError::invalid(format!(
            "rows up to line {}: {m}; nothing was loaded",
            ctx.line
        )),
        Ok(Err(StoreError::Sqlite(e))) => ApiError::invalid(format!(
            "rows up to line {}: {e}; nothing was loaded",
            ctx.line
        )),
        Ok(Err(e)) => e.into(),
        Ok(Ok(_)) => ApiError::internal("import finished twice"),
        Err(_) => StoreError::Closed.into(),
    }
}

enum Feed {
    /// The request is at fault; the transaction must be aborted.
    Bad(ApiError),
    /// The writer ended the transaction (its error is in its reply).
    WriterGone,
}

/// Reads what is left of a refused upload (up to 64 MiB or 5 s) so the
/// client finishes sending and reads the error, instead of finding the
/// connection closed under it mid-body.
async fn drain(body: &mut axum::body::BodyDataStream) {
    const LIMIT: usize = 64 << 20;
    let mut seen = 0usize;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len();
            if seen > LIMIT {
                break;
            }
        }
    })
    .await;
}

async fn feed(
    state: &AppState,
    body: &mut axum::body::BodyDataStream,
    ctx: &mut ImportCtx,
) -> Result<(), Feed> {
    let max_line = state.config().api.max_body_bytes;
    let bad = |ctx: &ImportCtx, msg: String| {
        Feed::Bad(ApiError::invalid(format!(
            "line {}: {msg}; nothing was loaded",
            ctx.line
        )))
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut finished = false;
    while !finished {
        match body.next().await {
            Some(Ok(c)) => buf.extend_from_slice(&c),
            Some(Err(e)) => {
                return Err(Feed::Bad(ApiError::bad_request(format!(
                    "reading the request body: {e}"
                ))));
            }
            None => {
                finished = true;
                if !buf.is_empty() && buf.last() != Some(&b'\n') {
                    buf.push(b'\n');
                }
            }
        }
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            ctx.line += 1;
            let text = std::str::from_utf8(&line)
                .map_err(|e| bad(ctx, format!("not valid UTF-8: {e}")))?;
            ctx.parse(text.trim_end()).map_err(|m| bad(ctx, m))?;
            if ctx.batch.len() >= IMPORT_BATCH {
                let batch = std::mem::take(&mut ctx.batch);
                if !ctx.send(ImportMsg::Batch(batch)).await {
                    return Err(Feed::WriterGone);
                }
            }
        }
        if buf.len() > max_line {
            return Err(Feed::Bad(ApiError::too_large(format!(
                "line {} is longer than api.max_body_bytes; nothing was loaded",
                ctx.line + 1
            ))));
        }
    }
    if !ctx.header_seen {
        return Err(Feed::Bad(ApiError::invalid(
            "the body is not a memd export (no header line)",
        )));
    }
    match ctx.end_rows {
        Some(n) if n == ctx.rows => {}
        Some(n) => {
            return Err(bad(
                ctx,
                format!("the end marker says {n} rows, the file held {}", ctx.rows),
            ));
        }
        None => return Err(bad(ctx, "the export is cut short (no end marker)".into())),
    }
    let batch = std::mem::take(&mut ctx.batch);
    if !batch.is_empty() && !ctx.send(ImportMsg::Batch(batch)).await {
        return Err(Feed::WriterGone);
    }
    Ok(())
}

#[derive(Default)]
struct ImportCtx {
    line: u64,
    header_seen: bool,
    end_rows: Option<u64>,
    rows: u64,
    batch: Vec<export::Record>,
    per_table: BTreeMap<String, u64>,
    tx: Option<std::sync::mpsc::SyncSender<ImportMsg>>,
}

impl ImportCtx {
    /// Hands a message to the writer (off the executor: the channel blocks
    /// while the writer is busy); false when the writer has given up.
    async fn send(&self, msg: ImportMsg) -> bool {
        let Some(tx) = self.tx.clone() else {
            return false;
        };
        tokio::task::spawn_blocking(move || tx.send(msg).is_ok())
            .await
            .unwrap_or(false)
    }

    fn parse(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() {
            return Ok(());
        }
        if self.end_rows.is_some() {
            return Err("data after the end marker".into());
        }
        if !self.header_seen {
            let v: Value =
                serde_json::from_str(line).map_err(|e| format!("not a memd export header: {e}"))?;
            if v["memd_export"].as_u64() != Some(export::FORMAT_VERSION as u64) {
                return Err("not a memd export header".into());
            }
            let schema = v["schema_version"].as_u64().unwrap_or(u64::MAX);
            if schema > migrate::SCHEMA_VERSION as u64 {
                return Err(format!(
                    "the export has schema version {schema}; this memd understands up to {}",
                    migrate::SCHEMA_VERSION
                ));
            }
            self.header_seen = true;
            return Ok(());
        }
        if line.starts_with("{\"memd_export_end\"") {
            let v: Value = serde_json::from_str(line).map_err(|e| format!("end marker: {e}"))?;
            self.end_rows = Some(v["rows"].as_u64().ok_or("end marker without rows")?);
            return Ok(());
        }
        let rec = export::parse_record(line)?;
        *self.per_table.entry(rec.table.clone()).or_default() += 1;
        self.rows += 1;
        self.batch.push(rec);
        Ok(())
    }
}
