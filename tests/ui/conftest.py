"""Fixtures of the inspector's browser test: a real daemon with the
inspector on (hash embedder, temp data dir and socket, a free loopback
port), loaded with one LoCoMo conversation, a few facts and a hostile turn,
after a forced dream pass; and a headless Chromium (Debian's package, the
system browser) driven by Playwright.

scripts/test-ui.sh sets MEMD_BIN (the memd binary) and MEMD_LOCOMO (the
LoCoMo dev set; default ../shared/data/locomo/locomo-dev.json beside the
repository). MEMD_UI_SCREENSHOTS=DIR also saves a screenshot of each main
page there (how docs/ui-*.png are made).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
NS = "locomo"
HOSTILE_SESSION = "hostile-1"
# Each payload sets a marker if it ever runs.
HOSTILE = (
    "<script>window.__pwned = 'script'</script>"
    "<img src=x onerror=\"window.__pwned = 'img'\">"
    " see https://evil.example/steal and <a href=\"javascript:window.__pwned='a'\">this</a>"
)


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("memd", timeout=600)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(600)
        s.connect(self._path)
        self.sock = s


class Memd:
    """The daemon's API over its socket."""

    def __init__(self, sock: str) -> None:
        self.sock = sock

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        conn = _Unix(self.sock)
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            conn.request(method, path, body=data, headers={"content-type": "application/json"})
            resp = conn.getresponse()
            value = json.loads(resp.read() or b"null")
            assert resp.status < 300, f"{method} {path}: {resp.status} {value}"
            return value
        finally:
            conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _locomo() -> dict:
    path = Path(os.environ.get("MEMD_LOCOMO") or ROOT.parent / "shared/data/locomo/locomo-dev.json")
    if not path.is_file():
        raise SystemExit(f"LoCoMo dev set not found at {path} (set MEMD_LOCOMO)")
    return json.loads(path.read_text())[0]


def _ndjson(conv: dict) -> bytes:
    """One LoCoMo conversation as scripts/locomo_eval.py imports it."""
    c = conv["conversation"]
    lines = []
    keys = sorted((k for k in c if re.fullmatch(r"session_\d+", k)), key=lambda k: int(k[8:]))
    for k in keys:
        base = datetime.strptime(c[k + "_date_time"].strip(), "%I:%M %p on %d %B, %Y")
        for i, t in enumerate(c[k]):
            lines.append(json.dumps({
                "session_id": f'{conv["sample_id"]}-s{k[8:]}',
                "namespace": NS,
                "role": "user",
                "content": f'{t["speaker"]}: {t["text"]}',
                "ext_id": t["dia_id"],
                "created_at": (base + timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }))
    return ("\n".join(lines) + "\n").encode()


class Loaded:
    def __init__(self, memd: Memd, base: str, token: str, facts: dict, runs: int,
                 months: int) -> None:
        self.memd, self.base, self.token = memd, base, token
        self.facts, self.runs, self.months = facts, runs, months


@pytest.fixture(scope="session")
def loaded() -> Iterator[Loaded]:
    tmp = Path(tempfile.mkdtemp(prefix="memd-ui."))
    port, token = _free_port(), secrets.token_urlsafe(24)
    sock = tmp / "run/memd.sock"
    (tmp / "memd.toml").write_text(
        f'[daemon]\ndata_dir = "{tmp}/data"\nsocket = "{sock}"\n'
        '[embed]\nprovider = "hash"\n'
        f'[ui]\nlisten = "127.0.0.1:{port}"\ntoken_env = "MEMD_UI_TOKEN"\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env["MEMD_UI_TOKEN"] = token
    log = open(tmp / "daemon.log", "wb")
    proc = subprocess.Popen([os.environ["MEMD_BIN"], "daemon", "--config", str(tmp / "memd.toml")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        for _ in range(300):
            if sock.exists():
                break
            assert proc.poll() is None, (tmp / "daemon.log").read_text()
            time.sleep(0.1)
        memd = Memd(str(sock))
        out = memd.call("POST", "/v1/import", raw=_ndjson(_locomo()))
        assert out["imported"] > 100 and not out["rejected"], out
        memd.call("POST", f"/v1/sessions/{HOSTILE_SESSION}/exchanges",
                  {"namespace": NS, "role": "user", "content": HOSTILE})
        old = memd.call("POST", "/v1/facts", {"namespace": NS, "subject": "Caroline",
                                              "kind": "user_profile",
                                              "text": "Caroline lives in Boston."})["fact"]
        new = memd.call("POST", "/v1/facts", {"namespace": NS, "subject": "Caroline",
                                              "kind": "user_profile", "supersedes": old["id"],
                                              "text": "Caroline lives in Lisbon."})["fact"]
        cand = memd.call("POST", "/v1/facts", {"namespace": NS, "subject": "Melanie",
                                               "status": "candidate",
                                               "text": "Melanie paints sunrises."})["fact"]
        # A forced pass until caught up, then one more: the plot shows each.
        memd.call("POST", "/v1/dream", {"namespace": NS, "force": True, "wait": True,
                                        "until_caught_up": True})
        memd.call("POST", "/v1/dream", {"namespace": NS, "force": True, "wait": True})
        runs = len(memd.call("GET", f"/v1/dream/runs?namespace={NS}&limit=1000")["runs"])
        # The growth plot's months: every one from the first turn's to now's.
        first = min(json.loads(l)["created_at"][:7] for l in _ndjson(_locomo()).splitlines())
        (y0, m0), (y1, m1) = map(int, first.split("-")), time.gmtime()[:2]
        months = (y1 - y0) * 12 + (m1 - m0) + 1
        yield Loaded(memd, f"http://127.0.0.1:{port}", token,
                     {"old": old, "new": new, "candidate": cand}, runs, months)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0, (tmp / "daemon.log").read_text()[-4000:]
        finally:
            log.close()
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=os.environ.get("MEMD_CHROMIUM", "/usr/bin/chromium"),
                              headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
