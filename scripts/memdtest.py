"""Shared helpers of scripts/faults.py and scripts/load.py (standard library only).

A daemon on its own temp dir (hash embedder, periodic checkpoints and dream
triggers off), an HTTP/1.1 client over the Unix socket, and a record of
acknowledged writes that can be checked against the daemon afterwards.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over AF_UNIX: only connect() differs."""

    def __init__(self, path, timeout=30.0):
        super().__init__("memd", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


class Client:
    """One keep-alive connection; reconnects after any transport error.

    `call` returns (status, body) where body is parsed JSON when possible, or
    raises OSError / http.client.HTTPException on a transport failure (the
    request's outcome is then unknown: never counted as acknowledged)."""

    def __init__(self, sock_path, timeout=30.0):
        self.sock_path = sock_path
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method, path, body=None, raw=False, timeout=None):
        if self.conn is None:
            self.conn = UnixHTTPConnection(self.sock_path, timeout or self.timeout)
        elif timeout is not None:
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
        headers = {"Host": "memd"}
        if body is not None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
            status = resp.status
            if resp.will_close:
                self.close()
        except BaseException:
            self.close()
            raise
        if raw:
            return status, data
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data.decode("utf-8", "replace")


def once(sock_path, method, path, body=None, timeout=30.0, raw=False):
    """One request on a fresh connection."""
    c = Client(sock_path, timeout)
    try:
        return c.call(method, path, body, raw=raw)
    finally:
        c.close()


def err_code(body):
    """The API error code of a JSON error body, else a short text."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return str(body)[:80]


def err_message(body):
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("message", "")
    return str(body)[:200]


def q(s):
    return urllib.parse.quote(s, safe="")


class DaemonError(Exception):
    pass


class Daemon:
    """`memd daemon --config FILE` on a temp dir. `data_dir` may point
    elsewhere (a tmpfs); the socket and the log stay under `root`."""

    def __init__(self, binary, name="memd", data_dir=None, extra_toml="", log_level="info"):
        self.binary = os.path.abspath(binary)
        self.root = tempfile.mkdtemp(prefix=f"memd-{name}.", dir="/tmp")
        self.data_dir = data_dir or os.path.join(self.root, "data")
        self.socket = os.path.join(self.root, "run", "memd.sock")
        self.config = os.path.join(self.root, "memd.toml")
        self.log = os.path.join(self.root, "daemon.log")
        self.proc = None
        self.write_config(extra_toml, log_level)

    def write_config(self, extra_toml="", log_level="info"):
        # `extra_toml` may add keys to these sections: pass it as
        # {"section": "key = value\n..."} or as plain text appended at the end.
        sections = {
            "daemon": f'data_dir = "{self.data_dir}"\nsocket = "{self.socket}"\n',
            "log": f'level = "{log_level}"\n',
            "embed": 'provider = "hash"\n',
            "checkpoint": "interval_s = 0\n",
            "dream": "enabled = false\n",
        }
        tail = ""
        if isinstance(extra_toml, dict):
            for k, v in extra_toml.items():
                sections[k] = sections.get(k, "") + v
        else:
            tail = extra_toml
        text = "".join(f"[{k}]\n{v}\n" for k, v in sections.items()) + tail
        with open(self.config, "w") as f:
            f.write(text)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def spawn(self):
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "MEMD_CONFIG", "MEMD_SOCKET"):
            env.pop(k, None)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "daemon", "--config", self.config],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=logf,
            env=env,
        )
        logf.close()

    def start(self, timeout=60.0):
        """Spawns and waits until /v1/health answers; raises DaemonError
        (with the log's tail) if the daemon exits or never answers."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                raise DaemonError(f"daemon exited with {rc} before it was ready; log tail:\n{self.log_tail()}")
            try:
                st, _ = once(self.socket, "GET", "/v1/health", timeout=2.0)
                if st == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise DaemonError(f"daemon not ready after {timeout:.0f} s; log tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.proc = None
        return rc

    def cleanup(self):
        """Stops the daemon and removes its temp dir (kept when
        MEMD_KEEP_TMP is set, for reading its log)."""
        self.stop()
        if os.environ.get("MEMD_KEEP_TMP"):
            print(f"   (kept {self.root})", flush=True)
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def kill9(self):
        if self.proc is None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset):
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=15):
        return "\n".join(self.log_text().splitlines()[-n:])

    def rss_kib(self):
        return rss_kib(self.pid)

    def client(self, timeout=30.0):
        return Client(self.socket, timeout)

    def call(self, method, path, body=None, timeout=30.0, raw=False):
        return once(self.socket, method, path, body, timeout, raw)

    def ctl(self, *args, timeout=30):
        return subprocess.run(
            [self.binary, "ctl", "--socket", self.socket, *args],
            capture_output=True, text=True, timeout=timeout,
        )


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return None


