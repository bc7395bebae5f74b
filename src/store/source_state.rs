//! Where a database source's syncs resume: each table's cursor
//! (`source_cursors`) and the fingerprints of its concepts, loaded before
//! its first sync so that unchanged rows are not written again.

use std::collections::HashMap;
use std::future::Future;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A value of a source's id or cursor column, in SQLite's storage classes
/// (a cursor is kept as the source gave it, so that it compares as the
/// source's column does).
#[derive(Debug, Clone, PartialEq)]
pub enum SourceValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<Value> for SourceValue {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => SourceValue::Null,
            Value::Integer(i) => SourceValue::Integer(i),
            Value::Real(f) => SourceValue::Real(f),
            Value::Text(s) => SourceValue::Text(s),
            Value::Blob(b) => SourceValue::Blob(b),
        }
    }
}

impl From<SourceValue> for Value {
    fn from(v: SourceValue) -> Self {
        match v {
            SourceValue::Null => Value::Null,
            SourceValue::Integer(i) => Value::Integer(i),
            SourceValue::Real(f) => Value::Real(f),
            SourceValue::Text(s) => Value::Text(s),
            SourceValue::Blob(b) => Value::Blob(b),
        }
    }
}

impl ToSql for SourceValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            SourceValue::Null => ValueRef::Null,
            SourceValue::Integer(i) => ValueRef::Integer(*i),
            SourceValue::Real(f) => ValueRef::Real(*f),
            SourceValue::Text(s) => ValueRef::Text(s.as_bytes()),
            SourceValue::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl FromSql for SourceValue {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        Value::column_result(v).map(SourceValue::from)
    }
}

/// What a table's syncs start from.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// Row id → fingerprint of every concept of the table (removed ones
    /// too, so that they are not read again as new).
    pub fingerprints: HashMap<String, String>,
    /// The largest cursor value synced; None: none yet.
    pub cursor: Option<SourceValue>,
}

/// The sync state of database sources.
pub trait SourceState {
    fn table_state(
        &self,
        source: String,
        table: String,
    ) -> impl Future<Output = Result<TableState, StoreError>> + Send;

    fn set_cursor(
        &self,
        source: String,
        table: String,
        cursor: SourceValue,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl SourceState for Store {
    async fn table_state(&self, source: String, table: String) -> Result<TableState, StoreError> {
        self.read(move |conn| {
            let fingerprints = conn
                .prepare_cached(
                    "SELECT row_id, fingerprint FROM concepts WHERE source = ?1 AND tbl = ?2",
                )?
                .query_map(params![source, table], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let cursor = conn
                .prepare_cached("SELECT cursor FROM source_cursors WHERE source = ?1 AND tbl = ?2")?
                .query_row(params![source, table], |r| r.get::<_, SourceValue>(0))
                .optional()?
                .filter(|v| *v != SourceValue::Null);
            Ok(TableState {
                fingerprints,
                cursor,
            })
        })
        .await
    }

    async fn set_cursor(
        &self,
        source: String,
        table: String,
        cursor: SourceValue,
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |ctx| {
            ctx.conn()
                .prepare_cached(
                    "INSERT INTO source_cursors (source, tbl, cursor, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (source, tbl) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                )?
                .execute(params![source, table, cursor, now])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_cursor_keeps_its_storage_class() {
        let (_dir, store) = crate::store::test_store(4);
        let state = |t: &str| store.table_state("s".into(), t.into());
        assert_eq!(state("t").await.unwrap().cursor, None);
        for (t, v) in [
            ("i", SourceValue::Integer(7)),
            ("r", SourceValue::Real(1.5)),
            ("x", SourceValue::Text("2026-01-01".into())),
            ("b", SourceValue::Blob(vec![0, 1])),
        ] {
            store
                .set_cursor("s".into(), t.into(), v.clone(), 1)
                .await
                .unwrap();
            assert_eq!(state(t).await.unwrap().cursor, Some(v));
        }
        tokio::task::block_in_place(|| store.close());
    }
}
