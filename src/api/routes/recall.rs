//! `POST /v1/recall`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::sessions::{check_id, check_namespace, check_vector};
use crate::api::wire::RecallIn;
use crate::api::{ApiError, AppState, JsonBody};
use crate::recall::{Fusion, KindWeights, Mode, RecallQuery, TIERS};
use crate::store::{DEFAULT_NAMESPACE, Tier};

pub async fn recall(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RecallIn>,
) -> Result<Json<Value>, ApiError> {
    let explain = req.explain;
    let q = query_from(&state, req)?;
    let mode = q.mode;
    let (results, took_ms) = state.recall.recall(q).await?;
    let results: Vec<Value> = results
        .into_iter()
        .map(|h| {
            let mut v = serde_json::to_value(&h).unwrap_or(Value::Null);
            if explain {
                v["explain"] = serde_json::to_value(&h.explain).unwrap_or(Value::Null);
            }
            v
        })
        .collect();
    Ok(Json(
        json!({"results": results, "mode": mode, "took_ms": took_ms}),
    ))
}

/// Validates a recall request into the engine's query (shared with the
/// context pack).
pub fn query_from(state: &AppState, req: RecallIn) -> Result<RecallQuery, ApiError> {
    let cfg = state.config();
    let vector = req
        .vector
        .map(|v| check_vector("vector", v, state.embedder.dim()))
        .transpose()?;
    if req.query.trim().is_empty() && vector.is_none() {
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
    let tiers = parse_tiers(req.tiers.as_deref())?;
    let number = |name: &str, v: Option<f64>, default: f64| -> Result<f64, ApiError> {
        match v {
            Some(x) if !(x >= 0.0 && x.is_finite()) => {
                Err(ApiError::invalid(format!("`{name}` must be a number ≥ 0")))
            }
            Some(x) => Ok(x),
            None => Ok(default),
        }
    };
    let fusion = Fusion {
        rrf_k: number("rrf_k", req.rrf_k, cfg.recall.rrf_k)?,
        fts_weight: number("fts_weight", req.fts_weight, cfg.recall.fts_weight)?,
        vector_weight: number("vector_weight", req.vector_weight, cfg.recall.vector_weight)?,
        candidates: req
            .candidates
            .unwrap_or(cfg.recall.candidates)
            .clamp(1, 10_000),
        neighbor_weight: number(
            "neighbor_weight",
            req.neighbor_weight,
            cfg.recall.neighbor_weight,
        )?,
        entity_boost: number("entity_boost", req.entity_boost, cfg.recall.entity_boost)?,
        max_term_df: number("max_term_df", req.max_term_df, cfg.recall.max_term_df)?,
        max_terms: req.max_terms.unwrap_or(cfg.recall.max_terms).clamp(1, 1000),
        kind_weights: KindWeights::from_config(&cfg.recall),
    };
    let as_of = req
        .as_of
        .as_deref()
        .map(|s| {
            crate::time::parse_rfc3339(s).map_err(|e| ApiError::invalid(format!("`as_of`: {e}")))
        })
        .transpose()?;
    let mode = req.mode.unwrap_or(Mode::Hybrid);
    Ok(RecallQuery {
        query: req.query,
        k,
        namespace,
        session_id: req.session_id,
        mode,
        budget_chars: req.budget_chars,
        fusion,
        vector,
        tiers,
        as_of,
    })
}

/// The request's `tiers` (absent: all of them).
pub fn parse_tiers(tiers: Option<&[String]>) -> Result<Vec<Tier>, ApiError> {
    let Some(tiers) = tiers else {
        return Ok(Vec::new());
    };
    if tiers.is_empty() {
        return Err(ApiError::invalid("`tiers` must name at least one tier"));
    }
    tiers
        .iter()
        .map(|t| {
            Tier::parse(t).ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown tier `{t}`; this store has {}",
                    TIERS.join(", ")
                ))
            })
        })
        .collect()
}
