//! Concepts: rows of a database source kept in memory (`concepts`), each
//! with its searchable item (tier `concept`), and the user's edits of them.
//!
//! Invariants: one concept per (source, table, row id) and one item per
//! concept (re-syncing replaces, never adds); an unchanged text leaves the
//! item untouched, so nothing is re-embedded; a removed concept stays out
//! of memory until the user restores it, whatever the source does.

use std::future::Future;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use super::items::{ItemSel, NewItem, Tier, WriteCtx};
use super::quarantine::{Screened, set_mark};
use super::{Store, StoreError};

/// A row on its way into memory.
#[derive(Debug, Clone)]
pub struct ConceptIn {
    pub row_id: String,
    pub name: String,
    pub text: String,
    pub fingerprint: String,
    pub marker: Option<String>,
    /// The write firewall's verdict on `text` (None: clean).
    pub screen: Option<Screened>,
}

/// Where concepts of one table go.
#[derive(Debug, Clone)]
pub struct TableTarget {
    pub source: String,
    pub table: String,
    pub namespace: String,
    pub default_strength: f64,
}

impl TableTarget {
    pub fn parent(&self) -> String {
        format!("{}/{}", self.source, self.table)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// Concepts created or replaced.
    pub written: u64,
    /// Names of concepts whose user edit the source overwrote.
    pub overwritten: Vec<String>,
}

/// A concept as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ConceptView {
    pub name: String,
    pub namespace: String,
    pub source: String,
    pub table: String,
    pub row_id: String,
    /// What memory holds: the overlay when the user edited it, else the source's text.
    pub text: String,
    pub source_text: String,
    pub overlay: Option<String>,
    pub strength: f64,
    pub marker: Option<String>,
    pub removed: bool,
    pub item_id: Option<i64>,
    pub synced_at: String,
    pub edited_at: Option<String>,
}

/// A user's edit of a concept.
#[derive(Debug, Clone, Default)]
pub struct ConceptEdit {
    pub strength: Option<f64>,
    /// Some(None) clears the overlay (back to the source's text).
    pub text: Option<Option<String>>,
    /// Bring a removed concept back into memory.
    pub restore: bool,
    /// The firewall's verdict on a new overlay text. Clearing the overlay
    /// keeps the concept's mark as it is.
    pub screen: Option<Screened>,
}

/// Concepts, as syncs write them and users edit them.
pub trait Concepts {
    /// Creates or replaces the concepts of these rows (one transaction);
    /// rows whose fingerprint is unchanged only record their marker.
    fn apply_concepts(
        &self,
        target: TableTarget,
        rows: Vec<ConceptIn>,
        now: i64,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Removes the concepts of these rows (gone from the source) and their
    /// items; returns how many concepts went.
    fn delete_concepts(
        &self,
        target: TableTarget,
        row_ids: Vec<String>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The concepts of that name (in `namespace` when given).
    fn concepts_by_name(
        &self,
        name: String,
        namespace: Option<String>,
    ) -> impl Future<Output = Result<Vec<ConceptView>, StoreError>> + Send;

    /// Applies an edit; None when no such concept exists.
    fn edit_concept(
        &self,
        name: String,
        namespace: String,
        edit: ConceptEdit,
        now: i64,
    ) -> impl Future<Output = Result<Option<ConceptView>, StoreError>> + Send;

    /// Removes a concept from memory (its item goes; the row stays as a
    /// tombstone so syncing does not bring it back). None when unknown.
    fn remove_concept(
        &self,
        name: String,
        namespace: String,
        now: i64,
    ) -> impl Future<Output = Result<Option<ConceptView>, StoreError>> + Send;

    /// (concepts in memory, removed) of a table.
    fn concept_counts(
        &self,
        source: String,
        table: String,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;
}

impl Concepts for Store {
    async fn apply_concepts(
        &self,
        target: TableTarget,
        rows: Vec<ConceptIn>,
        now: i64,
    ) -> Result<Applied, StoreError> {
        self.write(move |ctx| apply_concepts(ctx, &target, rows, now))
            .await
    }

    async fn delete_concepts(
        &self,
        target: TableTarget,
        row_ids: Vec<String>,
    ) -> Result<u64, StoreError> {
        self.write(move |ctx| delete_concepts(ctx, &target, &row_ids))
            .await
    }

    async fn concepts_by_name(
        &self,
        name: String,
        namespace: Option<String>,
    ) -> Result<Vec<ConceptView>, StoreError> {
        self.read(move |c| concepts_by_name(c, &name, namespace.as_deref()))
            .await
    }

    async fn edit_concept(
        &self,
        name: String,
        namespace: String,
        edit: ConceptEdit,
        now: i64,
    ) -> Result<Option<ConceptView>, StoreError> {
        self.write(move |ctx| edit_concept(ctx, &name, &namespace, edit, now))
            .await
    }

    async fn remove_concept(
        &self,
        name: String,
        namespace: String,
        now: i64,
    ) -> Result<Option<ConceptView>, StoreError> {
        self.write(move |ctx| remove_concept(ctx, &name, &namespace, now))
            .await
    }

    async fn concept_counts(
        &self,
        source: String,
        table: String,
    ) -> Result<(u64, u64), StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT count(*) - coalesce(sum(removed), 0), coalesce(sum(removed), 0) FROM concepts
                     WHERE source = ?1 AND tbl = ?2",
                )?
                .query_row(params![source, table], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })?)
        })
        .await
    }
}

