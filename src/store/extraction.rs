//! Fact extraction's storage: a cursor per session, and the application
//! of what a provider proposed, in one transaction with the cursor, so a
//! pass stopped anywhere neither loses a session's facts nor writes them
//! twice.
//!
//! Applying a proposal is plain code, in this order:
//! 1. an *echo* — its source sentence quotes a fact memd already holds
//!    (text memd put in a context pack, written back by a client) — is
//!    dropped (the recall-loop guard);
//! 2. a *duplicate* — a live fact of the same subject with the same
//!    normalised text — raises that fact's `support` and confidence
//!    instead of adding a row;
//! 3. a fact that names what it replaces (the LLM's `supersedes`), or
//!    fills a slot that a live fact of the same subject holds, supersedes
//!    it (`valid_to` = the new fact's `valid_from`);
//! 4. anything else is added.

use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use super::facts::{Fact, FactKind, FactStatus, NewFact, create_in, fact_by_id, live_slot_holder};
use super::items::WriteCtx;
use super::quarantine::Screened;
use super::{Store, StoreError};
use crate::text::normalise;

/// A fact extraction proposes.
#[derive(Debug, Clone)]
pub struct ExtractedFact {
    pub text: String,
    pub kind: FactKind,
    pub subject: String,
    pub slot: Option<String>,
    pub entities: Vec<String>,
    pub exchange_ids: Vec<i64>,
    pub valid_from: i64,
    /// The sentences it was made from, as said.
    pub source: String,
    pub supersedes: Option<i64>,
    /// The write firewall's verdict on the text (None: clean).
    pub screen: Option<Screened>,
}

/// One session's extraction, up to a turn.
#[derive(Debug, Clone)]
pub struct ExtractionBatch {
    pub namespace: String,
    pub session_id: String,
    /// The last turn read: the cursor moves here.
    pub upto: i64,
    pub facts: Vec<ExtractedFact>,
    /// Land as candidates (review queue) instead of active.
    pub candidate: bool,
    pub provider: String,
}

/// What became of a batch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractionOutcome {
    pub added: Vec<i64>,
    /// (old, new) for each supersession.
    pub superseded: Vec<(i64, i64)>,
    /// Existing facts a duplicate reinforced.
    pub reinforced: Vec<i64>,
    pub echoes: usize,
}

/// A namespace's extraction totals (the junk rate is duplicates and echoes
/// over proposals).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ExtractionCounts {
    pub proposed: i64,
    pub added: i64,
    pub superseded: i64,
    pub duplicates: i64,
    pub echoes: i64,
    pub refused: i64,
}

impl ExtractionCounts {
    pub fn junk_rate(&self) -> f64 {
        if self.proposed == 0 {
            0.0
        } else {
            (self.duplicates + self.echoes) as f64 / self.proposed as f64
        }
    }
}

/// Confidence a duplicate statement adds to the fact it repeats.
const DUPLICATE_GAIN: f64 = 0.05;
/// A fact shorter than this (normalised) is too common to call a quote.
/// (Quotes are found by the `norm` column: a whole sentence of the source
/// that is a fact's text, not a fact quoted inside a longer sentence.)
const ECHO_MIN_CHARS: usize = 24;

