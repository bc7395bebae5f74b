//! `POST /v1/recall`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sessions::{check_id, check_namespace};
use crate::api::{ApiError, AppState, JsonBody};
use crate::recall::RecallQuery;
use crate::store::DEFAULT_NAMESPACE;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallIn {
    pub query: String,
    pub k: Option<usize>,
    pub namespace: Option<String>,
    pub session_id: Option<String>,
}

pub async fn recall(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RecallIn>,
) -> Result<Json<Value>, ApiError> {
    let cfg = state.config();
    if req.query.trim().is_empty() {
        return Err(ApiError::invalid("`query` must not be empty"));
    }
    if req.query.len() > cfg.api.max_content_bytes {
        return Err(ApiError::invalid(format!(
            "`query` is {} bytes; the limit is api.max_content_bytes = {}",
            req.query.len(),
            cfg.api.max_content_bytes
        )));
    }
    let k = req.k.unwrap_or(cfg.recall.default_k);
    if k == 0 || k > cfg.recall.max_k {
        return Err(ApiError::invalid(format!(
            "`k` must be between 1 and {}",
            cfg.recall.max_k
        )));
    }
    let namespace = req
        .namespace
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    if let Some(sid) = &req.session_id {
        check_id("session_id", sid)?;
    }
    let (results, took_ms) = state
        .recall
        .recall(RecallQuery {
            query: req.query,
            k,
            namespace,
            session_id: req.session_id,
        })
        .await?;
    Ok(Json(json!({"results": results, "took_ms": took_ms})))
}
