//! Sessions and exchanges: remember, bulk import, list, read, delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::wire::ExchangeIn;
use crate::api::{ApiError, AppState, JsonBody, read_body};
use crate::config::ApiConfig;
use crate::embed::Embedder;
use crate::store::{
    DEFAULT_NAMESPACE, Exchange, InsertOutcome, NewExchange, Role, SessionInfo, read,
};
use crate::time;

const MAX_ID_BYTES: usize = 256;
const MAX_NAMESPACE_BYTES: usize = 128;
/// Rows embedded per blocking task during an import.
const IMPORT_CHUNK: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub session_id: String,
    pub role: String,
    pub content: String,
    pub created_at: Option<String>,
    pub ext_id: Option<String>,
    pub namespace: Option<String>,
    pub metadata: Option<Value>,
    pub embedding: Option<Vec<f32>>,
}

impl From<ImportLine> for (String, ExchangeIn) {
    fn from(l: ImportLine) -> Self {
        (
            l.session_id,
            ExchangeIn {
                role: l.role,
                content: l.content,
                created_at: l.created_at,
                ext_id: l.ext_id,
                namespace: l.namespace,
                metadata: l.metadata,
                embedding: l.embedding,
            },
        )
    }
}

pub fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ApiError::invalid(format!(
            "`{field}` must be 1 to {MAX_ID_BYTES} bytes"
        )));
    }
    refuse_deceptive(field, id)
}

/// Ids are shown to people: one that displays as something else is refused.
fn refuse_deceptive(field: &str, id: &str) -> Result<(), ApiError> {
    match crate::unicode::find_deceptive(id) {
        Some((c, why)) => Err(ApiError::invalid(format!(
            "`{field}` contains {why} (U+{:04X}); ids must display as what they are",
            c as u32
        ))),
        None => Ok(()),
    }
}

pub fn check_namespace(ns: &str) -> Result<(), ApiError> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_BYTES {
        return Err(ApiError::invalid(format!(
            "`namespace` must be 1 to {MAX_NAMESPACE_BYTES} bytes"
        )));
    }
    refuse_deceptive("namespace", ns)
}

/// Turns a wire exchange into a row (not yet embedded), or says why not.
fn validate(
    session_id: String,
    x: ExchangeIn,
    limits: &ApiConfig,
    dim: usize,
) -> Result<NewExchange, ApiError> {
    check_id("session_id", &session_id)?;
    let role = Role::parse(&x.role).ok_or_else(|| {
        ApiError::invalid(format!(
            "`role` is `{}`; expected one of user, assistant, system, tool",
            x.role
        ))
    })?;
    if x.content.trim().is_empty() {
        return Err(ApiError::invalid("`content` must not be empty"));
    }
    if x.content.len() > limits.max_content_bytes {
        return Err(ApiError::invalid(format!(
            "`content` is {} bytes; the limit is api.max_content_bytes = {}",
            x.content.len(),
            limits.max_content_bytes
        )));
    }
    let created_at = match &x.created_at {
        Some(s) => {
            time::parse_rfc3339(s).map_err(|e| ApiError::invalid(format!("`created_at`: {e}")))?
        }
        None => time::now_ms(),
    };
    if let Some(ext) = &x.ext_id {
        check_id("ext_id", ext)?;
    }
    if let Some(ns) = &x.namespace {
        check_namespace(ns)?;
    }
    let metadata = match x.metadata {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let s = v.to_string();
            if s.len() > limits.max_metadata_bytes {
                return Err(ApiError::invalid(format!(
                    "`metadata` is {} bytes; the limit is api.max_metadata_bytes = {}",
                    s.len(),
                    limits.max_metadata_bytes
                )));
            }
            Some(s)
        }
        Some(_) => return Err(ApiError::invalid("`metadata` must be a JSON object")),
    };
    let embedding = x
        .embedding
        .map(|v| check_vector("embedding", v, dim))
        .transpose()?;
    Ok(NewExchange {
        session_id,
        namespace: x.namespace,
        role,
        content: x.content,
        created_at,
        ext_id: x.ext_id,
        metadata,
        embedding,
    })
}

