//! Sessions and exchanges: remember, bulk import, list, read, delete.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::wire::ExchangeIn;
use crate::api::{ApiError, AppState, JsonBody, read_body};
use crate::ingest::{Ingest, IngestError};
use crate::store::{Conversations, DEFAULT_NAMESPACE, Exchange, SessionInfo};
use crate::time;

/// The other routes check ids and vectors by the write path's rules.
pub use crate::ingest::{check_id, check_namespace, check_vector};

fn ingest(state: &AppState) -> Ingest {
    Ingest {
        store: state.store.clone(),
        embedder: state.embedder.clone(),
        firewall: state.config().firewall.clone(),
    }
}

/// What the firewall did with a stored text, for a write's answer: nothing
/// when it was clean, else `quarantined` or `flagged` with the classes.
pub(crate) fn screen_fields(answer: &mut Value, screen: Option<&crate::store::Screened>) {
    if let (Some(s), Some(obj)) = (screen, answer.as_object_mut()) {
        obj.insert(s.mark.as_str().to_owned(), Value::Bool(true));
        obj.insert(
            "firewall".to_owned(),
            json!({"classes": s.classes, "reason": s.reason}),
        );
    }
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
    let limits = &state.config().api;
    let r = ingest(&state).remember(sid.clone(), body, limits).await?;
    let status = if r.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut answer = json!({
        "id": r.id,
        "session_id": sid,
        "namespace": r.namespace,
        "created_at": time::to_rfc3339(r.created_at),
        "duplicate": r.duplicate,
    });
    screen_fields(&mut answer, r.screen.as_ref());
    Ok((status, Json(answer)))
}

/// `POST /v1/import`: NDJSON, one exchange per line with its `session_id`.
/// Bad lines are reported by number; the good ones are stored.
pub async fn import(State(state): State<AppState>, req: Request) -> Result<Json<Value>, ApiError> {
    let body = read_body(req, &()).await?;
    let limits = &state.config().api;
    let report = match ingest(&state).import(&body, limits).await {
        Ok(r) => r,
        Err(IngestError::Store(e)) => {
            let mut err = ApiError::from(e);
            err.message = format!(
                "{} (nothing from this request was stored; re-sending it is safe)",
                err.message
            );
            return Err(err);
        }
        Err(e) => return Err(e.into()),
    };
    let firewall: std::collections::HashMap<usize, Vec<String>> =
        report.firewall.into_iter().collect();
    let rejected: Vec<Value> = report
        .rejected
        .into_iter()
        .map(|(line, error)| match firewall.get(&line) {
            Some(classes) => json!({"line": line, "error": error,
                "code": "firewall_rejected", "classes": classes}),
            None => json!({"line": line, "error": error}),
        })
        .collect();
    Ok(Json(json!({
        "imported": report.imported,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
        "flagged": report.flagged,
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
    let sessions = state
        .store
        .sessions(namespace.clone(), limit, offset)
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
    let Some(info) = state.store.session(sid.clone()).await? else {
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
            let page = SHOW_PAGE.min(left);
            let rows = match store.session_page(sid.clone(), after, from, page).await {
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
