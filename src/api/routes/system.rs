//! Health, status and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::api::metrics::gauge;
use crate::api::wire::{FirewallStatusOut, ReembedIn};
use crate::api::{ApiError, AppState};
use crate::store::{Conversations, Extraction, Quarantine, migrate};

struct StoreStats {
    counts: crate::store::Counts,
    db_bytes: u64,
    wal_bytes: u64,
    index: crate::index::IndexStats,
}

/// Row counts, file sizes and index size, shared by status and metrics.
async fn store_stats(state: &AppState) -> Result<StoreStats, ApiError> {
    let counts = state.store.counts().await?;
    let (db_bytes, wal_bytes) = state.store.file_sizes();
    let index = state
        .store
        .index()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .stats();
    Ok(StoreStats {
        counts,
        db_bytes,
        wal_bytes,
        index,
    })
}

/// The write firewall's counts: texts scanned since start and what came of
/// them, and the rows marked now.
async fn firewall_status(state: &AppState) -> Result<FirewallStatusOut, ApiError> {
    let c = crate::screen::counts();
    let marked = state.store.mark_counts().await?;
    Ok(FirewallStatusOut {
        enabled: state.config().firewall.enabled,
        scanned: c.scanned,
        flagged: c.flagged,
        quarantined: c.quarantined,
        rejected: c.rejected,
        held: marked.quarantined,
        flagged_rows: marked.flagged,
    })
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let StoreStats {
        counts,
        db_bytes,
        wal_bytes,
        index,
    } = store_stats(&state).await?;
    let cfg = state.config();
    let firewall = firewall_status(&state).await?;
    let facts = facts_status(&state).await?;
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_s": state.started.elapsed().as_secs(),
        "socket": state.socket,
        "data_dir": state.data_dir,
        "db_path": state.store.db_path(),
        "config": state.config_source,
        "log_level": cfg.log.level,
        "schema_version": migrate::SCHEMA_VERSION,
        "embedder": state.embed_queue.status().await,
        "counts": {"sessions": counts.sessions, "exchanges": counts.exchanges},
        "index": {"vectors": index.vectors, "namespaces": index.namespaces,
                  "ann_namespaces": index.ann_namespaces, "cells": index.cells, "nprobe": index.nprobe,
                  "reclustering": state.store.reclustering()},
        "store": {"db_bytes": db_bytes, "wal_bytes": wal_bytes},
        "checkpoint": state.checkpointer.status(),
        "dream": state.dream.status().await,
        "sources": state.sources.summary(),
        "firewall": firewall,
        "facts": facts,
    })))
}