/// A client-supplied vector: the current model's dimension, finite, not
/// all zeros; returned L2-normalised like every stored vector.
pub fn check_vector(field: &str, mut v: Vec<f32>, dim: usize) -> Result<Vec<f32>, ApiError> {
    if v.len() != dim {
        return Err(ApiError::invalid(format!(
            "`{field}` has {} values; the current embedding model has {dim}",
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) || v.iter().all(|x| *x == 0.0) {
        return Err(ApiError::invalid(format!(
            "`{field}` must be finite and not all zeros"
        )));
    }
    // Scaled first, so huge values cannot overflow the norm and tiny ones
    // cannot underflow it; a vector that still is not unit length is refused.
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    v.iter_mut().for_each(|x| *x /= max);
    crate::index::normalize(&mut v);
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(norm - 1.0).abs().lt(&1e-3) {
        return Err(ApiError::invalid(format!(
            "`{field}` cannot be normalised to unit length"
        )));
    }
    Ok(v)
}

/// Embeds rows on a blocking thread (the embedder is CPU-bound).
async fn embed(
    embedder: Arc<dyn Embedder>,
    mut rows: Vec<NewExchange>,
) -> Result<Vec<NewExchange>, ApiError> {
    // Writes never wait for a model: only an embedder cheap enough to run
    // inline embeds here; for the others the background queue does it.
    if !embedder.inline() || rows.iter().all(|r| r.embedding.is_some()) {
        return Ok(rows);
    }
    tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = rows
            .iter()
            .filter(|r| r.embedding.is_none())
            .map(|r| r.content.as_str())
            .collect();
        let vectors = embedder
            .embed(&texts)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let missing = rows.iter_mut().filter(|r| r.embedding.is_none());
        for (row, v) in missing.zip(vectors) {
            row.embedding = Some(v);
        }
        Ok(rows)
    })
    .await
    .map_err(|e| ApiError::internal(format!("embedding task failed: {e}")))?
}

pub(crate) fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(sid) = p.map_err(|e| ApiError::bad_request(e.body_text()))?;
    check_id("session_id", &sid)?;
    Ok(sid)
}

pub fn exchange_json(x: &Exchange) -> Value {
    json!({
        "id": x.id,
        "session_id": x.session_id,
        "namespace": x.namespace,
        "role": x.role,
        "content": x.content,
        "created_at": time::to_rfc3339(x.created_at),
        "ext_id": x.ext_id,
        "metadata": x.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()),
    })
}

fn session_json(s: &SessionInfo) -> Value {
    json!({
        "id": s.id,
        "namespace": s.namespace,
        "created_at": time::to_rfc3339(s.created_at),
        "updated_at": time::to_rfc3339(s.updated_at),
        "exchanges": s.exchanges,
    })
}

/// `POST /v1/sessions/{sid}/exchanges`
pub async fn remember(
    State(state): State<AppState>,
    sid: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<ExchangeIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sid = path_id(sid)?;
    let limits = state.config().api;
    let row = validate(sid.clone(), body, &limits, state.embedder.dim())?;
    let created_at = row.created_at;
    let rows = embed(state.embedder.clone(), vec![row]).await?;
    let outcome = state.store.insert(rows).await?.pop();
    let (status, id, namespace, duplicate) = match outcome {
        Some(InsertOutcome::Inserted { id, namespace }) => {
            (StatusCode::CREATED, id, namespace, false)
        }
        Some(InsertOutcome::Duplicate { id, namespace }) => (StatusCode::OK, id, namespace, true),
        Some(InsertOutcome::NamespaceMismatch { existing }) => {
            return Err(ApiError::conflict(format!(
                "session `{sid}` belongs to namespace `{existing}`"
            )));
        }
        None => return Err(ApiError::internal("the store returned no outcome")),
    };
    Ok((
        status,
        Json(json!({
            "id": id,
            "session_id": sid,
            "namespace": namespace,
            "created_at": time::to_rfc3339(created_at),
            "duplicate": duplicate,
        })),
    ))
}

