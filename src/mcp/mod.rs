//! `memd mcp`: a Model Context Protocol server on stdin/stdout, built on the
//! official Rust SDK (`rmcp`), for the agent apps that launch one per
//! workspace (Claude Desktop, Cursor, VS Code, agent frameworks).
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
mod resources;
mod server;
mod tools;

use std::time::Duration;

use rmcp::ServiceExt;

use crate::cli::{CtlArgs, CtlCommand, McpArgs};
use crate::ctl::resolve_socket;
pub use daemon::Daemon;
pub use server::MemdMcp;

/// Runs the server until the client closes stdin; the process exit code.
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
