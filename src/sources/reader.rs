//! What memd reads from a database source, whatever the database: the
//! [`SourceReader`] trait, implemented by [`super::sqlite::SqliteReader`]
//! and [`super::postgres::PostgresReader`], and the retry policy every
//! read goes through.
//!
//! A reader only ever reads: it checks the allowed tables against the
//! source's schema ([`TablePlan`]s) and returns rows as [`SourceRow`]s.
//! Ids and cursors come back as [`SourceValue`]s, memd's own value type,
//! so that the store can keep a cursor as the source gave it.

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::registry::Source;
use super::table::{SourceRow, TablePlan};
use super::{SourceError, Sources, retry};
use crate::store::SourceValue;

/// Rows and a position: the last id of a page, or the largest cursor seen.
pub type Rows = (Vec<SourceRow>, Option<SourceValue>);

/// One database source's reads. Object-safe (the registry holds readers
/// of different databases side by side), hence the boxed futures.
pub trait SourceReader: Send + Sync {
    /// Checks every allowed table and its configured columns against the
    /// source's schema; a mismatch is a [`SourceError::Config`] naming the key.
    fn plans(&self) -> BoxFuture<'_, Result<Vec<TablePlan>, SourceError>>;

    /// One page of rows in id order after `after` (keyset paging), and the
    /// page's last id.
    fn page<'a>(
        &'a self,
        plan: &'a TablePlan,
        after: Option<&'a SourceValue>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Rows, SourceError>>;

    /// Rows whose cursor is at or past `from` (None: all), in cursor order,
    /// and the largest cursor value seen.
    fn changed_since<'a>(
        &'a self,
        plan: &'a TablePlan,
        from: Option<&'a SourceValue>,
    ) -> BoxFuture<'a, Result<Rows, SourceError>>;

    /// Every row (for comparing fingerprints).
    fn all<'a>(&'a self, plan: &'a TablePlan)
    -> BoxFuture<'a, Result<Vec<SourceRow>, SourceError>>;

    /// Every id (for finding deleted rows).
    fn ids<'a>(&'a self, plan: &'a TablePlan) -> BoxFuture<'a, Result<Vec<String>, SourceError>>;

    /// The rows with these ids; ids not found are absent from the result.
    fn by_ids<'a>(
        &'a self,
        plan: &'a TablePlan,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<SourceRow>, SourceError>>;

    /// Whether an incremental sync of a table with a cursor also lists
    /// every id to find deleted rows. Cheap for a local file; for a server
    /// it is left to the scheduled full sync.
    fn lists_ids_incrementally(&self) -> bool;
}

impl Sources {
    /// One read with the retry policy; retries are counted in the table's
    /// stats.
    pub(super) async fn read<'a, T>(
        &self,
        s: &'a Source,
        table: &str,
        op: impl Fn(&'a dyn SourceReader) -> BoxFuture<'a, Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        let Some(reader) = s.reader.as_deref() else {
            return Err(SourceError::Refused("a folder has no tables".into()));
        };
        let cfg = &self.inner.cfg;
        let policy = retry::Policy::new(cfg.max_retries, cfg.retry_delay_s);
        let never = CancellationToken::new();
        retry::retry(
            policy,
            &never,
            |n, e: &SourceError| {
                tracing::debug!(source = %s.name, table, retry = n, error = %e, "retrying a source read");
                self.stat(s, table, |t| t.retries += 1);
            },
            || op(reader),
        )
        .await
    }
}
