//! A daemon the benchmark starts itself, on a data dir under a work
//! directory, through the spawn logic it shares with the tests.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::spawn;

/// The `memd` binary the benchmarks start: `$MEMD_BIN`, else the `memd`
/// beside this executable (`cargo build --release` builds both).
pub fn memd_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("MEMD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().context("locating memd-bench")?;
    let bin = me.with_file_name("memd");
    anyhow::ensure!(
        bin.is_file(),
        "no memd binary beside {} (build both with `cargo build --release`, or set MEMD_BIN)",
        me.display()
    );
    Ok(bin)
}

/// A running `memd daemon`, stopped (SIGTERM) when dropped.
pub struct Daemon {
    child: Child,
    bin: PathBuf,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    /// How long start-up (opening the database, rebuilding the index) may take.
    ready_limit: Duration,
}

impl Daemon {
    /// Writes `root/memd.toml` (the data dir and socket under `root`, then
    /// `extra`) and starts a daemon on it, its stderr in `root/daemon.log`.
    pub fn start(root: &Path, extra: &str, ready_limit: Duration) -> anyhow::Result<Self> {
        let socket = root.join("memd.sock");
        let data_dir = root.join("data");
        let config = root.join("memd.toml");
        let log = root.join("daemon.log");
        std::fs::write(&config, spawn::config_text(&data_dir, &socket, extra))
            .with_context(|| format!("writing {}", config.display()))?;
        let bin = memd_bin()?;
        let child = spawn::spawn(&bin, &config, &log, &[])
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut d = Self {
            child,
            bin,
            socket,
            data_dir,
            config,
            log,
            ready_limit,
        };
        d.wait_ready()?;
        Ok(d)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        spawn::wait_ready(&mut self.child, &self.socket, self.ready_limit)
            .with_context(|| format!("see {}", self.log.display()))
    }

    pub fn pid(&self) -> u64 {
        u64::from(self.child.id())
    }

    /// SIGTERM and wait: the daemon must exit cleanly.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let st = spawn::terminate(&mut self.child, Duration::from_secs(120))?
            .with_context(|| format!("the daemon ignored SIGTERM; see {}", self.log.display()))?;
        anyhow::ensure!(
            st.success(),
            "the daemon exited with {st} on SIGTERM; see {}",
            self.log.display()
        );
        Ok(())
    }

    /// Stops the daemon and starts it again on the same config; returns the
    /// seconds from the new start until it was ready.
    pub fn restart(&mut self) -> anyhow::Result<f64> {
        self.stop()?;
        let t = Instant::now();
        self.child = spawn::spawn(&self.bin, &self.config, &self.log, &[])?;
        self.wait_ready()?;
        Ok(t.elapsed().as_secs_f64())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !matches!(
            spawn::terminate(&mut self.child, Duration::from_secs(10)),
            Ok(Some(_))
        ) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
