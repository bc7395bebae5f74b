//! The facts tier's reads: rows by id, lists, history chains, lexical
//! search under a belief, and what the embedding queue and the index load.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Belief, Fact, FactFilter, FactHistory, FactKind, FactStatus};
use super::{live_fact_partition, retired_fact_partition};
use crate::store::StoreError;

pub(crate) const FACT_COLUMNS: &str = "f.id, f.namespace, f.text, f.kind, f.subject, f.entities, \
     f.slot, f.status, f.confidence, f.reference_count, f.last_referenced_at, f.valid_from, \
     f.valid_to, f.recorded_at, f.retired_at, f.superseded_by, f.provenance, f.created_at, \
     f.updated_at, f.support";

pub(crate) fn row_to_fact(r: &rusqlite::Row<'_>) -> rusqlite::Result<Fact> {
    let kind: String = r.get(3)?;
    let entities: String = r.get(5)?;
    let status: String = r.get(7)?;
    let provenance: String = r.get(16)?;
    Ok(Fact {
        id: r.get(0)?,
        namespace: r.get(1)?,
        text: r.get(2)?,
        kind: FactKind::parse(&kind).unwrap_or(FactKind::Other),
        subject: r.get(4)?,
        entities: serde_json::from_str(&entities).unwrap_or_default(),
        slot: r.get(6)?,
        // The schema's CHECK allows only the four; an unknown one is never
        // believed.
        status: FactStatus::parse(&status).unwrap_or(FactStatus::Invalid),
        confidence: r.get(8)?,
        reference_count: r.get(9)?,
        last_referenced_at: r.get(10)?,
        valid_from: r.get(11)?,
        valid_to: r.get(12)?,
        recorded_at: r.get(13)?,
        retired_at: r.get(14)?,
        superseded_by: r.get(15)?,
        provenance: serde_json::from_str(&provenance).unwrap_or_else(|_| serde_json::json!({})),
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        support: r.get(19)?,
    })
}

pub(crate) fn fact_by_id(conn: &Connection, id: i64) -> Result<Option<Fact>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {FACT_COLUMNS} FROM facts f WHERE f.id = ?1"
        ))?
        .query_row([id], row_to_fact)
        .optional()?)
}

pub(crate) fn facts_by_id(
    conn: &Connection,
    ids: &[i64],
) -> Result<HashMap<i64, Fact>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        if let Some(f) = fact_by_id(conn, *id)? {
            out.insert(f.id, f);
        }
    }
    Ok(out)
}

pub(super) fn list(conn: &Connection, q: &FactFilter) -> Result<Vec<Fact>, StoreError> {
    let mut sql = format!("SELECT {FACT_COLUMNS} FROM facts f WHERE f.namespace = ?1");
    // ?2 the instant, ?3 status, ?4 kind, ?5 subject, ?6 slot, ?7 limit, ?8 offset.
    if let Some(t) = q.as_of {
        sql.push_str(&format!(" AND {}", Belief::AsOf(t).clause(2)));
    } else if q.status.is_none() && !q.include_retired {
        sql.push_str(" AND f.status IN ('active', 'candidate') AND f.retired_at IS NULL");
    }
    sql.push_str(
        " AND (?3 IS NULL OR f.status = ?3) AND (?4 IS NULL OR f.kind = ?4)
          AND (?5 IS NULL OR f.subject = ?5) AND (?6 IS NULL OR f.slot = ?6)
          AND ?2 = ?2
          ORDER BY f.id DESC LIMIT ?7 OFFSET ?8",
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                q.namespace,
                q.as_of.unwrap_or(0),
                q.status.map(FactStatus::as_str),
                q.kind.map(FactKind::as_str),
                q.subject,
                q.slot,
                i64::try_from(q.limit).unwrap_or(i64::MAX),
                i64::try_from(q.offset).unwrap_or(i64::MAX),
            ],
            row_to_fact,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Versions are a chain (a fact is superseded at most once, and a new fact
/// supersedes at most one); the walk is bounded in case an imported store
/// holds a cycle.
const MAX_CHAIN: usize = 1000;

pub(super) fn history(conn: &Connection, id: i64) -> Result<Option<FactHistory>, StoreError> {
    let Some(fact) = fact_by_id(conn, id)? else {
        return Ok(None);
    };
    let mut older = Vec::new();
    let mut cursor = fact.id;
    let mut before = conn.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM facts f WHERE f.superseded_by = ?1 ORDER BY f.id DESC LIMIT 1"
    ))?;
    while older.len() < MAX_CHAIN {
        let Some(prev) = before.query_row([cursor], row_to_fact).optional()? else {
            break;
        };
        if prev.id == fact.id || older.iter().any(|o: &Fact| o.id == prev.id) {
            break;
        }
        cursor = prev.id;
        older.push(prev);
    }
    older.reverse();
    let mut chain = older;
    chain.push(fact.clone());
    let mut next = fact.superseded_by;
    while let Some(n) = next {
        if chain.len() >= 2 * MAX_CHAIN || chain.iter().any(|c| c.id == n) {
            break;
        }
        let Some(f) = fact_by_id(conn, n)? else {
            break;
        };
        next = f.superseded_by;
        chain.push(f);
    }
    Ok(Some(FactHistory { fact, chain }))
}

