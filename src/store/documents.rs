//! Documents: the files of a files source (`documents`), each kept in
//! memory as its chunks (items of tier `chunk`, keys `source/path#n`).
//! Re-syncing a file replaces its chunks; a chunk whose text did not change
//! keeps its item and vector, so nothing is re-embedded.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use rusqlite::params;
use serde_json::json;

use super::items::{ItemSel, NewItem, Tier, WriteCtx};
use super::quarantine::{Screened, set_mark};
use super::{Store, StoreError};

/// A piece of a document, with the path of headings above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub heading_path: Vec<String>,
    pub text: String,
    /// The write firewall's verdict on `text` (None: clean).
    pub screen: Option<Screened>,
}

/// What is known of a file already in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocState {
    pub hash: String,
    pub bytes: i64,
    pub mtime_ns: i64,
}

/// A file on its way into memory.
#[derive(Debug, Clone)]
pub struct DocumentIn {
    pub source: String,
    pub namespace: String,
    /// Relative to the source's folder.
    pub path: String,
    pub state: DocState,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DocApplied {
    pub chunks_written: u64,
    pub chunks_removed: u64,
}

/// Documents, as a files source's scans keep them.
pub trait Documents {
    /// Path → state of every file of a source.
    fn documents(
        &self,
        source: String,
    ) -> impl Future<Output = Result<HashMap<String, DocState>, StoreError>> + Send;

    /// Replaces a file's chunks (one transaction).
    fn apply_document(
        &self,
        doc: DocumentIn,
        now: i64,
    ) -> impl Future<Output = Result<DocApplied, StoreError>> + Send;

    /// Only the file's size and time changed: remember them (no chunk work).
    fn touch_document(
        &self,
        source: String,
        path: String,
        state: DocState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Files deleted (or moved away): their chunks go, all in one
    /// transaction (a folder moved away is one write). Returns the chunks
    /// removed.
    fn remove_documents(
        &self,
        source: String,
        namespace: String,
        paths: Vec<String>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// (documents, chunks) of a files source.
    fn document_counts(
        &self,
        source: String,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;
}

impl Documents for Store {
    async fn documents(&self, source: String) -> Result<HashMap<String, DocState>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT path, file_hash, bytes, mtime_ns FROM documents WHERE source = ?1",
            )?;
            let rows = stmt.query_map([source], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    DocState {
                        hash: r.get(1)?,
                        bytes: r.get(2)?,
                        mtime_ns: r.get(3)?,
                    },
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn apply_document(&self, doc: DocumentIn, now: i64) -> Result<DocApplied, StoreError> {
        self.write(move |ctx| apply_document(ctx, doc, now)).await
    }

    async fn touch_document(
        &self,
        source: String,
        path: String,
        state: DocState,
    ) -> Result<(), StoreError> {
        self.write(move |ctx| {
            ctx.conn()
                .prepare_cached(
                    "UPDATE documents SET bytes = ?3, mtime_ns = ?4 WHERE source = ?1 AND path = ?2",
                )?
                .execute(params![source, path, state.bytes, state.mtime_ns])?;
            Ok(())
        })
        .await
    }

    async fn remove_documents(
        &self,
        source: String,
        namespace: String,
        paths: Vec<String>,
    ) -> Result<u64, StoreError> {
        self.write(move |ctx| {
            let mut n = 0;
            for path in &paths {
                n += remove_document(ctx, &source, &namespace, path)?;
            }
            Ok(n)
        })
        .await
    }

    async fn document_counts(&self, source: String) -> Result<(u64, u64), StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(chunks), 0) FROM documents WHERE source = ?1",
                )?
                .query_row([source], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })?)
        })
        .await
    }
}

