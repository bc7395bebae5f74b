//! Database table sync: rows read through a [`SourceReader`] become
//! concepts, written through the store in pipelined batches.
//!
//! Invariant: the in-memory fingerprint map of a table ([`TableMem`])
//! mirrors the `concepts` rows of that table; it is loaded from the store
//! before the first sync and updated only after a write committed.
//!
//! [`SourceReader`]: super::reader::SourceReader
//! [`TableMem`]: super::registry::TableMem

use std::collections::{HashSet, VecDeque};

use tokio::task::JoinHandle;

use super::registry::{Runtime, Source, TableMem};
use super::status::TableReport;
use super::table::SourceRow;
use super::{SourceError, Sources, postgres};
use crate::config::FirewallConfig;
use crate::store::{
    Applied, ConceptIn, Concepts, SourceState, SourceValue, StoreError, TableState, TableTarget,
};

/// Write batches a sync may have in flight at once. The writer folds
/// queued batches into one transaction, so a full sync pays one commit per
/// up to this many batches instead of one per batch.
const PIPELINE: usize = 16;

/// One batch on its way: the write and the (row id, fingerprint) pairs it
/// carries, to record once it has committed.
type InFlight = (
    JoinHandle<Result<Applied, StoreError>>,
    Vec<(String, String)>,
);

/// Batches handed to the writer and not yet awaited.
#[derive(Default)]
struct Pending {
    inflight: VecDeque<InFlight>,
    written: u64,
    over: u64,
}

impl Sources {
    /// Reads the source's schema (first use, or after it was down) and the
    /// tables' fingerprints and cursors from the store.
    pub(super) async fn ensure_plans(
        &self,
        s: &Source,
        rt: &mut Runtime,
    ) -> Result<(), SourceError> {
        if rt.plans.is_none() {
            let plans = match &s.reader {
                Some(reader) => reader.plans().await?,
                None => Vec::new(),
            };
            rt.plans = Some(plans.into_iter().map(|p| (p.table.clone(), p)).collect());
        }
        for t in s.allowed_tables() {
            if rt.tables.contains_key(t) {
                continue;
            }
            let TableState {
                fingerprints,
                cursor,
            } = self
                .inner
                .store
                .table_state(s.name.clone(), t.clone())
                .await?;
            rt.tables.insert(
                t.clone(),
                TableMem {
                    fps: fingerprints,
                    cursor,
                },
            );
        }
        Ok(())
    }

    fn target(&self, s: &Source, table: &str) -> TableTarget {
        TableTarget {
            source: s.name.clone(),
            table: table.to_owned(),
            namespace: s.namespace.clone(),
            default_strength: self.inner.cfg.default_strength,
        }
    }

    fn concept_name(&self, s: &Source, table: &str, id: &str) -> String {
        if s.qualified.contains(table) {
            format!("{}/{table}:{id}", s.name)
        } else {
            format!("{table}:{id}")
        }
    }

    /// Writes the rows whose fingerprint changed and waits for them;
    /// returns (written, overwrite warnings).
    pub(super) async fn apply(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        rows: Vec<SourceRow>,
    ) -> Result<(u64, u64), SourceError> {
        let mut p = Pending::default();
        self.submit(s, rt, table, rows, &mut p);
        self.settle(s, rt, table, &mut p, 0).await?;
        Ok((p.written, p.over))
    }

    /// Hands the changed rows to the writer in `batch_size` batches without
    /// waiting for them (see [`Pending`]).
    fn submit(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        rows: Vec<SourceRow>,
        p: &mut Pending,
    ) {
        let mem = rt.tables.entry(table.to_owned()).or_default();
        let total = rows.len() as u64;
        let mut changed: Vec<ConceptIn> = Vec::new();
        let mut in_batch = HashSet::new();
        for r in rows {
            let fp = r.fingerprint();
            if mem.fps.get(&r.id) == Some(&fp) || !in_batch.insert(r.id.clone()) {
                continue;
            }
            changed.push(ConceptIn {
                name: self.concept_name(s, table, &r.id),
                row_id: r.id,
                text: r.text,
                fingerprint: fp,
                marker: r.marker,
                screen: None,
            });
        }
        self.stat(s, table, |t| t.unchanged += total - changed.len() as u64);
        let target = self.target(s, table);
        for batch in changed.chunks(self.inner.cfg.batch_size) {
            let (t, rows, now) = (target.clone(), batch.to_vec(), crate::time::now_ms());
            let store = self.inner.store.clone();
            let (firewall, source) = (self.inner.firewall.clone(), s.name.clone());
            // Spawned so that it reaches the writer now, not when awaited.
            let handle = tokio::spawn(async move {
                // Scanning is CPU work: off the executor.
                let rows =
                    tokio::task::spawn_blocking(move || screen_rows(&firewall, &source, rows))
                        .await
                        .map_err(|e| StoreError::Invalid(format!("screening task failed: {e}")))?;
                store.apply_concepts(t, rows, now).await
            });
            let fps = batch
                .iter()
                .map(|c| (c.row_id.clone(), c.fingerprint.clone()))
                .collect();
            p.inflight.push_back((handle, fps));
        }
    }

