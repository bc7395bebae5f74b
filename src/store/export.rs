//! Export of every tier as JSONL, and its inverse.
//!
//! Format: a header line `{"memd_export":1,"schema_version":N,"exported_at":
//! "…","tables":[…]}`, then one `{"table":"…","row":{column: value}}` per
//! row, tables in dependency order. Blobs (embeddings) are
//! `{"$base64":"…"}`, so a round trip is byte-for-byte. Derived state (FTS
//! tables, the vector index) is not exported: it is rebuilt on import.
//! A later tier joins the export by adding its table to [`TABLES`].

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value, json};

use super::{Store, StoreError};

pub const FORMAT_VERSION: u32 = 1;

/// The whole store as export lines, and what restoring one needs.
pub trait Exports {
    /// Streams every exported row (header first, no end marker) from one
    /// read transaction into `emit`, which returns false to stop; returns
    /// the rows emitted.
    fn export<F>(
        &self,
        emit: F,
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send
    where
        F: FnMut(String) -> bool + Send + 'static;

    /// Rows of every exported table other than `embed_models`.
    fn user_rows(&self) -> impl std::future::Future<Output = Result<i64, StoreError>> + Send;

    /// Deletes every exported row but the current model's: the state an
    /// import into an empty store starts from (the fuzz harness's reset).
    #[doc(hidden)]
    fn clear_all(&self) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl Exports for Store {
    async fn export<F>(&self, emit: F) -> Result<u64, StoreError>
    where
        F: FnMut(String) -> bool + Send + 'static,
    {
        self.read(move |c| export(c, super::migrate::SCHEMA_VERSION, emit))
            .await
    }

    async fn user_rows(&self) -> Result<i64, StoreError> {
        self.read(user_rows).await
    }

    async fn clear_all(&self) -> Result<(), StoreError> {
        let own = self.model_id();
        self.write(move |ctx| {
            for t in TABLES.iter().rev() {
                if *t == "embed_models" {
                    ctx.conn()
                        .execute("DELETE FROM embed_models WHERE id != ?1", [own])?;
                } else {
                    ctx.conn().execute(&format!("DELETE FROM \"{t}\""), [])?;
                }
            }
            Ok(())
        })
        .await
    }
}

/// Exported tables in an order that satisfies foreign keys.
pub const TABLES: &[&str] = &[
    "embed_models",
    "sessions",
    "exchanges",
    "items",
    "gists",
    "dream_attempts",
    "eras",
    "profiles",
    "narratives",
    "self_states",
    "dream_runs",
    // Sources: a concept carries the user's edits (strength, overlay,
    // removal); a document the content hash that spares re-reading.
    "concepts",
    "documents",
    // Every version of every fact: supersession chains and their times.
    "facts",
    // Where extraction stopped in each session, and its counts: a restored
    // store does not read its history again (which would only fold repeats
    // into `support`) and keeps its junk rate.
    "fact_cursors",
    "extraction_counts",
    // The write firewall's marks: a quarantined row stays quarantined
    // across an export/import-all round trip.
    "quarantine",
    // The interaction log and its index by tier and id (refs after the
    // interactions they belong to).
    "interactions",
    "interaction_refs",
];

pub fn header(schema_version: u32) -> Value {
    json!({
        "memd_export": FORMAT_VERSION,
        "schema_version": schema_version,
        "exported_at": crate::time::to_rfc3339(crate::time::now_ms()),
        "tables": TABLES,
    })
}

/// Each column's declared type, by name.
fn column_types(conn: &Connection, table: &str) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = conn.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
    let cols = stmt
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(cols)
}

pub fn columns(conn: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let cols: Vec<String> = stmt
        .query_map([table], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(cols)
}

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => json!({"$base64": B64.encode(b)}),
    }
}

/// Whether `v` may go into a column declared `declared` (the store's
/// columns are INTEGER, REAL, TEXT or BLOB). SQLite itself would keep a
/// string in an INTEGER column, which memd then cannot read: every later
/// read of the row would fail.
fn fits(declared: &str, v: &SqlValue) -> bool {
    matches!(
        (declared.to_ascii_uppercase().as_str(), v),
        (_, SqlValue::Null)
            | ("", _)
            | ("INTEGER", SqlValue::Integer(_))
            | ("REAL", SqlValue::Integer(_) | SqlValue::Real(_))
            | ("TEXT", SqlValue::Text(_))
            | ("BLOB", SqlValue::Blob(_))
    )
}

