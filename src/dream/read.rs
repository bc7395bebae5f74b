//! Reading the consolidated tiers back (API, context pack).

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};

use crate::store::StoreError;

pub(super) fn parse(s: String) -> Value {
    serde_json::from_str(&s).unwrap_or(Value::Null)
}

pub fn gist(conn: &Connection, session_id: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT g.session_id, g.namespace, g.month, g.last_exchange_id, g.turns, g.provider, g.model,
                    g.created_at, g.updated_at, i.id, i.text, g.facts
             FROM gists g JOIN items i ON i.id = g.item_id WHERE g.session_id = ?1",
            [session_id],
            |r| {
                Ok(json!({
                    "session_id": r.get::<_, String>(0)?,
                    "namespace": r.get::<_, String>(1)?,
                    "month": r.get::<_, String>(2)?,
                    "last_exchange_id": r.get::<_, i64>(3)?,
                    "turns": r.get::<_, i64>(4)?,
                    "provider": r.get::<_, String>(5)?,
                    "model": r.get::<_, Option<String>>(6)?,
                    "created_at": crate::time::to_rfc3339(r.get(7)?),
                    "updated_at": crate::time::to_rfc3339(r.get(8)?),
                    "id": r.get::<_, i64>(9)?,
                    "text": r.get::<_, String>(10)?,
                    "statements": parse(r.get(11)?),
                }))
            },
        )
        .optional()?)
}

pub fn eras(conn: &Connection, ns: &str) -> Result<Vec<Value>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.month, i.id, coalesce(i.text, ''), e.gist_ids, e.sessions, e.stale, e.provider, e.built_at
         FROM eras e LEFT JOIN items i ON i.id = e.item_id WHERE e.namespace = ?1 ORDER BY e.month",
    )?;
    let v = stmt
        .query_map([ns], |r| {
            Ok(json!({
                "month": r.get::<_, String>(0)?,
                "id": r.get::<_, Option<i64>>(1)?,
                "text": r.get::<_, String>(2)?,
                "gist_ids": parse(r.get(3)?),
                "sessions": parse(r.get(4)?),
                "stale": r.get::<_, bool>(5)?,
                "provider": r.get::<_, Option<String>>(6)?,
                "built_at": crate::time::to_rfc3339(r.get(7)?),
            }))
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}

pub fn profile(conn: &Connection, ns: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT text, facts, sessions_covered, stale, provider, built_at FROM profiles WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(json!({
                    "namespace": ns,
                    "text": r.get::<_, String>(0)?,
                    "facts": parse(r.get(1)?),
                    "sessions_covered": r.get::<_, i64>(2)?,
                    "stale": r.get::<_, bool>(3)?,
                    "provider": r.get::<_, Option<String>>(4)?,
                    "built_at": crate::time::to_rfc3339(r.get(5)?),
                }))
            },
        )
        .optional()?)
}

pub fn narrative(conn: &Connection, ns: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT text, stale, provider, built_at FROM narratives WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(json!({
                    "namespace": ns,
                    "text": r.get::<_, String>(0)?,
                    "stale": r.get::<_, bool>(1)?,
                    "provider": r.get::<_, Option<String>>(2)?,
                    "built_at": crate::time::to_rfc3339(r.get(3)?),
                }))
            },
        )
        .optional()?)
}

pub fn self_state(conn: &Connection, ns: &str) -> Result<Option<Value>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT state, built_at FROM self_states WHERE namespace = ?1",
            [ns],
            |r| {
                Ok(json!({
                    "namespace": ns,
                    "state": parse(r.get(0)?),
                    "built_at": crate::time::to_rfc3339(r.get(1)?),
                }))
            },
        )
        .optional()?)
}

/// A session's turns, oldest first, as the consolidators read them.
pub fn turns(conn: &Connection, session_id: &str) -> Result<Vec<super::text::Turn>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, role, content, metadata, created_at FROM exchanges WHERE session_id = ?1 ORDER BY id",
    )?;
    let v = stmt
        .query_map([session_id], |r| {
            Ok(super::text::Turn::new(
                r.get(0)?,
                &r.get::<_, String>(1)?,
                &r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?.as_deref(),
                r.get(4)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(v)
}
