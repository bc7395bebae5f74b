//! The background embedding queue.
//!
//! Writes never wait for a model: an exchange is acknowledged once it is
//! committed, with no vector (unless the embedder is cheap enough to run
//! inline). This worker finds rows without a vector of the current model —
//! new rows, and every row after a model change — oldest first, embeds them
//! in batches on a blocking thread and stores the vectors through the
//! writer, which also puts them in the index. All progress lives in the
//! database (the rows' model ids, and `meta` keys for a forced re-embed), so
//! a restart resumes where it stopped. A failing embedder leaves the rows
//! queued and is retried with backoff.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Embedder;
use crate::store::{
    EmbeddingWork, REEMBED_CURSOR as FORCE_CURSOR, REEMBED_UPTO as FORCE_UPTO, Store,
};
/// How often an idle worker looks for work nobody told it about.
const IDLE_POLL: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct EmbedQueue {
    store: Store,
    embedder: Arc<dyn Embedder>,
    batch_size: usize,
    wake: Notify,
    stats: Mutex<Stats>,
    fallback_reason: Option<String>,
}

#[derive(Default)]
struct Stats {
    embedded: u64,
    failures: u64,
    last_error: Option<String>,
    /// (when, rows) of recent batches, for the rate.
    recent: VecDeque<(Instant, usize)>,
    /// Rows that had another model's vector when the job started.
    reembed_total: u64,
    reembed_done: u64,
    reembed_logged_pct: u64,
}

