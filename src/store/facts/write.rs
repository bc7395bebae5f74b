//! The facts tier's writes, each one savepoint on the writer thread, with
//! the index changes they imply recorded for after the commit.

use rusqlite::{Connection, OptionalExtension, params};

use super::read::{fact_by_id, partition_of};
use super::{
    Belief, Created, Fact, FactEdit, FactRefusal, FactStatus, Forgotten, NewFact,
    live_fact_partition, retired_fact_partition,
};
use crate::store::StoreError;
use crate::store::items::{Tier, WriteCtx};
use crate::store::quarantine::{mark_of, set_mark};
use crate::store::writer::{IndexEffect, blob_to_vector, vector_to_blob};

type Refusable<T> = Result<Result<T, FactRefusal>, StoreError>;

/// The live fact `id`, or why it cannot be superseded.
fn live(conn: &Connection, id: i64) -> Result<Result<Fact, FactRefusal>, StoreError> {
    Ok(match fact_by_id(conn, id)? {
        None => Err(FactRefusal::NotFound(id)),
        Some(f) if !Belief::Live.holds(&f) => Err(FactRefusal::NotLive {
            id,
            status: f.status,
        }),
        Some(f) => Ok(f),
    })
}

pub(crate) fn create(ctx: &mut WriteCtx<'_>, new: NewFact) -> Refusable<Created> {
    let old = match new.supersedes {
        None => None,
        Some(id) => match live(ctx.conn, id)? {
            Err(r) => return Ok(Err(r)),
            Ok(f) if f.namespace != new.namespace => {
                return Ok(Err(FactRefusal::OtherNamespace {
                    id,
                    namespace: f.namespace,
                }));
            }
            Ok(f) => Some(f),
        },
    };
    let now = crate::time::now_ms();
    let valid_from = new.valid_from.unwrap_or(now);
    let (status, recorded_at) = if new.candidate {
        (FactStatus::Candidate, None)
    } else {
        (FactStatus::Active, Some(now))
    };
    let entities = serde_json::to_string(&new.entities).unwrap_or_else(|_| "[]".into());
    let provenance = if new.provenance.is_object() {
        new.provenance.to_string()
    } else {
        "{}".to_owned()
    };
    let id: i64 = ctx
        .conn
        .prepare_cached(
            "INSERT INTO facts (namespace, text, kind, subject, entities, slot, status, confidence,
                 valid_from, recorded_at, provenance, created_at, updated_at, embedding, embed_model_id, norm)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, ?15) RETURNING id",
        )?
        .query_row(
            params![
                new.namespace,
                new.text,
                new.kind.as_str(),
                new.subject,
                entities,
                new.slot,
                status.as_str(),
                new.confidence,
                valid_from,
                recorded_at,
                provenance,
                now,
                new.embedding.as_deref().map(vector_to_blob),
                new.embedding.as_ref().map(|_| ctx.model_id),
                crate::text::normalise(&new.text),
            ],
            |r| r.get(0),
        )?;
    if new.screen.is_some() {
        set_mark(
            ctx.conn,
            Tier::Fact,
            id,
            &new.namespace,
            new.screen.as_ref(),
        )?;
    }
    if let (FactStatus::Active, Some(v)) = (status, new.embedding) {
        ctx.effects.push(IndexEffect::Add {
            id,
            namespace: live_fact_partition(&new.namespace),
            session_id: String::new(),
            vector: v,
        });
    }
    let superseded = match old {
        Some(old) => Some(retire(ctx, &old, id, valid_from, now)?),
        None => None,
    };
    let fact = fact_by_id(ctx.conn, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("fact {id} vanished while written")))?;
    Ok(Ok(Created {
        fact,
        superseded,
        screen: new.screen,
    }))
}

/// Ends `old`'s validity where its successor's begins (never before its
/// own start), stops believing it now, and moves its vector from the live
/// partition to the retired one.
fn retire(
    ctx: &mut WriteCtx<'_>,
    old: &Fact,
    successor: i64,
    valid_from: i64,
    now: i64,
) -> Result<Fact, StoreError> {
    let valid_to = valid_from.max(old.valid_from);
    let vector: Option<Vec<u8>> = ctx
        .conn
        .prepare_cached(
            "UPDATE facts SET status = 'superseded', valid_to = ?2, retired_at = ?3,
                 superseded_by = ?4, updated_at = ?3
             WHERE id = ?1
             RETURNING CASE WHEN embed_model_id = ?5 THEN embedding END",
        )?
        .query_row(
            params![old.id, valid_to, now, successor, ctx.model_id],
            |r| r.get(0),
        )?;
    ctx.effects.push(IndexEffect::Remove {
        namespace: live_fact_partition(&old.namespace),
        ids: vec![old.id],
    });
    if let Some(v) = vector.as_deref().and_then(blob_to_vector) {
        ctx.effects.push(IndexEffect::Add {
            id: old.id,
            namespace: retired_fact_partition(&old.namespace),
            session_id: String::new(),
            vector: v,
        });
    }
    fact_by_id(ctx.conn, old.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("fact {} vanished while retired", old.id)))
}

