//! The Unix-socket listener: who may connect, how many, and for how long.
//!
//! - The peer's uid is read with SO_PEERCRED at accept and checked *there*:
//!   a refused peer is answered 403 by a short-lived task and never holds a
//!   connection permit. Refusals are logged at most once a minute per uid,
//!   with a count of those not logged.
//! - `max_connections` permits bound the connections served at once, and
//!   each uid may hold at most `max_connections_per_uid` of them, so one
//!   allowed uid cannot starve another.
//! - A connection with no request in flight lives at most `idle_timeout`
//!   from the moment it became idle (accepted, or its last response sent):
//!   that bounds slow or absent request headers as well as idle keep-alive,
//!   since trickled bytes do not extend it. When every permit (or a uid's
//!   share) is taken, the connection idle the longest is closed to make
//!   room, so idle connections can never lock out a working client.
//! - The listening socket can be swapped for a new one (the daemon
//!   re-creates a socket file that was deleted) through [`Replace`].
//!
//! A request "in flight" is counted by the API middleware through the
//! [`Peer::conn`] handle, from the moment its headers were parsed until its
//! response body was fully written.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};

/// A new listening socket for the accept loop (sent by the socket watcher).
pub type Replace = mpsc::Receiver<UnixListener>;

/// How refusals are logged: once per uid per this long.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);
/// Refused connections answered at once; past this they are just closed.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refused peer gets to read its 403.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_uid: usize,
    pub idle_timeout: Duration,
    pub allowed_uids: Arc<Vec<u32>>,
}

pub struct UdsListener {
    inner: UnixListener,
    permits: Arc<Semaphore>,
    limits: Limits,
    live: Arc<Live>,
    replace: Option<Replace>,
    refusals: RefusalLog,
    refusing: Arc<Semaphore>,
}

impl UdsListener {
    pub fn new(inner: UnixListener, limits: Limits, replace: Option<Replace>) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            live: Arc::default(),
            replace,
            refusals: RefusalLog::default(),
            refusing: Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT)),
        }
    }

    /// The next stream from the current listening socket, taking a new
    /// socket when one is sent.
    async fn next_stream(&mut self) -> UnixStream {
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = match &mut self.replace {
                Some(replace) => tokio::select! {
                    r = self.inner.accept() => r,
                    new = replace.recv() => {
                        match new {
                            Some(listener) => self.inner = listener,
                            // The watcher is gone: keep the socket we have.
                            None => self.replace = None,
                        }
                        continue;
                    }
                },
                None => self.inner.accept().await,
            };
            match accepted {
                Ok((stream, _)) => return stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed; backing off {:?}", backoff);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Answers `stream` with an error and closes it, without holding a
    /// connection permit; under a flood of refusals the excess is just closed.
    fn refuse(&self, stream: UnixStream, status: &'static str, code: &str, message: &str) {
        let Ok(slot) = self.refusing.clone().try_acquire_owned() else {
            return;
        };
        let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::spawn(async move {
            let _slot = slot;
            let mut stream = stream;
            let _ = tokio::time::timeout(REFUSAL_DEADLINE, async {
                // Answer after the request head (an HTTP client may not
                // accept an answer to a request it has not sent yet).
                let mut head = Vec::with_capacity(1024);
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                })
                .await;
                stream.write_all(response.as_bytes()).await?;
                stream.shutdown().await?;
                // Read (and drop) what the client is still sending, so it
                // reads our answer rather than a reset mid-request.
                let mut sink = [0u8; 8192];
                let mut left = 1 << 20;
                while left > 0 {
                    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await?;
                    if n == 0 {
                        break;
                    }
                    left -= n.min(left);
                }
                io::Result::Ok(())
            })
            .await;
        });
    }
}

/// Who is on the other end, and the handle the middleware marks requests on.
#[derive(Debug, Clone)]
pub struct Peer {
    pub cred: PeerCred,
    pub conn: Arc<ConnState>,
}

#[derive(Debug, Clone, Copy)]
pub struct PeerCred {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<i32>,
}

