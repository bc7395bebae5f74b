//! The write firewall's marks (table `quarantine`, migration 0008): which
//! rows the threat scanner named, with the classes and the reason. A
//! quarantined row is stored but never reaches a prompt: recall's rows and
//! the session's recent turns are read past it here, in the store, so
//! neither the lexical nor the vector side can return it, and releasing
//! it (deleting the mark) makes it recallable at once — its FTS row and
//! vector never left. A flagged row is usable; its mark says why.

use std::collections::HashSet;
use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};

use super::items::{Tier, WriteCtx, partition};
use super::writer::IndexEffect;
use super::{Store, StoreError};

/// What the firewall decided for a row it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Stored, excluded from recall and context packs until released.
    Quarantined,
    /// Stored and usable; recorded so a person can review it.
    Flagged,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Quarantined => "quarantined",
            Mark::Flagged => "flagged",
        }
    }
}

/// A row's firewall verdict as stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screened {
    pub mark: Mark,
    /// The scanner's class names, strongest first.
    pub classes: Vec<String>,
    /// What matched, for a person.
    pub reason: String,
}

/// One marked row, as `memd ctl quarantine list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkedRow {
    pub tier: Tier,
    pub id: i64,
    pub namespace: String,
    pub mark: Mark,
    pub classes: Vec<String>,
    pub reason: String,
    pub created_at: i64,
    /// The row's text (None if the row is gone meanwhile).
    pub text: Option<String>,
}

/// Rows marked now: (quarantined, flagged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarkCounts {
    pub quarantined: u64,
    pub flagged: u64,
}

/// The tiers the firewall screens.
pub const SCREENED_TIERS: [Tier; 4] = [Tier::Exchange, Tier::Fact, Tier::Concept, Tier::Chunk];

/// The firewall's marks on stored rows.
pub trait Quarantine {
    /// Marked rows, newest first; `mark` None: both kinds.
    fn marked(
        &self,
        namespace: Option<String>,
        mark: Option<Mark>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MarkedRow>, StoreError>> + Send;

    /// Deletes a row's mark: it is recallable from the next read on.
    /// False when the row had none.
    fn release(&self, tier: Tier, id: i64)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Hard-deletes a marked row from its table, FTS and vectors (a fact is
    /// forgotten). False when the row has no mark.
    fn drop_marked(
        &self,
        tier: Tier,
        id: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn mark_counts(&self) -> impl Future<Output = Result<MarkCounts, StoreError>> + Send;
}

impl Quarantine for Store {
    async fn marked(
        &self,
        namespace: Option<String>,
        mark: Option<Mark>,
        limit: usize,
    ) -> Result<Vec<MarkedRow>, StoreError> {
        self.read(move |c| marked(c, namespace.as_deref(), mark, limit))
            .await
    }

    async fn release(&self, tier: Tier, id: i64) -> Result<bool, StoreError> {
        self.write(move |ctx| {
            Ok(ctx
                .conn()
                .prepare_cached("DELETE FROM quarantine WHERE tier = ?1 AND row_id = ?2")?
                .execute(params![tier.as_str(), id])?
                > 0)
        })
        .await
    }

    async fn drop_marked(&self, tier: Tier, id: i64) -> Result<bool, StoreError> {
        self.write(move |ctx| drop_marked(ctx, tier, id)).await
    }

    async fn mark_counts(&self) -> Result<MarkCounts, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT count(*) FILTER (WHERE mark = 'quarantined'),
                        count(*) FILTER (WHERE mark = 'flagged') FROM quarantine",
            )?
            .query_row([], |r| {
                Ok(MarkCounts {
                    quarantined: r.get::<_, i64>(0)? as u64,
                    flagged: r.get::<_, i64>(1)? as u64,
                })
            })?)
        })
        .await
    }
}

/// Records (or, for `None`, clears) a freshly written row's mark, inside
/// the write's own savepoint: a row is never visible unmarked.
pub(crate) fn set_mark(
    conn: &Connection,
    tier: Tier,
    id: i64,
    namespace: &str,
    screen: Option<&Screened>,
) -> Result<(), StoreError> {
    match screen {
        None => {
            conn.prepare_cached("DELETE FROM quarantine WHERE tier = ?1 AND row_id = ?2")?
                .execute(params![tier.as_str(), id])?;
        }
        Some(s) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO quarantine (tier, row_id, namespace, mark, classes, reason, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                tier.as_str(),
                id,
                namespace,
                s.mark.as_str(),
                serde_json::to_string(&s.classes).unwrap_or_else(|_| "[]".into()),
                s.reason,
                crate::time::now_ms()
            ])?;
        }
    }
    Ok(())
}

