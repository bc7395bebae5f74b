//! The daemon's lifecycle.
//!
//! Order: data dir → lock → store (migrate, load index) → bind socket →
//! serve → `READY=1` → wait for the shutdown token → `STOPPING=1` → stop
//! accepting and drain in-flight requests (bounded) → close the store (the
//! writer commits what was queued) → remove the socket → return.
//!
//! The caller supplies shutdown (a [`CancellationToken`]) and reload
//! requests (an mpsc whose sender the signal task holds; closing it just
//! means no more reloads), so tests can drive the lifecycle without signals.

mod lock;
mod notify;
pub mod signals;
mod socket;

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use lock::{LockError, acquire as acquire_lock, lock_path};
pub use socket::SocketError;

use crate::api::{self, AppState};
use crate::config::{self, Config, ConfigError, ConfigSource, DreamConfig, Loaded};
use crate::embed;
use crate::logging::LogHandle;
use crate::recall::RecallEngine;
use crate::store::{ModelSpec, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot open the store at {path}: {source}")]
    Store { path: PathBuf, source: StoreError },
    #[error(
        "{problem}\nmemd will not start on this database, and will not replace it with an empty one.\n{hint}"
    )]
    Damaged { problem: String, hint: String },
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Embed(#[from] embed::SelectError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Permissions(#[from] crate::fsperm::PermError),
    #[error("source configuration: {0}")]
    Source(#[from] crate::sources::SourceError),
    #[error("inspector ([ui]): {0}")]
    Ui(#[from] crate::ui::UiError),
}

pub struct Control {
    pub shutdown: CancellationToken,
    pub reload: mpsc::Receiver<()>,
    /// The `--config` given on the command line, re-read on reload.
    pub explicit_config: Option<PathBuf>,
    pub log: Option<LogHandle>,
}

pub async fn run(loaded: Loaded, mut control: Control) -> Result<(), DaemonError> {
    let cfg = loaded.config.clone();
    let data_dir = cfg.data_dir();
    let socket_path = cfg.socket_path();
    ensure_dir(&data_dir)?;
    let tightened = crate::fsperm::secure_data_dir(&data_dir)?;
    if tightened > 0 {
        tracing::warn!(
            data_dir = %data_dir.display(),
            tightened,
            "memory files were readable by other users; they are now private to this uid"
        );
    }
    let _lock = lock::acquire(&data_dir)?;
    // The inspector's token and port are checked before anything opens: a
    // refusal leaves nothing to undo.
    let ui = crate::ui::bind(&cfg).await?;

    let selected = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || embed::select(&cfg))
            .await
            .map_err(|e| DaemonError::Internal(e.to_string()))??
    };
    let embedder = selected.embedder.clone();
    if let Some(reason) = &selected.fallback_reason {
        tracing::warn!("EMBEDDINGS DEGRADED: {reason}");
    }
    let model = ModelSpec {
        name: embedder.model_id().to_owned(),
        dim: embedder.dim(),
    };
    let db_path = config::db_path(&data_dir);
    if !db_path.exists()
        && let Ok(snaps) = crate::checkpoint::list(&cfg.snapshot_dir())
        && let Some(newest) = snaps.first()
    {
        tracing::warn!(
            db = %db_path.display(),
            snapshot = %newest.path.display(),
            "no database found but snapshots exist: starting with an EMPTY store; \
             if this is not intended, stop memd and run `memd restore {}`",
            newest.path.display()
        );
    }
    let (store, report) = {
        let (db, store_cfg) = (db_path.clone(), cfg.store.clone());
        let index_opts = crate::store::IndexOptions {
            params: cfg.index.params(),
            layout_path: cfg
                .index
                .layout_file
                .then(|| config::index_layout_path(&data_dir)),
        };
        tokio::task::spawn_blocking(move || Store::open_with(&db, &store_cfg, &model, index_opts))
            .await
            .map_err(|e| DaemonError::Internal(e.to_string()))?
            .map_err(|source| damaged_or(source, &db_path, &cfg, &loaded.source))?
    };
    let checkpointer = crate::checkpoint::Checkpointer::new(store.clone(), &cfg);
    let embed_queue = embed::queue::EmbedQueue::new(
        store.clone(),
        embedder.clone(),
        cfg.embed.batch_size,
        selected.fallback_reason.clone(),
    );
    tracing::info!(
        db = %db_path.display(),
        schema = report.schema_after,
        vectors = report.vectors_loaded,
        index_load_ms = report.index_load.as_millis() as u64,
        index = %report.index_layout,
        "store open"
    );

    let shared_config = Arc::new(tokio::sync::watch::Sender::new(Arc::new(cfg.clone())));
    let consolidator = crate::dream::provider::build(&cfg.dream, embedder.clone())
        .map_err(|e| DaemonError::Internal(format!("dream provider: {e}")))?;
    let dream = crate::dream::Dream::new(
        store.clone(),
        shared_config.subscribe(),
        consolidator,
        &control.shutdown,
    );
    if let Err(e) = dream.recover().await {
        tracing::warn!(error = %e, "cannot mark interrupted dream runs");
    }

    let sources = crate::sources::Sources::new(store.clone(), &cfg.sources, &cfg.firewall);
    if let Err(e) = sources.check_schemas().await {
        drop(sources);
        drop(dream);
        drop(embed_queue);
        drop(checkpointer);
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        return Err(e.into());
    }

    let listener = socket::bind(&socket_path, cfg.daemon.socket_mode.0)?;
    let socket_ino = Arc::new(std::sync::atomic::AtomicU64::new(
        std::fs::metadata(&socket_path)
            .map(|m| m.ino())
            .unwrap_or(0),
    ));
    let (replace_socket, replaced_socket) = mpsc::channel(1);
    let socket_watch = socket::spawn_watch(
        socket_path.clone(),
        cfg.daemon.socket_mode.0,
        socket_ino.clone(),
        replace_socket,
        control.shutdown.clone(),
    );
    let state = AppState {
        recall: RecallEngine::new(store.clone(), embedder.clone(), &cfg.recall),
        store: store.clone(),
        embedder: embedder.clone(),
        config: shared_config,
        config_source: loaded.describe(),
        metrics: Arc::default(),
        started: Instant::now(),
        socket: socket_path.clone(),
        data_dir: data_dir.clone(),
        allowed_uids: Arc::new(cfg.allowed_uids()),
        checkpointer: checkpointer.clone(),
        embed_queue: embed_queue.clone(),
        dream: dream.clone(),
        sources: sources.clone(),
    };
    let listener = api::uds::UdsListener::new(
        listener,
        api::uds::Limits {
            max_connections: cfg.api.max_connections,
            max_connections_per_uid: cfg.api.max_connections_per_uid,
            idle_timeout: Duration::from_secs(cfg.api.idle_timeout_s),
            allowed_uids: state.allowed_uids.clone(),
        },
        Some(replaced_socket),
    );
    let stop_accepting = control.shutdown.clone();
    let mut server = tokio::spawn(api::serve(listener, state.clone(), async move {
        stop_accepting.cancelled().await
    }));
    // Workers first, READY last: systemd (and anyone waiting on it) sees a
    // daemon that is already embedding, checkpointing and syncing. Every
    // worker is tracked, so shutdown waits for all of them at once.
    let workers = TaskTracker::new();
    let track = |h: tokio::task::JoinHandle<()>| {
        workers.spawn(async move {
            if let Err(e) = h.await
                && e.is_panic()
            {
                tracing::error!(error = %e, "a worker task panicked");
            }
        });
    };
    if let Some(ui) = ui {
        let (state, stop) = (state.clone(), control.shutdown.clone());
        track(tokio::spawn(async move {
            if let Err(e) = crate::ui::serve(ui, state, async move { stop.cancelled().await }).await
            {
                tracing::error!(error = %e, "the inspector stopped");
            }
        }));
    }
    let watchdog = notify::spawn_watchdog(store.clone(), control.shutdown.clone());
    if let Some(w) = checkpointer.spawn_worker(control.shutdown.clone()) {
        track(w);
    }
    track(embed_queue.spawn(control.shutdown.clone()));
    let mut dream_schedule = dream.start_triggers().await;
    for t in sources.spawn(control.shutdown.clone()) {
        track(t);
    }
    tracing::info!(
        socket = %socket_path.display(),
        config = %loaded.describe(),
        embedder = embedder.model_id(),
        pid = std::process::id(),
        "memd ready"
    );
    notify::ready(&format!("serving on {}", socket_path.display()));

    let mut server_done = false;
    loop {
        tokio::select! {
            biased;
            _ = control.shutdown.cancelled() => break,
            res = &mut server => {
                server_done = true;
                match res {
                    Ok(Ok(())) => tracing::error!("the API server stopped unexpectedly"),
                    Ok(Err(e)) => tracing::error!(error = %e, "the API server failed"),
                    Err(e) => tracing::error!(error = %e, "the API server task failed"),
                }
                control.shutdown.cancel();
                break;
            }
            Some(()) = control.reload.recv() => {
                reload(&state, &control);
            }
        }
    }

    notify::stopping();
    tracing::info!("shutting down: no new connections; waiting for in-flight requests and workers");
    // One budget for everything: requests drain while the workers (a
    // checkpoint in progress, a batch being embedded, a source between
    // operations, a dream pass at its next safe point) stop in parallel.
    let grace = Duration::from_secs(cfg.daemon.shutdown_timeout_s);
    let deadline = tokio::time::Instant::now() + grace;
    if let Some(w) = watchdog {
        w.abort();
    }
    if let Some(s) = dream_schedule.as_mut()
        && let Err(e) = s.shutdown().await
    {
        tracing::debug!(error = %e, "dream scheduler shutdown");
    }
    workers.close();
    let drain = async {
        if !server_done
            && tokio::time::timeout_at(deadline, &mut server)
                .await
                .is_err()
        {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "requests still running after daemon.shutdown_timeout_s; cutting them off"
            );
            server.abort();
        }
    };
    let stop_workers = async {
        if tokio::time::timeout_at(deadline, workers.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "a worker did not stop within daemon.shutdown_timeout_s; \
                 queued embeddings stay queued, a source resumes from its cursor"
            );
        }
    };
    tokio::join!(
        drain,
        stop_workers,
        dream.shut_down(grace.min(Duration::from_secs(5)))
    );
    socket_watch.abort();
    drop(sources);
    drop(embed_queue);
    if cfg.checkpoint.on_shutdown {
        notify::status("final checkpoint");
        let _ = checkpointer.take("shutdown").await;
    }
    drop(state);
    drop(checkpointer);
    tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|e| DaemonError::Internal(e.to_string()))?;
    remove_socket(
        &socket_path,
        Some(socket_ino.load(std::sync::atomic::Ordering::Acquire)),
    );
    tracing::info!("memd stopped");
    Ok(())
}