/// One connection's state, shared by its stream and the requests on it.
#[derive(Debug)]
pub struct ConnState {
    uid: u32,
    /// Requests whose response has not been fully written yet.
    busy: AtomicUsize,
    /// When the connection last had no request in flight.
    idle_since: Mutex<Instant>,
    /// Set to close the connection at its next idle moment.
    evict: AtomicBool,
    /// The stream's reader, woken when `busy` or `evict` changes.
    waker: AtomicWaker,
}

impl ConnState {
    /// A fresh, idle connection of `uid` (the listener makes these; tests
    /// and the fuzz harness make their own).
    pub fn new(uid: u32) -> Self {
        Self {
            uid,
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            evict: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.clone())
    }

    fn idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request in flight on a connection (see [`ConnState::begin`]).
#[derive(Debug)]
pub struct BusyGuard(Arc<ConnState>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            self.0.waker.wake();
        }
    }
}

/// The connections alive now, for the per-uid cap and eviction.
#[derive(Default)]
struct Live {
    inner: Mutex<LiveInner>,
}

#[derive(Default)]
struct LiveInner {
    conns: Vec<Weak<ConnState>>,
    per_uid: HashMap<u32, usize>,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, LiveInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, uid: u32) -> usize {
        self.lock().per_uid.get(&uid).copied().unwrap_or(0)
    }

    fn add(&self, state: &Arc<ConnState>) {
        let mut live = self.lock();
        live.conns.retain(|w| w.strong_count() > 0);
        live.conns.push(Arc::downgrade(state));
        *live.per_uid.entry(state.uid).or_default() += 1;
    }

    fn release(&self, uid: u32) {
        let mut live = self.lock();
        if let Some(n) = live.per_uid.get_mut(&uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                live.per_uid.remove(&uid);
            }
        }
    }

    /// Closes the connection (of `uid`, or any) idle the longest; false when
    /// every candidate has a request in flight.
    fn evict_idlest(&self, uid: Option<u32>) -> bool {
        let live = self.lock();
        let victim = live
            .conns
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| uid.is_none_or(|u| c.uid == u))
            .filter(|c| c.idle() && !c.evict.load(Ordering::Acquire))
            .min_by_key(|c| c.idle_since());
        match victim {
            Some(c) => {
                c.evict.store(true, Ordering::Release);
                c.waker.wake();
                true
            }
            None => false,
        }
    }
}

/// A connection's permit and its place in the uid count, both given back
/// when the connection closes.
struct Slot {
    _permit: OwnedSemaphorePermit,
    live: Arc<Live>,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.release(self.uid);
    }
}

pub struct Conn {
    stream: UnixStream,
    state: Arc<ConnState>,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    _slot: Slot,
}

impl Listener for UdsListener {
    type Io = Conn;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let stream = self.next_stream().await;
            let cred = stream.peer_cred().ok();
            let cred = PeerCred {
                uid: cred.map(|c| c.uid()),
                gid: cred.map(|c| c.gid()),
                pid: cred.and_then(|c| c.pid()),
            };
            let Some(uid) = cred.uid.filter(|u| self.limits.allowed_uids.contains(u)) else {
                self.refusals
                    .note(cred, "its uid is not in daemon.allowed_uids");
                self.refuse(
                    stream,
                    "403 Forbidden",
                    "forbidden",
                    "this uid may not use memd; see daemon.allowed_uids",
                );
                continue;
            };
            if self.live.count(uid) >= self.limits.max_connections_per_uid
                && !self.live.evict_idlest(Some(uid))
            {
                self.refusals.note(
                    cred,
                    "it already holds api.max_connections_per_uid busy connections",
                );
                self.refuse(
                    stream,
                    "503 Service Unavailable",
                    "too_many_connections",
                    "this uid holds api.max_connections_per_uid connections with requests in flight; retry later",
                );
                continue;
            }
            // Make room by closing an idle connection rather than making a
            // working client wait behind it; wait only if all are busy.
            let permit = match self.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    self.live.evict_idlest(None);
                    self.permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("connection semaphore is never closed")
                }
            };
            let state = Arc::new(ConnState::new(uid));
            self.live.add(&state);
            let conn = Conn {
                stream,
                state: state.clone(),
                idle_timeout: self.limits.idle_timeout,
                idle: Box::pin(tokio::time::sleep(self.limits.idle_timeout)),
                _slot: Slot {
                    _permit: permit,
                    live: self.live.clone(),
                    uid,
                },
            };
            return (conn, Peer { cred, conn: state });
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer {
            cred: PeerCred {
                uid: None,
                gid: None,
                pid: None,
            },
            conn: Arc::new(ConnState::new(u32::MAX)),
        })
    }
}

