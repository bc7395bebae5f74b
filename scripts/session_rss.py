#!/usr/bin/env python3
"""Peak memory of the daemon while clients read one large session at once.

    scripts/session_rss.py [--bin target/release/memd] [--mb 105] [--readers 6]

Starts the daemon on a temporary data dir (hashing embedder), imports one
session of about MB megabytes of text, then has READERS clients fetch
`GET /v1/sessions/{id}` at the same time, and prints the daemon's peak RSS
(VmHWM) before and after the reads, the bytes each reader got, and whether
every answer parsed as JSON with every exchange in it. Standard library
only; traffic only to the daemon's Unix socket.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=600):
        super().__init__("memd", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def call(sock, method, path, body=None):
    c = UnixHTTPConnection(sock)
    c.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def rss(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/memd")
    ap.add_argument("--mb", type=int, default=105)
    ap.add_argument("--readers", type=int, default=6)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="memd-rss-")
    sock = os.path.join(tmp, "run", "memd.sock")
    cfg = os.path.join(tmp, "memd.toml")
    with open(cfg, "w") as f:
        f.write(
            f'[daemon]\ndata_dir = "{tmp}/data"\nsocket = "{sock}"\n'
            '[embed]\nprovider = "hash"\n[checkpoint]\ninterval_s = 0\non_shutdown = false\n'
            '[dream]\nenabled = false\n[api]\nrequest_timeout_s = 600\n'
        )
    log = open(os.path.join(tmp, "daemon.log"), "w")
    d = subprocess.Popen([a.bin, "daemon", "--config", cfg], stderr=log, stdout=log)
    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        turn = "x" * 1900
        per_request = 4000
        total = a.mb * 1024 * 1024 // 2000
        sent = 0
        while sent < total:
            n = min(per_request, total - sent)
            body = "".join(
                json.dumps({"session_id": "big", "role": "user",
                            "content": f"turn {sent + i} {turn}", "ext_id": f"t{sent + i}"}) + "\n"
                for i in range(n)
            )
            st, _ = call(sock, "POST", "/v1/import", body.encode())
            assert st == 200, st
            sent += n
        time.sleep(1)
        before = rss(d.pid, "VmHWM")
        results = []

        def reader():
            st, data = call(sock, "GET", "/v1/sessions/big")
            ok = st == 200
            try:
                v = json.loads(data)
                ok = ok and len(v["exchanges"]) == min(total, 100_000)
            except ValueError:
                ok = False
            results.append((len(data), ok))

        t0 = time.time()
        ts = [threading.Thread(target=reader) for _ in range(a.readers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.time() - t0
        after = rss(d.pid, "VmHWM")
        print(f"binary: {a.bin}")
        print(f"session: {total} exchanges, ~{a.mb} MB of text")
        print(f"peak RSS before reads: {before} MB")
        print(f"peak RSS after {a.readers} parallel reads: {after} MB (+{after - before} MB)")
        print(f"reads took {took:.1f} s; bytes per answer: {results[0][0]}; all complete: {all(ok for _, ok in results)}")
    finally:
        d.terminate()
        d.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