/// Best-first ids of the namespace's facts matching the OR expression
/// `expr` that `belief` holds.
pub(crate) fn search_facts(
    conn: &Connection,
    expr: &str,
    namespace: &str,
    belief: Belief,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let token: String = namespace.bytes().map(|b| format!("{b:02X}")).collect();
    let query = format!("text : ({expr}) AND ns : \"n{token}\"");
    let sql = format!(
        "SELECT f.id FROM facts_fts JOIN facts f ON f.id = facts_fts.rowid
         WHERE facts_fts MATCH ?1 AND {} AND ?3 = ?3
         ORDER BY bm25(facts_fts, 1.0, 0.0), f.id DESC LIMIT ?2",
        belief.clause(3)
    );
    let ids = conn
        .prepare_cached(&sql)?
        .query_map(params![query, limit as i64, belief.instant()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Facts holding `slot` that the belief holds: those whose subject is one
/// of `names` first, then the latest valid first.
pub(crate) fn slot_facts(
    conn: &Connection,
    namespace: &str,
    slot: &str,
    names: &[String],
    belief: Belief,
    limit: usize,
) -> Result<Vec<i64>, StoreError> {
    let sql = format!(
        "SELECT f.id, f.subject FROM facts f WHERE f.namespace = ?1 AND f.slot = ?2 AND {} AND ?4 = ?4
         ORDER BY f.valid_from DESC, f.id DESC LIMIT ?3",
        belief.clause(4)
    );
    let rows: Vec<(i64, Option<String>)> = conn
        .prepare_cached(&sql)?
        .query_map(
            params![namespace, slot, limit as i64, belief.instant()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let named = |s: &Option<String>| s.as_ref().is_some_and(|s| names.contains(s));
    let (mut ids, rest): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, s)| named(s));
    ids.extend(rest);
    Ok(ids.into_iter().map(|(id, _)| id).collect())
}

/// Never-embedded facts first, then those holding another model's vector
/// (one index lookup each, as for items).
pub(crate) fn pending_fact_embeddings(
    conn: &Connection,
    model_id: i64,
    limit: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    const SQL: [&str; 3] = [
        "SELECT id, text FROM facts WHERE embed_model_id IS NULL ORDER BY id LIMIT ?2",
        "SELECT id, text FROM facts WHERE embed_model_id < ?1 LIMIT ?2",
        "SELECT id, text FROM facts WHERE embed_model_id > ?1 LIMIT ?2",
    ];
    let mut out: Vec<(i64, String)> = Vec::with_capacity(limit);
    for sql in SQL {
        let want = limit - out.len();
        if want == 0 {
            break;
        }
        let rows = conn
            .prepare_cached(sql)?
            .query_map(params![model_id, want as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        out.extend(rows);
    }
    Ok(out)
}

pub(crate) fn fact_embedding_backlog(conn: &Connection, model_id: i64) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM facts WHERE embed_model_id IS NULL)
              + (SELECT count(*) FROM facts WHERE embed_model_id < ?1)
              + (SELECT count(*) FROM facts WHERE embed_model_id > ?1)",
        [model_id],
        |r| r.get(0),
    )?)
}

/// The partition a fact's vector belongs in, if any: live facts in the
/// namespace's fact partition, superseded ones in its retired partition.
pub(super) fn partition_of(status: FactStatus, retired: bool, namespace: &str) -> Option<String> {
    match status {
        FactStatus::Active if !retired => Some(live_fact_partition(namespace)),
        FactStatus::Superseded => Some(retired_fact_partition(namespace)),
        _ => None,
    }
}

/// Loads every fact vector of the current model into its partition.
pub(crate) fn load_fact_vectors(
    conn: &Connection,
    model_id: i64,
    index: &mut crate::index::VectorIndex,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, namespace, status, retired_at IS NOT NULL, embedding FROM facts
         WHERE embed_model_id = ?1 AND embedding IS NOT NULL AND status IN ('active', 'superseded')",
    )?;
    let mut rows = stmt.query([model_id])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let ns: String = r.get(1)?;
        let status: String = r.get(2)?;
        let retired: bool = r.get(3)?;
        let blob = r.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
        let Some(status) = FactStatus::parse(&status) else {
            continue;
        };
        if let (Some(part), Some(v)) = (
            partition_of(status, retired, &ns),
            crate::store::blob_to_vector(blob),
        ) && v.len() == index.dim()
        {
            index.insert(id, &part, "", &v);
        }
    }
    Ok(())
}

/// The live fact of `subject` holding `slot` (the newest if, by some
/// client's doing, there are several).
pub(crate) fn live_slot_holder(
    conn: &Connection,
    namespace: &str,
    subject: &str,
    slot: &str,
) -> Result<Option<Fact>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {FACT_COLUMNS} FROM facts f
             WHERE f.namespace = ?1 AND f.subject = ?2 AND f.slot = ?3
               AND f.status = 'active' AND f.retired_at IS NULL
             ORDER BY f.valid_from DESC, f.id DESC LIMIT 1"
        ))?
        .query_row(rusqlite::params![namespace, subject, slot], row_to_fact)
        .optional()?)
}