    /// Waits until at most `max` batches are in flight, recording what the
    /// committed ones wrote. After an error every batch is still awaited
    /// (the fingerprints stay true to the store), then the error returns.
    async fn settle(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        p: &mut Pending,
        max: usize,
    ) -> Result<(), SourceError> {
        let mem = rt.tables.entry(table.to_owned()).or_default();
        let (mut written, mut over) = (0, 0);
        let mut failed: Option<SourceError> = None;
        while p.inflight.len() > max || (failed.is_some() && !p.inflight.is_empty()) {
            let (handle, fps) = p.inflight.pop_front().expect("non-empty");
            match handle.await {
                Ok(Ok(applied)) => {
                    mem.fps.extend(fps);
                    for name in &applied.overwritten {
                        tracing::warn!(source = %s.name, concept = %name, "the source changed a concept the user had edited; the edit was overwritten");
                    }
                    written += applied.written;
                    over += applied.overwritten.len() as u64;
                }
                Ok(Err(e)) => {
                    failed.get_or_insert(e.into());
                }
                Err(e) => {
                    failed.get_or_insert(SourceError::Unavailable(format!("write task: {e}")));
                }
            }
        }
        if written > 0 {
            self.wrote(&s.name);
        }
        p.written += written;
        p.over += over;
        self.stat(s, table, |t| {
            t.synced += written;
            t.overwrite_warnings += over;
        });
        failed.map_or(Ok(()), Err)
    }