pub trait Extraction {
    /// A session's turns after its extraction cursor, oldest first (one
    /// read for both).
    fn turns_to_extract(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Vec<super::TurnRow>, StoreError>> + Send;

    /// Live facts of these subjects in a namespace, newest first, at most
    /// `limit` (what an LLM is shown to decide supersessions).
    fn live_facts_of(
        &self,
        namespace: &str,
        subjects: Vec<String>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Fact>, StoreError>> + Send;

    /// Applies a batch and moves the cursor; `None` if the session is gone
    /// (or moved namespace) meanwhile. A batch at or behind the cursor
    /// writes nothing.
    fn apply_extraction(
        &self,
        batch: ExtractionBatch,
    ) -> impl Future<Output = Result<Option<ExtractionOutcome>, StoreError>> + Send;

    fn count_extraction_attempt(
        &self,
        session_id: &str,
        namespace: &str,
        upto: i64,
        error: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Facts by status, over every namespace.
    fn fact_status_counts(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;

    /// Totals of one namespace, or of all.
    fn extraction_counts(
        &self,
        namespace: Option<String>,
    ) -> impl Future<Output = Result<ExtractionCounts, StoreError>> + Send;
}

impl Extraction for Store {
    async fn turns_to_extract(&self, session_id: &str) -> Result<Vec<super::TurnRow>, StoreError> {
        let sid = session_id.to_owned();
        self.read(move |c| {
            let upto = cursor(c, &sid)?;
            let mut turns = super::gists::turns(c, &sid)?;
            turns.retain(|t| t.id > upto);
            Ok(turns)
        })
        .await
    }

    async fn live_facts_of(
        &self,
        namespace: &str,
        subjects: Vec<String>,
        limit: usize,
    ) -> Result<Vec<Fact>, StoreError> {
        let ns = namespace.to_owned();
        self.read(move |c| live_of(c, &ns, &subjects, limit)).await
    }

    async fn apply_extraction(
        &self,
        batch: ExtractionBatch,
    ) -> Result<Option<ExtractionOutcome>, StoreError> {
        let ns = batch.namespace.clone();
        let out = self.write(move |ctx| apply(ctx, batch)).await?;
        if out.as_ref().is_some_and(|o| !o.added.is_empty()) {
            self.events()
                .publish(crate::events::MemdEvent::FactsWritten { namespace: ns });
        }
        Ok(out)
    }

    async fn count_extraction_attempt(
        &self,
        session_id: &str,
        namespace: &str,
        upto: i64,
        error: String,
    ) -> Result<(), StoreError> {
        let (sid, ns) = (session_id.to_owned(), namespace.to_owned());
        self.write(move |ctx| {
            ctx.conn().execute(
                "INSERT INTO fact_cursors (session_id, namespace, upto, attempts, failed_upto, last_error, updated_at)
                 SELECT ?1, ?2, 0, 1, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?1)
                 ON CONFLICT (session_id) DO UPDATE SET
                   attempts = CASE WHEN failed_upto = excluded.failed_upto THEN attempts + 1 ELSE 1 END,
                   failed_upto = excluded.failed_upto, last_error = excluded.last_error,
                   updated_at = excluded.updated_at",
                params![sid, ns, upto, error, crate::time::now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn fact_status_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT status, count(*) FROM facts GROUP BY status ORDER BY 1")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn extraction_counts(
        &self,
        namespace: Option<String>,
    ) -> Result<ExtractionCounts, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT coalesce(sum(proposed), 0), coalesce(sum(added), 0), coalesce(sum(superseded), 0),
                        coalesce(sum(duplicates), 0), coalesce(sum(echoes), 0), coalesce(sum(refused), 0)
                 FROM extraction_counts WHERE ?1 IS NULL OR namespace = ?1",
            )?
            .query_row([namespace], |r| {
                Ok(ExtractionCounts {
                    proposed: r.get(0)?,
                    added: r.get(1)?,
                    superseded: r.get(2)?,
                    duplicates: r.get(3)?,
                    echoes: r.get(4)?,
                    refused: r.get(5)?,
                })
            })?)
        })
        .await
    }
}

/// The last turn of a session whose facts were extracted (0: none yet).
fn cursor(c: &Connection, sid: &str) -> Result<i64, StoreError> {
    Ok(
        c.prepare_cached("SELECT upto FROM fact_cursors WHERE session_id = ?1")?
            .query_row([sid], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
    )
}

/// The newest live facts of these subjects, at most `limit`.
fn live_of(
    c: &Connection,
    ns: &str,
    subjects: &[String],
    limit: usize,
) -> Result<Vec<Fact>, StoreError> {
    let mut out = Vec::new();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {} FROM facts f WHERE f.namespace = ?1 AND f.subject = ?2
           AND f.status = 'active' AND f.retired_at IS NULL ORDER BY f.id DESC LIMIT ?3",
        super::facts::FACT_COLUMNS
    ))?;
    for s in subjects {
        let rows = stmt.query_map(params![ns, s, limit as i64], super::facts::row_to_fact)?;
        for r in rows {
            out.push(r?);
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.id));
    out.truncate(limit);
    Ok(out)
}

/// Whether `source` (or one of its sentences) is, word for word, a fact
/// memd holds: text memd put in a context pack, written back.
fn quotes_a_fact(c: &Connection, ns: &str, source: &str) -> Result<bool, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT 1 FROM facts WHERE namespace = ?1 AND norm = ?2
           AND status IN ('active', 'candidate', 'superseded') LIMIT 1",
    )?;
    let whole = normalise(source);
    let parts = source
        .split_inclusive(['.', '!', '?'])
        .map(normalise)
        .chain(std::iter::once(whole));
    for n in parts {
        if n.len() >= ECHO_MIN_CHARS && stmt.exists(params![ns, n])? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A live (active or candidate) fact of `subject` with this normalised text.
fn live_with_norm(
    c: &Connection,
    ns: &str,
    subject: &str,
    norm: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT id FROM facts WHERE namespace = ?1 AND norm = ?2 AND subject = ?3
               AND status IN ('active', 'candidate') AND retired_at IS NULL LIMIT 1",
    )?
    .query_row(params![ns, norm, subject], |r| r.get(0))
    .optional()?)
}

