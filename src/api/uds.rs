//! The Unix-socket listener: connection limit and peer credentials.
//!
//! Each accepted stream carries a semaphore permit (released when the
//! connection closes) and the peer's uid/gid/pid, read with SO_PEERCRED at
//! accept time. The uid check itself happens per request in the middleware,
//! so a refused peer gets a 403 it can read rather than a silent hang-up.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct UdsListener {
    inner: UnixListener,
    permits: Arc<Semaphore>,
}

impl UdsListener {
    pub fn new(inner: UnixListener, max_connections: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PeerCred {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<i32>,
}

pub struct Conn {
    stream: UnixStream,
    _permit: OwnedSemaphorePermit,
}

impl Listener for UdsListener {
    type Io = Conn;
    type Addr = PeerCred;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Take the permit before accepting, so excess clients wait in the
        // kernel's backlog instead of consuming memory here.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("connection semaphore is never closed");
        let mut backoff = std::time::Duration::from_millis(5);
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) => {
                    let cred = stream.peer_cred().ok();
                    let peer = PeerCred {
                        uid: cred.map(|c| c.uid()),
                        gid: cred.map(|c| c.gid()),
                        pid: cred.and_then(|c| c.pid()),
                    };
                    return (
                        Conn {
                            stream,
                            _permit: permit,
                        },
                        peer,
                    );
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed; backing off {:?}", backoff);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(PeerCred {
            uid: None,
            gid: None,
            pid: None,
        })
    }
}

impl Connected<IncomingStream<'_, UdsListener>> for PeerCred {
    fn connect_info(stream: IncomingStream<'_, UdsListener>) -> Self {
        *stream.remote_addr()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
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
