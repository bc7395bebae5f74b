//! Files sources: a folder walked recursively, files matched by glob
//! include/exclude, each file's chunks kept in step with its content.
//!
//! A file whose size and modification time are unchanged is not read; one
//! whose content hash is unchanged costs one read and nothing else (no
//! chunk is rewritten, nothing re-embedded); a changed file replaces its
//! chunks; a file gone (deleted or moved away) takes its chunks with it.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use super::chunk::{self, Kind};
use super::config::FilesSource;
use super::registry::{self, Runtime, Source};
use super::status::TableReport;
use super::{SourceError, Sources};
use crate::store::{DocState, DocumentIn, Documents};

fn globs(list: &[String]) -> Result<GlobSet, SourceError> {
    let mut b = GlobSetBuilder::new();
    for g in list {
        b.add(Glob::new(g).map_err(|e| SourceError::Refused(format!("glob `{g}`: {e}")))?);
    }
    b.build()
        .map_err(|e| SourceError::Refused(format!("globs: {e}")))
}

/// The root of a files source and a file under it → the relative path
/// memory knows the file by.
fn relative(root: &Path, p: &Path) -> Option<String> {
    p.strip_prefix(root)
        .ok()
        .map(|r| r.to_string_lossy().into_owned())
}

/// Every matching regular file under `root` with its size and mtime (ns).
/// Symbolic links to directories are not followed (no cycles); a link to a
/// file is followed only when the file lies inside `root` (a link must not
/// make a private file elsewhere recallable), and is then read through its
/// resolved path.
fn walk(
    root: &Path,
    include: &GlobSet,
    exclude: &GlobSet,
) -> Result<Vec<(String, PathBuf, i64, i64)>, SourceError> {
    if !root.is_dir() {
        return Err(SourceError::Unavailable(format!(
            "{}: not a directory",
            root.display()
        )));
    }
    let real_root = std::fs::canonicalize(root)
        .map_err(|e| SourceError::Unavailable(format!("{}: {e}", root.display())))?;
    let mut outside: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if dir == root => {
                return Err(SourceError::Unavailable(format!("{}: {e}", dir.display())));
            }
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "skipping an unreadable directory");
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(rel) = relative(root, &path) else {
                continue;
            };
            if !include.is_match(&rel) || exclude.is_match(&rel) {
                continue;
            }
            let path = if ft.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(target) if target.starts_with(&real_root) => target,
                    Ok(_) => {
                        outside.push(path);
                        continue;
                    }
                    Err(_) => continue,
                }
            } else {
                path
            };
            // Follow a link to a file, not to a directory.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
            out.push((rel, path, meta.len() as i64, mtime));
        }
    }
    if let Some(first) = outside.first() {
        tracing::warn!(
            root = %root.display(),
            links = outside.len(),
            example = %first.display(),
            "symbolic links pointing outside the source's folder were skipped"
        );
    }
    out.sort();
    Ok(out)
}