pub(super) fn edit(ctx: &mut WriteCtx<'_>, id: i64, e: FactEdit) -> Refusable<Created> {
    let old = match live(ctx.conn, id)? {
        Ok(f) => f,
        Err(r) => return Ok(Err(r)),
    };
    let screen = match &e.text {
        Some(_) => e.screen,
        None => mark_of(ctx.conn, Tier::Fact, id)?,
    };
    let text = e.text.unwrap_or_else(|| old.text.clone());
    // Unchanged text keeps the old version's vector.
    let embedding = match e.embedding {
        Some(v) => Some(v),
        None if text == old.text => ctx
            .conn
            .prepare_cached("SELECT embedding FROM facts WHERE id = ?1 AND embed_model_id = ?2")?
            .query_row(params![id, ctx.model_id], |r| {
                r.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()?
            .flatten()
            .as_deref()
            .and_then(blob_to_vector),
        None => None,
    };
    let new = NewFact {
        namespace: old.namespace.clone(),
        text,
        kind: e.kind.unwrap_or(old.kind),
        subject: e.subject.or_else(|| old.subject.clone()),
        entities: e.entities.unwrap_or_else(|| old.entities.clone()),
        slot: e.slot.or_else(|| old.slot.clone()),
        candidate: false,
        confidence: e.confidence.unwrap_or(old.confidence),
        // A correction: the new wording was true from when the old one was.
        valid_from: Some(e.valid_from.unwrap_or(old.valid_from)),
        provenance: e.provenance.unwrap_or_else(|| old.provenance.clone()),
        supersedes: Some(id),
        embedding,
        screen,
    };
    create(ctx, new)
}

pub(super) fn review(ctx: &mut WriteCtx<'_>, id: i64, accept: bool) -> Refusable<Fact> {
    let Some(f) = fact_by_id(ctx.conn, id)? else {
        return Ok(Err(FactRefusal::NotFound(id)));
    };
    if f.status != FactStatus::Candidate {
        return Ok(Err(FactRefusal::NotCandidate {
            id,
            status: f.status,
        }));
    }
    let now = crate::time::now_ms();
    if accept {
        let vector: Option<Vec<u8>> = ctx
            .conn
            .prepare_cached(
                "UPDATE facts SET status = 'active', recorded_at = ?2, updated_at = ?2 WHERE id = ?1
                 RETURNING CASE WHEN embed_model_id = ?3 THEN embedding END",
            )?
            .query_row(params![id, now, ctx.model_id], |r| r.get(0))?;
        if let Some(v) = vector.as_deref().and_then(blob_to_vector) {
            ctx.effects.push(IndexEffect::Add {
                id,
                namespace: live_fact_partition(&f.namespace),
                session_id: String::new(),
                vector: v,
            });
        }
    } else {
        ctx.conn
            .prepare_cached("UPDATE facts SET status = 'invalid', updated_at = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
    }
    let fact = fact_by_id(ctx.conn, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("fact {id} vanished while reviewed")))?;
    Ok(Ok(fact))
}

pub(in crate::store) fn forget(
    ctx: &mut WriteCtx<'_>,
    id: i64,
) -> Result<Option<Forgotten>, StoreError> {
    let Some(namespace): Option<String> = ctx
        .conn
        .prepare_cached("SELECT namespace FROM facts WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
    else {
        return Ok(None);
    };
    let unlinked = ctx
        .conn
        .prepare_cached("UPDATE facts SET superseded_by = NULL WHERE superseded_by = ?1")?
        .execute([id])?;
    // The FTS row goes with it (trigger).
    ctx.conn
        .prepare_cached("DELETE FROM facts WHERE id = ?1")?
        .execute([id])?;
    for namespace in [
        live_fact_partition(&namespace),
        retired_fact_partition(&namespace),
    ] {
        ctx.effects.push(IndexEffect::Remove {
            namespace,
            ids: vec![id],
        });
    }
    Ok(Some(Forgotten {
        id,
        namespace,
        unlinked,
    }))
}

/// Stores vectors of the current model for facts whose text is still
/// `expected`, and puts each where its status says; returns how many.
pub(crate) fn set_fact_embeddings(
    ctx: &mut WriteCtx<'_>,
    rows: Vec<(i64, String, Vec<f32>)>,
) -> Result<usize, StoreError> {
    let mut update = ctx.conn.prepare_cached(
        "UPDATE facts SET embedding = ?2, embed_model_id = ?3 WHERE id = ?1 AND text = ?4
         RETURNING namespace, status, retired_at IS NOT NULL",
    )?;
    let mut n = 0;
    for (id, expected, vector) in rows {
        let found: Option<(String, String, bool)> = update
            .query_row(
                params![id, vector_to_blob(&vector), ctx.model_id, expected],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((namespace, status, retired)) = found else {
            continue;
        };
        n += 1;
        let status = FactStatus::parse(&status).unwrap_or(FactStatus::Invalid);
        if let Some(part) = partition_of(status, retired, &namespace) {
            ctx.effects.push(IndexEffect::Add {
                id,
                namespace: part,
                session_id: String::new(),
                vector,
            });
        }
    }
    Ok(n)
}