    pub(super) async fn delete_rows(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
        ids: Vec<String>,
    ) -> Result<u64, SourceError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let target = self.target(s, table);
        let mut n = 0;
        for batch in ids.chunks(self.inner.cfg.batch_size) {
            n += self
                .inner
                .store
                .delete_concepts(target.clone(), batch.to_vec())
                .await?;
            if let Some(mem) = rt.tables.get_mut(table) {
                for id in batch {
                    mem.fps.remove(id);
                }
            }
        }
        self.stat(s, table, |t| t.deleted += n);
        Ok(n)
    }

    /// Reads the whole table in `batch_size` pages (by id), writes what
    /// changed and removes concepts whose rows are gone.
    pub(super) async fn full_sync_table(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
    ) -> Result<TableReport, SourceError> {
        let plan = rt.plan(table)?;
        let batch = self.inner.cfg.batch_size;
        let mut report = TableReport {
            table: table.to_owned(),
            full: true,
            ..Default::default()
        };
        let mut seen: HashSet<String> = HashSet::new();
        let mut after: Option<SourceValue> = None;
        // Pages are read while the previous ones are being written.
        let mut p = Pending::default();
        let r: Result<(), SourceError> = async {
            loop {
                let (rows, last) = self
                    .read(s, table, |r| r.page(&plan, after.as_ref(), batch))
                    .await?;
                let n = rows.len();
                report.rows += n as u64;
                seen.extend(rows.iter().map(|r| r.id.clone()));
                self.submit(s, rt, table, rows, &mut p);
                self.settle(s, rt, table, &mut p, PIPELINE).await?;
                if n < batch || last.is_none() {
                    return Ok(());
                }
                after = last;
            }
        }
        .await;
        let settled = self.settle(s, rt, table, &mut p, 0).await;
        r.and(settled)?;
        report.synced = p.written;
        report.overwrite_warnings = p.over;
        let gone = gone(rt, table, &seen);
        report.deleted = self.delete_rows(s, rt, table, gone).await?;
        tracing::info!(source = %s.name, table, rows = report.rows, synced = report.synced, deleted = report.deleted, "full sync");
        Ok(report)
    }

    /// Reads what changed since the last sync: by the cursor column when
    /// there is one, else every row compared by fingerprint. Deleted rows
    /// are found by their ids (PostgreSQL with a cursor: by the full sync).
    pub(super) async fn incremental(
        &self,
        s: &Source,
        rt: &mut Runtime,
        table: &str,
    ) -> Result<TableReport, SourceError> {
        let plan = rt.plan(table)?;
        let mut report = TableReport {
            table: table.to_owned(),
            ..Default::default()
        };
        let present: Option<HashSet<String>>;
        if plan.cursor.is_some() {
            let from = rt.tables.get(table).and_then(|m| m.cursor.clone());
            let (rows, max) = self
                .read(s, table, |r| r.changed_since(&plan, from.as_ref()))
                .await?;
            report.rows = rows.len() as u64;
            let (w, o) = self.apply(s, rt, table, rows).await?;
            report.synced = w;
            report.overwrite_warnings = o;
            if let Some(max) = max
                && Some(&max) != from.as_ref()
            {
                self.inner
                    .store
                    .set_cursor(
                        s.name.clone(),
                        table.to_owned(),
                        max.clone(),
                        crate::time::now_ms(),
                    )
                    .await?;
                rt.tables.entry(table.to_owned()).or_default().cursor = Some(max);
            }
            let lists_ids = s
                .reader
                .as_ref()
                .is_some_and(|r| r.lists_ids_incrementally());
            present = if lists_ids {
                let ids = self.read(s, table, |r| r.ids(&plan)).await?;
                Some(ids.into_iter().collect())
            } else {
                None
            };
        } else {
            let rows = self.read(s, table, |r| r.all(&plan)).await?;
            report.rows = rows.len() as u64;
            present = Some(rows.iter().map(|r| r.id.clone()).collect());
            let (w, o) = self.apply(s, rt, table, rows).await?;
            report.synced = w;
            report.overwrite_warnings = o;
        }
        if let Some(present) = present {
            let gone = gone(rt, table, &present);
            report.deleted = self.delete_rows(s, rt, table, gone).await?;
        }
        if report.synced + report.deleted > 0 {
            tracing::info!(source = %s.name, table, synced = report.synced, deleted = report.deleted, "synced changes");
        }
        Ok(report)
    }

    /// A change announced by a PostgreSQL trigger: the row is read again
    /// (or its concept removed).
    pub(super) async fn apply_notice(
        &self,
        s: &Source,
        n: postgres::Notice,
    ) -> Result<(), SourceError> {
        let Ok(table) = self.allowed(s, &n.table) else {
            tracing::debug!(source = %s.name, table = %n.table, "ignoring a notice for a table that is not allowed");
            return Ok(());
        };
        let Some(id) = n.id else { return Ok(()) };
        let mut rt = s.rt.lock().await;
        let r = async {
            if n.op.eq_ignore_ascii_case("DELETE") {
                self.delete_rows(s, &mut rt, &table, vec![id]).await?;
                return Ok(TableReport::default());
            }
            self.ensure_plans(s, &mut rt).await?;
            let plan = rt.plan(&table)?;
            let ids = [id.clone()];
            let rows = self.read(s, &table, |r| r.by_ids(&plan, &ids)).await?;
            if rows.is_empty() {
                self.delete_rows(s, &mut rt, &table, vec![id]).await?;
            } else {
                self.apply(s, &mut rt, &table, rows).await?;
            }
            Ok(TableReport::default())
        }
        .await;
        self.outcome(s, &table, r).map(|_| ())
    }

    /// Every table, full or incremental; the first error stops the round.
    pub(super) async fn sync_all(&self, s: &Source, full: bool) -> Result<(), SourceError> {
        let mut rt = s.rt.lock().await;
        if let Err(e) = self.ensure_plans(s, &mut rt).await {
            let first = s.allowed_tables().first().cloned().unwrap_or_default();
            return self.outcome(s, &first, Err(e)).map(|_| ());
        }
        for t in s.allowed_tables() {
            let r = if full {
                self.full_sync_table(s, &mut rt, t).await
            } else {
                self.incremental(s, &mut rt, t).await
            };
            if let Err(e) = self.outcome(s, t, r) {
                // The schema may have changed under us: check it again
                // before the next attempt.
                rt.plans = None;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The row ids memory holds for the table that are not in `present`.
fn gone(rt: &Runtime, table: &str, present: &HashSet<String>) -> Vec<String> {
    rt.tables
        .get(table)
        .map(|m| {
            m.fps
                .keys()
                .filter(|k| !present.contains(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The write firewall on a batch of source rows: a rejected row is left out
/// (its fingerprint is still recorded, so it is not read again until it
/// changes), a quarantined or flagged one is stored with its mark. Each is
/// logged: no client is there to answer.
fn screen_rows(firewall: &FirewallConfig, source: &str, rows: Vec<ConceptIn>) -> Vec<ConceptIn> {
    let mut kept = Vec::with_capacity(rows.len());
    for mut c in rows {
        match crate::screen::screen(firewall, &c.text) {
            Ok(screen) => {
                if let Some(s) = &screen {
                    tracing::warn!(source, concept = %c.name, mark = s.mark.as_str(), classes = ?s.classes, reason = %s.reason, "the write firewall marked a source row");
                }
                c.screen = screen;
                kept.push(c);
            }
            Err(r) => {
                tracing::warn!(source, concept = %c.name, classes = ?r.classes, reason = %r.reason, "the write firewall rejected a source row; it is not stored");
            }
        }
    }
    kept
}
