//! `memd mcp`: a Model Context Protocol server on stdin/stdout, built on the
//! official Rust SDK (`rmcp`), for the agent apps that launch one per
//! workspace (Claude Desktop, Cursor, VS Code, agent frameworks); or, with
//! `--http`, on Streamable HTTP at a loopback address behind a bearer
//! token ([`http`], [`token`]) for clients that connect to a URL.
//!
//! It holds no memory itself: every tool call and resource read becomes one
//! request to the running daemon over its socket ([`daemon`]). One server
//! serves one namespace (`--namespace`, else `default`), so an app cannot
//! read another's memory by naming it.
//!
//! [`server`] is the protocol handler, [`tools`] the tools and their input
//! schemas ([`facts`] those of the facts tier), [`resources`] the `memd://` resources, [`error`] how the
//! daemon's errors reach the model. Stdout carries the protocol alone: logs
//! go to stderr.

mod daemon;
mod error;
mod facts;
mod http;
mod resources;
mod server;
mod token;
mod tools;

use std::time::Duration;

use rmcp::ServiceExt;

use crate::cli::{CtlArgs, CtlCommand, McpArgs};
use crate::ctl::resolve_socket;
pub use daemon::Daemon;
pub use server::MemdMcp;
use token::Token;

/// Runs the server until the client closes stdin (stdio) or a signal
/// stops it (HTTP); the process exit code.
pub fn main(args: McpArgs) -> i32 {
    // Quiet by default: an app shows the server's stderr to its user.
    let level = std::env::var("MEMD_LOG").unwrap_or_else(|_| "warn".into());
    crate::logging::init(&level, crate::config::LogFormat::Text);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("memd mcp: cannot start runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(run(args));
    // A read pending on stdin cannot be cancelled; do not wait for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run(args: McpArgs) -> i32 {
    // Refusals come before anything is bound or connected.
    let http = match &args.http {
        Some(text) => {
            let addr = match http::parse_addr(text) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("memd mcp: {e}");
                    return 2;
                }
            };
            match Token::load(args.token_file.as_deref()) {
                Ok(t) => Some((addr, t)),
                Err(e) => {
                    eprintln!("memd mcp: {e}");
                    return 2;
                }
            }
        }
        None => None,
    };
    // The socket is found exactly as `memd ctl` finds it.
    let lookup = CtlArgs {
        socket: args.socket.clone(),
        config: args.config.clone(),
        json: false,
        command: CtlCommand::Status,
    };
    let socket = match resolve_socket(&lookup) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memd mcp: {e}");
            return 2;
        }
    };
    let daemon = Daemon::new(socket, Duration::from_secs(args.timeout_s.max(1)));
    let server = MemdMcp::new(daemon, args.namespace);
    match http {
        Some((addr, token)) => serve_http(server, addr, token).await,
        None => serve_stdio(server).await,
    }
}

async fn serve_stdio(server: MemdMcp) -> i32 {
    tracing::info!(namespace = %server.namespace(), "memd mcp serving on stdio");
    let running = match server.serve(rmcp::transport::stdio()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("memd mcp: the client's initialize failed: {e}");
            return 1;
        }
    };
    match running.waiting().await {
        Ok(reason) => {
            tracing::info!(?reason, "memd mcp: client gone");
            0
        }
        Err(e) => {
            eprintln!("memd mcp: {e}");
            1
        }
    }
}

/// Serves until SIGINT or SIGTERM; exit 0 after a clean stop.
async fn serve_http(server: MemdMcp, addr: std::net::SocketAddr, token: Token) -> i32 {
    let listener = match http::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("memd mcp: {e}");
            return 1;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    // One line a person (or a test, with port 0) reads to find the URL.
    eprintln!(
        "memd mcp: serving Streamable HTTP at http://{bound}{} (namespace {})",
        http::PATH,
        server.namespace()
    );
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memd mcp: cannot watch SIGTERM: {e}");
            return 1;
        }
    };
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("memd mcp: stopping");
    };
    match http::serve(listener, server, token, shutdown).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("memd mcp: {e}");
            1
        }
    }
}