def fmt_kib(k):
    return "?" if k is None else f"{k / 1024:.1f} MiB"


class Acks:
    """Acknowledged writes: session -> set of ext_ids, and deleted sessions."""

    def __init__(self):
        self.by_session = {}
        self.deleted = set()

    def add(self, sid, ext_id):
        self.by_session.setdefault(sid, set()).add(ext_id)

    def add_many(self, pairs):
        for sid, ext in pairs:
            self.add(sid, ext)

    def count(self):
        return sum(len(v) for sid, v in self.by_session.items() if sid not in self.deleted)

    def merge(self, other):
        for sid, exts in other.by_session.items():
            self.by_session.setdefault(sid, set()).update(exts)
        self.deleted |= other.deleted

    def verify(self, sock_path, timeout=60.0):
        """Checks every acknowledged write of a session not deleted is
        present, and every deleted session is gone. Returns a dict with
        checked, missing (list of (sid, ext_id)), duplicates (ext_ids seen
        twice in one session), resurrected (deleted sessions still there),
        errors (sessions that could not be read)."""
        c = Client(sock_path, timeout)
        out = {"checked": 0, "missing": [], "duplicates": [], "resurrected": [], "errors": []}
        try:
            for sid, exts in sorted(self.by_session.items()):
                if sid in self.deleted:
                    st, _ = c.call("GET", f"/v1/sessions/{q(sid)}?limit=1")
                    if st != 404:
                        out["resurrected"].append(sid)
                    continue
                seen, dup, err = session_ext_ids(c, sid)
                if err:
                    out["errors"].append((sid, err))
                out["duplicates"].extend((sid, e) for e in dup)
                out["checked"] += len(exts)
                out["missing"].extend((sid, e) for e in sorted(exts - seen))
            for sid in sorted(self.deleted - set(self.by_session)):
                st, _ = c.call("GET", f"/v1/sessions/{q(sid)}?limit=1")
                if st != 404:
                    out["resurrected"].append(sid)
        finally:
            c.close()
        return out


def session_ext_ids(client, sid, page=20000):
    """All ext_ids of a session, paging by exchange id. Returns (set,
    duplicates, error-or-None); a missing session is an empty set."""
    seen, dup = set(), []
    after = 0
    while True:
        st, body = client.call("GET", f"/v1/sessions/{q(sid)}?after={after}&limit={page}")
        if st == 404:
            return seen, dup, None
        if st != 200:
            return seen, dup, f"{st} {err_code(body)}"
        xs = body.get("exchanges", [])
        for x in xs:
            e = x.get("ext_id")
            if e in seen:
                dup.append(e)
            seen.add(e)
        if len(xs) < page:
            return seen, dup, None
        after = xs[-1]["id"]


def describe_verify(v):
    s = f"{v['checked']} acknowledged checked, {len(v['missing'])} missing"
    if v["duplicates"]:
        s += f", {len(v['duplicates'])} duplicated"
    if v["resurrected"]:
        s += f", {len(v['resurrected'])} deleted sessions still present"
    if v["errors"]:
        s += f", {len(v['errors'])} sessions unreadable ({v['errors'][0][1]})"
    if v["missing"]:
        s += f" (e.g. {v['missing'][:3]})"
    return s


def verify_ok(v):
    return not (v["missing"] or v["duplicates"] or v["resurrected"] or v["errors"])


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[i]
