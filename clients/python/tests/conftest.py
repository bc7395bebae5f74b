"""Test fixture: the real ``memd`` binary on a temp data dir and socket.

Each test module gets its own daemon (hash embedder, the dream cycle's
schedule off, one SQLite source ``shop``); a test that needs an empty store
or a daemon to stop gets one of its own (``fresh_daemon``). The binary is ``$MEMD_BIN``, else
``target/debug/memd`` of the repository this client lives in.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]


def memd_bin() -> Path:
    path = Path(os.environ.get("MEMD_BIN") or REPO / "target" / "debug" / "memd")
    if not path.exists():
        pytest.fail(f"{path} not found: build it with `cargo build --bin memd` (or set MEMD_BIN)")
    return path


def make_shop(path: Path, rows: int = 5) -> None:
    """A small SQLite database for the ``shop`` source."""
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT)"
    )
    c.executemany(
        "INSERT INTO products (id, name, description) VALUES (?, ?, ?)",
        [
            (i, f"product {i}", f"catalogue entry {i}: a sturdy wombat lamp")
            for i in range(1, rows + 1)
        ],
    )
    c.commit()
    c.close()


class Daemon:
    """One ``memd daemon`` process and its files."""

    def __init__(self, with_source: bool = True) -> None:
        # Unix socket paths are limited to ~108 bytes: stay short, under /tmp.
        self.dir = Path(tempfile.mkdtemp(prefix="memd-py", dir="/tmp"))
        self.socket = self.dir / "run" / "memd.sock"
        self.data_dir = self.dir / "data"
        self.shop = self.dir / "shop.db"
        make_shop(self.shop)
        self.config = self.dir / "memd.toml"
        self.log = self.dir / "daemon.log"
        self.config.write_text(
            f'[daemon]\ndata_dir = "{self.data_dir}"\nsocket = "{self.socket}"\n'
            '[embed]\nprovider = "hash"\n'
            "[dream]\nenabled = false\n"
            "[checkpoint]\non_shutdown = false\n" + (self._source_config() if with_source else "")
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def _source_config(self) -> str:
        return (
            "[sources]\ndebounce_ms = 100\n"
            f'[[sources.sqlite]]\nname = "shop"\npath = "{self.shop}"\nwatch = false\n'
            'allowed_tables = ["products"]\n'
            '[sources.sqlite.tables.products]\ntext_columns = ["name", "description"]\n'
        )

    def start(self) -> Daemon:
        """Starts the daemon and waits for it; on failure, stops it and
        removes its files before reporting."""
        try:
            return self._start()
        except BaseException:
            self.cleanup()
            raise

    def _start(self) -> Daemon:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(memd_bin()), "daemon", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        self.wait_ready()
        return self

    def wait_ready(self, limit: float = 30.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + limit
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://memd", timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"memd exited with {self.proc.returncode}; log:\n{self.log_text()}")
                try:
                    if http.get("/v1/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        pytest.fail(f"memd did not answer /v1/health within {limit} s; log:\n{self.log_text()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    """A running daemon shared by the tests of one module."""
    d = Daemon().start()
    yield d
    d.cleanup()


@pytest.fixture
def fresh_daemon() -> Iterator[Daemon]:
    """A daemon of one test's own, without sources: an empty store (or one to stop)."""
    d = Daemon(with_source=False).start()
    yield d
    d.cleanup()
