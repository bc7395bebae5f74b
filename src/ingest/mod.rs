//! The write path of conversations: a client's exchanges are validated,
//! embedded inline when the embedder is cheap enough (otherwise the
//! background queue embeds them), and stored. An NDJSON import is the same
//! per line, embedded in bounded chunks and stored in one atomic write.
//! Every text passes the write firewall ([`crate::screen`]) before it is
//! stored. Routes parse the HTTP request, call this, and map [`IngestError`].

mod validate;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{ApiConfig, FirewallConfig};
use crate::embed::Embedder;
use crate::screen::{Rejected, screen};
use crate::store::{InsertOutcome, Mark, NewExchange, Screened, Store, StoreError};
use crate::wire::ExchangeIn;

pub use validate::{check_id, check_namespace, check_vector};

/// Rows embedded per blocking task during an import.
const IMPORT_CHUNK: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input breaks a rule; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The session belongs to another namespace.
    #[error("{0}")]
    Conflict(String),
    /// The write firewall refused the text; nothing was stored.
    #[error("{0}")]
    Rejected(Rejected),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// One line of `POST /v1/import`: an exchange with its session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub session_id: String,
    pub role: String,
    pub content: String,
    pub created_at: Option<String>,
    pub ext_id: Option<String>,
    pub namespace: Option<String>,
    pub metadata: Option<Value>,
    pub embedding: Option<Vec<f32>>,
}

impl From<ImportLine> for (String, ExchangeIn) {
    fn from(l: ImportLine) -> Self {
        (
            l.session_id,
            ExchangeIn {
                role: l.role,
                content: l.content,
                created_at: l.created_at,
                ext_id: l.ext_id,
                namespace: l.namespace,
                metadata: l.metadata,
                embedding: l.embedding,
            },
        )
    }
}

/// A stored (or already stored) exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub id: i64,
    pub namespace: String,
    pub created_at: i64,
    /// The same exchange (by `ext_id`) was stored before.
    pub duplicate: bool,
    /// The firewall's mark on the stored row (None: clean, or a duplicate).
    pub screen: Option<Screened>,
}

/// What an import did, line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub duplicates: usize,
    /// (line number, why), in line order.
    pub rejected: Vec<(usize, String)>,
    /// Of the rejected lines, those the firewall refused, with its classes.
    pub firewall: Vec<(usize, Vec<String>)>,
    /// Lines stored quarantined, stored flagged.
    pub quarantined: usize,
    pub flagged: usize,
}

/// The write path, with what it needs.
#[derive(Clone)]
pub struct Ingest {
    pub store: Store,
    pub embedder: Arc<dyn Embedder>,
    pub firewall: FirewallConfig,
}

impl Ingest {
    /// Stores one exchange of session `session_id`.
    pub async fn remember(
        &self,
        session_id: String,
        x: ExchangeIn,
        limits: &ApiConfig,
    ) -> Result<Remembered, IngestError> {
        let mut row = validate::exchange(session_id.clone(), x, limits, self.embedder.dim())?;
        row.screen = screen(&self.firewall, &row.content).map_err(IngestError::Rejected)?;
        let (created_at, screened) = (row.created_at, row.screen.clone());
        let rows = embed_inline(self.embedder.clone(), vec![row]).await?;
        match self.store.insert(rows).await?.pop() {
            Some(InsertOutcome::Inserted { id, namespace }) => Ok(Remembered {
                id,
                namespace,
                created_at,
                duplicate: false,
                screen: screened,
            }),
            Some(InsertOutcome::Duplicate { id, namespace }) => Ok(Remembered {
                id,
                namespace,
                created_at,
                duplicate: true,
                screen: None,
            }),
            Some(InsertOutcome::NamespaceMismatch { existing }) => Err(IngestError::Conflict(
                format!("session `{session_id}` belongs to namespace `{existing}`"),
            )),
            None => Err(IngestError::Internal(
                "the store returned no outcome".into(),
            )),
        }
    }

