//! systemd notifications (no-ops when not run by systemd).

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::Status("reloading configuration"),
    ]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog at half its period while the writer is alive: it
/// answers a barrier, or — during a long job such as an import-all, which
/// holds it — its heartbeat moved since the last tick. A wedged writer
/// stops the pings and systemd restarts the daemon.
pub fn spawn_watchdog(
    store: Store,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()?;
    let half = (period / 2).max(Duration::from_millis(100));
    tracing::info!(
        period_ms = period.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(half);
        let mut last_beat = store.writer_heartbeat();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let alive = match tokio::time::timeout(half, store.barrier()).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "writer unavailable; not pinging the watchdog");
                    false
                }
                Err(_) => {
                    let beat = store.writer_heartbeat();
                    let progressing = beat != last_beat;
                    if !progressing {
                        tracing::error!(
                            "writer made no progress for half a watchdog period; not pinging the watchdog"
                        );
                    }
                    progressing
                }
            };
            last_beat = store.writer_heartbeat();
            if alive {
                send(&[NotifyState::Watchdog]);
            }
        }
    }))
}
