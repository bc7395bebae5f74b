//! Reading a PostgreSQL source with tokio-postgres (no TLS: memd talks to
//! a server on this machine or a trusted network; see the README).
//!
//! memd only ever runs `SELECT` (and `LISTEN`) on a source. Identifiers
//! come from the server's own catalog for an allowed table; values are
//! bound parameters, cast on the server side from text to the column's
//! type (so one code path serves integer, uuid and text keys alike).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::SourceError;
use super::config::PostgresSource;
use super::reader::{Rows, SourceReader};
use super::table::{IdColumn, SourceRow, TablePlan, plan, quote, render};
use crate::store::SourceValue;

/// The reader of one PostgreSQL source: one connection, made on first use
/// and made again after it closed.
pub struct PostgresReader {
    src: PostgresSource,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl PostgresReader {
    pub fn new(src: PostgresSource) -> Self {
        Self {
            src,
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, SourceError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let c = Arc::new(connect(&self.src).await?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// A failed read on a closed connection drops it: the next read connects.
    async fn checked<T>(
        &self,
        client: &Client,
        r: Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        if r.is_err() && client.is_closed() {
            *self.client.lock().await = None;
        }
        r
    }
}

/// A page's or cursor's position as the text the server casts back.
fn as_text(v: &SourceValue) -> String {
    match v {
        SourceValue::Text(t) => t.clone(),
        SourceValue::Integer(i) => i.to_string(),
        SourceValue::Real(f) => f.to_string(),
        SourceValue::Null | SourceValue::Blob(_) => String::new(),
    }
}

impl SourceReader for PostgresReader {
    fn plans(&self) -> BoxFuture<'_, Result<Vec<TablePlan>, SourceError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let r = plans(&client, &self.src).await;
            // The schema is read again after an error: on a new connection.
            if r.is_err() {
                *self.client.lock().await = None;
            }
            r
        })
    }

    fn page<'a>(
        &'a self,
        plan: &'a TablePlan,
        after: Option<&'a SourceValue>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Rows, SourceError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let after = after.map(as_text);
            let r = page(&client, plan, after.as_deref(), limit)
                .await
                .map(|rows| {
                    let last = rows.last().map(|r| SourceValue::Text(r.id.clone()));
                    (rows, last)
                });
            self.checked(&client, r).await
        })
    }

    fn changed_since<'a>(
        &'a self,
        plan: &'a TablePlan,
        from: Option<&'a SourceValue>,
    ) -> BoxFuture<'a, Result<Rows, SourceError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let from = from.map(as_text);
            let r = changed_since(&client, plan, from.as_deref())
                .await
                .map(|rows| {
                    let max = rows
                        .iter()
                        .rev()
                        .find_map(|r| r.marker.clone())
                        .map(SourceValue::Text);
                    (rows, max)
                });
            self.checked(&client, r).await
        })
    }

    fn all<'a>(
        &'a self,
        plan: &'a TablePlan,
    ) -> BoxFuture<'a, Result<Vec<SourceRow>, SourceError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let r = all(&client, plan).await;
            self.checked(&client, r).await
        })
    }

    fn ids<'a>(&'a self, plan: &'a TablePlan) -> BoxFuture<'a, Result<Vec<String>, SourceError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let r = all(&client, plan)
                .await
                .map(|rows| rows.into_iter().map(|r| r.id).collect());
            self.checked(&client, r).await
        })
    }

    fn by_ids<'a>(
        &'a self,
        plan: &'a TablePlan,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<SourceRow>, SourceError>> {
        Box::pin(async move {
            let client = self.client().await?;
            let r = by_ids(&client, plan, ids).await;
            self.checked(&client, r).await
        })
    }

    fn lists_ids_incrementally(&self) -> bool {
        false
    }
}

/// The connection settings of a source, with the password (if any) read
/// from its environment variable.
pub fn pg_config(src: &PostgresSource) -> Result<tokio_postgres::Config, SourceError> {
    let mut cfg: tokio_postgres::Config = src.url.parse().map_err(|e| SourceError::Config {
        key: format!("sources.postgres[{}].url", src.name),
        message: format!("{e}"),
    })?;
    if let Some(var) = &src.password_env {
        match std::env::var(var) {
            Ok(p) => {
                cfg.password(p);
            }
            Err(_) => {
                return Err(SourceError::Config {
                    key: format!("sources.postgres[{}].password_env", src.name),
                    message: format!("environment variable `{var}` is not set"),
                });
            }
        }
    }
    cfg.connect_timeout(Duration::from_secs(src.connect_timeout_s.max(1)));
    cfg.application_name("memd");
    Ok(cfg)
}

