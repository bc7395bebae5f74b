//! The control channel: HTTP/1.1 + JSON over a Unix socket.
//!
//! `router(state)` is the whole API; `serve` runs it on a listener until the
//! caller's shutdown future resolves, then lets in-flight requests finish.
//! Every request passes one middleware that checks the peer's uid, bounds
//! the request's time and records metrics.

pub mod error;
pub mod metrics;
mod routes;
pub mod uds;
pub use crate::wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use hyper::body::Body as HttpBody;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub use error::ApiError;

use crate::config::Config;
use crate::embed::Embedder;
use crate::recall::RecallEngine;
use crate::store::Store;
use uds::Peer;

/// Shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub recall: RecallEngine,
    pub embedder: Arc<dyn Embedder>,
    /// The configuration in force; SIGHUP replaces what can change live.
    /// Readers take the current `Arc` (a reload never tears a request's
    /// view); workers can subscribe and wait for changes.
    pub config: Arc<watch::Sender<Arc<Config>>>,
    pub config_source: String,
    pub metrics: Arc<metrics::Metrics>,
    pub started: Instant,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub allowed_uids: Arc<Vec<u32>>,
    pub checkpointer: Arc<crate::checkpoint::Checkpointer>,
    pub embed_queue: Arc<crate::embed::queue::EmbedQueue>,
    pub dream: Arc<crate::dream::Dream>,
    pub sources: crate::sources::Sources,
}

impl AppState {
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }
}

pub fn router(state: AppState) -> Router {
    let limit = state.config().api.max_body_bytes;
    Router::new()
        .route("/v1/health", get(routes::system::health))
        .route("/v1/status", get(routes::system::status))
        .route("/v1/metrics", get(routes::system::metrics))
        .route("/v1/sessions", get(routes::sessions::list))
        .route(
            "/v1/sessions/{sid}",
            get(routes::sessions::show).delete(routes::sessions::delete),
        )
        .route(
            "/v1/sessions/{sid}/exchanges",
            post(routes::sessions::remember),
        )
        .route("/v1/import", post(routes::sessions::import))
        .route("/v1/recall", post(routes::recall::recall))
        .route("/v1/context", post(routes::dream::context))
        .route("/v1/dream", post(routes::dream::start))
        .route("/v1/dream/runs", get(routes::dream::runs))
        .route("/v1/sessions/{sid}/gist", get(routes::dream::gist))
        .route("/v1/eras", get(routes::dream::eras))
        .route("/v1/profile", get(routes::dream::profile))
        .route("/v1/narrative", get(routes::dream::narrative))
        .route("/v1/self", get(routes::dream::self_state))
        .route("/v1/reembed", post(routes::system::reembed))
        .route("/v1/checkpoint", post(routes::backup::take))
        .route("/v1/checkpoints", get(routes::backup::list))
        .route("/v1/export", get(routes::backup::export))
        .route(
            "/v1/import-all",
            // Streamed line by line: no whole-body limit (each line is bounded).
            post(routes::backup::import_all).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/facts",
            post(routes::facts::create).get(routes::facts::list),
        )
        .route(
            "/v1/facts/{id}",
            get(routes::facts::show)
                .patch(routes::facts::edit)
                .delete(routes::facts::forget),
        )
        .route("/v1/facts/{id}/edit", post(routes::facts::edit))
        .route("/v1/facts/{id}/promote", post(routes::facts::promote))
        .route("/v1/facts/{id}/reject", post(routes::facts::reject))
        .route("/v1/quarantine", get(routes::quarantine::list))
        .route(
            "/v1/quarantine/{tier}/{id}/release",
            post(routes::quarantine::release),
        )
        .route(
            "/v1/quarantine/{tier}/{id}",
            delete(routes::quarantine::drop),
        )
        .route(
            "/v1/facts/{id}/interactions",
            get(routes::interactions::of_fact),
        )
        .route(
            "/v1/interactions",
            post(routes::interactions::record).get(routes::interactions::list),
        )
        .route("/v1/why/{tier}/{id}", get(routes::interactions::why))
        .route("/v1/sources", get(routes::sources::list))
        .route("/v1/sources/{name}/sync", post(routes::sources::sync))
        .route("/v1/sources/{name}/rows", post(routes::sources::rows))
        .route(
            "/v1/concepts/{*name}",
            get(routes::sources::show)
                .patch(routes::sources::patch)
                .delete(routes::sources::delete),
        )
        .fallback(|| async { ApiError::not_found("no such route; see README for the API") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see README for the API",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Routes whose work grows with the store (a snapshot, a full import) and
/// so are not cut off by `api.request_timeout_s`.
const UNTIMED_ROUTES: &[&str] = &[
    "/v1/checkpoint",
    "/v1/import-all",
    "/v1/dream",
    "/v1/sources/{name}/sync",
];

/// Peer check, timeout, panic containment and metrics for every request.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.clone());
    // The connection counts as busy (not idle, not evictable) until the
    // response body has been written.
    let busy = peer.as_ref().map(|p| p.conn.begin());
    // The listener refuses other uids at accept; this is the second lock.
    let allowed =
        matches!(&peer, Some(p) if p.cred.uid.is_some_and(|u| state.allowed_uids.contains(&u)));
    let response = if !allowed {
        tracing::debug!(uid = ?peer.as_ref().and_then(|p| p.cred.uid), %method, %path, "refused a request");
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this uid may not use memd; see daemon.allowed_uids",
        )
        .into_response()
    } else if UNTIMED_ROUTES.contains(&route.as_str()) {
        contain_panics(next.run(req), &method, &path).await
    } else {
        let timeout = Duration::from_secs(state.config().api.request_timeout_s);
        match tokio::time::timeout(timeout, contain_panics(next.run(req), &method, &path)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than api.request_timeout_s ({}s); a write may still complete",
                    timeout.as_secs()
                ),
            )
            .into_response(),
        }
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe(&route, &method, status, elapsed.as_secs_f64());
    tracing::debug!(%method, %path, status, ms = elapsed.as_secs_f64() * 1000.0, "request");
    match busy {
        Some(guard) => response.map(|body| {
            Body::new(HoldUntilSent {
                body,
                _guard: guard,
            })
        }),
        None => response,
    }
}