/// A row's mark, if it has one.
pub(crate) fn mark_of(
    conn: &Connection,
    tier: Tier,
    id: i64,
) -> Result<Option<Screened>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT mark, classes, reason FROM quarantine WHERE tier = ?1 AND row_id = ?2",
        )?
        .query_row(params![tier.as_str(), id], |r| {
            let classes: String = r.get(1)?;
            Ok(Screened {
                mark: mark_from(&r.get::<_, String>(0)?),
                classes: serde_json::from_str(&classes).unwrap_or_default(),
                reason: r.get(2)?,
            })
        })
        .optional()?)
}

/// Of `ids` (rows of `tier`), those quarantined now.
pub(crate) fn quarantined(
    conn: &Connection,
    tier: Tier,
    ids: &[i64],
) -> Result<HashSet<i64>, StoreError> {
    let mut out = HashSet::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM quarantine WHERE tier = ?1 AND row_id = ?2 AND mark = 'quarantined'",
    )?;
    for id in ids {
        if stmt.exists(params![tier.as_str(), id])? {
            out.insert(*id);
        }
    }
    Ok(out)
}

/// The SQL condition "exchange `e` is not quarantined", for queries that
/// feed a prompt.
pub(crate) const EXCHANGE_NOT_QUARANTINED: &str = "NOT EXISTS (SELECT 1 FROM quarantine q
     WHERE q.tier = 'exchange' AND q.row_id = e.id AND q.mark = 'quarantined')";

fn tier_of(name: &str) -> Option<Tier> {
    SCREENED_TIERS.into_iter().find(|t| t.as_str() == name)
}

fn mark_from(name: &str) -> Mark {
    if name == "quarantined" {
        Mark::Quarantined
    } else {
        Mark::Flagged
    }
}

