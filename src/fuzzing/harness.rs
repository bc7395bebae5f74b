//! The harness the HTTP targets share: the router over a real store in a
//! temp dir, with a panic hook that catches panics in spawned tasks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::service::Service as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::api::uds::{ConnState, Peer, PeerCred};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::embed::{self, Embedder};
use crate::recall::RecallEngine;
use crate::store::{self, Conversations, Exports, IndexOptions, ModelSpec, Store};

/// The API of a daemon over a real store in a temp dir.
pub struct Harness {
    pub(super) state: AppState,
    router: axum::Router,
    dir: PathBuf,
    shutdown: CancellationToken,
    calls: AtomicUsize,
}

/// Panics anywhere in the process (a spawned task's panic may otherwise
/// only cut a stream short).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info)
        }));
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// The shared harness of `ids` and `route_bodies`, seeded with sessions
/// `s1` (namespace `default`) and `s2` (`other`) and the concepts of the
/// source `fz` (table `notes`, rows 1-5).
pub(super) fn routes() -> &'static Harness {
    static ROUTES: OnceLock<Harness> = OnceLock::new();
    ROUTES.get_or_init(|| Harness::new("routes", true))
}

impl Harness {
    pub(super) fn rt(&self) -> &'static tokio::runtime::Runtime {
        rt()
    }

    pub(super) fn new(kind: &str, seed: bool) -> Harness {
        let rt = rt();
        let root = std::env::temp_dir().join("memd-fuzz");
        remove_stale(&root);
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = root.join(format!("{}-{kind}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz dir");
        let source = dir.join("source.db");
        let src = rusqlite::Connection::open(&source).expect("source db");
        src.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, updated INTEGER);
             INSERT INTO notes VALUES
               (1, 'Cats', 'The cat sat on the mat.', 1),
               (2, 'Dogs', 'Dogs bark at the postman.', 2),
               (3, 'Unicode', 'Ünïcödé 東京 straße', 3),
               (4, NULL, NULL, 4),
               (5, 'Long', 'word word word word word word word word', 5);",
        )
        .expect("source rows");
        drop(src);
        let toml = format!(
            r#"
[daemon]
data_dir = "{data}"
socket = "{dir}/memd.sock"
[store]
synchronous = "normal"
[embed]
provider = "hash"
[checkpoint]
interval_s = 0
on_shutdown = false
[dream]
enabled = false
[[sources.sqlite]]
name = "fz"
path = "{source}"
allowed_tables = ["notes"]
watch = false
[sources.sqlite.tables.notes]
cursor_column = "updated"
"#,
            data = dir.join("data").display(),
            dir = dir.display(),
            source = source.display(),
        );
        let cfg = Config::from_toml(&toml, "fuzz harness").expect("harness config");
        let (state, shutdown) = rt.block_on(build_state(cfg));
        let router = api::router(state.clone());
        let h = Harness {
            state,
            router,
            dir,
            shutdown,
            calls: AtomicUsize::new(0),
        };
        if seed {
            h.seed();
        }
        h
    }

    fn seed(&self) {
        for (sid, ns, text) in [
            ("s1", "default", "the cat sat on the mat"),
            ("s1", "default", "dogs bark at the postman every morning"),
            ("s2", "other", "another namespace entirely"),
        ] {
            let body = json!({"role": "user", "content": text, "namespace": ns});
            let (st, b) = self.call(
                Method::POST,
                &format!("/v1/sessions/{sid}/exchanges"),
                body.to_string().into_bytes(),
            );
            assert!(st.is_success(), "seeding: {st} {b:?}");
        }
        let (st, b) = self.call(
            Method::POST,
            "/v1/sources/fz/sync",
            br#"{"full":true}"#.to_vec(),
        );
        assert!(st.is_success(), "seeding the source: {st} {b:?}");
    }

    /// Sends one request; panics on a server error or a panic anywhere.
    /// A URI the HTTP layer itself refuses is answered 400 here.
    pub fn call(&self, method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, Bytes) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let Ok(mut req) = Request::builder()
            .method(method.clone())
            .uri(uri)
            .body(Body::from(body.clone()))
        else {
            return (StatusCode::BAD_REQUEST, Bytes::new());
        };
        let uid = crate::config::current_uid();
        req.extensions_mut().insert(ConnectInfo(Peer {
            cred: PeerCred {
                uid: Some(uid),
                gid: None,
                pid: None,
            },
            conn: Arc::new(ConnState::new(uid)),
        }));
        let panics = PANICS.load(Ordering::SeqCst);
        let svc = hyper_util::service::TowerToHyperService::new(self.router.clone());
        let (status, bytes) = self.rt().block_on(async {
            let resp = svc.call(req).await.expect("the router is infallible");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map(|c| c.to_bytes());
            (status, bytes)
        });
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            panics,
            "a task panicked while answering {method} {uri}"
        );
        let bytes = bytes.unwrap_or_else(|e| panic!("{method} {uri}: the body broke off: {e}"));
        if std::env::var_os("MEMD_FUZZ_DEBUG").is_some() {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            eprintln!("{method} {uri} -> {status} {shown}");
        }
        assert!(
            !status.is_server_error(),
            "{method} {uri} answered {status}: {}\nrequest body: {:?}",
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(&body)
        );
        (status, bytes)
    }

    /// Reads what the store holds the way clients do; used after an import
    /// was accepted.
    pub(super) fn read_everything(&self, query: &str) {
        let (mut namespaces, sessions) = self
            .rt()
            .block_on(async {
                let store = &self.state.store;
                Ok::<_, store::StoreError>((
                    store.namespaces(8).await?,
                    store.session_ids(20).await?,
                ))
            })
            .expect("listing what was imported");
        if !namespaces.iter().any(|n| n == "default") {
            namespaces.insert(0, "default".to_owned());
            namespaces.truncate(8);
        }
        let get = |uri: String| drop(self.call(Method::GET, &uri, Vec::new()));
        get("/v1/status".into());
        for ns in &namespaces {
            let ns_q = percent_encode(ns.as_bytes(), false);
            for path in [
                "sessions",
                "eras",
                "profile",
                "narrative",
                "self",
                "dream/runs",
            ] {
                get(format!("/v1/{path}?namespace={ns_q}"));
            }
            for mode in ["hybrid", "lexical", "vector"] {
                let body = json!({"query": query, "namespace": ns, "mode": mode, "k": 20, "explain": true});
                self.call(Method::POST, "/v1/recall", body.to_string().into_bytes());
            }
            let body = json!({"query": query, "namespace": ns, "k": 10});
            self.call(Method::POST, "/v1/context", body.to_string().into_bytes());
        }
        for sid in &sessions {
            let seg = percent_encode(sid.as_bytes(), false);
            get(format!("/v1/sessions/{seg}"));
            get(format!("/v1/sessions/{seg}/gist"));
        }
        get("/v1/sources".into());
        get("/v1/export".into());
    }

    /// Deletes every row an import may have added, then imports an empty
    /// export (which rebuilds the vector index from the now empty store).
    pub(super) fn wipe(&self) -> bool {
        let emptied = self.rt().block_on(self.state.store.clear_all());
        if emptied.is_err() {
            return false;
        }
        let mut body = store::export::header(store::migrate::SCHEMA_VERSION).to_string();
        body.push_str("\n{\"memd_export_end\":true,\"rows\":0}\n");
        let (st, _) = self.call(Method::POST, "/v1/import-all", body.into_bytes());
        st == StatusCode::OK
    }

    /// Keeps the shared store small: every 500 calls, sessions beyond the
    /// seeded two are deleted when there are more than 200.
    pub(super) fn keep_small(&self) {
        if !self.calls.load(Ordering::Relaxed).is_multiple_of(500) {
            return;
        }
        let sessions = self
            .rt()
            .block_on(self.state.store.session_ids(usize::MAX))
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s != "s1" && s != "s2")
            .collect::<Vec<_>>();
        if sessions.len() > 200 {
            for sid in sessions {
                let seg = percent_encode(sid.as_bytes(), false);
                self.call(Method::DELETE, &format!("/v1/sessions/{seg}"), Vec::new());
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let store = self.state.store.clone();
        store.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The daemon's state as `daemon::run` builds it, without a socket or the
/// background workers (the hashing embedder embeds inline).
async fn build_state(cfg: Config) -> (AppState, CancellationToken) {
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let embedder: Arc<dyn Embedder> = Arc::new(embed::HashEmbedder::new());
    let model = ModelSpec {
        name: embedder.model_id().to_owned(),
        dim: embedder.dim(),
    };
    let db = crate::config::db_path(&data_dir);
    let opts = IndexOptions {
        params: cfg.index.params(),
        layout_path: None,
    };
    let store_cfg = cfg.store.clone();
    let (store, _) =
        tokio::task::spawn_blocking(move || Store::open_with(&db, &store_cfg, &model, opts))
            .await
            .expect("open task")
            .expect("open the store");
    let shutdown = CancellationToken::new();
    let checkpointer = crate::checkpoint::Checkpointer::new(store.clone(), &cfg);
    let embed_queue =
        embed::queue::EmbedQueue::new(store.clone(), embedder.clone(), cfg.embed.batch_size, None);
    let config = Arc::new(tokio::sync::watch::Sender::new(Arc::new(cfg.clone())));
    let consolidator =
        crate::dream::provider::build(&cfg.dream, embedder.clone()).expect("dream provider");
    let dream =
        crate::dream::Dream::new(store.clone(), config.subscribe(), consolidator, &shutdown);
    let sources = crate::sources::Sources::new(store.clone(), &cfg.sources, &cfg.firewall);
    sources.check_schemas().await.expect("source schema");
    let state = AppState {
        recall: RecallEngine::new(store.clone(), embedder.clone(), &cfg.recall),
        store,
        embedder,
        config,
        config_source: "fuzz harness".into(),
        metrics: Arc::default(),
        started: Instant::now(),
        socket: cfg.socket_path(),
        data_dir,
        allowed_uids: Arc::new(cfg.allowed_uids()),
        checkpointer,
        embed_queue,
        dream,
        sources,
    };
    (state, shutdown)
}

/// Removes the dirs of fuzzing processes that are gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Percent-encodes bytes for a URI: everything but unreserved characters
/// for a path segment; in a query, the separators (`&`, `=`, `+`, `%`, …)
/// are kept so the input shapes the query string itself.
pub(super) fn percent_encode(raw: &[u8], query: bool) -> String {
    let mut s = String::with_capacity(raw.len() * 3);
    for &b in raw {
        let keep = b.is_ascii_alphanumeric()
            || b"-._~".contains(&b)
            || (query && b"!$&'()*+,;=:@/?%".contains(&b));
        if keep {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