/// A handler that panics answers a JSON 500; the panic hook has already
/// logged the message and location on one line.
async fn contain_panics(
    handler: impl Future<Output = Response>,
    method: &str,
    path: &str,
) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(handler).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(%method, %path, "a request handler panicked; answered 500");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "memd hit a bug while answering this request (logged); nothing was written by it unless it said so",
            )
            .into_response()
        }
    }
}

/// A response body that keeps its connection marked busy until it is sent.
struct HoldUntilSent {
    body: Body,
    _guard: uds::BusyGuard,
}

impl HttpBody for HoldUntilSent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Runs the API on `listener` until `shutdown` resolves, then waits for
/// in-flight requests (the caller bounds that wait).
pub async fn serve(
    listener: uds::UdsListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<Peer>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A JSON body parsed into `T`, with our error shapes: 413 for a body over
/// the limit, 400 `malformed_json` for bytes that are not JSON (including
/// invalid UTF-8), 400 `bad_field` for JSON of the wrong shape.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub async fn read_body<S: Send + Sync>(req: Request<Body>, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("request body is larger than api.max_body_bytes")
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })
}

/// A JSON body parsed into `T`, or `T::default()` for an empty body (routes
/// whose fields are all optional), with [`JsonBody`]'s error shapes.
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// A path parameter, or 400 with our error shape (invalid UTF-8, …).
pub fn path_param(
    p: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    p.map(|axum::extract::Path(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// [`wire::parse_object`] with the API's error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    wire::parse_object(bytes).map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_json_500() {
        let handler = async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            StatusCode::OK.into_response()
        };
        let r = contain_panics(handler, "POST", "/v1/x").await;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
    }
}
