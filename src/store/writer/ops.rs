//! The writer's own ops, each run inside its savepoint: inserting
//! exchanges, storing vectors, deleting a session.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};

use super::IndexEffect;
use super::blob::vector_to_blob;
use crate::store::StoreError;
use crate::store::items::{Tier, partition};
use crate::store::quarantine::set_mark;
use crate::store::types::{DEFAULT_NAMESPACE, DeletedSession, InsertOutcome, NewExchange};

pub(super) fn insert_rows(
    conn: &Connection,
    rows: Vec<NewExchange>,
    model_id: i64,
    effects: &mut Vec<IndexEffect>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let mut staged = Vec::new();
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut touched: HashSet<String> = HashSet::new();
    let now = crate::time::now_ms();
    let mut find_session = conn.prepare_cached("SELECT namespace FROM sessions WHERE id = ?1")?;
    let mut new_session = conn.prepare_cached(
        "INSERT INTO sessions (id, namespace, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO exchanges (session_id, role, content, created_at, ext_id, metadata, embedding, embed_model_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (session_id, ext_id) WHERE ext_id IS NOT NULL DO NOTHING
         RETURNING id",
    )?;
    let mut existing =
        conn.prepare_cached("SELECT id FROM exchanges WHERE session_id = ?1 AND ext_id = ?2")?;
    for row in rows {
        let stored_ns: Option<String> = find_session
            .query_row([&row.session_id], |r| r.get(0))
            .optional()?;
        let namespace = match (stored_ns, &row.namespace) {
            (Some(stored), Some(asked)) if &stored != asked => {
                outcomes.push(InsertOutcome::NamespaceMismatch { existing: stored });
                continue;
            }
            (Some(stored), _) => stored,
            (None, asked) => {
                let ns = asked
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
                new_session.execute(params![row.session_id, ns, now])?;
                ns
            }
        };
        let blob = row.embedding.as_deref().map(vector_to_blob);
        let model = row.embedding.as_ref().map(|_| model_id);
        let id: Option<i64> = insert
            .query_row(
                params![
                    row.session_id,
                    row.role.as_str(),
                    row.content,
                    row.created_at,
                    row.ext_id,
                    row.metadata,
                    blob,
                    model
                ],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => {
                touched.insert(row.session_id.clone());
                if row.screen.is_some() {
                    set_mark(conn, Tier::Exchange, id, &namespace, row.screen.as_ref())?;
                }
                if let Some(vector) = row.embedding {
                    staged.push(IndexEffect::Add {
                        id,
                        namespace: namespace.clone(),
                        session_id: row.session_id,
                        vector,
                    });
                }
                outcomes.push(InsertOutcome::Inserted { id, namespace });
            }
            None => {
                let id: i64 =
                    existing.query_row(params![row.session_id, row.ext_id], |r| r.get(0))?;
                outcomes.push(InsertOutcome::Duplicate { id, namespace });
            }
        }
    }
    let mut touch =
        conn.prepare_cached("UPDATE sessions SET updated_at = max(updated_at, ?2) WHERE id = ?1")?;
    for sid in touched {
        touch.execute(params![sid, now])?;
    }
    effects.extend(staged);
    Ok(outcomes)
}

pub(super) fn set_embeddings(
    conn: &Connection,
    rows: Vec<(i64, Vec<f32>)>,
    meta: &[(String, Option<String>)],
    model_id: i64,
    effects: &mut Vec<IndexEffect>,
) -> Result<usize, StoreError> {
    let mut update = conn.prepare_cached(
        "UPDATE exchanges SET embedding = ?2, embed_model_id = ?3 WHERE id = ?1
         RETURNING session_id, (SELECT namespace FROM sessions s WHERE s.id = exchanges.session_id)",
    )?;
    let mut staged = Vec::with_capacity(rows.len());
    for (id, vector) in rows {
        let found: Option<(String, String)> = update
            .query_row(params![id, vector_to_blob(&vector), model_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((session_id, namespace)) = found {
            staged.push(IndexEffect::Add {
                id,
                namespace,
                session_id,
                vector,
            });
        }
    }
    for (key, value) in meta {
        match value {
            Some(v) => conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => conn.execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
    }
    let n = staged.len();
    effects.extend(staged);
    Ok(n)
}

pub(super) fn delete_session(
    conn: &Connection,
    session_id: &str,
    effects: &mut Vec<IndexEffect>,
) -> Result<Option<DeletedSession>, StoreError> {
    let namespace: Option<String> = conn
        .query_row(
            "SELECT namespace FROM sessions WHERE id = ?1",
            [session_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(namespace) = namespace else {
        return Ok(None);
    };
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM exchanges WHERE session_id = ?1")?
        .query_map([session_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // What the dream cycle built from this session must follow it: its gist
    // goes, and its month's era, the profile and the narrative are rebuilt
    // by the next pass (marked stale, never left citing it). Without a gist
    // nothing was built from it: eras, profile and narrative come from gists.
    let gist: Option<(i64, String)> = conn
        .query_row(
            "SELECT item_id, month FROM gists WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((item_id, month)) = &gist {
        conn.execute("DELETE FROM items WHERE id = ?1", [item_id])?;
        conn.execute(
            "UPDATE eras SET stale = 1 WHERE namespace = ?1 AND month = ?2",
            params![namespace, month],
        )?;
        conn.execute(
            "UPDATE profiles SET stale = 1 WHERE namespace = ?1",
            [&namespace],
        )?;
        conn.execute(
            "UPDATE narratives SET stale = 1 WHERE namespace = ?1",
            [&namespace],
        )?;
    }
    // Explicit deletes (not only the FK cascade) keep the FTS triggers obvious.
    conn.execute("DELETE FROM exchanges WHERE session_id = ?1", [session_id])?;
    conn.execute("DELETE FROM sessions WHERE id = ?1", [session_id])?;
    let exchanges = ids.len();
    // Index effects only once every statement has succeeded: a failed op's
    // savepoint rolls back, and the index must not lose what stays.
    if let Some((item_id, _)) = gist {
        effects.push(IndexEffect::Remove {
            namespace: partition(Tier::Gist, &namespace),
            ids: vec![item_id],
        });
    }
    effects.push(IndexEffect::Remove {
        namespace: namespace.clone(),
        ids,
    });
    Ok(Some(DeletedSession {
        namespace,
        exchanges,
    }))
}