fn to_sql(v: &Value) -> Result<SqlValue, String> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(*b as i64),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().ok_or("number out of range")?),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Object(o) => match o.get("$base64").and_then(Value::as_str) {
            Some(b) if o.len() == 1 => {
                SqlValue::Blob(B64.decode(b).map_err(|e| format!("bad base64: {e}"))?)
            }
            _ => return Err("objects other than {\"$base64\": …} are not column values".into()),
        },
        Value::Array(_) => return Err("arrays are not column values".into()),
    })
}

/// Streams every row of every table to `emit`, one JSON line each (without
/// the newline), inside one read transaction so the export is consistent.
pub fn export(
    conn: &Connection,
    schema_version: u32,
    mut emit: impl FnMut(String) -> bool,
) -> Result<u64, StoreError> {
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut rows = 0u64;
        if !emit(header(schema_version).to_string()) {
            return Ok(rows);
        }
        for table in TABLES {
            let cols = columns(conn, table)?;
            let order = if cols.iter().any(|c| c == "id") {
                " ORDER BY id"
            } else {
                ""
            };
            let sql = format!("SELECT * FROM \"{table}\"{order}");
            let mut stmt = conn.prepare(&sql)?;
            let mut q = stmt.query([])?;
            while let Some(r) = q.next()? {
                let mut row = Map::with_capacity(cols.len());
                for (i, c) in cols.iter().enumerate() {
                    row.insert(c.clone(), to_json(r.get_ref(i)?));
                }
                rows += 1;
                if !emit(json!({"table": table, "row": row}).to_string()) {
                    return Ok(rows);
                }
            }
        }
        Ok(rows)
    })();
    let _ = conn.execute_batch("COMMIT");
    result
}

/// Rows in the tables an import must find empty.
pub fn user_rows(conn: &Connection) -> Result<i64, StoreError> {
    let mut total = 0;
    for table in TABLES.iter().filter(|t| **t != "embed_models") {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })?;
        total += n;
    }
    Ok(total)
}

/// One parsed export line.
#[derive(Debug, Clone)]
pub struct Record {
    pub table: String,
    pub row: Map<String, Value>,
}

pub fn parse_record(line: &str) -> Result<Record, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let table = v["table"].as_str().ok_or("missing \"table\"")?;
    if !TABLES.contains(&table) {
        return Err(format!("unknown table `{table}`"));
    }
    let row = v["row"]
        .as_object()
        .ok_or("missing \"row\" object")?
        .clone();
    Ok(Record {
        table: table.to_owned(),
        row,
    })
}

/// Inserts records (inside the caller's transaction). Column names and
/// value types are checked against the table's schema; values are bound
/// parameters.
/// `model_map` maps exported embedding-model ids to this store's, so a
/// model the store already registered keeps its id; exchanges are rewritten
/// through it.
pub fn insert_records(
    conn: &Connection,
    records: &[Record],
    model_map: &mut HashMap<i64, i64>,
) -> Result<(), StoreError> {
    let mut known: HashMap<&str, HashMap<String, String>> = HashMap::new();
    for rec in records {
        let table = TABLES
            .iter()
            .copied()
            .find(|t| *t == rec.table)
            .ok_or_else(|| StoreError::Invalid(format!("unknown table `{}`", rec.table)))?;
        if !known.contains_key(table) {
            known.insert(table, column_types(conn, table)?);
        }
        let cols = &known[table];
        let mut row = rec.row.clone();
        for c in row.keys() {
            if !cols.contains_key(c) {
                return Err(StoreError::Invalid(format!(
                    "table `{table}` has no column `{c}`"
                )));
            }
        }
        if table == "embed_models" {
            let old_id = row.get("id").and_then(Value::as_i64);
            let name = row
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let existing: Option<i64> = conn
                .query_row(
                    "SELECT id FROM embed_models WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .optional()?;
            let new_id = match existing {
                Some(id) => id,
                None => {
                    let taken = match old_id {
                        Some(id) => conn
                            .query_row("SELECT 1 FROM embed_models WHERE id = ?1", [id], |_| Ok(()))
                            .optional()?
                            .is_some(),
                        None => true,
                    };
                    if taken {
                        row.remove("id");
                    }
                    insert_row(conn, table, &row, cols)?;
                    conn.last_insert_rowid()
                }
            };
            if let Some(old) = old_id {
                model_map.insert(old, new_id);
            }
            continue;
        }
        if matches!(table, "exchanges" | "items" | "facts")
            && let Some(old) = row.get("embed_model_id").and_then(Value::as_i64)
        {
            let new = *model_map.get(&old).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "{table} row refers to unknown embed_model_id {old}"
                ))
            })?;
            row.insert("embed_model_id".into(), json!(new));
        }
        insert_row(conn, table, &row, cols)?;
    }
    Ok(())
}

