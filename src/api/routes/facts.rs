//! The facts tier: `/v1/facts` (create, list), `/v1/facts/{id}` (show with
//! history, edit, forget), `/v1/facts/{id}/promote` and `/reject`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::sessions::check_namespace;
use crate::api::wire::{
    FactCreatedOut, FactEditIn, FactForgottenOut, FactHistoryOut, FactIn, FactReviewedOut,
    FactsOut, FirewallOut,
};
use crate::api::{ApiError, AppState, JsonBody};
use crate::learn::{FactWriter, fact_out, parse_instant, parse_kind, parse_status};
use crate::store::{Created, DEFAULT_NAMESPACE, FactFilter, Facts, Mark};

fn writer(state: &AppState) -> FactWriter {
    FactWriter {
        store: state.store.clone(),
        embedder: state.embedder.clone(),
        firewall: state.config().firewall.clone(),
    }
}

fn fact_id(p: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = p.map_err(|e| ApiError::bad_request(e.body_text()))?;
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no fact `{id}` (fact ids are numbers)")))
}

fn created(c: Created) -> (StatusCode, Json<FactCreatedOut>) {
    (
        StatusCode::CREATED,
        Json(FactCreatedOut {
            fact: fact_out(&c.fact),
            superseded: c.superseded.as_ref().map(fact_out),
            quarantined: c
                .screen
                .as_ref()
                .is_some_and(|s| s.mark == Mark::Quarantined),
            flagged: c.screen.as_ref().is_some_and(|s| s.mark == Mark::Flagged),
            firewall: c.screen.map(|s| FirewallOut {
                classes: s.classes,
                reason: s.reason,
            }),
        }),
    )
}

/// `POST /v1/facts`
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<FactIn>,
) -> Result<(StatusCode, Json<FactCreatedOut>), ApiError> {
    let limits = &state.config().api;
    Ok(created(writer(&state).create(body, limits).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    namespace: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    subject: Option<String>,
    slot: Option<String>,
    as_of: Option<String>,
    include_retired: Option<bool>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /v1/facts?namespace=&status=&kind=&subject=&slot=&as_of=&include_retired=&limit=&offset=`
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<FactsOut>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    let namespace = q.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    let filter = FactFilter {
        namespace: namespace.clone(),
        status: q.status.as_deref().map(parse_status).transpose()?,
        kind: q.kind.as_deref().map(parse_kind).transpose()?,
        subject: q.subject.map(|s| s.trim().to_owned()),
        slot: q.slot.map(|s| s.trim().to_lowercase()),
        as_of: q
            .as_of
            .as_deref()
            .map(|s| parse_instant("as_of", s))
            .transpose()?,
        include_retired: q.include_retired.unwrap_or(false),
        limit: q.limit.unwrap_or(100).clamp(1, 10_000),
        offset: q.offset.unwrap_or(0),
    };
    let facts = state.store.list_facts(filter).await?;
    Ok(Json(FactsOut {
        namespace,
        facts: facts.iter().map(fact_out).collect(),
    }))
}

/// `GET /v1/facts/{id}`: the fact and its versions, oldest first.
pub async fn show(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<FactHistoryOut>, ApiError> {
    let id = fact_id(id)?;
    let Some(h) = state.store.fact_history(id).await? else {
        return Err(ApiError::not_found(format!("no fact {id}")));
    };
    Ok(Json(FactHistoryOut {
        fact: fact_out(&h.fact),
        history: h.chain.iter().map(fact_out).collect(),
    }))
}

/// `PATCH /v1/facts/{id}` (or `POST /v1/facts/{id}/edit`): a new version
/// that supersedes the fact.
pub async fn edit(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<FactEditIn>,
) -> Result<(StatusCode, Json<FactCreatedOut>), ApiError> {
    let id = fact_id(id)?;
    let limits = &state.config().api;
    Ok(created(writer(&state).edit(id, body, limits).await?))
}

/// `POST /v1/facts/{id}/promote`
pub async fn promote(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<FactReviewedOut>, ApiError> {
    review(state, id, true).await
}

/// `POST /v1/facts/{id}/reject`
pub async fn reject(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<FactReviewedOut>, ApiError> {
    review(state, id, false).await
}

async fn review(
    state: AppState,
    id: Result<Path<String>, PathRejection>,
    accept: bool,
) -> Result<Json<FactReviewedOut>, ApiError> {
    let id = fact_id(id)?;
    let fact = writer(&state).review(id, accept).await?;
    Ok(Json(FactReviewedOut {
        fact: fact_out(&fact),
    }))
}

/// `DELETE /v1/facts/{id}`: forget, the one hard delete.
pub async fn forget(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<FactForgottenOut>, ApiError> {
    let id = fact_id(id)?;
    let f = writer(&state).forget(id).await?;
    tracing::info!(fact = f.id, namespace = %f.namespace, "fact forgotten");
    Ok(Json(FactForgottenOut {
        forgotten: f.id,
        namespace: f.namespace,
        unlinked: f.unlinked,
    }))
}
