//! `memd ctl`: a thin HTTP/1.1 client of the API over the Unix socket.
//!
//! [`client`] holds the connection, [`commands`] one function per command
//! (the typed request of [`crate::wire`] it sends), [`render`] the
//! human output of each answer; `--json` prints the daemon's answer as is.
//!
//! Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage (clap),
//! 3 the daemon is not reachable.

mod client;
mod commands;
mod facts;
mod interactions;
mod quarantine;
mod render;
mod ui;

pub use client::{ClientError, Connection, check_server_uid, resolve_socket};

use crate::cli::{CtlArgs, CtlCommand, DreamList};
use crate::recall::Mode;
use crate::wire::{ContextIn, DreamIn, ExchangeIn, PatchIn, RecallIn, SyncIn};
use commands::{ConceptOp, Tier};

pub const EXIT_OK: i32 = 0;
pub const EXIT_DAEMON_ERROR: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 3;

pub async fn run(args: CtlArgs) -> i32 {
    let socket = match resolve_socket(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memd ctl: {e}");
            return EXIT_USAGE;
        }
    };
    let mut conn = match Connection::open(&socket).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("memd ctl: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    match dispatch(&mut conn, &args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("memd ctl: {e}");
            match e {
                CtlError::Client(ClientError::Unreachable { .. }) => EXIT_UNREACHABLE,
                CtlError::Client(ClientError::Protocol { .. }) => EXIT_UNREACHABLE,
                CtlError::Client(ClientError::Untrusted { .. }) => EXIT_UNREACHABLE,
                CtlError::Usage(_) => EXIT_USAGE,
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CtlError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
}

/// The command line as a request: runs the command and prints its answer.
async fn dispatch(conn: &mut Connection, args: &CtlArgs) -> Result<i32, CtlError> {
    let json = args.json;
    let conn = &mut *conn;
    match &args.command {
        CtlCommand::Status => commands::status(conn, json).await,
        CtlCommand::Remember {
            session,
            namespace,
            role,
            ext_id,
            at,
            text,
        } => {
            let exchange = ExchangeIn {
                role: role.clone(),
                content: text.join(" "),
                created_at: at.clone(),
                ext_id: ext_id.clone(),
                namespace: namespace.clone(),
                ..ExchangeIn::default()
            };
            commands::remember(conn, json, session, &exchange).await
        }
        CtlCommand::Import { file } => commands::import(conn, file, json).await,
        CtlCommand::Export { file } => commands::export(conn, file, json).await,
        CtlCommand::ImportAll { file } => commands::import_all(conn, file, json).await,
        CtlCommand::Checkpoint => commands::checkpoint(conn, json).await,
        CtlCommand::Checkpoints => commands::checkpoints(conn, json).await,
        CtlCommand::Reembed { all } => commands::reembed(conn, json, *all).await,
        CtlCommand::Recall {
            k,
            namespace,
            session,
            explain,
            mode,
            budget,
            query,
        } => {
            let mode = mode
                .as_deref()
                .map(|m| {
                    serde_json::from_value::<Mode>(m.into())
                        .map_err(|e| CtlError::Usage(format!("--mode {m}: {e}")))
                })
                .transpose()?;
            let req = RecallIn {
                query: query.join(" "),
                k: *k,
                namespace: namespace.clone(),
                session_id: session.clone(),
                budget_chars: *budget,
                explain: *explain,
                mode,
                ..RecallIn::default()
            };
            commands::recall(conn, json, &req).await
        }
        CtlCommand::Context {
            namespace,
            session,
            budget,
            query,
        } => {
            let req = ContextIn {
                query: query.join(" "),
                namespace: namespace.clone(),
                session_id: session.clone(),
                budget_chars: *budget,
                ..ContextIn::default()
            };
            commands::context(conn, json, &req).await
        }
        CtlCommand::Sessions { namespace, limit } => {
            commands::sessions(conn, json, namespace.as_deref(), *limit).await
        }
        CtlCommand::History { session } => commands::history(conn, json, session).await,
        CtlCommand::ForgetSession { session } => {
            commands::forget_session(conn, json, session).await
        }
        CtlCommand::Dream {
            list: Some(DreamList::Runs { namespace, limit }),
            ..
        } => commands::dream_runs(conn, json, namespace.as_deref(), *limit).await,
        CtlCommand::Dream {
            list: None,
            namespace,
            force,
            drive,
            dry_run,
            until_caught_up,
            wait,
        } => {
            let req = DreamIn {
                namespace: namespace.clone(),
                force: *force,
                drive: drive.clone(),
                dry_run: *dry_run,
                until_caught_up: *until_caught_up,
                wait: *wait,
            };
            commands::dream(conn, json, &req).await
        }
        CtlCommand::Gist { session } => commands::gist(conn, json, session).await,
        CtlCommand::Eras { namespace } => {
            commands::tier(conn, json, Tier::Eras, namespace.as_deref()).await
        }
        CtlCommand::Profile { namespace } => {
            commands::tier(conn, json, Tier::Profile, namespace.as_deref()).await
        }
        CtlCommand::Narrative { namespace } => {
            commands::tier(conn, json, Tier::Narrative, namespace.as_deref()).await
        }
        CtlCommand::SelfState { namespace } => {
            commands::tier(conn, json, Tier::SelfState, namespace.as_deref()).await
        }
        CtlCommand::Sources => commands::sources(conn, json).await,
        CtlCommand::Sync {
            source,
            table,
            full,
        } => {
            let req = SyncIn {
                table: table.clone(),
                full: *full,
            };
            commands::sync(conn, json, source, &req).await
        }
        CtlCommand::Concept {
            name,
            namespace,
            strength,
            text,
            clear_text,
            remove,
            restore,
        } => {
            let op = if *remove {
                ConceptOp::Remove
            } else if strength.is_some() || text.is_some() || *clear_text || *restore {
                ConceptOp::Edit(PatchIn {
                    strength: *strength,
                    // --clear-text sends null; clap keeps it apart from --text.
                    text: if *clear_text {
                        Some(None)
                    } else {
                        text.clone().map(Some)
                    },
                    restore: *restore,
                })
            } else {
                ConceptOp::Show
            };
            commands::concept(conn, json, name, namespace.as_deref(), &op).await
        }
        CtlCommand::Facts { command } => facts::run(conn, json, command).await,
        CtlCommand::Quarantine { command } => quarantine::run(conn, json, command).await,
        CtlCommand::Why { id, limit } => interactions::why(conn, json, id, *limit).await,
        CtlCommand::Interactions { command } => interactions::run(conn, json, command).await,
        CtlCommand::Ui => ui::url(args),
    }
}