fn ext_ids(c: &Connection, ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT ext_id FROM exchanges WHERE id = ?1")?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(Some(e)) = stmt
            .query_row([id], |r| r.get::<_, Option<String>>(0))
            .optional()?
        {
            out.push(e);
        }
    }
    Ok(out)
}

/// Files `fact` (just created, live, without a vector yet) into its slot's
/// history at `at`: superseded by the first version that began after it,
/// and superseding the version before it, whose validity now ends at `at`.
fn into_history(conn: &Connection, fact: &Fact, slot: &str, at: i64) -> Result<(), StoreError> {
    let subject = fact.subject.as_deref().unwrap_or_default();
    let next: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, valid_from FROM facts WHERE namespace = ?1 AND subject = ?2 AND slot = ?3
               AND status IN ('active', 'superseded') AND id != ?4 AND valid_from > ?5
             ORDER BY valid_from, id LIMIT 1",
        )?
        .query_row(params![fact.namespace, subject, slot, fact.id, at], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((next_id, next_from)) = next else {
        return Ok(());
    };
    let now = crate::time::now_ms();
    conn.execute(
        "UPDATE facts SET valid_to = ?2 WHERE namespace = ?3 AND subject = ?4 AND slot = ?5
           AND superseded_by = ?6 AND id != ?1 AND valid_from <= ?7",
        params![fact.id, at, fact.namespace, subject, slot, next_id, at],
    )?;
    conn.execute(
        "UPDATE facts SET superseded_by = ?1 WHERE namespace = ?2 AND subject = ?3 AND slot = ?4
           AND superseded_by = ?5 AND id != ?1 AND valid_from <= ?6",
        params![fact.id, fact.namespace, subject, slot, next_id, at],
    )?;
    conn.execute(
        "UPDATE facts SET status = 'superseded', valid_to = ?2, retired_at = ?3,
           superseded_by = ?4, updated_at = ?3 WHERE id = ?1",
        params![fact.id, next_from, now, next_id],
    )?;
    Ok(())
}

