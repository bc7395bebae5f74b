//! The inspector: a read-only web view of memory, served by the daemon on a
//! loopback TCP port next to the API (`[ui]`, off by default).
//!
//! Pages are rendered on the server from the same store traits and engine
//! calls the JSON API uses ([`pages`]); nothing here writes memory, and
//! every route is a GET. Safety rests on three rules kept in one place
//! each: HTML is written only through [`html::Html`] (memory text is always
//! escaped, links only ever point at our own paths), a strict
//! Content-Security-Policy allows scripts, styles and images from our own
//! `/static/` files only (no inline script runs, whatever a page holds),
//! and [`auth`] lets in nothing without the token's cookie. Every asset is
//! compiled into the binary: no CDN, no build step.

mod auth;
pub mod html;
mod layout;
mod pages;
mod svg;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::AppState;
use crate::config::Config;
use crate::recall::RecallError;
use crate::store::StoreError;

pub use auth::load_token;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("cannot listen on ui.listen {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Token(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recall(#[from] RecallError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => {
                tracing::warn!(error = %self, "an inspector page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        layout::error_page(status, &self.to_string())
    }
}

/// A bound listener and the token that guards it.
pub struct Bound {
    listener: tokio::net::TcpListener,
    gate: auth::Gate,
    pub addr: SocketAddr,
}

/// Reads the token and binds `ui.listen`; `None` when the inspector is
/// off. Called before the daemon is ready, so a bad token or a taken port
/// stops the start.
pub async fn bind(cfg: &Config) -> Result<Option<Bound>, UiError> {
    let Some(addr) = cfg.ui.listen_addr() else {
        return Ok(None);
    };
    let token = load_token(&cfg.ui)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| UiError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| UiError::Listen { addr, source })?;
    Ok(Some(Bound {
        listener,
        gate: auth::Gate::new(&token, addr.port()),
        addr,
    }))
}

pub fn router(state: AppState, gate: auth::Gate) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/sessions", get(pages::sessions::list))
        .route("/sessions/{id}", get(pages::sessions::show))
        .route("/time", get(pages::time::page))
        .route("/dream", get(pages::dream::page))
        .route("/recall", get(pages::recall::page))
        .route("/facts", get(pages::facts::page))
        .route("/static/{file}", get(layout::asset))
        .fallback(|| async { UiError::NotFound("no such page".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), timed))
        .layer(middleware::from_fn_with_state(gate, auth::guard))
        .layer(middleware::from_fn(headers))
        .with_state(state)
}

/// Serves the inspector until `shutdown` resolves.
pub async fn serve(
    bound: Bound,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(url = %format!("http://{}/", bound.addr), "inspector listening");
    let app = router(state, bound.gate);
    axum::serve(bound.listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// What no page may do, whatever it holds: run a script that is not our
/// file, load anything from elsewhere, be framed, send a referrer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Bounds a page's time (`api.request_timeout_s`), contains panics and
/// reports the time taken in `Server-Timing` (what scripts/bench-ui.sh
/// reads).
async fn timed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    let started = Instant::now();
    let path = req.uri().path().to_owned();
    let limit = Duration::from_secs(state.config().api.request_timeout_s);
    let run = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
    let mut r = match tokio::time::timeout(limit, run).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => {
            tracing::error!(%path, "an inspector page panicked; answered 500");
            layout::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "memd hit a bug while rendering this page (logged)",
            )
        }
        Err(_) => layout::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "this page took longer than api.request_timeout_s",
        ),
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("page;dur={ms:.2}")) {
        r.headers_mut()
            .insert(header::HeaderName::from_static("server-timing"), v);
    }
    tracing::debug!(%path, status = r.status().as_u16(), ms, "inspector page");
    r
}
