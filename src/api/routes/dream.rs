//! The dream cycle's routes: `POST /v1/dream`, `GET /v1/dream/runs`, the
//! consolidated tiers (`/v1/sessions/{sid}/gist`, `/v1/eras`, `/v1/profile`,
//! `/v1/narrative`, `/v1/self`) and the context pack (`POST /v1/context`).

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::sessions::{check_id, check_namespace, path_id};
use crate::api::wire::{ContextIn, DreamIn, RecallIn};
use crate::api::{ApiError, AppState, JsonBody};
use crate::dream::drives::Drive;
use crate::dream::{PassRequest, Trigger};
use crate::recall::context::ContextRequest;
use crate::store::{DEFAULT_NAMESPACE, DreamRuns, Eras, GistLookup, Gists, SingleTiers};

/// `POST /v1/dream`
pub async fn start(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<DreamIn>,
) -> Result<Response, ApiError> {
    if let Some(ns) = &req.namespace {
        check_namespace(ns)?;
    }
    let drive = match &req.drive {
        None => None,
        Some(d) => Some(Drive::parse(d).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown drive `{d}`; drives are continuity, coherence, curiosity"
            ))
        })?),
    };
    if drive == Some(Drive::Stability) {
        return Err(ApiError::invalid(
            "stability is a readout, not a drive that acts on its own; pick continuity, coherence or curiosity",
        ));
    }
    let pass = PassRequest {
        namespace: req.namespace,
        trigger: Trigger::Manual,
        force: req.force,
        drive,
        dry_run: req.dry_run,
        until_caught_up: req.until_caught_up,
    };
    let gate = state.dream.begin()?;
    if req.wait || req.dry_run {
        let reports = state.dream.run_tracked(gate, pass).await?;
        return Ok(Json(json!({"runs": reports})).into_response());
    }
    state.dream.spawn(gate, pass);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"started": true, "see": "GET /v1/dream/runs or memd ctl dream runs"})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NsQuery {
    namespace: Option<String>,
    limit: Option<usize>,
}

fn ns_of(q: Result<Query<NsQuery>, QueryRejection>) -> Result<(String, Option<usize>), ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    let ns = q.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&ns)?;
    Ok((ns, q.limit))
}

/// `GET /v1/dream/runs?namespace=&limit=` (no namespace: every namespace)
pub async fn runs(
    State(state): State<AppState>,
    q: Result<Query<NsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    if let Some(ns) = &q.namespace {
        check_namespace(ns)?;
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 1000);
    let runs = state.store.dream_runs(q.namespace.clone(), limit).await?;
    Ok(Json(json!({"runs": runs})))
}

/// `GET /v1/sessions/{sid}/gist`
pub async fn gist(
    State(state): State<AppState>,
    sid: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let sid = path_id(sid)?;
    match state.store.gist(&sid).await? {
        GistLookup::Found(g) => Ok(Json(g)),
        GistLookup::NoGist => Err(ApiError::not_found(format!(
            "session `{sid}` has no gist yet (the dream cycle writes it; `memd ctl dream --force` runs it now)"
        ))),
        GistLookup::NoSession => Err(ApiError::not_found(format!("no session `{sid}`"))),
    }
}

/// `GET /v1/eras?namespace=`
pub async fn eras(
    State(state): State<AppState>,
    q: Result<Query<NsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (ns, _) = ns_of(q)?;
    let eras = state.store.eras(&ns).await?;
    Ok(Json(json!({"namespace": ns, "eras": eras})))
}

/// A single-row tier as found, or why there is none.
fn single(found: Option<Value>, ns: &str, what: &str) -> Result<Json<Value>, ApiError> {
    match found {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::not_found(format!(
            "namespace `{ns}` has no {what} yet (the dream cycle builds it; `memd ctl dream --force` runs it now)"
        ))),
    }
}

/// `GET /v1/profile?namespace=`
pub async fn profile(
    State(state): State<AppState>,
    q: Result<Query<NsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (ns, _) = ns_of(q)?;
    single(state.store.profile(&ns).await?, &ns, "profile")
}

/// `GET /v1/narrative?namespace=`
pub async fn narrative(
    State(state): State<AppState>,
    q: Result<Query<NsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (ns, _) = ns_of(q)?;
    single(state.store.narrative(&ns).await?, &ns, "narrative")
}

/// `GET /v1/self?namespace=`
pub async fn self_state(
    State(state): State<AppState>,
    q: Result<Query<NsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (ns, _) = ns_of(q)?;
    single(state.store.self_state(&ns).await?, &ns, "self-state")
}

/// `POST /v1/context`
pub async fn context(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ContextIn>,
) -> Result<Json<Value>, ApiError> {
    let namespace = req
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    if let Some(s) = &req.session_id {
        check_id("session_id", s)?;
    }
    let budget = req.budget_chars.unwrap_or(4000);
    if budget == 0 || budget > 1_000_000 {
        return Err(ApiError::invalid(
            "`budget_chars` must be between 1 and 1000000",
        ));
    }
    // The recall settings are the recall route's, so the two never drift.
    let template = super::recall::query_from(
        &state,
        RecallIn {
            query: req.query.clone(),
            k: req.k,
            namespace: Some(namespace.clone()),
            session_id: None,
            tiers: None,
            budget_chars: None,
            explain: false,
            mode: None,
            vector: None,
            rrf_k: None,
            fts_weight: None,
            vector_weight: None,
            candidates: None,
            neighbor_weight: None,
            entity_boost: None,
            max_term_df: None,
            max_terms: None,
            as_of: req.as_of.clone(),
        },
    )?;
    let facts_k = state.config().recall.context_facts;
    let pack = state
        .recall
        .context(ContextRequest {
            query: req.query,
            namespace,
            session_id: req.session_id,
            budget_chars: budget,
            recall: template,
            without_dream: req.without_dream,
            facts_k,
        })
        .await?;
    Ok(Json(pack))
}