/// A database that fails its checks gets a message naming the newest good
/// snapshot and the restore command; other store errors pass through.
fn damaged_or(
    source: StoreError,
    db_path: &Path,
    cfg: &Config,
    config_source: &ConfigSource,
) -> DaemonError {
    let problem = match &source {
        StoreError::FailedCheck { .. } | StoreError::NotADatabase(..) | StoreError::Corrupt(_) => {
            source.to_string()
        }
        _ => {
            return DaemonError::Store {
                path: db_path.to_owned(),
                source,
            };
        }
    };
    let dir = cfg.snapshot_dir();
    let config_arg = match config_source {
        ConfigSource::File(p) => format!(" --config {}", p.display()),
        ConfigSource::Defaults => String::new(),
    };
    let hint = match crate::checkpoint::newest_good(&dir) {
        Some(snap) => format!(
            "The newest good snapshot is {}.\nWith the daemon stopped, restore it (the damaged file is kept aside):\n  memd restore {}{config_arg}",
            snap.display(),
            snap.display()
        ),
        None => format!(
            "No good snapshot was found in {}. Move {} aside to start with an empty store, \
             or try `sqlite3 {} .recover` to salvage its rows.",
            dir.display(),
            db_path.display(),
            db_path.display()
        ),
    };
    DaemonError::Damaged { problem, hint }
}