fn apply_document(
    ctx: &mut WriteCtx<'_>,
    doc: DocumentIn,
    now: i64,
) -> Result<DocApplied, StoreError> {
    let DocumentIn {
        source,
        namespace,
        path,
        state,
        chunks,
    } = doc;
    let parent = format!("{source}/{path}");
    let mut out = DocApplied::default();
    let mut keep = HashSet::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        let key = format!("{parent}#{i}");
        let text = if c.heading_path.is_empty() {
            c.text.clone()
        } else {
            format!("{}\n\n{}", c.heading_path.join(" > "), c.text)
        };
        let w = ctx.upsert_item(NewItem {
            tier: Tier::Chunk,
            namespace: namespace.clone(),
            key: key.clone(),
            parent: Some(parent.clone()),
            text,
            attrs: json!({"source": source, "path": path, "heading_path": c.heading_path, "chunk": i}),
            weight: 1.0,
            created_at: now,
        })?;
        if w.changed {
            out.chunks_written += 1;
            set_mark(ctx.conn(), Tier::Chunk, w.id, &namespace, c.screen.as_ref())?;
        }
        keep.insert(key);
    }
    // Chunks past the new end of the file.
    let stale: Vec<String> = ctx
        .conn()
        .prepare_cached(
            "SELECT key FROM items WHERE tier = 'chunk' AND namespace = ?1 AND parent = ?2",
        )?
        .query_map(params![namespace, parent], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|k| !keep.contains(k.as_str()))
        .collect();
    if !stale.is_empty() {
        out.chunks_removed =
            ctx.delete_items(Tier::Chunk, &namespace, ItemSel::Keys(stale))? as u64;
    }
    ctx.conn()
        .prepare_cached(
            "INSERT INTO documents (source, path, namespace, file_hash, bytes, mtime_ns, chunks, synced_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (source, path) DO UPDATE SET namespace = excluded.namespace,
               file_hash = excluded.file_hash, bytes = excluded.bytes, mtime_ns = excluded.mtime_ns,
               chunks = excluded.chunks, synced_at = excluded.synced_at",
        )?
        .execute(params![
            source,
            path,
            namespace,
            state.hash,
            state.bytes,
            state.mtime_ns,
            chunks.len() as i64,
            now
        ])?;
    Ok(out)
}

fn remove_document(
    ctx: &mut WriteCtx<'_>,
    source: &str,
    namespace: &str,
    path: &str,
) -> Result<u64, StoreError> {
    let n = ctx.delete_items(
        Tier::Chunk,
        namespace,
        ItemSel::Parent(format!("{source}/{path}")),
    )?;
    ctx.conn()
        .prepare_cached("DELETE FROM documents WHERE source = ?1 AND path = ?2")?
        .execute(params![source, path])?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn count(store: &Store, sql: &'static str) -> i64 {
        store
            .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn documents_replace_their_chunks_and_go_with_the_file() {
        let (_dir, store) = crate::store::test_store(4);
        let chunk = |t: &str| Chunk {
            heading_path: vec!["H".into()],
            text: t.into(),
            screen: None,
        };
        let st = DocState {
            hash: "h1".into(),
            bytes: 1,
            mtime_ns: 1,
        };
        let doc = |chunks: Vec<Chunk>| DocumentIn {
            source: "n".into(),
            namespace: "default".into(),
            path: "a.md".into(),
            state: st.clone(),
            chunks,
        };
        let a = store
            .apply_document(doc(vec![chunk("one"), chunk("two"), chunk("three")]), 1)
            .await
            .unwrap();
        assert_eq!(a.chunks_written, 3);
        assert_eq!(store.document_counts("n".into()).await.unwrap(), (1, 3));
        // One chunk changed, one dropped: one write, one removal.
        let a = store
            .apply_document(doc(vec![chunk("one"), chunk("TWO")]), 2)
            .await
            .unwrap();
        assert_eq!((a.chunks_written, a.chunks_removed), (1, 1));
        assert_eq!(
            count(&store, "SELECT count(*) FROM items WHERE tier = 'chunk'").await,
            2
        );
        let n = store
            .remove_documents("n".into(), "default".into(), vec!["a.md".into()])
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(count(&store, "SELECT count(*) FROM items").await, 0);
        assert_eq!(count(&store, "SELECT count(*) FROM documents").await, 0);
        tokio::task::block_in_place(|| store.close());
    }
}