/// `POST /v1/import`: NDJSON, one exchange per line with its `session_id`.
/// Bad lines are reported by number; the good ones are stored.
pub async fn import(State(state): State<AppState>, req: Request) -> Result<Json<Value>, ApiError> {
    let body = read_body(req, &()).await?;
    let limits = state.config().api;
    let dim = state.embedder.dim();
    let mut rejected: Vec<Value> = Vec::new();
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| format!("not valid UTF-8: {e}"))
            .and_then(|s| crate::api::parse_json::<ImportLine>(s.as_bytes()).map_err(|e| e.message))
            .and_then(|l| {
                let (sid, x) = l.into();
                validate(sid, x, &limits, dim).map_err(|e| e.message)
            });
        match parsed {
            Ok(row) => {
                rows.push(row);
                lines.push(line_no);
            }
            Err(error) => rejected.push(json!({"line": line_no, "error": error})),
        }
    }

    // Embedded in chunks (bounded blocking work), stored in one write: a
    // request is atomic, so a crash or a full disk leaves all of it or none.
    let mut embedded = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<NewExchange> = rows.by_ref().take(IMPORT_CHUNK).collect();
        embedded.extend(embed(state.embedder.clone(), chunk).await?);
    }
    let (mut imported, mut duplicates) = (0usize, 0usize);
    if !embedded.is_empty() {
        let outcomes = state.store.insert(embedded).await.map_err(|e| {
            let mut err = ApiError::from(e);
            err.message = format!(
                "{} (nothing from this request was stored; re-sending it is safe)",
                err.message
            );
            err
        })?;
        for (outcome, line) in outcomes.into_iter().zip(lines) {
            match outcome {
                InsertOutcome::Inserted { .. } => imported += 1,
                InsertOutcome::Duplicate { .. } => duplicates += 1,
                InsertOutcome::NamespaceMismatch { existing } => rejected.push(json!({
                    "line": line,
                    "error": format!("the session belongs to namespace `{existing}`"),
                })),
            }
        }
    }
    rejected.sort_by_key(|r| r["line"].as_u64());
    Ok(Json(json!({
        "imported": imported,
        "duplicates": duplicates,
        "rejected": rejected,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    namespace: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /v1/sessions?namespace=&limit=&offset=`
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    let namespace = q.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    let limit = q.limit.unwrap_or(100).min(10_000);
    let offset = q.offset.unwrap_or(0);
    let ns = namespace.clone();
    let sessions = state
        .store
        .read(move |c| read::sessions(c, &ns, limit, offset))
        .await?;
    Ok(Json(json!({
        "namespace": namespace,
        "sessions": sessions.iter().map(session_json).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    after: Option<i64>,
    limit: Option<usize>,
}

/// `GET /v1/sessions/{sid}?after=&limit=`: the session and its exchanges,
/// oldest first.
pub async fn show(
    State(state): State<AppState>,
    sid: Result<Path<String>, PathRejection>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let sid = path_id(sid)?;
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100_000).min(100_000);
    let id = sid.clone();
    let Some(info) = state.store.read(move |c| read::session(c, &id)).await? else {
        return Err(ApiError::not_found(format!("no session `{sid}`")));
    };
    // Streamed page by page: a session of any size costs a few pages of
    // memory, however many clients read it at once.
    let head = format!("{{\"session\":{},\"exchanges\":[", session_json(&info));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(2);
    let store = state.store.clone();
    tokio::spawn(async move {
        if tx.send(Ok(head.into())).await.is_err() {
            return;
        }
        let (mut from, mut left, mut first) = (None, limit, true);
        while left > 0 {
            let id = sid.clone();
            let page = SHOW_PAGE.min(left);
            let rows = match store
                .read(move |c| read::session_exchanges_from(c, &id, after, from, page))
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    // The status is sent; cutting the body short is how
                    // the client learns (its JSON does not close).
                    tracing::warn!(session = %sid, error = %e, "reading a session failed mid-answer");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let mut chunk = Vec::with_capacity(rows.len() * 256);
            for x in &rows {
                if !first {
                    chunk.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut chunk, &exchange_json(x)).expect("a Value serialises");
            }
            left -= rows.len();
            from = rows.last().map(|x| (x.created_at, x.id));
            let done = rows.len() < page;
            if !chunk.is_empty() && tx.send(Ok(chunk.into())).await.is_err() {
                return;
            }
            if done {
                break;
            }
        }
        let _ = tx.send(Ok("]}".into())).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// Exchanges per read while streaming a session.
const SHOW_PAGE: usize = 256;

/// `DELETE /v1/sessions/{sid}`: removes the session, its exchanges and
/// their vectors before answering.
pub async fn delete(
    State(state): State<AppState>,
    sid: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let sid = path_id(sid)?;
    match state.store.delete_session(sid.clone()).await? {
        Some(d) => {
            tracing::info!(session = %sid, namespace = %d.namespace, exchanges = d.exchanges, "session deleted");
            Ok(Json(json!({
                "deleted": sid,
                "namespace": d.namespace,
                "exchanges": d.exchanges,
            })))
        }
        None => Err(ApiError::not_found(format!("no session `{sid}`"))),
    }
}