impl EmbedQueue {
    pub fn new(
        store: Store,
        embedder: Arc<dyn Embedder>,
        batch_size: usize,
        fallback_reason: Option<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            embedder,
            batch_size: batch_size.max(1),
            wake: Notify::new(),
            stats: Mutex::default(),
            fallback_reason,
        })
    }

    /// New rows were written: look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Re-embeds rows of other models (and, with `all`, every row up to the
    /// current maximum id, whatever its model). Persisted, so it survives a
    /// restart.
    pub async fn request_reembed(&self, all: bool) -> Result<i64, crate::store::StoreError> {
        let mut upto = 0;
        if all {
            upto = self.store.max_exchange_id().await?;
            self.store
                .set_embeddings(
                    Vec::new(),
                    vec![
                        (FORCE_UPTO.into(), Some(upto.to_string())),
                        (FORCE_CURSOR.into(), Some("0".into())),
                    ],
                )
                .await?;
        }
        let (_, stale) = self.backlog().await?;
        let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.reembed_total = stale as u64 + upto as u64;
        st.reembed_done = 0;
        st.reembed_logged_pct = 0;
        drop(st);
        self.wake();
        Ok(upto)
    }

    async fn backlog(&self) -> Result<(i64, i64), crate::store::StoreError> {
        let b = self.store.backlog(false).await?;
        Ok((b.unembedded, b.stale))
    }

    pub async fn status(&self) -> Value {
        let (backlog, forced) = match self.store.backlog(true).await {
            Ok(b) => (b.unembedded + b.items + b.facts + b.stale, b.forced),
            Err(_) => (-1, 0),
        };
        let st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let rate = rate(&st.recent);
        let mut v = json!({
            "provider": self.embedder.provider(),
            "model": self.embedder.model_id(),
            "dim": self.embedder.dim(),
            "backlog": backlog + forced,
            "embedded": st.embedded,
            "rate_per_s": rate,
            "failures": st.failures,
            "last_error": st.last_error,
        });
        if let Some(r) = &self.fallback_reason {
            v["fallback_reason"] = json!(r);
        }
        if st.reembed_total > 0 {
            let pct = (100 * st.reembed_done / st.reembed_total.max(1)).min(100);
            v["reembed"] =
                json!({"total": st.reembed_total, "done": st.reembed_done, "percent": pct});
        }
        v
    }

    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        // New text anywhere (a client's exchanges, gists, concepts, chunks)
        // wakes the queue through the event bus.
        let (this, stop) = (self.clone(), shutdown.clone());
        let mut events = self.store.events().subscribe();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    ev = events.recv() => match ev {
                        Ok(e) if e.may_need_embedding() => this.wake(),
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => this.wake(),
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        });
        let this = self.clone();
        tokio::spawn(async move { this.run(shutdown).await })
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        match self.backlog().await {
            Ok((_, stale)) if stale > 0 => {
                tracing::info!(
                    rows = stale,
                    model = self.embedder.model_id(),
                    "re-embedding rows made by another model"
                );
                let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                st.reembed_total = stale as u64;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the embedding backlog"),
        }
        let mut cursor = 0i64;
        let mut backoff = Duration::from_millis(500);
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let forced = self.store.reembed().await.unwrap_or_default();
            let (force_upto, force_cursor) = (forced.upto, forced.cursor);
            let from = if force_upto > force_cursor {
                cursor.min(force_cursor)
            } else {
                cursor
            };
            let limit = self.batch_size;
            let rows = match self.store.pending_exchanges(from, force_upto, limit).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read rows to embed");
                    if self.pause(&shutdown, backoff).await {
                        return;
                    }
                    continue;
                }
            };
            if rows.is_empty() {
                // Exchanges are caught up: derived items (gists, eras,
                // concepts, chunks) next.
                match self.embed_items().await {
                    Ok(0) => {}
                    Ok(_) => {
                        backoff = Duration::from_millis(500);
                        continue;
                    }
                    Err(e) => {
                        self.failed(e, backoff);
                        if self.pause(&shutdown, backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
                if force_upto > 0 {
                    let _ = self
                        .store
                        .set_embeddings(
                            Vec::new(),
                            vec![(FORCE_UPTO.into(), None), (FORCE_CURSOR.into(), None)],
                        )
                        .await;
                }
                if cursor > 0 {
                    // Ids are normally increasing, but a re-used id could sit
                    // behind the cursor: look once from the start.
                    cursor = 0;
                    continue;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            let last = rows.last().map_or(cursor, |r| r.id);
            let texts: Vec<String> = rows.iter().map(|r| r.content.clone()).collect();
            let embedder = self.embedder.clone();
            let started = Instant::now();
            let result = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder.embed(&refs)
            })
            .await;
            let vectors = match result {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    self.failed(e.to_string(), backoff);
                    if self.pause(&shutdown, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
                Err(e) => {
                    self.failed(format!("embedding task failed: {e}"), backoff);
                    if self.pause(&shutdown, backoff).await {
                        return;
                    }
                    continue;
                }
            };
            backoff = Duration::from_millis(500);
            let stale = rows.iter().filter(|r| r.model_id.is_some()).count() as u64;
            let pairs: Vec<(i64, Vec<f32>)> = rows.iter().map(|r| r.id).zip(vectors).collect();
            let n = pairs.len();
            let meta = if force_upto > 0 && last <= force_upto {
                vec![(FORCE_CURSOR.to_owned(), Some(last.to_string()))]
            } else if force_upto > 0 {
                vec![
                    (FORCE_UPTO.to_owned(), None),
                    (FORCE_CURSOR.to_owned(), None),
                ]
            } else {
                Vec::new()
            };
            match self.store.set_embeddings(pairs, meta).await {
                Ok(_) => {
                    cursor = last;
                    self.progress(n, stale, started.elapsed());
                }
                Err(e) => {
                    self.failed(format!("storing vectors: {e}"), backoff);
                    if self.pause(&shutdown, backoff).await {
                        return;
                    }
                }
            }
        }
    }

    /// Embeds one batch of items (then, once they are caught up, of facts)
    /// without a vector of the current model; returns how many were stored.
    async fn embed_items(&self) -> Result<usize, String> {
        let rows = self
            .store
            .pending_items(self.batch_size)
            .await
            .map_err(|e| format!("reading items to embed: {e}"))?;
        if rows.is_empty() {
            return self.embed_facts().await;
        }
        let started = Instant::now();
        let n = rows.len();
        let triples = self.embed_texts(rows).await?;
        let stored = self
            .store
            .set_item_embeddings(triples)
            .await
            .map_err(|e| format!("storing item vectors: {e}"))?;
        self.progress(n, 0, started.elapsed());
        // An item whose text changed meanwhile is picked up again; one that
        // was deleted is simply gone. Either way, progress was made.
        Ok(stored.max(1))
    }

    /// One batch of facts, as [`Self::embed_items`] does for items: the
    /// store files each vector under the partition its fact's status calls
    /// for (live, retired, or none for candidates).
    async fn embed_facts(&self) -> Result<usize, String> {
        let rows = self
            .store
            .pending_facts(self.batch_size)
            .await
            .map_err(|e| format!("reading facts to embed: {e}"))?;
        if rows.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let n = rows.len();
        let triples = self.embed_texts(rows).await?;
        let stored = self
            .store
            .set_fact_embeddings(triples)
            .await
            .map_err(|e| format!("storing fact vectors: {e}"))?;
        self.progress(n, 0, started.elapsed());
        Ok(stored.max(1))
    }

    /// (id, text) rows embedded on a blocking thread: (id, text, vector),
    /// the text kept so the store can tell whether it changed meanwhile.
    async fn embed_texts(
        &self,
        rows: Vec<(i64, String)>,
    ) -> Result<Vec<(i64, String, Vec<f32>)>, String> {
        let embedder = self.embedder.clone();
        let texts: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            embedder.embed(&refs)
        })
        .await
        .map_err(|e| format!("embedding task failed: {e}"))?
        .map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .zip(vectors)
            .map(|((id, text), v)| (id, text, v))
            .collect())
    }

    /// Sleeps unless shut down first; true when shutting down.
    async fn pause(&self, shutdown: &CancellationToken, d: Duration) -> bool {
        tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(d) => false,
        }
    }

    fn failed(&self, error: String, retry_in: Duration) {
        tracing::warn!(error = %error, retry_in_ms = retry_in.as_millis() as u64, "embedding failed; rows stay queued");
        let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.failures += 1;
        st.last_error = Some(error);
    }

    fn progress(&self, n: usize, stale: u64, took: Duration) {
        let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.embedded += n as u64;
        st.last_error = None;
        let now = Instant::now();
        st.recent.push_back((now, n));
        while st
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60))
        {
            st.recent.pop_front();
        }
        if st.reembed_total > 0 {
            st.reembed_done = (st.reembed_done + stale).min(st.reembed_total);
            let pct = 100 * st.reembed_done / st.reembed_total;
            if pct / 10 > st.reembed_logged_pct / 10 {
                st.reembed_logged_pct = pct;
                tracing::info!(
                    done = st.reembed_done,
                    total = st.reembed_total,
                    percent = pct,
                    "re-embedding"
                );
            }
        }
        tracing::debug!(rows = n, ms = took.as_millis() as u64, "embedded a batch");
    }
}

fn rate(recent: &VecDeque<(Instant, usize)>) -> f64 {
    let Some((first, _)) = recent.front() else {
        return 0.0;
    };
    let span = first.elapsed().as_secs_f64().max(1.0);
    recent.iter().map(|(_, n)| *n as f64).sum::<f64>() / span
}