pub async fn connect(src: &PostgresSource) -> Result<Client, SourceError> {
    let cfg = pg_config(src)?;
    let (client, conn) = cfg.connect(NoTls).await.map_err(|e| down(src, e))?;
    let name = src.name.clone();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(source = %name, error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}

fn down(src: &PostgresSource, e: tokio_postgres::Error) -> SourceError {
    SourceError::Unavailable(format!("postgres source `{}`: {e}", src.name))
}

fn query_err(p: &TablePlan, e: tokio_postgres::Error) -> SourceError {
    SourceError::Unavailable(format!("reading table `{}`: {e}", p.table))
}

fn text_like(ty: &str) -> bool {
    ty == "text"
        || ty.starts_with("character")
        || ty == "json"
        || ty == "jsonb"
        || ty == "citext"
        || ty == "name"
}

/// Checks the allowed tables and configured columns against the server's
/// catalog (the error names the source and the key).
async fn plans(client: &Client, src: &PostgresSource) -> Result<Vec<TablePlan>, SourceError> {
    let prefix = format!("sources.postgres[{}]", src.name);
    let mut out = Vec::new();
    for t in &src.allowed_tables {
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&quote(t)],
            )
            .await
            .map_err(|e| down(src, e))?;
        if rows.is_empty() {
            return Err(SourceError::Config {
                key: format!("{prefix}.allowed_tables"),
                message: format!(
                    "table `{t}` does not exist (or has no columns) in {}",
                    redact(&src.url)
                ),
            });
        }
        let columns: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let pk: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
                &[&quote(t)],
            )
            .await
            .map_err(|e| down(src, e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let default_id = (pk.len() == 1).then(|| IdColumn::Column(pk[0].clone()));
        let default_id = match (
            &default_id,
            src.tables.get(t).and_then(|c| c.id_column.as_ref()),
        ) {
            // `id` wins when present (as for SQLite); else the primary key.
            (Some(_), None) if columns.iter().any(|(n, _)| n == "id") => None,
            _ => default_id,
        };
        let mut p = plan(t, &columns, src.tables.get(t), default_id, text_like).map_err(
            |(key, message)| SourceError::Config {
                key: format!("{prefix}.tables.{t}.{key}"),
                message,
            },
        )?;
        if p.id == IdColumn::Rowid {
            return Err(SourceError::Config {
                key: format!("{prefix}.tables.{t}.id_column"),
                message: format!("table `{t}` has no `id` column; set id_column"),
            });
        }
        // Type names come from format_type(); keep only plain ones.
        let id_type = columns
            .iter()
            .find(|(n, _)| n == p.id_name())
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        for ty in [Some(&id_type), p.cursor_type.as_ref()]
            .into_iter()
            .flatten()
        {
            if !ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " _(),".contains(c))
            {
                return Err(SourceError::Config {
                    key: format!("{prefix}.tables.{t}"),
                    message: format!("column type `{ty}` cannot be used as a key or cursor"),
                });
            }
        }
        p.id_type = Some(id_type);
        out.push(p);
    }
    Ok(out)
}

/// (cursor type, id type) as kept in the plan.
fn types(p: &TablePlan) -> (&str, &str) {
    (
        p.cursor_type.as_deref().unwrap_or("text"),
        p.id_type.as_deref().unwrap_or("text"),
    )
}

/// The id, text and cursor columns as text, aliased `m0, m1, …` so that
/// ORDER BY and WHERE (which name the real columns) compare the columns'
/// own types, not their text.
fn select_list(p: &TablePlan) -> String {
    let mut cols = vec![p.id_sql()];
    cols.extend(p.text_columns.iter().map(|c| quote(c)));
    if let Some(c) = &p.cursor {
        cols.push(quote(c));
    }
    cols.iter()
        .enumerate()
        .map(|(i, c)| format!("{c}::text AS m{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_rows(p: &TablePlan, rows: Vec<tokio_postgres::Row>) -> Vec<SourceRow> {
    let n = p.text_columns.len();
    rows.into_iter()
        .map(|r| {
            let vals: Vec<Option<String>> = (0..n).map(|i| r.get(i + 1)).collect();
            SourceRow {
                id: r.get::<_, Option<String>>(0).unwrap_or_default(),
                text: render(&p.text_columns, &vals),
                marker: if p.cursor.is_some() {
                    r.get(n + 1)
                } else {
                    None
                },
            }
        })
        .collect()
}

/// One page in id order after `after` (keyset paging).
async fn page(
    client: &Client,
    p: &TablePlan,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<SourceRow>, SourceError> {
    let (_, id_ty) = types(p);
    let id = p.id_sql();
    let limit = limit as i64;
    let rows = match after {
        None => {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {id} LIMIT $1",
                select_list(p),
                quote(&p.table)
            );
            client.query(&sql, &[&limit]).await
        }
        Some(a) => {
            let sql = format!(
                "SELECT {} FROM {} WHERE {id} > CAST($1::text AS {id_ty}) ORDER BY {id} LIMIT $2",
                select_list(p),
                quote(&p.table)
            );
            client.query(&sql, &[&a, &limit]).await
        }
    }
    .map_err(|e| query_err(p, e))?;
    Ok(to_rows(p, rows))
}

/// Rows whose cursor is at or past `from` (None: all), in cursor order.
async fn changed_since(
    client: &Client,
    p: &TablePlan,
    from: Option<&str>,
) -> Result<Vec<SourceRow>, SourceError> {
    let (c_ty, _) = types(p);
    let c = quote(p.cursor.as_deref().expect("cursor plan"));
    let rows = match from {
        None => {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {c}",
                select_list(p),
                quote(&p.table)
            );
            client.query(&sql, &[]).await
        }
        Some(v) => {
            let sql = format!(
                "SELECT {} FROM {} WHERE {c} >= CAST($1::text AS {c_ty}) ORDER BY {c}",
                select_list(p),
                quote(&p.table)
            );
            client.query(&sql, &[&v]).await
        }
    }
    .map_err(|e| query_err(p, e))?;
    Ok(to_rows(p, rows))
}

/// Every row (for comparing fingerprints).
async fn all(client: &Client, p: &TablePlan) -> Result<Vec<SourceRow>, SourceError> {
    let sql = format!("SELECT {} FROM {}", select_list(p), quote(&p.table));
    let rows = client.query(&sql, &[]).await.map_err(|e| query_err(p, e))?;
    Ok(to_rows(p, rows))
}

/// The rows with these ids; ids not found are absent.
async fn by_ids(
    client: &Client,
    p: &TablePlan,
    ids: &[String],
) -> Result<Vec<SourceRow>, SourceError> {
    let (_, id_ty) = types(p);
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ANY(CAST($1::text[] AS {id_ty}[]))",
        select_list(p),
        quote(&p.table),
        p.id_sql()
    );
    let rows = client
        .query(&sql, &[&ids])
        .await
        .map_err(|e| query_err(p, e))?;
    Ok(to_rows(p, rows))
}