fn apply(
    ctx: &mut WriteCtx<'_>,
    batch: ExtractionBatch,
) -> Result<Option<ExtractionOutcome>, StoreError> {
    let conn = ctx.conn;
    let ns: Option<String> = conn
        .query_row(
            "SELECT namespace FROM sessions WHERE id = ?1",
            [&batch.session_id],
            |r| r.get(0),
        )
        .optional()?;
    if ns.as_deref() != Some(batch.namespace.as_str()) {
        return Ok(None);
    }
    let mut out = ExtractionOutcome::default();
    if cursor(conn, &batch.session_id)? >= batch.upto {
        return Ok(Some(out));
    }
    let (mut duplicates, mut refused) = (0i64, 0i64);
    let proposed = batch.facts.len() as i64;
    for f in batch.facts {
        let norm = normalise(&f.text);
        if quotes_a_fact(conn, &batch.namespace, &f.source)? {
            out.echoes += 1;
            continue;
        }
        if let Some(dup) = live_with_norm(conn, &batch.namespace, &f.subject, &norm)? {
            duplicates += 1;
            conn.execute(
                "UPDATE facts SET support = support + 1,
                   confidence = CASE WHEN status = 'active' AND confidence < 1.0
                                     THEN min(1.0, confidence + ?2) ELSE confidence END,
                   updated_at = ?3
                 WHERE id = ?1",
                params![dup, DUPLICATE_GAIN, crate::time::now_ms()],
            )?;
            out.reinforced.push(dup);
            continue;
        }
        // Where the fact goes in its slot's history: it replaces the live
        // holder, or, stated before the holder began (sessions read out of
        // order), it is an earlier version and slots in behind it.
        let mut earlier_than: Option<(String, i64)> = None;
        let target = match f.supersedes {
            Some(id) => fact_by_id(conn, id)?
                .filter(|k| {
                    k.namespace == batch.namespace
                        && k.status == FactStatus::Active
                        && k.retired_at.is_none()
                })
                .map(|k| k.id),
            None => match &f.slot {
                Some(slot) => match live_slot_holder(conn, &batch.namespace, &f.subject, slot)? {
                    Some(k) if k.valid_from <= f.valid_from => Some(k.id),
                    Some(_) => {
                        earlier_than = Some((slot.clone(), f.valid_from));
                        None
                    }
                    None => None,
                },
                None => None,
            },
        };
        // A candidate waits for review before it replaces anything: what
        // it would supersede is noted, not done.
        let (target, would) = if batch.candidate {
            (None, target)
        } else {
            (target, None)
        };
        let mut provenance = json!({
            "source": "extraction",
            "provider": batch.provider,
            "session": batch.session_id,
            "exchange_ids": f.exchange_ids,
            "ext_ids": ext_ids(conn, &f.exchange_ids)?,
        });
        if let Some(w) = would {
            provenance["would_supersede"] = json!(w);
        }
        let new = NewFact {
            namespace: batch.namespace.clone(),
            text: f.text,
            kind: f.kind,
            subject: Some(f.subject),
            entities: f.entities,
            slot: f.slot,
            candidate: batch.candidate,
            confidence: 1.0,
            valid_from: Some(f.valid_from),
            provenance,
            supersedes: target,
            embedding: None,
            screen: f.screen,
        };
        match create_in(ctx, new)? {
            Ok(created) => {
                if let Some(old) = &created.superseded {
                    out.superseded.push((old.id, created.fact.id));
                }
                out.added.push(created.fact.id);
                if let (Some((slot, at)), false) = (&earlier_than, batch.candidate) {
                    into_history(ctx.conn, &created.fact, slot, *at)?;
                }
            }
            Err(_) => refused += 1,
        }
    }
    let now = crate::time::now_ms();
    let conn = ctx.conn;
    conn.execute(
        "INSERT INTO fact_cursors (session_id, namespace, upto, attempts, failed_upto, last_error, updated_at)
         VALUES (?1, ?2, ?3, 0, 0, NULL, ?4)
         ON CONFLICT (session_id) DO UPDATE SET namespace = excluded.namespace, upto = excluded.upto,
           attempts = 0, failed_upto = 0, last_error = NULL, updated_at = excluded.updated_at",
        params![batch.session_id, batch.namespace, batch.upto, now],
    )?;
    conn.execute(
        "INSERT INTO extraction_counts (namespace, proposed, added, superseded, duplicates, echoes, refused, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (namespace) DO UPDATE SET proposed = proposed + excluded.proposed,
           added = added + excluded.added, superseded = superseded + excluded.superseded,
           duplicates = duplicates + excluded.duplicates, echoes = echoes + excluded.echoes,
           refused = refused + excluded.refused, updated_at = excluded.updated_at",
        params![
            batch.namespace,
            proposed,
            out.added.len() as i64,
            out.superseded.len() as i64,
            duplicates,
            out.echoes as i64,
            refused,
            now
        ],
    )?;
    Ok(Some(out))
}
