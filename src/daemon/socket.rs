//! Binding the control socket safely.
//!
//! The parent directory is created 0700 (a directory we did not create must
//! not be writable by others); a socket file nobody answers on is stale and
//! replaced; one that answers belongs to a running daemon, and we refuse.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "another memd is already listening on {0}; stop it first (memd ctl status shows its pid)"
    )]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("socket directory {0} is writable by other users; fix its permissions (chmod 0700)")]
    UnsafeDir(PathBuf),
    #[error(
        "socket directory {dir} belongs to uid {owner}, not to this daemon's uid {me}; \
         its owner could replace the socket. Use a directory you own (daemon.socket)"
    )]
    ForeignDir { dir: PathBuf, owner: u32, me: u32 },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SocketError + '_ {
    move |source| SocketError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Binds `path` with permissions `mode`; must run inside a tokio runtime.
pub fn bind(path: &Path, mode: u32) -> Result<tokio::net::UnixListener, SocketError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir))?;
        }
        let meta = fs::metadata(dir).map_err(io_err(dir))?;
        let me = crate::fsperm::euid();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(SocketError::ForeignDir {
                dir: dir.to_owned(),
                owner: meta.uid(),
                me,
            });
        }
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o022 != 0 && !sticky {
            return Err(SocketError::UnsafeDir(dir.to_owned()));
        }
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.to_owned())),
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        || e.kind() == io::ErrorKind::NotFound =>
                {
                    tracing::info!(socket = %path.display(), "removing stale socket");
                    fs::remove_file(path).map_err(io_err(path))?;
                }
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        Ok(_) => return Err(SocketError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io_err(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))?;
    Ok(listener)
}

/// How often the socket file is checked for having been deleted or replaced.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Watches the socket file we bound: when it is deleted (a tmp cleaner, a
/// careless `rm`), binds a new one at the same path and hands it to the
/// accept loop, so clients can reach the daemon again; when the path now
/// holds something else, says so loudly. `ino` tracks the socket we own
/// (shutdown removes the path only while it is still ours).
pub fn spawn_watch(
    path: PathBuf,
    mode: u32,
    ino: std::sync::Arc<std::sync::atomic::AtomicU64>,
    replace: tokio::sync::mpsc::Sender<tokio::net::UnixListener>,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        let mut reported: Option<String> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(WATCH_EVERY) => {}
            }
            let ours = ino.load(Ordering::Acquire);
            let problem = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.ino() == ours => None,
                Err(e) if e.kind() == io::ErrorKind::NotFound => match bind(&path, mode) {
                    Ok(listener) => {
                        let new_ino = fs::metadata(&path).map(|m| m.ino()).unwrap_or(0);
                        if replace.send(listener).await.is_err() {
                            return;
                        }
                        ino.store(new_ino, Ordering::Release);
                        tracing::warn!(
                            socket = %path.display(),
                            "the control socket was deleted; re-created it (clients can connect again)"
                        );
                        None
                    }
                    Err(e) => Some(format!(
                        "the control socket was deleted and cannot be re-created: {e}; \
                         memd is UNREACHABLE until it is restarted"
                    )),
                },
                Ok(_) => Some(
                    "the control socket path now holds another file or socket; \
                     memd is UNREACHABLE through it (another daemon may have taken it over)"
                        .to_owned(),
                ),
                Err(e) => Some(format!("cannot check the control socket: {e}")),
            };
            match problem {
                Some(p) if reported.as_ref() != Some(&p) => {
                    tracing::error!(socket = %path.display(), "{p}");
                    reported = Some(p);
                }
                Some(_) => {}
                None => reported = None,
            }
        }
    })
}