fn insert_row(
    conn: &Connection,
    table: &str,
    row: &Map<String, Value>,
    types: &HashMap<String, String>,
) -> Result<(), StoreError> {
    let names: Vec<String> = row.keys().map(|k| format!("\"{k}\"")).collect();
    let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO \"{table}\" ({}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    );
    let values = row
        .iter()
        .map(|(c, v)| {
            let value = to_sql(v)?;
            let declared = types.get(c).map_or("", String::as_str);
            if !fits(declared, &value) {
                return Err(format!("`{table}.{c}` holds {declared} values, not {v}"));
            }
            Ok(value)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::Invalid)?;
    conn.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values.iter()))?;
    Ok(())
}

/// Tables deliberately left out of exports: derived state rebuilt on
/// import (FTS), and `meta` and `source_cursors` (cursors of background
/// jobs on this machine; without one a source reads everything once).
pub const NOT_EXPORTED: &[&str] = &[
    "meta",
    "exchanges_fts",
    "items_fts",
    "facts_fts",
    "source_cursors",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_exported_or_declared_derived() {
        // A new tier that forgets to join the export would lose user data
        // in an export/import-all round trip.
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&mut conn).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap();
        let tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let missing: Vec<&String> = tables
            .iter()
            .filter(|t| {
                !TABLES.contains(&t.as_str())
                    && !NOT_EXPORTED
                        .iter()
                        .any(|d| t.as_str() == *d || t.starts_with(&format!("{d}_")))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "tables neither exported nor derived: {missing:?}"
        );
    }

    #[test]
    fn values_round_trip() {
        for v in [
            json!(null),
            json!(42),
            json!(-1.5),
            json!("text"),
            json!({"$base64": "AAECAw=="}),
        ] {
            let sql = to_sql(&v).unwrap();
            let back = to_json(ValueRef::from(&sql));
            assert_eq!(back, v);
        }
        assert!(to_sql(&json!([1])).is_err());
        assert!(to_sql(&json!({"x": 1})).is_err());
    }

    #[test]
    fn values_of_the_wrong_type_are_refused() {
        // Found by fuzzing (import_line): SQLite keeps `"abc"` in an
        // INTEGER column, and every later read of the session failed.
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&mut conn).unwrap();
        for (row, column) in [
            (
                r#"{"id":"s","namespace":"n","created_at":"abc","updated_at":1}"#,
                "created_at",
            ),
            (
                r#"{"id":"s","namespace":"n","created_at":0.5,"updated_at":1}"#,
                "created_at",
            ),
            (
                r#"{"id":7,"namespace":"n","created_at":1,"updated_at":1}"#,
                "id",
            ),
        ] {
            let rec = parse_record(&format!(r#"{{"table":"sessions","row":{row}}}"#)).unwrap();
            let err = insert_records(&conn, &[rec], &mut HashMap::new()).unwrap_err();
            assert!(err.to_string().contains(column), "{row}: {err}");
        }
        let rec = parse_record(r#"{"table":"sessions","row":{"id":"s","namespace":"n","created_at":1,"updated_at":null}}"#).unwrap();
        let err = insert_records(&conn, &[rec], &mut HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("NOT NULL"), "{err}");
        let rec = parse_record(r#"{"table":"sessions","row":{"id":"s","namespace":"n","created_at":1,"updated_at":2}}"#).unwrap();
        insert_records(&conn, &[rec], &mut HashMap::new()).unwrap();
    }

    #[test]
    fn unknown_tables_and_columns_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&mut conn).unwrap();
        assert!(parse_record(r#"{"table":"sqlite_master","row":{}}"#).is_err());
        let rec = parse_record(r#"{"table":"sessions","row":{"id":"s","namespace":"n","created_at":1,"updated_at":1,"evil\"":1}}"#).unwrap();
        let err = insert_records(&conn, &[rec], &mut HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("no column"), "{err}");
    }
}