fn concept_item(t: &TableTarget, c: &ConceptIn, text: String, weight: f64, now: i64) -> NewItem {
    NewItem {
        tier: Tier::Concept,
        namespace: t.namespace.clone(),
        key: c.name.clone(),
        parent: Some(t.parent()),
        text,
        attrs: json!({"source": t.source, "name": c.name, "table": t.table, "row_id": c.row_id}),
        weight,
        created_at: now,
    }
}

fn apply_concepts(
    ctx: &mut WriteCtx<'_>,
    t: &TableTarget,
    rows: Vec<ConceptIn>,
    now: i64,
) -> Result<Applied, StoreError> {
    let mut out = Applied::default();
    for c in rows {
        // (fingerprint, overlay, strength, removed, item id)
        type Known = (String, Option<String>, f64, bool, Option<i64>);
        let found: Option<Known> = ctx
            .conn()
            .prepare_cached(
                "SELECT fingerprint, overlay, strength, removed, item_id FROM concepts
                 WHERE source = ?1 AND tbl = ?2 AND row_id = ?3",
            )?
            .query_row(params![t.source, t.table, c.row_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        match found {
            Some((fp, _, _, removed, item))
                if fp == c.fingerprint && (removed || item.is_some()) =>
            {
                ctx.conn()
                    .prepare_cached(
                        "UPDATE concepts SET marker = ?4, synced_at = ?5
                         WHERE source = ?1 AND tbl = ?2 AND row_id = ?3",
                    )?
                    .execute(params![t.source, t.table, c.row_id, c.marker, now])?;
            }
            Some((_, _, _, true, _)) => {
                ctx.conn()
                    .prepare_cached(
                        "UPDATE concepts SET fingerprint = ?4, source_text = ?5, marker = ?6, synced_at = ?7
                         WHERE source = ?1 AND tbl = ?2 AND row_id = ?3",
                    )?
                    .execute(params![
                        t.source,
                        t.table,
                        c.row_id,
                        c.fingerprint,
                        c.text,
                        c.marker,
                        now
                    ])?;
            }
            Some((_, overlay, strength, false, old_item)) => {
                if overlay.is_some() {
                    out.overwritten.push(c.name.clone());
                }
                let w = ctx.upsert_item(concept_item(t, &c, c.text.clone(), strength, now))?;
                if w.changed {
                    set_mark(
                        ctx.conn(),
                        Tier::Concept,
                        w.id,
                        &t.namespace,
                        c.screen.as_ref(),
                    )?;
                }
                // Renamed (its table became source-qualified, or its
                // namespace changed): the item under the old key goes.
                if let Some(old) = old_item
                    && old != w.id
                {
                    let ns: Option<String> = ctx
                        .conn()
                        .query_row("SELECT namespace FROM items WHERE id = ?1", [old], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    if let Some(ns) = ns {
                        ctx.delete_items(Tier::Concept, &ns, ItemSel::Ids(vec![old]))?;
                    }
                }
                ctx.conn()
                    .prepare_cached(
                        "UPDATE concepts SET fingerprint = ?4, source_text = ?5, marker = ?6, synced_at = ?7,
                         overlay = NULL, item_id = ?8, name = ?9, namespace = ?10
                         WHERE source = ?1 AND tbl = ?2 AND row_id = ?3",
                    )?
                    .execute(params![
                        t.source,
                        t.table,
                        c.row_id,
                        c.fingerprint,
                        c.text,
                        c.marker,
                        now,
                        w.id,
                        c.name,
                        t.namespace
                    ])?;
                out.written += 1;
            }
            None => {
                let w =
                    ctx.upsert_item(concept_item(t, &c, c.text.clone(), t.default_strength, now))?;
                if w.changed {
                    set_mark(
                        ctx.conn(),
                        Tier::Concept,
                        w.id,
                        &t.namespace,
                        c.screen.as_ref(),
                    )?;
                }
                ctx.conn()
                    .prepare_cached(
                        "INSERT INTO concepts (source, tbl, row_id, namespace, name, item_id, fingerprint,
                         source_text, strength, marker, synced_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )?
                    .execute(params![
                        t.source,
                        t.table,
                        c.row_id,
                        t.namespace,
                        c.name,
                        w.id,
                        c.fingerprint,
                        c.text,
                        t.default_strength,
                        c.marker,
                        now
                    ])?;
                out.written += 1;
            }
        }
    }
    Ok(out)
}

/// Removes the concepts of these rows (gone from the source) and their
/// items; returns how many concepts went.
fn delete_concepts(
    ctx: &mut WriteCtx<'_>,
    t: &TableTarget,
    row_ids: &[String],
) -> Result<u64, StoreError> {
    let mut n = 0;
    for id in row_ids {
        let found: Option<(String, String)> = ctx
            .conn()
            .prepare_cached(
                "DELETE FROM concepts WHERE source = ?1 AND tbl = ?2 AND row_id = ?3 RETURNING name, namespace",
            )?
            .query_row(params![t.source, t.table, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((name, ns)) = found {
            ctx.delete_items(Tier::Concept, &ns, ItemSel::Keys(vec![name]))?;
            n += 1;
        }
    }
    Ok(n)
}

fn concepts_by_name(
    conn: &Connection,
    name: &str,
    namespace: Option<&str>,
) -> Result<Vec<ConceptView>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, namespace, source, tbl, row_id, source_text, overlay, strength, marker, removed,
                item_id, synced_at, edited_at
         FROM concepts WHERE name = ?1 AND (?2 IS NULL OR namespace = ?2)",
    )?;
    let rows = stmt.query_map(params![name, namespace], |r| {
        let source_text: String = r.get(5)?;
        let overlay: Option<String> = r.get(6)?;
        Ok(ConceptView {
            name: r.get(0)?,
            namespace: r.get(1)?,
            source: r.get(2)?,
            table: r.get(3)?,
            row_id: r.get(4)?,
            text: overlay.clone().unwrap_or_else(|| source_text.clone()),
            source_text,
            overlay,
            strength: r.get(7)?,
            marker: r.get(8)?,
            removed: r.get(9)?,
            item_id: r.get(10)?,
            synced_at: crate::time::to_rfc3339(r.get(11)?),
            edited_at: r.get::<_, Option<i64>>(12)?.map(crate::time::to_rfc3339),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn item_for(ctx: &mut WriteCtx<'_>, c: &ConceptView, now: i64) -> Result<i64, StoreError> {
    let w = ctx.upsert_item(NewItem {
        tier: Tier::Concept,
        namespace: c.namespace.clone(),
        key: c.name.clone(),
        parent: Some(format!("{}/{}", c.source, c.table)),
        text: c.text.clone(),
        attrs: json!({"source": c.source, "name": c.name, "table": c.table, "row_id": c.row_id}),
        weight: c.strength,
        created_at: now,
    })?;
    Ok(w.id)
}

/// Applies an edit; None when no such concept exists.
fn edit_concept(
    ctx: &mut WriteCtx<'_>,
    name: &str,
    namespace: &str,
    edit: ConceptEdit,
    now: i64,
) -> Result<Option<ConceptView>, StoreError> {
    let Some(mut c) = concepts_by_name(ctx.conn(), name, Some(namespace))?.pop() else {
        return Ok(None);
    };
    if let Some(s) = edit.strength {
        c.strength = s;
    }
    let new_text = matches!(edit.text, Some(Some(_)));
    if let Some(t) = edit.text {
        c.overlay = t;
    }
    c.text = c.overlay.clone().unwrap_or_else(|| c.source_text.clone());
    if edit.restore {
        c.removed = false;
    }
    c.item_id = if c.removed {
        None
    } else {
        Some(item_for(ctx, &c, now)?)
    };
    if let (Some(id), true) = (c.item_id, new_text) {
        set_mark(
            ctx.conn(),
            Tier::Concept,
            id,
            namespace,
            edit.screen.as_ref(),
        )?;
    }
    ctx.conn().execute(
        "UPDATE concepts SET strength = ?4, overlay = ?5, removed = ?6, item_id = ?7, edited_at = ?8
         WHERE source = ?1 AND tbl = ?2 AND row_id = ?3",
        params![c.source, c.table, c.row_id, c.strength, c.overlay, c.removed, c.item_id, now],
    )?;
    c.edited_at = Some(crate::time::to_rfc3339(now));
    Ok(Some(c))
}

/// Removes a concept from memory (its item goes; the row stays as a
/// tombstone so syncing does not bring it back). None when unknown.
fn remove_concept(
    ctx: &mut WriteCtx<'_>,
    name: &str,
    namespace: &str,
    now: i64,
) -> Result<Option<ConceptView>, StoreError> {
    let Some(mut c) = concepts_by_name(ctx.conn(), name, Some(namespace))?.pop() else {
        return Ok(None);
    };
    ctx.delete_items(
        Tier::Concept,
        namespace,
        ItemSel::Keys(vec![c.name.clone()]),
    )?;
    ctx.conn().execute(
        "UPDATE concepts SET removed = 1, item_id = NULL, edited_at = ?4
         WHERE source = ?1 AND tbl = ?2 AND row_id = ?3",
        params![c.source, c.table, c.row_id, now],
    )?;
    c.removed = true;
    c.item_id = None;
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::store::ModelSpec;

    fn open(dir: &std::path::Path) -> Store {
        let model = ModelSpec {
            name: "test".into(),
            dim: 4,
        };
        Store::open(&dir.join("t.db"), &StoreConfig::default(), &model)
            .unwrap()
            .0
    }

    fn row(id: &str, text: &str) -> ConceptIn {
        ConceptIn {
            row_id: id.into(),
            name: format!("t:{id}"),
            text: text.into(),
            // Any function of the text will do: equal texts, equal prints.
            fingerprint: format!("fp:{text}"),
            marker: None,
            screen: None,
        }
    }

    fn target() -> TableTarget {
        TableTarget {
            source: "s".into(),
            table: "t".into(),
            namespace: "default".into(),
            default_strength: 0.85,
        }
    }

    async fn apply(store: &Store, rows: Vec<ConceptIn>) -> Applied {
        store.apply_concepts(target(), rows, 1).await.unwrap()
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        store
            .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_renamed_concept_leaves_no_item_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        apply(&store, vec![row("1", "a")]).await;
        // The table became source-qualified and the row changed.
        let mut renamed = row("1", "a2");
        renamed.name = "src/t:1".into();
        assert_eq!(apply(&store, vec![renamed]).await.written, 1);
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE tier = 'concept'").await,
            1
        );
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM items WHERE key = 'src/t:1' AND text = 'a2'"
            )
            .await,
            1
        );
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn resync_replaces_and_edits_are_overwritten_or_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert_eq!(
            apply(&store, vec![row("1", "a"), row("2", "b")])
                .await
                .written,
            2
        );
        // Same text again: nothing written.
        assert_eq!(apply(&store, vec![row("1", "a")]).await.written, 0);
        // Changed text: replaced, never a second item.
        assert_eq!(apply(&store, vec![row("1", "a2")]).await.written, 1);
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE tier = 'concept'").await,
            2
        );
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE text = 'a2'").await,
            1
        );
        assert_eq!(
            store.concept_counts("s".into(), "t".into()).await.unwrap(),
            (2, 0)
        );

        // A user overlay, then the source changes the row: counted, dropped.
        let edit = ConceptEdit {
            strength: Some(2.0),
            text: Some(Some("mine".into())),
            restore: false,
            screen: None,
        };
        store
            .edit_concept("t:1".into(), "default".into(), edit, 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM items WHERE text = 'mine' AND weight = 2.0"
            )
            .await,
            1
        );
        let a = apply(&store, vec![row("1", "a3")]).await;
        assert_eq!(a.overwritten, vec!["t:1".to_owned()]);
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM items WHERE text = 'a3' AND weight = 2.0"
            )
            .await,
            1
        );

        // Removed: out of memory and not brought back by a changed row.
        store
            .remove_concept("t:2".into(), "default".into(), 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(apply(&store, vec![row("2", "b2")]).await.written, 0);
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE tier = 'concept'").await,
            1
        );
        assert_eq!(
            store.concept_counts("s".into(), "t".into()).await.unwrap(),
            (1, 1)
        );
        // Restored, with the source's latest text.
        let edit = ConceptEdit {
            restore: true,
            ..Default::default()
        };
        store
            .edit_concept("t:2".into(), "default".into(), edit, 4)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE text = 'b2'").await,
            1
        );

        // Gone from the source: concept and item go.
        let n = store
            .delete_concepts(target(), vec!["1".to_owned(), "9".to_owned()])
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(count(&store, "SELECT count(*) FROM concepts").await, 1);
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE tier = 'concept'").await,
            1
        );
        tokio::task::block_in_place(|| store.close());
    }
}
