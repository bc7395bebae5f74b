//! Bounded retries with linear backoff for sync steps.
//!
//! A step is tried once and retried up to `max_retries` times; before the
//! n-th retry it waits n × `delay`. Every retry is counted (the source's
//! `retries` stat) through the callback. Cancellation ends the wait early.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_retries: u32,
    pub delay: Duration,
}

impl Policy {
    pub fn new(max_retries: u32, delay_s: f64) -> Self {
        Self {
            max_retries,
            delay: Duration::from_secs_f64(delay_s.max(0.0)),
        }
    }

    /// The wait before retry number `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        self.delay * n
    }
}

/// Runs `op` until it succeeds or the retries are spent; returns the last
/// error. `on_retry(n, &err)` runs before each retry.
pub async fn retry<T, E, F, Fut>(
    policy: Policy,
    cancel: &CancellationToken,
    mut on_retry: impl FnMut(u32, &E),
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= policy.max_retries || cancel.is_cancelled() => return Err(e),
            Err(e) => {
                attempt += 1;
                on_retry(attempt, &e);
                tokio::select! {
                    _ = tokio::time::sleep(policy.backoff(attempt)) => {}
                    _ = cancel.cancelled() => return Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn retries_with_linear_backoff_then_gives_up() {
        let calls = AtomicU32::new(0);
        let mut waits = Vec::new();
        let started = tokio::time::Instant::now();
        let policy = Policy::new(3, 0.5);
        let r: Result<(), &str> = retry(
            policy,
            &CancellationToken::new(),
            |n, _| waits.push(n),
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("down") }
            },
        )
        .await;
        assert_eq!(r, Err("down"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(waits, vec![1, 2, 3]);
        // 0.5 + 1.0 + 1.5 seconds of (virtual) backoff.
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_a_failure() {
        let calls = AtomicU32::new(0);
        let r: Result<u32, &str> = retry(
            Policy::new(3, 0.5),
            &CancellationToken::new(),
            |_, _| {},
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err("blip") } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(r, Ok(1));
    }
}