/// Facts by status, and what extraction proposed and what became of it
/// (the junk rate: duplicates and loop echoes over proposals).
async fn facts_status(state: &AppState) -> Result<Value, ApiError> {
    let by_status: serde_json::Map<String, Value> = state
        .store
        .fact_status_counts()
        .await?
        .into_iter()
        .map(|(s, n)| (s, json!(n)))
        .collect();
    let x = state.store.extraction_counts(None).await?;
    Ok(json!({
        "by_status": by_status,
        "extraction": {
            "enabled": state.config().learn.extract,
            "proposed": x.proposed, "added": x.added, "superseded": x.superseded,
            "duplicates": x.duplicates, "echoes": x.echoes, "refused": x.refused,
            "junk_rate": (x.junk_rate() * 1000.0).round() / 1000.0,
        },
    }))
}

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let StoreStats {
        counts,
        db_bytes,
        wal_bytes,
        index,
        ..
    } = store_stats(&state).await?;
    let vectors = index.vectors;
    let mut out = String::with_capacity(4096);
    state.metrics.render(&mut out);
    gauge(
        &mut out,
        "memd_store_rows",
        "Rows in the store, by table.",
        "table",
        &[
            ("sessions", counts.sessions as f64),
            ("exchanges", counts.exchanges as f64),
        ],
    );
    gauge(
        &mut out,
        "memd_store_file_bytes",
        "Size of the database files.",
        "file",
        &[("db", db_bytes as f64), ("wal", wal_bytes as f64)],
    );
    gauge(
        &mut out,
        "memd_index_vectors",
        "Vectors held by the in-memory index, by model.",
        "model",
        &[(state.embedder.model_id(), vectors as f64)],
    );
    // Dream cycle: the highest level of each drive over the namespaces
    // status reads, and what waits.
    let dream = state.dream.status().await;
    let mut levels: Vec<(&str, f64)> = ["continuity", "coherence", "curiosity", "stability"]
        .into_iter()
        .map(|d| (d, if d == "stability" { 1.0 } else { 0.0 }))
        .collect();
    let (mut dirty, mut unsummarised) = (0.0, 0.0);
    if let Some(map) = dream["drives"].as_object() {
        for v in map.values() {
            for (d, level) in levels.iter_mut() {
                let x = v[*d].as_f64().unwrap_or(0.0);
                *level = if *d == "stability" {
                    level.min(x)
                } else {
                    level.max(x)
                };
            }
        }
    }
    if let Some(map) = dream["backlog"].as_object() {
        for b in map.values() {
            dirty += b["dirty"].as_f64().unwrap_or(0.0);
            unsummarised += b["unsummarised_total"].as_f64().unwrap_or(0.0);
        }
    }
    gauge(
        &mut out,
        "memd_dream_drive",
        "Dream drive levels (0..1): the highest over namespaces; stability the lowest.",
        "drive",
        &levels,
    );
    gauge(
        &mut out,
        "memd_dream_backlog",
        "What waits for the dream cycle.",
        "what",
        &[
            ("dirty_sessions", dirty),
            ("unsummarised_turns", unsummarised),
            ("running", f64::from(u8::from(dream["running"].is_object()))),
        ],
    );
    let facts = facts_status(&state).await?;
    let by_status: Vec<(&str, f64)> = ["active", "candidate", "superseded", "invalid"]
        .into_iter()
        .map(|k| (k, facts["by_status"][k].as_f64().unwrap_or(0.0)))
        .collect();
    gauge(
        &mut out,
        "memd_facts",
        "Facts by status.",
        "status",
        &by_status,
    );
    let x = &facts["extraction"];
    let outcomes: Vec<(&str, f64)> = [
        "proposed",
        "added",
        "superseded",
        "duplicates",
        "echoes",
        "refused",
    ]
    .into_iter()
    .map(|k| (k, x[k].as_f64().unwrap_or(0.0)))
    .collect();
    gauge(
        &mut out,
        "memd_fact_extraction",
        "Facts the dream cycle's extraction proposed, and what became of them.",
        "outcome",
        &outcomes,
    );
    let fw = firewall_status(&state).await?;
    gauge(
        &mut out,
        "memd_firewall_texts",
        "Texts the write firewall scanned since the daemon started, and what came of them.",
        "outcome",
        &[
            ("scanned", fw.scanned as f64),
            ("flagged", fw.flagged as f64),
            ("quarantined", fw.quarantined as f64),
            ("rejected", fw.rejected as f64),
        ],
    );
    gauge(
        &mut out,
        "memd_firewall_rows",
        "Stored rows the write firewall marked, by mark.",
        "mark",
        &[
            ("quarantined", fw.held as f64),
            ("flagged", fw.flagged_rows as f64),
        ],
    );
    gauge(
        &mut out,
        "memd_uptime_seconds",
        "Seconds since the daemon started.",
        "version",
        &[(
            env!("CARGO_PKG_VERSION"),
            state.started.elapsed().as_secs_f64(),
        )],
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

/// `POST /v1/reembed` `{"all"?}`: re-embed rows of other models (with
/// `all`: every row) in the background; progress shows in status.
pub async fn reembed(
    State(state): State<AppState>,
    crate::api::OptionalJsonBody(req): crate::api::OptionalJsonBody<ReembedIn>,
) -> Result<Json<Value>, ApiError> {
    let upto = state.embed_queue.request_reembed(req.all).await?;
    Ok(Json(
        json!({"queued": true, "all": req.all, "upto_id": upto}),
    ))
}