/// The SQL a user installs so that changes reach memd at once: a trigger
/// that sends `{"table","op","id"}` on the source's notify channel. memd
/// prints it; it never runs it.
pub fn trigger_sql(src: &PostgresSource, table: &str) -> Result<String, SourceError> {
    let key = format!("sources.postgres[{}]", src.name);
    if !src.allowed_tables.iter().any(|t| t == table) {
        return Err(SourceError::Config {
            key: format!("{key}.allowed_tables"),
            message: format!("`{table}` is not an allowed table of source `{}`", src.name),
        });
    }
    let Some(channel) = &src.notify_channel else {
        return Err(SourceError::Config {
            key: format!("{key}.notify_channel"),
            message: "set notify_channel first; memd LISTENs on it".into(),
        });
    };
    let id = src
        .tables
        .get(table)
        .and_then(|t| t.id_column.clone())
        .unwrap_or_else(|| "id".into());
    let func = format!("memd_notify_{}_{}", src.name.replace('-', "_"), table);
    let trig = format!("memd_notify_{table}");
    Ok(format!(
        "-- Sends each change of {table} to memd (source `{name}`, channel `{channel}`).\n\
         -- Run once as the table's owner; memd never installs it itself.\n\
         CREATE OR REPLACE FUNCTION {func}() RETURNS trigger LANGUAGE plpgsql AS $$\n\
         BEGIN\n\
         \x20 PERFORM pg_notify('{channel}', json_build_object(\n\
         \x20   'table', TG_TABLE_NAME,\n\
         \x20   'op', TG_OP,\n\
         \x20   'id', (CASE WHEN TG_OP = 'DELETE' THEN OLD.{qid} ELSE NEW.{qid} END)::text\n\
         \x20 )::text);\n\
         \x20 RETURN NULL;\n\
         END $$;\n\
         DROP TRIGGER IF EXISTS {trig} ON {qt};\n\
         CREATE TRIGGER {trig} AFTER INSERT OR UPDATE OR DELETE ON {qt}\n\
         \x20 FOR EACH ROW EXECUTE FUNCTION {func}();\n",
        name = src.name,
        qid = quote(&id),
        qt = quote(table),
    ))
}

/// A change announced by the trigger.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Notice {
    pub table: String,
    pub op: String,
    pub id: Option<String>,
}

/// Holds a LISTEN connection and forwards each notice until the connection
/// fails (the caller reconnects) or `tx` closes.
pub async fn listen(
    src: &PostgresSource,
    channel: &str,
    tx: mpsc::Sender<Notice>,
) -> Result<(), SourceError> {
    let cfg = pg_config(src)?;
    let (client, mut conn) = cfg.connect(NoTls).await.map_err(|e| down(src, e))?;
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = stream.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if msg_tx.send(Ok(n.payload().to_owned())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = msg_tx.send(Err(e));
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}", quote(channel)))
        .await
        .map_err(|e| down(src, e))?;
    let result = loop {
        match msg_rx.recv().await {
            Some(Ok(payload)) => match serde_json::from_str::<Notice>(&payload) {
                Ok(n) => {
                    if tx.send(n).await.is_err() {
                        break Ok(());
                    }
                }
                Err(e) => {
                    tracing::warn!(source = %src.name, %payload, error = %e, "ignoring a notification that is not memd's trigger payload");
                }
            },
            Some(Err(e)) => break Err(down(src, e)),
            None => {
                break Err(SourceError::Unavailable(format!(
                    "postgres source `{}`: listen connection closed",
                    src.name
                )));
            }
        }
    };
    driver.abort();
    result
}

/// `postgres://user@host/db` without any password.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
