//! The daemon's event bus: what happened, for whoever wants to react.
//!
//! One `tokio::sync::broadcast` channel. Senders: the store (client writes),
//! the dream cycle, sources, concept edits, the reload path. Receivers: the
//! embedding queue (new text to embed) and the dream cycle's idle timer (a
//! quiet spell starts at the last client write). A receiver that falls
//! behind gets `Lagged` and treats it as "something happened" — every
//! subscriber here reacts to the fact of an event, never to a count, so
//! nothing is lost by lagging. The channel closes when the last [`Events`]
//! handle is dropped; receivers then see `Closed` and stop.
//!
//! A leaf module (it imports nothing from the crate) so any layer can
//! publish without a dependency cycle.

use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

/// How many events a slow subscriber may fall behind before it lags.
const CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum MemdEvent {
    /// A client stored exchanges (remember, import).
    ExchangesWritten { namespace: String, count: usize },
    /// A client deleted a session.
    SessionDeleted { session_id: String },
    /// Derived or source text was written (gists, eras, concepts, chunks).
    ItemsWritten { namespace: String },
    /// A client created or edited facts.
    FactsWritten { namespace: String },
    /// A source finished a sync.
    SourceSynced { source: String },
    /// A dream pass ended.
    DreamFinished { namespace: String, outcome: String },
    /// SIGHUP applied a new configuration.
    ConfigReloaded,
}

impl MemdEvent {
    /// Whether a client wrote memory (what ends a quiet spell).
    pub fn is_client_write(&self) -> bool {
        matches!(
            self,
            MemdEvent::ExchangesWritten { .. }
                | MemdEvent::SessionDeleted { .. }
                | MemdEvent::FactsWritten { .. }
        )
    }

    /// Whether new text may be waiting to be embedded.
    pub fn may_need_embedding(&self) -> bool {
        matches!(
            self,
            MemdEvent::ExchangesWritten { .. }
                | MemdEvent::ItemsWritten { .. }
                | MemdEvent::FactsWritten { .. }
                | MemdEvent::SourceSynced { .. }
        )
    }
}

/// A cheap, cloneable handle to publish on and subscribe to the bus.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<MemdEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Publishes `event`; having no subscriber is fine.
    pub fn publish(&self, event: MemdEvent) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<MemdEvent> {
        self.tx.subscribe()
    }
}

/// What a subscriber's next wait ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Quiet {
    /// No client write for the whole period.
    Idle,
    /// The bus closed: the daemon is stopping.
    Closed,
}

/// Tells when no client has written for a while: a tokio sleep that every
/// client write pushes back, so it is exact and runs on paused time in
/// tests. The spell starts when the timer is made (start-up counts as a
/// write).
pub struct IdleTimer {
    rx: broadcast::Receiver<MemdEvent>,
    last_write: Instant,
}

impl IdleTimer {
    pub fn new(events: &Events) -> Self {
        Self {
            rx: events.subscribe(),
            last_write: Instant::now(),
        }
    }

    /// When the last client write was seen.
    pub fn last_write(&self) -> Instant {
        self.last_write
    }

    /// Waits until `idle_after` has passed since the last client write.
    pub async fn quiet_for(&mut self, idle_after: Duration) -> Quiet {
        loop {
            let deadline = self.last_write + idle_after;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Quiet::Idle,
                ev = self.rx.recv() => match ev {
                    Ok(e) if e.is_client_write() => self.last_write = Instant::now(),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.last_write = Instant::now(),
                    Err(broadcast::error::RecvError::Closed) => return Quiet::Closed,
                },
            }
        }
    }

    /// Waits for the next client write (after a quiet spell that led
    /// nowhere, nothing new can happen until one arrives).
    pub async fn next_write(&mut self) -> Quiet {
        loop {
            match self.rx.recv().await {
                Ok(e) if e.is_client_write() => {
                    self.last_write = Instant::now();
                    return Quiet::Idle;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.last_write = Instant::now();
                    return Quiet::Idle;
                }
                Err(broadcast::error::RecvError::Closed) => return Quiet::Closed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write() -> MemdEvent {
        MemdEvent::ExchangesWritten {
            namespace: "default".into(),
            count: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_ends_idle_after_the_last_client_write() {
        let events = Events::new();
        let mut timer = IdleTimer::new(&events);
        let start = Instant::now();
        let publisher = {
            let events = events.clone();
            tokio::spawn(async move {
                // Writes at 10 s and 25 s; a dream write at 40 s does not count.
                tokio::time::sleep(Duration::from_secs(10)).await;
                events.publish(write());
                tokio::time::sleep(Duration::from_secs(15)).await;
                events.publish(write());
                tokio::time::sleep(Duration::from_secs(15)).await;
                events.publish(MemdEvent::ItemsWritten {
                    namespace: "default".into(),
                });
            })
        };
        assert_eq!(timer.quiet_for(Duration::from_secs(30)).await, Quiet::Idle);
        assert_eq!(Instant::now() - start, Duration::from_secs(55));
        publisher.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_idle_spell_the_next_write_starts_a_new_one() {
        let events = Events::new();
        let mut timer = IdleTimer::new(&events);
        assert_eq!(timer.quiet_for(Duration::from_secs(5)).await, Quiet::Idle);
        let e = events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(100)).await;
            e.publish(MemdEvent::SessionDeleted {
                session_id: "s".into(),
            });
        });
        let before = Instant::now();
        assert_eq!(timer.next_write().await, Quiet::Idle);
        assert_eq!(Instant::now() - before, Duration::from_secs(100));
        assert_eq!(timer.quiet_for(Duration::from_secs(5)).await, Quiet::Idle);
        assert_eq!(Instant::now() - before, Duration::from_secs(105));
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_stops_when_the_bus_closes() {
        let events = Events::new();
        let mut timer = IdleTimer::new(&events);
        drop(events);
        assert_eq!(timer.next_write().await, Quiet::Closed);
    }
}