fn marked(
    c: &Connection,
    namespace: Option<&str>,
    mark: Option<Mark>,
    limit: usize,
) -> Result<Vec<MarkedRow>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT q.tier, q.row_id, q.namespace, q.mark, q.classes, q.reason, q.created_at,
                CASE q.tier
                    WHEN 'exchange' THEN (SELECT content FROM exchanges WHERE id = q.row_id)
                    WHEN 'fact' THEN (SELECT text FROM facts WHERE id = q.row_id)
                    ELSE (SELECT text FROM items WHERE id = q.row_id)
                END
         FROM quarantine q
         WHERE (?1 IS NULL OR q.namespace = ?1) AND (?2 IS NULL OR q.mark = ?2)
         ORDER BY q.created_at DESC, q.tier, q.row_id DESC LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![namespace, mark.map(Mark::as_str), limit], |r| {
        let classes: String = r.get(4)?;
        Ok((
            r.get::<_, String>(0)?,
            MarkedRow {
                tier: Tier::Exchange,
                id: r.get(1)?,
                namespace: r.get(2)?,
                mark: mark_from(&r.get::<_, String>(3)?),
                classes: serde_json::from_str(&classes).unwrap_or_default(),
                reason: r.get(5)?,
                created_at: r.get(6)?,
                text: r.get(7)?,
            },
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (tier, mut row) = row?;
        if let Some(t) = tier_of(&tier) {
            row.tier = t;
            out.push(row);
        }
    }
    Ok(out)
}

fn drop_marked(ctx: &mut WriteCtx<'_>, tier: Tier, id: i64) -> Result<bool, StoreError> {
    let marked = ctx
        .conn()
        .prepare_cached("SELECT namespace FROM quarantine WHERE tier = ?1 AND row_id = ?2")?
        .query_row(params![tier.as_str(), id], |r| r.get::<_, String>(0))
        .optional()?;
    if marked.is_none() {
        return Ok(false);
    }
    // Each delete takes the FTS row (triggers) and the mark (trigger) with it.
    let removed = match tier {
        Tier::Fact => return Ok(super::facts::forget_row(ctx, id)?.is_some()),
        Tier::Exchange => {
            let ns: Option<String> = ctx
                .conn()
                .prepare_cached(
                    "SELECT s.namespace FROM exchanges e JOIN sessions s ON s.id = e.session_id
                     WHERE e.id = ?1",
                )?
                .query_row([id], |r| r.get(0))
                .optional()?;
            ctx.conn()
                .prepare_cached("DELETE FROM exchanges WHERE id = ?1")?
                .execute([id])?;
            ns
        }
        _ => {
            let ns: Option<String> = ctx
                .conn()
                .prepare_cached("SELECT namespace FROM items WHERE id = ?1 AND tier = ?2")?
                .query_row(params![id, tier.as_str()], |r| r.get(0))
                .optional()?;
            // A concept's bookkeeping row goes too: the next sync of its
            // source row writes it (and screens it) afresh.
            ctx.conn()
                .prepare_cached("DELETE FROM concepts WHERE item_id = ?1")?
                .execute([id])?;
            ctx.conn()
                .prepare_cached("DELETE FROM items WHERE id = ?1 AND tier = ?2")?
                .execute(params![id, tier.as_str()])?;
            ns.map(|ns| partition(tier, &ns))
        }
    };
    // The row may be gone already; the mark goes regardless.
    ctx.conn()
        .prepare_cached("DELETE FROM quarantine WHERE tier = ?1 AND row_id = ?2")?
        .execute(params![tier.as_str(), id])?;
    if let Some(namespace) = removed {
        ctx.effects.push(IndexEffect::Remove {
            namespace,
            ids: vec![id],
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Conversations, InsertOutcome, NewExchange, Role};

    fn row(text: &str, screen: Option<Screened>) -> NewExchange {
        NewExchange {
            session_id: "s".into(),
            namespace: None,
            role: Role::User,
            content: text.into(),
            created_at: 1,
            ext_id: None,
            metadata: None,
            embedding: Some(vec![1.0, 0.0, 0.0, 0.0]),
            screen,
        }
    }

    fn mark(mark: Mark) -> Option<Screened> {
        Some(Screened {
            mark,
            classes: vec!["instruction_override".into()],
            reason: "ignore previous instructions".into(),
        })
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn marks_hide_rows_from_prompts_until_released_and_go_with_their_rows() {
        let (_dir, store) = crate::store::test_store(4);
        let ids: Vec<i64> = store
            .insert(vec![
                row("clean", None),
                row("attack", mark(Mark::Quarantined)),
                row("odd", mark(Mark::Flagged)),
            ])
            .await
            .unwrap()
            .into_iter()
            .map(|o| match o {
                InsertOutcome::Inserted { id, .. } => id,
                other => panic!("{other:?}"),
            })
            .collect();
        let read = |store: Store, ids: Vec<i64>| async move {
            let rows = store
                .candidate_rows(ids, vec![], vec![], Some(("s".into(), 10)))
                .await
                .unwrap();
            let found: Vec<i64> = rows.exchanges.iter().map(|x| x.id).collect();
            let recent: Vec<i64> = rows.recent.iter().map(|x| x.id).collect();
            (found, recent)
        };
        let (found, recent) = read(store.clone(), ids.clone()).await;
        assert_eq!(found, [ids[0], ids[2]], "the flagged row stays usable");
        assert_eq!(recent, [ids[2], ids[0]]);
        assert_eq!(
            store.mark_counts().await.unwrap(),
            MarkCounts {
                quarantined: 1,
                flagged: 1
            }
        );
        let listed = store
            .marked(None, Some(Mark::Quarantined), 10)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].tier, listed[0].id), (Tier::Exchange, ids[1]));
        assert_eq!(listed[0].text.as_deref(), Some("attack"));

        assert!(store.release(Tier::Exchange, ids[1]).await.unwrap());
        assert!(!store.release(Tier::Exchange, ids[1]).await.unwrap());
        let (found, _) = read(store.clone(), ids.clone()).await;
        assert_eq!(found, ids);

        // Dropping needs a mark; it deletes the row, its vector and the mark.
        assert!(!store.drop_marked(Tier::Exchange, ids[0]).await.unwrap());
        assert!(store.drop_marked(Tier::Exchange, ids[2]).await.unwrap());
        let (found, _) = read(store.clone(), ids.clone()).await;
        assert_eq!(found, [ids[0], ids[1]]);
        assert_eq!(store.mark_counts().await.unwrap(), MarkCounts::default());

        // A row deleted by another path takes its mark along (trigger).
        store
            .insert(vec![row("again", mark(Mark::Quarantined))])
            .await
            .unwrap();
        store.delete_session("s".into()).await.unwrap();
        assert_eq!(store.mark_counts().await.unwrap(), MarkCounts::default());
    }
}
