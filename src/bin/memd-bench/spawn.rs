//! Starting a `memd daemon` on a config file and waiting for its socket.
//!
//! The one copy of this logic: `memd-bench` uses it through `daemon.rs`,
//! and the integration tests include this same file from `tests/common`
//! (`#[path = "../../src/bin/memd-bench/spawn.rs"] mod spawn;`), so it
//! depends on nothing but std and libc and reports errors instead of
//! panicking; each side words its own failures.

use std::fmt;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A config file's text: `[daemon]` with the data dir and socket, then
/// `extra`. Lines of `extra` written as `daemon.key = v` go into the
/// `[daemon]` section (TOML allows a table only once).
pub fn config_text(data_dir: &Path, socket: &Path, extra: &str) -> String {
    let mut daemon = String::new();
    let mut rest = String::new();
    for line in extra.lines() {
        if let Some(kv) = line.strip_prefix("daemon.") {
            daemon.push_str(kv);
            daemon.push('\n');
        } else {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    format!(
        "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n{daemon}\n{rest}\n",
        data_dir.display(),
        socket.display(),
    )
}

/// Runs `bin daemon --config config` in the background: stdin and stdout
/// closed, stderr appended to `log`, systemd's notification variables
/// removed (the daemon would talk to our service manager), `env` added.
pub fn spawn(bin: &Path, config: &Path, log: &Path, env: &[(String, String)]) -> io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Command::new(bin)
        .arg("daemon")
        .arg("--config")
        .arg(config)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
}

/// Why a daemon never accepted a connection.
#[derive(Debug)]
pub enum NotReady {
    /// It exited during start-up (its log says why).
    Exited(ExitStatus),
    TimedOut(Duration),
    Io(io::Error),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(st) => write!(f, "the daemon exited during start-up ({st})"),
            Self::TimedOut(limit) => write!(f, "the daemon was not ready within {limit:?}"),
            Self::Io(e) => write!(f, "cannot watch the daemon: {e}"),
        }
    }
}

impl std::error::Error for NotReady {}

/// Waits until `socket` accepts a connection, as long as `child` runs and
/// for at most `limit`.
pub fn wait_ready(child: &mut Child, socket: &Path, limit: Duration) -> Result<(), NotReady> {
    let deadline = Instant::now() + limit;
    loop {
        if UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        if let Some(st) = child.try_wait().map_err(NotReady::Io)? {
            return Err(NotReady::Exited(st));
        }
        if Instant::now() >= deadline {
            return Err(NotReady::TimedOut(limit));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to the child.
pub fn signal(child: &Child, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) on our own child's pid.
    if unsafe { libc::kill(child.id() as i32, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits up to `limit` for the child to exit; `None` if it still runs.
pub fn wait_exit(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM (the daemon's orderly shutdown), then [`wait_exit`]. A child
/// that already exited is only reaped.
pub fn terminate(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    if let Some(st) = child.try_wait()? {
        return Ok(Some(st));
    }
    signal(child, libc::SIGTERM)?;
    wait_exit(child, limit)
}