fn ensure_dir(dir: &Path) -> Result<(), DaemonError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| DaemonError::Io {
            path: dir.to_owned(),
            source,
        })
}

/// Removes the socket only if it is still the one we bound (a newer daemon
/// may have replaced it after we stopped answering).
fn remove_socket(path: &Path, ino: Option<u64>) {
    let current = std::fs::symlink_metadata(path).map(|m| m.ino()).ok();
    if current.is_some()
        && current == ino
        && let Err(e) = std::fs::remove_file(path)
    {
        tracing::warn!(socket = %path.display(), error = %e, "could not remove the socket");
    }
}

/// Re-reads the configuration and applies what can change live. Keys that
/// only take effect at start are reported and keep their running values.
fn reload(state: &AppState, control: &Control) {
    notify::reloading();
    let loaded = match Config::load(control.explicit_config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "reload failed; keeping the running configuration");
            notify::ready("reload failed; running configuration kept");
            return;
        }
    };
    let new = loaded.config;
    let old = state.config();
    let mut merged = Config::clone(&old);
    merged.log.level = new.log.level.clone();
    merged.api.request_timeout_s = new.api.request_timeout_s;
    merged.api.max_content_bytes = new.api.max_content_bytes.min(old.api.max_body_bytes);
    merged.api.max_metadata_bytes = new.api.max_metadata_bytes;
    merged.recall = new.recall.clone();
    merged.index.nprobe = new.index.nprobe;
    // The dream cycle reads its settings at every pass; the schedule, its
    // time zone and the provider are fixed at start.
    merged.dream = DreamConfig {
        schedule: old.dream.schedule.clone(),
        timezone: old.dream.timezone.clone(),
        provider: old.dream.provider,
        openai: old.dream.openai.clone(),
        ..new.dream.clone()
    };
    if merged.index.nprobe != old.index.nprobe {
        state
            .store
            .index()
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .set_nprobe(merged.index.nprobe);
    }

    let mut applied = Vec::new();
    for (key, before, after) in diff(&old, &merged) {
        applied.push(key.clone());
        tracing::info!(key = %key, from = %before, to = %after, "configuration changed");
    }
    let mut needs_restart = Vec::new();
    for (key, _, after) in diff(&merged, &new) {
        tracing::warn!(key = %key, to = %after, "configuration change takes effect only after a restart");
        needs_restart.push(key);
    }
    if old.log.level != merged.log.level
        && let Some(log) = &control.log
        && let Err(e) = log.set_level(&merged.log.level)
    {
        tracing::error!(error = %e, "could not apply log.level");
    }
    if new.sources != old.sources {
        // Source entries apply after a restart; check them now so a wrong
        // table or column is reported at reload, not at the next start.
        let cfg = new.sources.clone();
        tokio::spawn(async move {
            match crate::sources::check_schemas(&cfg).await {
                Ok(()) => tracing::info!(
                    "the reloaded sources configuration matches the sources' schemas"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "the reloaded sources configuration does not match a source; fix it before restarting")
                }
            }
        });
    }
    state.config.send_replace(Arc::new(merged));
    state
        .store
        .events()
        .publish(crate::events::MemdEvent::ConfigReloaded);
    let source = match &loaded.source {
        ConfigSource::File(p) => p.display().to_string(),
        ConfigSource::Defaults => "built-in defaults".into(),
    };
    let source = match loaded.env.is_empty() {
        true => source,
        false => format!("{source} + environment ({})", loaded.env.join(", ")),
    };
    tracing::info!(
        source = %source,
        applied = applied.len(),
        needs_restart = needs_restart.len(),
        "configuration reloaded"
    );
    notify::ready("configuration reloaded");
}

