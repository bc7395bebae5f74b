//! The write firewall's quarantine: list what it marked, release a row
//! into recall, or drop it for good.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::sessions::check_namespace;
use crate::api::wire::{QuarantineActionOut, QuarantineOut, QuarantinedOut};
use crate::api::{ApiError, AppState};
use crate::store::{Mark, Quarantine, SCREENED_TIERS, Tier};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    namespace: Option<String>,
    /// `quarantined` or `flagged`; unset: both.
    mark: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/quarantine?namespace=&mark=&limit=`: marked rows, newest first.
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<QuarantineOut>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    if let Some(ns) = &q.namespace {
        check_namespace(ns)?;
    }
    let mark = match q.mark.as_deref() {
        None => None,
        Some("quarantined") => Some(Mark::Quarantined),
        Some("flagged") => Some(Mark::Flagged),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unknown mark `{other}`; marks are quarantined, flagged"
            )));
        }
    };
    let limit = q.limit.unwrap_or(100).min(10_000);
    let rows = state.store.marked(q.namespace, mark, limit).await?;
    Ok(Json(QuarantineOut {
        rows: rows
            .into_iter()
            .map(|r| QuarantinedOut {
                tier: r.tier.as_str().to_owned(),
                id: r.id,
                namespace: r.namespace,
                mark: r.mark.as_str().to_owned(),
                classes: r.classes,
                reason: r.reason,
                created_at: crate::time::to_rfc3339(r.created_at),
                text: r.text,
            })
            .collect(),
    }))
}

/// `(tier, id)` of the path, checked.
fn target(p: Result<Path<(String, String)>, PathRejection>) -> Result<(Tier, i64), ApiError> {
    let Path((tier, id)) = p.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some(t) = SCREENED_TIERS.into_iter().find(|t| t.as_str() == tier) else {
        let names: Vec<&str> = SCREENED_TIERS.iter().map(|t| t.as_str()).collect();
        return Err(ApiError::not_found(format!(
            "no tier `{tier}` here; the firewall's tiers are {}",
            names.join(", ")
        )));
    };
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no {tier} `{id}` (ids are numbers)")))?;
    Ok((t, id))
}

fn unmarked(tier: Tier, id: i64) -> ApiError {
    ApiError::not_found(format!(
        "{} {id} is not in quarantine nor flagged",
        tier.as_str()
    ))
}

/// `POST /v1/quarantine/{tier}/{id}/release`: recallable from now on.
pub async fn release(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<QuarantineActionOut>, ApiError> {
    let (tier, id) = target(p)?;
    if !state.store.release(tier, id).await? {
        return Err(unmarked(tier, id));
    }
    tracing::info!(
        tier = tier.as_str(),
        id,
        "released from the firewall's quarantine"
    );
    Ok(Json(QuarantineActionOut {
        tier: tier.as_str().to_owned(),
        id,
        action: "released".into(),
    }))
}

/// `DELETE /v1/quarantine/{tier}/{id}`: the row is deleted everywhere.
pub async fn drop(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<QuarantineActionOut>, ApiError> {
    let (tier, id) = target(p)?;
    if !state.store.drop_marked(tier, id).await? {
        return Err(unmarked(tier, id));
    }
    tracing::info!(
        tier = tier.as_str(),
        id,
        "dropped from the firewall's quarantine"
    );
    Ok(Json(QuarantineActionOut {
        tier: tier.as_str().to_owned(),
        id,
        action: "dropped".into(),
    }))
}
