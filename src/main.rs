use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use memd::cli::{Cli, Command, SourcesCommand};
use memd::config::Config;
use memd::{ctl, daemon, logging, mcp};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Daemon { config } => run_daemon(config),
        Command::Ctl(args) => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("memd ctl: cannot start runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            ExitCode::from(rt.block_on(ctl::run(args)) as u8)
        }
        Command::Mcp(args) => ExitCode::from(mcp::main(args) as u8),
        Command::CheckConfig { config } => match Config::load(config.as_deref()) {
            Ok(loaded) => {
                println!("# configuration from {}", loaded.describe());
                println!("# data_dir = {}", loaded.config.data_dir().display());
                println!("# socket   = {}", loaded.config.socket_path().display());
                match toml::to_string_pretty(&loaded.config) {
                    Ok(s) => print!("{s}"),
                    Err(e) => eprintln!("cannot render configuration: {e}"),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("memd: {e}");
                ExitCode::from(1)
            }
        },
        Command::Restore { snapshot, config } => {
            let loaded = match Config::load(config.as_deref()) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("memd: {e}");
                    return ExitCode::from(1);
                }
            };
            match memd::restore::restore(&loaded.config, &snapshot) {
                Ok(r) => {
                    println!(
                        "restored {} ({} bytes) into {}",
                        r.restored_from.display(),
                        r.bytes,
                        r.db_path.display()
                    );
                    for m in &r.moved_aside {
                        println!("kept the previous file as {}", m.display());
                    }
                    if r.moved_aside.is_empty() {
                        println!("there was no previous database");
                    }
                    println!("start the daemon to use it (systemctl start memd, or memd daemon)");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("memd restore: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Sources(args) => {
            let loaded = match Config::load(args.config.as_deref()) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("memd: {e}");
                    return ExitCode::from(1);
                }
            };
            match args.command {
                SourcesCommand::TriggerSql { source, table } => {
                    let Some(src) = loaded
                        .config
                        .sources
                        .postgres
                        .iter()
                        .find(|p| p.name == source)
                    else {
                        eprintln!(
                            "memd: no [[sources.postgres]] named `{source}` in {}",
                            loaded.source
                        );
                        return ExitCode::from(1);
                    };
                    match memd::sources::postgres::trigger_sql(src, &table) {
                        Ok(sql) => {
                            print!("{sql}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("memd: {e}");
                            ExitCode::from(1)
                        }
                    }
                }
            }
        }
        Command::Bench { args } => {
            let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
            eprintln!(
                "memd: the benchmarks are a binary of their own now: memd-bench {}",
                args.join(" ")
            );
            ExitCode::from(2)
        }
    }
}

fn run_daemon(config: Option<std::path::PathBuf>) -> ExitCode {
    let loaded = match Config::load(config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("memd: {e}");
            return ExitCode::from(1);
        }
    };
    // Memory is private: every file the daemon creates (database, WAL,
    // snapshots, exports, the index layout) is 0600 and every directory
    // 0700, whatever umask the shell or unit had.
    // SAFETY: umask only sets the process's file-mode mask; no memory is involved.
    unsafe { libc::umask(0o077) };
    let log = logging::init(&loaded.config.log.level, loaded.config.log.format);
    logging::log_panics();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("memd-rt")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        let shutdown = CancellationToken::new();
        let reload = daemon::signals::spawn(shutdown.clone()).map_err(|e| {
            daemon::DaemonError::Internal(format!("cannot install signal handlers: {e}"))
        })?;
        daemon::run(
            loaded,
            daemon::Control {
                shutdown,
                reload,
                explicit_config: config,
                log: Some(log),
            },
        )
        .await
    });
    // Blocking tasks that outlive shutdown (a stuck client read) must not
    // hold the exit hostage.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}