/// Flattened `key, old, new` for every leaf that differs.
fn diff(a: &Config, b: &Config) -> Vec<(String, String, String)> {
    fn walk(
        prefix: &str,
        a: Option<&toml::Value>,
        b: Option<&toml::Value>,
        out: &mut Vec<(String, String, String)>,
    ) {
        match (a, b) {
            (Some(toml::Value::Table(ta)), Some(toml::Value::Table(tb))) => {
                let keys: std::collections::BTreeSet<&String> =
                    ta.keys().chain(tb.keys()).collect();
                for k in keys {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, ta.get(k), tb.get(k), out);
                }
            }
            (x, y) if x != y => {
                let show =
                    |v: Option<&toml::Value>| v.map_or("<unset>".to_owned(), |v| v.to_string());
                out.push((prefix.to_owned(), show(x), show(y)));
            }
            _ => {}
        }
    }
    let (ta, tb) = (toml::Value::try_from(a).ok(), toml::Value::try_from(b).ok());
    let mut out = Vec::new();
    walk("", ta.as_ref(), tb.as_ref(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_changed_leaves() {
        let a = Config::default();
        let mut b = a.clone();
        b.log.level = "debug".into();
        b.daemon.socket = Some("/tmp/x.sock".into());
        let keys: Vec<String> = diff(&a, &b).into_iter().map(|d| d.0).collect();
        assert_eq!(
            keys,
            vec!["daemon.socket".to_owned(), "log.level".to_owned()]
        );
    }
}
