//! `memd mcp --http`: the same server over Streamable HTTP, for clients
//! that connect to a URL instead of launching a process. rmcp's tower
//! service speaks the transport (sessions, SSE, its own `Host` check
//! against DNS rebinding); axum, already serving the daemon's API, runs it
//! behind a bearer-token check.
//!
//! The project's rule for TCP: loopback only, and only with a token. An
//! address that is not loopback is refused before anything is bound, and
//! every request, whatever its path, must carry `Authorization: Bearer
//! <token>` or is answered 401 without reaching the MCP service.

use std::future::{Future, IntoFuture};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;

use super::server::MemdMcp;
use super::token::Token;

/// Where the MCP endpoint is served (the path clients conventionally use).
pub const PATH: &str = "/mcp";

/// How long open streams get to close once shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("--http {0}: not an address; give IP:PORT, e.g. 127.0.0.1:8765")]
    BadAddress(String),
    #[error(
        "--http {0}: memd serves MCP over TCP on loopback only (127.0.0.1 or [::1]); \
         anyone who can reach another address could try the token"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving {addr}: {source}")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Reads `--http`'s value: an IP and port, `localhost:PORT` meaning
/// 127.0.0.1; anything but a loopback address is refused.
pub fn parse_addr(text: &str) -> Result<SocketAddr, HttpError> {
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
            .map_err(|_| HttpError::BadAddress(text.into()))?,
        None => text
            .parse::<SocketAddr>()
            .map_err(|_| HttpError::BadAddress(text.into()))?,
    };
    if !addr.ip().is_loopback() {
        return Err(HttpError::NotLoopback(addr));
    }
    Ok(addr)
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// Serves until `shutdown` resolves, then gives open streams [`DRAIN`] to
/// close. Every MCP session gets a clone of `server` (one daemon
/// connection shared by all).
pub async fn serve(
    listener: TcpListener,
    server: MemdMcp,
    token: Token,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HttpError> {
    let addr = listener.local_addr().map_err(|source| HttpError::Bind {
        addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        source,
    })?;
    // rmcp's Host check (against DNS rebinding) knows the usual loopback
    // names; the address bound may be another of 127/8.
    let ip = addr.ip().to_string();
    let config = StreamableHttpServerConfig::default().with_allowed_hosts([
        "localhost",
        "127.0.0.1",
        "::1",
        ip.as_str(),
    ]);
    // Cancelling it ends every session's stream, so the drain can finish.
    let cancel = config.cancellation_token.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = Router::new()
        .route_service(PATH, mcp)
        .layer(middleware::from_fn_with_state(Arc::new(token), bearer));

    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .into_future();
    tokio::pin!(serving);
    tokio::select! {
        done = &mut serving => return done.map_err(|source| HttpError::Serve { addr, source }),
        () = shutdown => {}
    }
    cancel.cancel();
    match tokio::time::timeout(DRAIN, serving).await {
        Ok(done) => done.map_err(|source| HttpError::Serve { addr, source }),
        Err(_) => {
            tracing::warn!(
                "memd mcp: connections still open {} s after shutdown; closing them",
                DRAIN.as_secs()
            );
            Ok(())
        }
    }
}

/// The gate in front of every route: no valid bearer token, no MCP.
async fn bearer(State(token): State<Arc<Token>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if token.admits(presented) {
        return next.run(request).await;
    }
    tracing::debug!(
        path = %request.uri().path(),
        with_header = presented.is_some(),
        "refused a request without the bearer token"
    );
    let body = json!({"error": {
        "code": "unauthorized",
        "message": "memd mcp needs `Authorization: Bearer <token>` with the token it was started with",
    }});
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"memd\"")],
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        assert_eq!(
            parse_addr("127.0.0.1:8765").unwrap(),
            "127.0.0.1:8765".parse().unwrap()
        );
        assert_eq!(parse_addr("[::1]:0").unwrap(), "[::1]:0".parse().unwrap());
        assert_eq!(
            parse_addr("localhost:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        for outside in [
            "0.0.0.0:8765",
            "[::]:8765",
            "192.168.1.4:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(
                matches!(parse_addr(outside), Err(HttpError::NotLoopback(_))),
                "{outside}"
            );
        }
        for bad in ["8765", "localhost", "example.com:80", "localhost:x"] {
            assert!(
                matches!(parse_addr(bad), Err(HttpError::BadAddress(_))),
                "{bad}"
            );
        }
    }
}
