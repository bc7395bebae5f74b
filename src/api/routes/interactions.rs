//! Interactions and `why`: `POST/GET /v1/interactions`,
//! `GET /v1/facts/{id}/interactions`, `GET /v1/why/{tier}/{id}`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::sessions::{check_id, check_namespace};
use crate::api::wire::{
    FactInteractionsOut, InteractionIn, InteractionRecordedOut, InteractionsOut, WhyExchangeOut,
    WhyOut,
};
use crate::api::{ApiError, AppState, JsonBody};
use crate::learn::{InteractionRecorder, fact_out, interaction_out};
use crate::store::{DEFAULT_NAMESPACE, Facts, InteractionFilter, Interactions};
use crate::time::to_rfc3339;

/// `POST /v1/interactions`: the audit row, and the facts it reinforced.
pub async fn record(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<InteractionIn>,
) -> Result<(StatusCode, Json<InteractionRecordedOut>), ApiError> {
    let config = state.config();
    let recorder = InteractionRecorder {
        store: state.store.clone(),
    };
    let out = recorder.record(body, &config.api, &config.learn).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    namespace: Option<String>,
    session_id: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn limit(l: Option<usize>) -> usize {
    l.unwrap_or(100).clamp(1, 10_000)
}

/// `GET /v1/interactions?namespace=&session_id=&limit=&offset=`, newest first.
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<InteractionsOut>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    let namespace = q.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_namespace(&namespace)?;
    if let Some(s) = &q.session_id {
        check_id("session_id", s)?;
    }
    let found = state
        .store
        .list_interactions(InteractionFilter {
            namespace: namespace.clone(),
            session_id: q.session_id,
            limit: limit(q.limit),
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    Ok(Json(InteractionsOut {
        namespace,
        interactions: found.iter().map(interaction_out).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<usize>,
    offset: Option<usize>,
}

fn row_id(what: &str, id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no {what} `{id}` ({what} ids are numbers)")))
}

/// `GET /v1/facts/{id}/interactions`: those whose pack held the fact or
/// that reinforced it, newest first.
pub async fn of_fact(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<FactInteractionsOut>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = row_id("fact", &id)?;
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    if state.store.fact_history(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no fact {id}")));
    }
    let found = state
        .store
        .interactions_using(
            "fact".into(),
            id.to_string(),
            limit(q.limit),
            q.offset.unwrap_or(0),
        )
        .await?;
    Ok(Json(FactInteractionsOut {
        fact_id: id,
        interactions: found.iter().map(interaction_out).collect(),
    }))
}

/// `GET /v1/why/{tier}/{id}` (tier `fact` or `exchange`): where it came
/// from, and every recorded interaction that used it, newest first.
pub async fn why(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<WhyOut>, ApiError> {
    let Path((tier, id)) = p.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    let mut out = WhyOut {
        tier: tier.clone(),
        id: 0,
        fact: None,
        exchange: None,
        facts: Vec::new(),
        interactions: Vec::new(),
    };
    match tier.as_str() {
        "fact" => {
            out.id = row_id("fact", &id)?;
            let Some(h) = state.store.fact_history(out.id).await? else {
                return Err(ApiError::not_found(format!("no fact {}", out.id)));
            };
            out.fact = Some(fact_out(&h.fact));
        }
        "exchange" => {
            out.id = row_id("exchange", &id)?;
            let Some(o) = state.store.exchange_origin(out.id).await? else {
                return Err(ApiError::not_found(format!("no exchange {}", out.id)));
            };
            let e = o.exchange;
            out.exchange = Some(WhyExchangeOut {
                id: e.id,
                namespace: e.namespace,
                session_id: e.session_id,
                role: e.role,
                content: e.content,
                ext_id: e.ext_id,
                created_at: to_rfc3339(e.created_at),
            });
            out.facts = o.facts.iter().map(fact_out).collect();
        }
        _ => {
            return Err(ApiError::not_found(
                "`why` knows the tiers fact and exchange",
            ));
        }
    }
    let found = state
        .store
        .interactions_using(
            tier,
            out.id.to_string(),
            limit(q.limit),
            q.offset.unwrap_or(0),
        )
        .await?;
    out.interactions = found.iter().map(interaction_out).collect();
    Ok(Json(out))
}
