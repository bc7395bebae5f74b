//! Unix signals → lifecycle events: SIGTERM/SIGINT cancel the shutdown
//! token (a second one exits at once), SIGHUP asks for a reload.

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Spawns the signal task; returns the receiver of reload requests.
pub fn spawn(shutdown: CancellationToken) -> std::io::Result<mpsc::Receiver<()>> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    // Sender: this task. Receiver: the daemon loop. Capacity 1 with
    // try_send: reload requests that pile up collapse into one.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while let Some(sig) = signals.next().await {
            match sig {
                SIGHUP => {
                    tracing::info!("SIGHUP: reloading configuration");
                    let _ = tx.try_send(());
                }
                _ => {
                    if shutdown.is_cancelled() {
                        tracing::warn!(signal = sig, "second stop signal: exiting now");
                        std::process::exit(1);
                    }
                    tracing::info!(signal = sig, "stop signal received");
                    shutdown.cancel();
                }
            }
        }
    });
    Ok(rx)
}