impl Connected<IncomingStream<'_, UdsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UdsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Logs refused peers at most once per uid per [`REFUSAL_LOG_EVERY`].
#[derive(Default)]
struct RefusalLog {
    seen: HashMap<Option<u32>, (std::time::Instant, u64)>,
}

impl RefusalLog {
    fn note(&mut self, cred: PeerCred, why: &str) {
        let now = std::time::Instant::now();
        if self.seen.len() > 10_000 {
            self.seen
                .retain(|_, (at, _)| now.duration_since(*at) < REFUSAL_LOG_EVERY);
        }
        let entry = self.seen.entry(cred.uid).or_insert((now, u64::MAX));
        if entry.1 == u64::MAX || now.duration_since(entry.0) >= REFUSAL_LOG_EVERY {
            let suppressed = if entry.1 == u64::MAX { 0 } else { entry.1 };
            tracing::warn!(
                uid = ?cred.uid,
                pid = ?cred.pid,
                suppressed,
                "refused a connection: {why} (logged at most once a minute per uid; \
                 `suppressed` counts the refusals since the last line)"
            );
            *entry = (now, 0);
        } else {
            entry.1 += 1;
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Registered first, so a request ending after the checks below
        // still wakes this reader to re-arm its deadline.
        this.state.waker.register(cx.waker());
        let idle = this.state.idle();
        if idle && this.state.evict.load(Ordering::Acquire) {
            // End of stream: hyper closes the connection.
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => {}
            ready => return ready,
        }
        if idle {
            let deadline = this.state.idle_since() + this.idle_timeout;
            if this.idle.deadline() != deadline {
                this.idle.as_mut().reset(deadline);
            }
            if this.idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
        }
        Poll::Pending
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idlest_idle_connection_of_a_uid_is_evicted_and_busy_ones_never() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let live = Live::default();
            let old = Arc::new(ConnState::new(1));
            live.add(&old);
            tokio::time::advance(Duration::from_secs(1)).await;
            let newer = Arc::new(ConnState::new(1));
            live.add(&newer);
            let busy = Arc::new(ConnState::new(1));
            live.add(&busy);
            let _guard = busy.begin();
            let other_uid = Arc::new(ConnState::new(2));
            live.add(&other_uid);
            assert_eq!(live.count(1), 3);

            assert!(live.evict_idlest(Some(1)));
            assert!(old.evict.load(Ordering::Acquire));
            assert!(live.evict_idlest(Some(1)));
            assert!(newer.evict.load(Ordering::Acquire));
            // Only the busy one is left for uid 1.
            assert!(!live.evict_idlest(Some(1)));
            assert!(!busy.evict.load(Ordering::Acquire));
            assert!(!other_uid.evict.load(Ordering::Acquire));
            live.release(1);
            assert_eq!(live.count(1), 2);
        });
    }

    #[test]
    fn a_request_ending_restarts_the_idle_clock() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let c = Arc::new(ConnState::new(1));
            let t0 = c.idle_since();
            let g = c.begin();
            assert!(!c.idle());
            tokio::time::advance(Duration::from_secs(5)).await;
            drop(g);
            assert!(c.idle());
            assert_eq!(c.idle_since() - t0, Duration::from_secs(5));
        });
    }
}
