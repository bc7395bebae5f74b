//! Sources and concepts: `GET /v1/sources`, `POST /v1/sources/{name}/sync`,
//! `POST /v1/sources/{name}/rows`, `GET|PATCH|DELETE /v1/concepts/{name}`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::wire::{PatchIn, SyncIn};
use crate::api::{ApiError, AppState, JsonBody, OptionalJsonBody, path_param};
use crate::sources::RowsRequest;
use crate::store::{ConceptEdit, ConceptView, Concepts};

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"sources": state.sources.list().await}))
}

pub async fn sync(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    OptionalJsonBody(req): OptionalJsonBody<SyncIn>,
) -> Result<Json<Value>, ApiError> {
    let name = path_param(name)?;
    let reports = state
        .sources
        .sync(&name, req.table.as_deref(), req.full)
        .await?;
    Ok(Json(json!({"source": name, "tables": reports})))
}

pub async fn rows(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    JsonBody(req): JsonBody<RowsRequest>,
) -> Result<Json<Value>, ApiError> {
    let name = path_param(name)?;
    let report = state.sources.rows(&name, req).await?;
    Ok(Json(json!({"source": name, "result": report})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptQuery {
    #[serde(default)]
    namespace: Option<String>,
}

fn concept_args(
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ConceptQuery>, QueryRejection>,
) -> Result<(String, ConceptQuery), ApiError> {
    let name = path_param(name)?;
    let Query(q) = q.map_err(|e| ApiError::bad_field(e.body_text()))?;
    Ok((name, q))
}

/// The one concept of that name (in `namespace` when given); 409 when the
/// name is ambiguous across namespaces.
async fn find(
    state: &AppState,
    name: &str,
    namespace: Option<String>,
) -> Result<ConceptView, ApiError> {
    let mut found = state
        .store
        .concepts_by_name(name.to_owned(), namespace)
        .await?;
    match found.len() {
        0 => Err(ApiError::not_found(format!("no concept named `{name}`"))),
        1 => Ok(found.pop().expect("one")),
        _ => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "ambiguous",
            format!("`{name}` exists in several namespaces; add ?namespace="),
        )),
    }
}

pub async fn show(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ConceptQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (name, q) = concept_args(name, q)?;
    let c = find(&state, &name, q.namespace).await?;
    Ok(Json(json!({"concept": c})))
}

pub async fn patch(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ConceptQuery>, QueryRejection>,
    JsonBody(req): JsonBody<PatchIn>,
) -> Result<Json<Value>, ApiError> {
    let (name, q) = concept_args(name, q)?;
    if let Some(s) = req.strength
        && !(s.is_finite() && (0.0..=10.0).contains(&s))
    {
        return Err(ApiError::invalid("strength must be between 0 and 10"));
    }
    if let Some(Some(t)) = &req.text {
        let max = state.config().api.max_content_bytes;
        if t.trim().is_empty() {
            return Err(ApiError::invalid(
                "text must not be empty (null clears the overlay)",
            ));
        }
        if t.len() > max {
            return Err(ApiError::invalid(format!(
                "text is longer than api.max_content_bytes ({max})"
            )));
        }
    }
    // A user's overlay reaches prompts like the source's text: screened.
    let screen = match &req.text {
        Some(Some(t)) => crate::screen::screen(&state.config().firewall, t)?,
        _ => None,
    };
    let c = find(&state, &name, q.namespace).await?;
    let edit = ConceptEdit {
        strength: req.strength,
        text: req.text,
        restore: req.restore,
        screen: screen.clone(),
    };
    let updated = state
        .store
        .edit_concept(
            c.name.clone(),
            c.namespace.clone(),
            edit,
            crate::time::now_ms(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no concept named `{name}`")))?;
    state
        .store
        .events()
        .publish(crate::events::MemdEvent::ItemsWritten {
            namespace: c.namespace.clone(),
        });
    let mut answer = json!({"concept": updated});
    super::sessions::screen_fields(&mut answer, screen.as_ref());
    Ok(Json(answer))
}

pub async fn delete(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ConceptQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (name, q) = concept_args(name, q)?;
    let c = find(&state, &name, q.namespace).await?;
    let removed = state
        .store
        .remove_concept(c.name.clone(), c.namespace.clone(), crate::time::now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no concept named `{name}`")))?;
    Ok(Json(json!({"removed": true, "concept": removed})))
}
