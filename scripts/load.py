#!/usr/bin/env python3
"""Load driver for memd over its Unix socket (see scripts/load.sh).

Starts a daemon on a temp dir (hash embedder), then for each client count
runs that many clients for a bounded time, mixing single writes, recalls,
small NDJSON imports and session deletes. Every acknowledged write (2xx) and
every acknowledged delete is recorded; after each round every acknowledged
write of a session not deleted must be present, and every deleted session
gone. Prints per-operation counts, errors, p50/p99 latency and the daemon's
RSS (start, end of each round, after an idle wait). With --idle-conns N it
holds N idle connections for the whole run and probes /v1/health.
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import sys
import threading
import time
from collections import Counter

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memdtest import (  # noqa: E402
    Acks, Client, Daemon, describe_verify, err_code, fmt_kib, once, percentile, rss_kib, verify_ok,
)

TRANSPORT = (OSError, http.client.HTTPException)
OPS = ("write", "recall", "import", "delete")


def vocab(seed=7, n=3000):
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def client_loop(sock, cid, prefix, deadline, weights, timeout, seed):
    """One client until `deadline` (time.time()). Returns its stats and acks."""
    rng = random.Random(seed)
    words = vocab()
    c = Client(sock, timeout)
    lat = {op: [] for op in OPS}
    count = Counter()
    errors = Counter()          # (op, status/code) -> n
    acks = {}                   # sid -> [ext_id]
    deleted, uncertain = [], []
    seq = 0
    active = f"{prefix}-c{cid}-s0"
    n_sessions, left_in_session = 1, rng.randint(8, 24)
    retired = []                # sessions no longer written, candidates for delete

    def text(n):
        return " ".join(rng.choice(words) for _ in range(n))

    def rotate():
        nonlocal active, n_sessions, left_in_session
        retired.append(active)
        active = f"{prefix}-c{cid}-s{n_sessions}"
        n_sessions += 1
        left_in_session = rng.randint(8, 24)

    def timed(op, method, path, body):
        t = time.perf_counter()
        try:
            st, resp = c.call(method, path, body)
        except TRANSPORT as e:
            st, resp = None, type(e).__name__
        dt = time.perf_counter() - t
        count[op] += 1
        if st is not None and 200 <= st < 300:
            lat[op].append(dt)
        else:
            errors[(op, f"{st} {err_code(resp)}" if st is not None else f"transport {resp}")] += 1
        return st, resp

    ops, w = zip(*weights.items())
    while time.time() < deadline:
        op = rng.choices(ops, w)[0]
        if op == "delete" and not retired:
            op = "write"
        if op == "write":
            seq += 1
            ext = f"{prefix}-c{cid}-{seq}"
            st, _ = timed("write", "POST", f"/v1/sessions/{active}/exchanges",
                          {"role": rng.choice(("user", "assistant")), "content": text(rng.randint(8, 60)),
                           "ext_id": ext})
            if st is not None and 200 <= st < 300:
                acks.setdefault(active, []).append(ext)
            left_in_session -= 1
            if left_in_session <= 0:
                rotate()
        elif op == "recall":
            timed("recall", "POST", "/v1/recall", {"query": text(rng.randint(2, 8)), "k": 10})
        elif op == "import":
            lines = []
            for _ in range(20):
                seq += 1
                lines.append((active, f"{prefix}-c{cid}-{seq}"))
            body = "".join(json.dumps({"session_id": s, "role": "user", "content": text(rng.randint(8, 40)),
                                       "ext_id": e}) + "\n" for s, e in lines).encode()
            st, resp = timed("import", "POST", "/v1/import", body)
            if st is not None and 200 <= st < 300:
                rejected = {r["line"] for r in resp.get("rejected", [])}
                for i, (s, e) in enumerate(lines, start=1):
                    if i not in rejected:
                        acks.setdefault(s, []).append(e)
            left_in_session -= 5
            if left_in_session <= 0:
                rotate()
        else:
            sid = retired.pop(rng.randrange(len(retired)))
            st, _ = timed("delete", "DELETE", f"/v1/sessions/{sid}", None)
            if st is not None and 200 <= st < 300:
                deleted.append(sid)
            elif st == 404 and sid not in acks:
                pass            # nothing was ever acknowledged there
            else:
                uncertain.append(sid)
    c.close()
    return {"lat": lat, "count": count, "errors": errors, "acks": acks,
            "deleted": deleted, "uncertain": uncertain}


def worker(args):
    """One process running several client threads."""
    sock, cids, prefix, deadline, weights, timeout, seed = args
    out = [None] * len(cids)

    def run(i, cid):
        out[i] = client_loop(sock, cid, prefix, deadline, weights, timeout, seed * 1000 + cid)

    ths = [threading.Thread(target=run, args=(i, cid)) for i, cid in enumerate(cids)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return out


class Prober:
    """GET /v1/health on a fresh connection every `every` s while running."""

    def __init__(self, sock, every=0.5, timeout=5.0):
        self.sock, self.every, self.timeout = sock, every, timeout
        self.lat, self.fail = [], Counter()
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                st, _ = once(self.sock, "GET", "/v1/health", timeout=self.timeout)
                if st == 200:
                    self.lat.append(time.perf_counter() - t)
                else:
                    self.fail[str(st)] += 1
            except TRANSPORT as e:
                self.fail[type(e).__name__] += 1
            self.stop.wait(max(0.0, self.every - (time.perf_counter() - t)))


def ms(x):
    return f"{x * 1000:.1f}"


def check(d, acks, label, problems, defer_ok=False):
    """Verifies a round's acknowledged writes and deletes; returns False if
    the daemon could not be reached (and defer_ok: check again later)."""
    t = time.monotonic()
    try:
        v = acks.verify(d.socket, timeout=30)
    except TRANSPORT as e:
        if defer_ok:
            print(f"  verify: daemon unreachable ({type(e).__name__}); checked again after the idle connections close")
            return False
        problems.append(f"{label}: data check impossible, daemon unreachable ({e!r})")
        print(f"  verify: daemon unreachable ({e!r})")
        return True
    print(f"  verify ({time.monotonic() - t:.1f} s): {describe_verify(v)}; "
          f"{len(acks.deleted) - len(v['resurrected'])}/{len(acks.deleted)} deleted sessions gone", flush=True)
    if not verify_ok(v):
        problems.append(f"{label}: data check failed ({describe_verify(v)})")
    return True


def run_round(d, n_clients, seconds, procs, weights, timeout, idle_conns, round_no, deferred):
    prefix = f"r{round_no}"
    procs = max(1, min(procs, n_clients))
    groups = [list(range(p, n_clients, procs)) for p in range(procs)]
    rss0 = d.rss_kib()
    prober = Prober(d.socket) if idle_conns else None
    if prober:
        prober.t.start()
    deadline = time.time() + seconds
    t0 = time.monotonic()
    ctx = mp.get_context("fork")
    with ctx.Pool(procs) as pool:
        results = pool.map(worker, [(d.socket, g, prefix, deadline, weights, timeout, round_no * 7919 + i)
                                    for i, g in enumerate(groups)])
    elapsed = time.monotonic() - t0
    if prober:
        prober.stop.set()
        prober.t.join(10)
    rss1 = d.rss_kib()
    flat = [r for group in results for r in group]
    lat = {op: sorted(x for r in flat for x in r["lat"][op]) for op in OPS}
    count = sum((r["count"] for r in flat), Counter())
    errors = sum((r["errors"] for r in flat), Counter())
    acks = Acks()
    uncertain = set()
    for r in flat:
        for sid, exts in r["acks"].items():
            for e in exts:
                acks.add(sid, e)
        acks.deleted.update(r["deleted"])
        uncertain.update(r["uncertain"])
    for sid in uncertain:       # a delete of unknown outcome: check neither way
        acks.by_session.pop(sid, None)
    total = sum(count.values())
    print(f"--- {n_clients} clients, {seconds:.0f} s ({procs} processes)"
          + (f", {idle_conns} idle connections held" if idle_conns else ""), flush=True)
    print(f"  {'op':8} {'count':>8} {'ok':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for op in OPS:
        n_err = sum(v for (o, _), v in errors.items() if o == op)
        ls = lat[op]
        print(f"  {op:8} {count[op]:>8} {len(ls):>8} {n_err:>7} "
              f"{ms(percentile(ls, 50)) if ls else '-':>8} {ms(percentile(ls, 99)) if ls else '-':>8} "
              f"{ms(ls[-1]) if ls else '-':>8}")
    if prober:
        hl = sorted(prober.lat)
        print(f"  {'health':8} {len(hl) + sum(prober.fail.values()):>8} {len(hl):>8} {sum(prober.fail.values()):>7} "
              f"{ms(percentile(hl, 50)) if hl else '-':>8} {ms(percentile(hl, 99)) if hl else '-':>8} "
              f"{ms(hl[-1]) if hl else '-':>8}   (probe on a fresh connection every 0.5 s, 5 s timeout)")
        if prober.fail:
            print(f"  health failures: {dict(prober.fail)}")
    n_acked = sum(len(v) for v in acks.by_session.values())
    print(f"  throughput {total / elapsed:.0f} req/s; acknowledged: {n_acked} exchange writes, {acks.count()} of them in "
          f"{len(acks.by_session) - len(acks.deleted & set(acks.by_session))} live sessions, "
          f"{len(acks.deleted)} sessions deleted" + (f", {len(uncertain)} deletes of unknown outcome" if uncertain else ""))
    if errors:
        top = ", ".join(f"{o} {k}: {v}" for (o, k), v in errors.most_common(6))
        print(f"  errors: {top}")
    print(f"  daemon RSS: round start {fmt_kib(rss0)}, round end {fmt_kib(rss1)}", flush=True)
    problems = []
    if not check(d, acks, f"{n_clients} clients", problems, defer_ok=True):
        deferred.append((f"{n_clients} clients", acks))
    n500 = sum(v_ for (o, k), v_ in errors.items() if k.startswith("500"))
    if n500:
        problems.append(f"{n_clients} clients: {n500} answers 500")
    if prober and prober.fail:
        problems.append(f"{n_clients} clients: {sum(prober.fail.values())} health probes failed with {idle_conns} idle connections")
    if total == 0 or sum(len(x) for x in lat.values()) == 0:
        problems.append(f"{n_clients} clients: no request succeeded")
    return problems


def open_idle(sock, n):
    socks, failed = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(sock)
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    return socks, failed


def main():
    ap = argparse.ArgumentParser(description="memd load driver over the Unix socket")
    ap.add_argument("binary")
    ap.add_argument("seconds", nargs="?", type=float, default=60.0, help="per round (default 60)")
    ap.add_argument("clients", nargs="*", type=int, help="client counts, one round each (default 16 64)")
    ap.add_argument("--idle-conns", type=int, default=0, help="hold this many idle connections for the whole run")
    ap.add_argument("--procs", type=int, default=4, help="client processes (threads are spread over them)")
    ap.add_argument("--idle-wait", type=float, default=30.0, help="seconds idle before the last RSS reading")
    ap.add_argument("--timeout", type=float, default=15.0, help="client request timeout, s")
    ap.add_argument("--mix", default="write=55,recall=30,import=12,delete=3",
                    help="operation weights (default write=55,recall=30,import=12,delete=3)")
    a = ap.parse_args()
    clients = a.clients or [16, 64]
    weights = {}
    for part in a.mix.split(","):
        k, _, v = part.partition("=")
        if k not in OPS:
            ap.error(f"--mix: unknown operation {k}")
        weights[k] = float(v)
    seconds = min(a.seconds, 3600.0)

    d = Daemon(a.binary, "load", log_level="warn")
    problems = []
    idle = []
    deferred = []
    try:
        d.start()
        ver = d.call("GET", "/v1/status")[1].get("version", "?")
        print(f"memd {ver} pid {d.pid} at {d.root}; {seconds:.0f} s per round, clients {clients}, "
              f"mix {weights}" + (f", {a.idle_conns} idle connections" if a.idle_conns else ""), flush=True)
        print(f"daemon RSS at start: {fmt_kib(d.rss_kib())}", flush=True)
        if a.idle_conns:
            idle, failed = open_idle(d.socket, a.idle_conns)
            print(f"opened {len(idle)} idle connections" + (f" ({failed} connects failed)" if failed else ""), flush=True)
        for i, n in enumerate(clients):
            problems += run_round(d, n, seconds, a.procs, weights, a.timeout, a.idle_conns, i, deferred)
        if idle:
            closed = 0
            for s in idle:
                s.setblocking(False)
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
                s.close()
            print(f"idle connections closed by the server during the run: {closed}/{len(idle)}")
            idle = []
        for label, acks in deferred:
            print(f"--- deferred check of the {label} round:")
            check(d, acks, label, problems)
        rss_end = d.rss_kib()
        time.sleep(a.idle_wait)
        hwm = None
        try:
            with open(f"/proc/{d.pid}/status") as f:
                hwm = next((int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")), None)
        except OSError:
            pass
        print(f"daemon RSS: end {fmt_kib(rss_end)}, after {a.idle_wait:.0f} s idle {fmt_kib(d.rss_kib())}, "
              f"peak {fmt_kib(hwm)}", flush=True)
        if not d.alive():
            problems.append("daemon died")
    finally:
        for s in idle:
            s.close()
        rc = d.stop(60)
        d.cleanup()
    print(f"daemon exit code on SIGTERM: {rc}")
    if rc != 0:
        problems.append(f"daemon exit code {rc}")
    if problems:
        print("VERDICT load: FAIL - " + "; ".join(problems))
        return 1
    print("VERDICT load: PASS - every acknowledged write present, deleted sessions gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