async fn scan(
    sources: &Sources,
    s: &Source,
    f: &FilesSource,
    docs: &mut HashMap<String, DocState>,
    full: bool,
) -> Result<TableReport, SourceError> {
    let cfg = &sources.inner.cfg;
    let (include, exclude) = (globs(&f.include)?, globs(&f.exclude)?);
    let root = f.path.clone();
    let files = tokio::task::spawn_blocking(move || walk(&root, &include, &exclude))
        .await
        .map_err(|e| SourceError::Unavailable(e.to_string()))??;
    let mut report = TableReport {
        table: "files".into(),
        full,
        ..Default::default()
    };
    let store = &sources.inner.store;
    let seen: HashSet<String> = files.iter().map(|f| f.0.clone()).collect();
    let mut unchanged = 0u64;
    for (rel, path, bytes, mtime) in files {
        report.rows += 1;
        let known = docs.get(&rel);
        if !full && known.is_some_and(|d| d.bytes == bytes && d.mtime_ns == mtime) {
            unchanged += 1;
            continue;
        }
        if bytes as u64 > cfg.max_file_bytes {
            tracing::warn!(source = %s.name, file = %path.display(), bytes, "file larger than sources.max_file_bytes; skipped");
            continue;
        }
        // Reading, hashing and chunking are CPU and disk work: off the
        // executor. Chunks are cut only when the content changed.
        let (p, known_hash, chunk_chars) =
            (path.clone(), known.map(|d| d.hash.clone()), cfg.chunk_chars);
        let (firewall, file) = (sources.inner.firewall.clone(), format!("{}/{rel}", s.name));
        let read = tokio::task::spawn_blocking(move || {
            let content = std::fs::read(&p)?;
            let hash = super::table::hex(&Sha256::digest(&content));
            let chunks = (known_hash.as_deref() != Some(hash.as_str())).then(|| {
                let text = String::from_utf8_lossy(&content);
                screen_chunks(
                    &firewall,
                    &file,
                    chunk::chunk(Kind::of(&p), &text, chunk_chars),
                )
            });
            Ok::<_, std::io::Error>((hash, chunks))
        })
        .await;
        let (hash, chunks) = match read {
            Ok(Ok(r)) => r,
            // Vanished between the walk and the read: the next scan sees it gone.
            Ok(Err(e)) => {
                tracing::debug!(file = %path.display(), error = %e, "could not read a file");
                continue;
            }
            Err(e) => return Err(SourceError::Unavailable(e.to_string())),
        };
        let state = DocState {
            hash,
            bytes,
            mtime_ns: mtime,
        };
        let Some(chunks) = chunks else {
            unchanged += 1;
            store
                .touch_document(s.name.clone(), rel.clone(), state.clone())
                .await?;
            docs.insert(rel, state);
            continue;
        };
        let doc = DocumentIn {
            source: s.name.clone(),
            namespace: s.namespace.clone(),
            path: rel.clone(),
            state: state.clone(),
            chunks,
        };
        let applied = store.apply_document(doc, crate::time::now_ms()).await?;
        tracing::debug!(source = %s.name, file = %rel, chunks_written = applied.chunks_written, "file synced");
        docs.insert(rel, state);
        report.synced += 1;
    }
    let gone: Vec<String> = docs
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    if !gone.is_empty() {
        // One transaction for every file that went (a folder moved away).
        store
            .remove_documents(s.name.clone(), s.namespace.clone(), gone.clone())
            .await?;
        for rel in gone {
            docs.remove(&rel);
            report.deleted += 1;
        }
    }
    if report.synced > 0 {
        sources.wrote(&s.name);
    }
    sources.stat(s, "files", |t| {
        t.synced += report.synced;
        t.deleted += report.deleted;
        t.unchanged += unchanged;
    });
    if report.synced + report.deleted > 0 {
        tracing::info!(source = %s.name, files = report.rows, synced = report.synced, deleted = report.deleted, "folder synced");
    }
    Ok(report)
}

/// The write firewall on a file's chunks: a rejected chunk is left out, a
/// quarantined or flagged one is stored with its mark; each is logged (no
/// client is there to answer).
fn screen_chunks(
    firewall: &crate::config::FirewallConfig,
    file: &str,
    chunks: Vec<crate::store::Chunk>,
) -> Vec<crate::store::Chunk> {
    let mut kept = Vec::with_capacity(chunks.len());
    for (i, mut c) in chunks.into_iter().enumerate() {
        match crate::screen::screen(firewall, &c.text) {
            Ok(screen) => {
                if let Some(s) = &screen {
                    tracing::warn!(file, chunk = i, mark = s.mark.as_str(), classes = ?s.classes, reason = %s.reason, "the write firewall marked a chunk");
                }
                c.screen = screen;
                kept.push(c);
            }
            Err(r) => {
                tracing::warn!(file, chunk = i, classes = ?r.classes, reason = %r.reason, "the write firewall rejected a chunk; it is not stored");
            }
        }
    }
    kept
}

impl Sources {
    /// Scans a files source's folder (its documents loaded from the store
    /// on first use).
    pub(super) async fn scan_files(
        &self,
        s: &Source,
        rt: &mut Runtime,
        full: bool,
    ) -> Result<TableReport, SourceError> {
        let registry::Kind::Files(f) = &s.kind else {
            return Err(SourceError::Refused("not a files source".into()));
        };
        if rt.docs.is_none() {
            rt.docs = Some(self.inner.store.documents(s.name.clone()).await?);
        }
        scan(self, s, f, rt.docs.as_mut().expect("loaded"), full).await
    }
}