    /// An NDJSON body, one exchange per line with its `session_id`. Bad
    /// lines are reported by number; the good ones are stored in one write,
    /// so a crash or a full disk leaves all of them or none.
    pub async fn import(
        &self,
        body: &[u8],
        limits: &ApiConfig,
    ) -> Result<ImportReport, IngestError> {
        let dim = self.embedder.dim();
        let mut report = ImportReport::default();
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
            let line_no = i + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = std::str::from_utf8(raw)
                .map_err(|e| format!("not valid UTF-8: {e}"))
                .and_then(|s| {
                    crate::wire::parse_object::<ImportLine>(s.as_bytes())
                        .map_err(|e| e.message().to_owned())
                })
                .and_then(|l| {
                    let (sid, x) = l.into();
                    validate::exchange(sid, x, limits, dim).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(row) => {
                    rows.push(row);
                    lines.push(line_no);
                }
                Err(error) => report.rejected.push((line_no, error)),
            }
        }

        // Screened and embedded in chunks (bounded blocking work), stored
        // in one write.
        let mut embedded = Vec::with_capacity(rows.len());
        let mut kept = Vec::with_capacity(rows.len());
        let mut rows = lines.into_iter().zip(rows).peekable();
        while rows.peek().is_some() {
            let chunk: Vec<(usize, NewExchange)> = rows.by_ref().take(IMPORT_CHUNK).collect();
            let firewall = self.firewall.clone();
            let (chunk, refused) =
                tokio::task::spawn_blocking(move || screen_rows(&firewall, chunk))
                    .await
                    .map_err(|e| IngestError::Internal(format!("screening task failed: {e}")))?;
            for (line, r) in refused {
                report.rejected.push((line, r.to_string()));
                report.firewall.push((line, r.classes));
            }
            let (lines, chunk): (Vec<usize>, Vec<NewExchange>) = chunk.into_iter().unzip();
            kept.extend(lines);
            embedded.extend(embed_inline(self.embedder.clone(), chunk).await?);
        }
        let marks: Vec<Option<Mark>> = embedded
            .iter()
            .map(|r| r.screen.as_ref().map(|s| s.mark))
            .collect();
        if !embedded.is_empty() {
            let outcomes = self.store.insert(embedded).await?;
            for ((outcome, line), mark) in outcomes.into_iter().zip(kept).zip(marks) {
                match outcome {
                    InsertOutcome::Inserted { .. } => {
                        report.imported += 1;
                        match mark {
                            Some(Mark::Quarantined) => report.quarantined += 1,
                            Some(Mark::Flagged) => report.flagged += 1,
                            None => {}
                        }
                    }
                    InsertOutcome::Duplicate { .. } => report.duplicates += 1,
                    InsertOutcome::NamespaceMismatch { existing } => report.rejected.push((
                        line,
                        format!("the session belongs to namespace `{existing}`"),
                    )),
                }
            }
        }
        report.rejected.sort_by_key(|r| r.0);
        Ok(report)
    }
}

/// Import rows by line number.
type Lines<T> = Vec<(usize, T)>;

/// Screens an import's rows (CPU-bound: call on a blocking thread): the
/// rows to store, each with its mark, and the lines refused.
fn screen_rows(
    firewall: &FirewallConfig,
    rows: Vec<(usize, NewExchange)>,
) -> (Lines<NewExchange>, Lines<Rejected>) {
    let mut kept = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    for (line, mut row) in rows {
        match screen(firewall, &row.content) {
            Ok(s) => {
                row.screen = s;
                kept.push((line, row));
            }
            Err(r) => refused.push((line, r)),
        }
    }
    (kept, refused)
}

/// Embeds rows on a blocking thread (the embedder is CPU-bound). Writes
/// never wait for a model: only an embedder cheap enough to run inline
/// embeds here; for the others the background queue does it.
async fn embed_inline(
    embedder: Arc<dyn Embedder>,
    mut rows: Vec<NewExchange>,
) -> Result<Vec<NewExchange>, IngestError> {
    if !embedder.inline() || rows.iter().all(|r| r.embedding.is_some()) {
        return Ok(rows);
    }
    tokio::task::spawn_blocking(move || {
        let texts: Vec<&str> = rows
            .iter()
            .filter(|r| r.embedding.is_none())
            .map(|r| r.content.as_str())
            .collect();
        let vectors = embedder
            .embed(&texts)
            .map_err(|e| IngestError::Internal(e.to_string()))?;
        let missing = rows.iter_mut().filter(|r| r.embedding.is_none());
        for (row, v) in missing.zip(vectors) {
            row.embedding = Some(v);
        }
        Ok(rows)
    })
    .await
    .map_err(|e| IngestError::Internal(format!("embedding task failed: {e}")))?
}
