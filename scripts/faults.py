#!/usr/bin/env python3
"""Fault scenarios against a real memd (see scripts/faults.sh).

Each scenario starts its own daemon on its own temp dir (hash embedder),
does the fault, prints what happened, checks that every acknowledged write
(a 2xx answer) is still there, and ends with one line
`VERDICT <scenario>: PASS|FAIL|SKIP - <why>`. Exit status 1 if any FAILed.
"""

import http.client
import os
import random
import select
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memdtest import (  # noqa: E402
    Acks, Client, Daemon, DaemonError, describe_verify, err_code, err_message,
    once, session_ext_ids, verify_ok,
)

TRANSPORT = (OSError, http.client.HTTPException)


def say(*a):
    print("  ", *a, flush=True)


class Words:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.vocab = ["".join(self.rng.choice(letters) for _ in range(self.rng.randint(3, 9)))
                      for _ in range(4000)]

    def text(self, nbytes):
        out, n = [], 0
        while n < nbytes:
            w = self.rng.choice(self.vocab)
            out.append(w)
            n += len(w) + 1
        return " ".join(out)


def write_one(c, sid, ext, content, timeout=30.0):
    """POST one exchange; returns (status, body) or ('transport', error)."""
    try:
        return c.call("POST", f"/v1/sessions/{sid}/exchanges",
                      {"role": "user", "content": content, "ext_id": ext}, timeout=timeout)
    except TRANSPORT as e:
        return "transport", repr(e)


def ok(st):
    return isinstance(st, int) and 200 <= st < 300


def show(st, body):
    if ok(st):
        return str(st)
    if st == "transport":
        return f"transport error {body}"
    return f"{st} {err_code(body)}: {err_message(body)[:160]}"


def mount_tmpfs(path, size):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0, (r.stderr or r.stdout).strip()


def umount(path):
    r = subprocess.run(["umount", path], capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True, text=True)


def integrity(path):
    """PRAGMA integrity_check of a database file (read-only open)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
        return ", ".join(r[0] for r in rows[:3])
    except sqlite3.Error as e:
        return f"error: {e}"


def partials(d):
    try:
        return sorted(n for n in os.listdir(d) if n.startswith(".") and n.endswith(".partial"))
    except FileNotFoundError:
        return []


def import_body(lines):
    return ("\n".join(lines) + "\n").encode()


def ndjson_line(sid, ext, content):
    import json
    return json.dumps({"session_id": sid, "role": "user", "content": content, "ext_id": ext})


def bulk_import(c, acks, lines_meta, timeout=300.0):
    """POST /v1/import; on 200 every line not rejected is acknowledged.
    lines_meta: list of (sid, ext, line). Returns (status, body)."""
    body = import_body([m[2] for m in lines_meta])
    try:
        st, resp = c.call("POST", "/v1/import", body, timeout=timeout)
    except TRANSPORT as e:
        return "transport", repr(e)
    if ok(st):
        rejected = {r["line"] for r in resp.get("rejected", [])}
        for i, (sid, ext, _) in enumerate(lines_meta, start=1):
            if i not in rejected:
                acks.add(sid, ext)
    return st, resp


# --------------------------------------------------------------------------
# Scenarios. Each returns (verdict, summary); verdict is PASS, FAIL or SKIP.
# --------------------------------------------------------------------------

def sc_disk_full(binary):
    """Disk full on an 8 MiB tmpfs: first failing write and a checkpoint
    should be 507 disk_full (never 500); after freeing space writes recover
    and nothing acknowledged is lost."""
    mnt = tempfile.mkdtemp(prefix="memd-faults-full.", dir="/tmp")
    mounted, why = mount_tmpfs(mnt, "8m")
    if not mounted:
        os.rmdir(mnt)
        return "SKIP", f"cannot mount a tmpfs here ({why})"
    d = Daemon(binary, "diskfull", data_dir=os.path.join(mnt, "data"))
    problems = []
    try:
        d.start()
        c = d.client()
        acks = Acks()
        w = Words(1)
        for i in range(10):
            st, body = write_one(c, "df-0", f"df-pre-{i}", w.text(2000))
            if ok(st):
                acks.add("df-0", f"df-pre-{i}")
        sv = os.statvfs(mnt)
        free = sv.f_bavail * sv.f_frsize
        leave = 1536 * 1024
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            left = max(0, free - leave)
            chunk = b"\0" * (1 << 20)
            while left > 0:
                n = min(left, len(chunk))
                try:
                    f.write(chunk[:n])
                    f.flush()
                except OSError:
                    break
                left -= n
        sv = os.statvfs(mnt)
        say(f"tmpfs 8 MiB at {mnt}; filler {os.path.getsize(filler) >> 10} KiB; "
            f"free now {sv.f_bavail * sv.f_frsize >> 10} KiB")

        failures = []           # (index, status, code, message)
        ok_after_first_fail = 0
        i = 0
        t0 = time.monotonic()
        while i < 4000 and len(failures) < 8 and time.monotonic() - t0 < 120:
            sid, ext = f"df-{i % 4}", f"df-{i}"
            st, body = write_one(c, sid, ext, w.text(16 * 1024))
            if ok(st):
                acks.add(sid, ext)
                if failures:
                    ok_after_first_fail += 1
            else:
                failures.append((i, st, err_code(body) if st != "transport" else "transport",
                                 err_message(body) if st != "transport" else body))
            i += 1
        if not failures:
            problems.append("the disk never filled")
            say(f"{i} writes, none failed: the disk never filled")
        else:
            f0 = failures[0]
            say(f"{f0[0]} writes acknowledged before the first failure")
            say(f"first failing write: {f0[1]} {f0[2]}: {f0[3][:200]}")
            seq = ", ".join(f"{s} {cde}" for _, s, cde, _ in failures)
            say(f"failing writes in order ({len(failures)}): {seq}; "
                f"{ok_after_first_fail} writes succeeded in between")
            if (f0[1], f0[2]) != (507, "disk_full"):
                problems.append(f"first failing write answered {f0[1]} {f0[2]} (want 507 disk_full)")
            n500 = sum(1 for f in failures if f[1] == 500)
            if n500:
                problems.append(f"{n500} writes answered 500")

        # A bulk write on the full disk: one /v1/import chunk (1,000 lines of
        # ~3 KiB) is a transaction larger than SQLite's page cache, so the
        # disk-full error comes mid-statement (a cache spill), not at COMMIT.
        meta = []
        for k in range(1000):
            sid, ext = f"df-bulk-{k // 250}", f"df-bulk-{k}"
            meta.append((sid, ext, ndjson_line(sid, ext, w.text(3000))))
        st, body = bulk_import(c, acks, meta)
        say(f"bulk import (1,000 lines, 3 MiB) while full: {show(st, body)[:240]}")
        if st == 500 or st == "transport":
            problems.append(f"bulk import while full answered {st} {err_code(body)} (want 507 disk_full)")
        elif not ok(st) and (st, err_code(body)) != (507, "disk_full"):
            problems.append(f"bulk import while full answered {st} {err_code(body)} (want 507 disk_full)")
        st, body = write_one(c, "df-0", "df-small-after-bulk", "a small write after the bulk one")
        if ok(st):
            acks.add("df-0", "df-small-after-bulk")
        say(f"a small write right after it: {show(st, body)[:200]}")
        if st == 500 or st == "transport":
            problems.append(f"small write after the bulk import answered {st} {err_code(body)}")

        # Reads while full.
        try:
            st_h, _ = c.call("GET", "/v1/health", timeout=10)
            st_s, _ = c.call("GET", "/v1/sessions/df-0?limit=5", timeout=10)
            st_r, _ = c.call("POST", "/v1/recall", {"query": w.text(40), "k": 3}, timeout=30)
            say(f"reads while full: health {st_h}, session {st_s}, recall {st_r}")
            if not (st_h == st_s == st_r == 200):
                problems.append(f"reads while full: health {st_h}, session {st_s}, recall {st_r}")
        except TRANSPORT as e:
            problems.append(f"reads while full failed: {e!r}")
            say(f"reads while full failed: {e!r}")

        try:
            st, body = c.call("POST", "/v1/checkpoint", timeout=120)
        except TRANSPORT as e:
            st, body = "transport", repr(e)
        say(f"checkpoint while full: {show(st, body)}")
        if st == 500 or st == "transport":
            problems.append(f"checkpoint while full answered {st} {err_code(body)} (want 507 disk_full)")
        elif not ok(st) and (st, err_code(body)) != (507, "disk_full"):
            problems.append(f"checkpoint while full answered {st} {err_code(body)} (want 507 disk_full)")
        left_partials = partials(os.path.join(d.data_dir, "snapshots"))
        if left_partials:
            say(f"snapshot dir holds {left_partials} after the failed checkpoint")

        os.remove(filler)
        sv = os.statvfs(mnt)
        say(f"filler deleted; free {sv.f_bavail * sv.f_frsize >> 10} KiB")
        rec = []
        for j in range(20):
            sid, ext = "df-after", f"df-after-{j}"
            st, body = write_one(c, sid, ext, w.text(2000))
            rec.append((st, body))
            if ok(st):
                acks.add(sid, ext)
        n_ok = sum(1 for st, _ in rec if ok(st))
        say(f"writes after freeing space: {n_ok}/20 acknowledged"
            + ("" if n_ok == 20 else f"; first failure: {show(*next(r for r in rec if not ok(r[0])))}"))
        if n_ok != 20:
            problems.append(f"only {n_ok}/20 writes recovered after freeing space")
        try:
            st, body = c.call("POST", "/v1/checkpoint", timeout=120)
        except TRANSPORT as e:
            st, body = "transport", repr(e)
        say(f"checkpoint after freeing space: {show(st, body)}")
        if not ok(st):
            problems.append(f"checkpoint after freeing space answered {st} {err_code(body)}")
        c.close()

        v = acks.verify(d.socket)
        say(f"live check: {describe_verify(v)}")
        if not verify_ok(v):
            problems.append("acknowledged writes missing (live)")
        rc = d.stop()
        say(f"SIGTERM: exit code {rc}")
        if rc != 0:
            problems.append(f"daemon exit code {rc} on SIGTERM")
        d.start()
        v = acks.verify(d.socket)
        say(f"after restart: {describe_verify(v)}")
        if not verify_ok(v):
            problems.append("acknowledged writes missing after restart")
        errs = [ln for ln in d.log_text().splitlines() if " ERROR " in ln or "\"ERROR\"" in ln]
        if errs:
            say(f"{len(errs)} ERROR log lines, first: {errs[0][:240]}")
    finally:
        d.cleanup()
        umount(mnt)
        try:
            os.rmdir(mnt)
        except OSError:
            pass
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", "507 disk_full, writes recovered, nothing acknowledged lost"


def sc_read_only(binary):
    """Read-only data dir. (a) live: `mount -o remount,ro` of the tmpfs
    (the kernel refuses while memd has files open for writing, so then
    chattr +i on memd.db, its WAL and the data dir on ext4); (b) memd started
    on a tmpfs already mounted read-only. Writes should get clear 503/507
    errors (never 500), reads should keep working; on a file system that is
    read-only at start memd refuses to start and says so."""
    problems = []
    notes = []
    w = Words(2)

    # (a) live
    mnt = tempfile.mkdtemp(prefix="memd-faults-ro.", dir="/tmp")
    mounted, why = mount_tmpfs(mnt, "64m")
    if not mounted:
        os.rmdir(mnt)
        return "SKIP", f"cannot mount a tmpfs here ({why})"
    d = Daemon(binary, "ro", data_dir=os.path.join(mnt, "data"))
    chattr_dir = None
    chattr_paths = []
    try:
        d.start()
        acks = Acks()
        c = d.client()
        for i in range(30):
            st, _ = write_one(c, f"ro-{i % 3}", f"ro-{i}", w.text(500))
            if ok(st):
                acks.add(f"ro-{i % 3}", f"ro-{i}")
        r = subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True, text=True)
        live_mode = None
        if r.returncode == 0:
            live_mode = "remount,ro of the tmpfs"
        else:
            say(f"(a) `mount -o remount,ro` refused while memd runs: {r.stderr.strip().splitlines()[0]}")
            # Fall back to an ext4 dir with chattr +i (writes to open files get EPERM).
            d.cleanup()
            umount(mnt)
            os.rmdir(mnt)
            mnt = None
            d = Daemon(binary, "ro-chattr")
            fs = subprocess.run(["stat", "-f", "-c", "%T", d.root], capture_output=True, text=True).stdout.strip()
            d.start()
            c = d.client()
            acks = Acks()
            for i in range(30):
                st, _ = write_one(c, f"ro-{i % 3}", f"ro-{i}", w.text(500))
                if ok(st):
                    acks.add(f"ro-{i % 3}", f"ro-{i}")
            db = os.path.join(d.data_dir, "memd.db")
            chattr_paths = [p for p in (db, db + "-wal") if os.path.exists(p)]
            r2 = subprocess.run(["chattr", "+i", *chattr_paths, d.data_dir], capture_output=True, text=True)
            if r2.returncode != 0:
                notes.append(f"chattr +i failed on {fs}: {r2.stderr.strip()}")
                say(f"(a) chattr +i failed on {fs}: {r2.stderr.strip()}; live phase skipped")
            else:
                chattr_dir = d.data_dir
                live_mode = f"chattr +i on memd.db, memd.db-wal and the data dir ({fs})"
        if live_mode:
            say(f"(a) live fault: {live_mode}")
            res = []
            for i in range(5):
                res.append(write_one(c, "ro-x", f"ro-x-{i}", w.text(500)))
            say("(a) writes while read-only: " + "; ".join(show(*r_)[:120] for r_ in res[:3])
                + (f" (+{len(res) - 3} more: {', '.join(str(s) for s, _ in res[3:])})" if len(res) > 3 else ""))
            for st, body in res:
                if ok(st):
                    problems.append("(a) a write was acknowledged on a read-only store")
                    break
            bad = [(st, err_code(b)) for st, b in res if not ok(st) and st not in (503, 507)]
            if bad:
                problems.append(f"(a) writes answered {bad[0][0]} {bad[0][1]} (want 503 read_only / 507)")
            try:
                st_h, _ = c.call("GET", "/v1/health", timeout=10)
                st_r, _ = c.call("POST", "/v1/recall", {"query": w.text(30), "k": 3}, timeout=30)
                say(f"(a) reads while read-only: health {st_h}, recall {st_r}")
                if st_h != 200 or st_r != 200:
                    problems.append(f"(a) reads while read-only: health {st_h}, recall {st_r}")
            except TRANSPORT as e:
                problems.append(f"(a) reads while read-only failed: {e!r}")
            v = acks.verify(d.socket)
            say(f"(a) while read-only: {describe_verify(v)}")
            if not verify_ok(v):
                problems.append("(a) acknowledged writes unreadable while read-only")
            try:
                st, body = c.call("POST", "/v1/checkpoint", timeout=60)
            except TRANSPORT as e:
                st, body = "transport", repr(e)
            say(f"(a) checkpoint while read-only: {show(st, body)}")
            if st not in (503, 507):
                problems.append(f"(a) a checkpoint while read-only answered {st} (want 503/507)")
            # Undo and show recovery.
            if chattr_dir:
                subprocess.run(["chattr", "-i", *chattr_paths, chattr_dir], capture_output=True)
                chattr_dir = None
            else:
                subprocess.run(["mount", "-o", "remount,rw", mnt], capture_output=True)
            res = [write_one(c, "ro-y", f"ro-y-{i}", w.text(500)) for i in range(5)]
            n_ok = sum(1 for st, _ in res if ok(st))
            for i, (st, _) in enumerate(res):
                if ok(st):
                    acks.add("ro-y", f"ro-y-{i}")
            say(f"(a) writes after making it writable again: {n_ok}/5 acknowledged"
                + ("" if n_ok == 5 else f"; e.g. {show(*next(r_ for r_ in res if not ok(r_[0])))[:160]}"))
            if n_ok != 5:
                notes.append(f"(a) only {n_ok}/5 writes recovered once writable again")
            c.close()
            v = acks.verify(d.socket)
            say(f"(a) after recovery: {describe_verify(v)}")
            if not verify_ok(v):
                problems.append("(a) acknowledged writes missing after recovery")
            if not d.alive():
                problems.append("(a) daemon died")
        rc = d.stop()
        say(f"(a) SIGTERM: exit code {rc}")
    finally:
        if chattr_dir:
            subprocess.run(["chattr", "-i", *chattr_paths, chattr_dir], capture_output=True)
        d.cleanup()
        if mnt:
            umount(mnt)
            os.rmdir(mnt)

    # (b) start on a read-only mount
    mnt = tempfile.mkdtemp(prefix="memd-faults-ro2.", dir="/tmp")
    mounted, why = mount_tmpfs(mnt, "64m")
    if not mounted:
        os.rmdir(mnt)
        return "SKIP", f"cannot mount a tmpfs here ({why})"
    d = Daemon(binary, "ro2", data_dir=os.path.join(mnt, "data"))
    try:
        d.start()
        acks = Acks()
        c = d.client()
        for i in range(30):
            st, _ = write_one(c, f"rb-{i % 3}", f"rb-{i}", w.text(500))
            if ok(st):
                acks.add(f"rb-{i % 3}", f"rb-{i}")
        c.close()
        d.stop()
        r = subprocess.run(["mount", "-o", "remount,ro", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            say(f"(b) remount,ro failed: {r.stderr.strip()}")
            notes.append("(b) skipped: remount,ro failed")
        else:
            say("(b) data dir's tmpfs remounted read-only with memd stopped; starting memd on it")
            try:
                d.start(timeout=30)
            except DaemonError as e:
                msg = str(e).splitlines()
                tail = [ln for ln in msg[1:] if ln.strip()][-2:]
                say(f"(b) {msg[0].replace('; log tail:', '')}; last log lines:")
                for ln in tail:
                    say(f"      {ln[:240]}")
                # By design: memd must write its lock, WAL and SHM, so it
                # refuses to start on a read-only file system, saying why.
                if "Read-only file system" not in str(e):
                    problems.append("(b) memd did not start on a read-only data dir and did not say why")
                else:
                    notes.append("(b) refuses to start on a read-only file system, naming it (by design)")
            else:
                c = d.client()
                res = [write_one(c, "rb-x", f"rb-x-{i}", w.text(500)) for i in range(3)]
                say("(b) writes: " + "; ".join(show(*r_)[:140] for r_ in res))
                if any(ok(st) for st, _ in res):
                    problems.append("(b) a write was acknowledged on a read-only mount")
                bad = [(st, err_code(b)) for st, b in res if not ok(st) and st not in (503, 507)]
                if bad:
                    problems.append(f"(b) writes answered {bad[0][0]} {bad[0][1]} (want 503 read_only)")
                c.close()
                v = acks.verify(d.socket)
                say(f"(b) reads: {describe_verify(v)}")
                if not verify_ok(v):
                    problems.append("(b) acknowledged writes unreadable on the read-only mount")
                rc = d.stop()
                say(f"(b) SIGTERM: exit code {rc}")
    finally:
        d.cleanup()
        umount(mnt)
        os.rmdir(mnt)
    for n in notes:
        say(f"note: {n}")
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", "writes refused with 503/507, reads kept working"


def sc_socket_deleted(binary, wait_s=15.0):
    """The socket file is deleted while memd runs: it should notice, say so
    in the log, and listen again (or at least log loudly)."""
    d = Daemon(binary, "sock")
    problems = []
    try:
        d.start()
        acks = Acks()
        keep = d.client()
        for i in range(5):
            st, _ = write_one(keep, "sk-0", f"sk-{i}", f"socket test {i}")
            if ok(st):
                acks.add("sk-0", f"sk-{i}")
        off = d.log_size()
        os.unlink(d.socket)
        t0 = time.monotonic()
        say(f"deleted {d.socket}")
        back = None
        while time.monotonic() - t0 < wait_s:
            try:
                st, _ = once(d.socket, "GET", "/v1/health", timeout=2)
                if st == 200:
                    back = time.monotonic() - t0
                    break
            except TRANSPORT:
                pass
            time.sleep(0.2)
        # An already-open keep-alive connection (informational).
        try:
            st, _ = keep.call("GET", "/v1/health", timeout=5)
            say(f"already-open connection: health {st}")
        except TRANSPORT as e:
            say(f"already-open connection: {e!r}")
        keep.close()
        new_log = [ln for ln in d.log_since(off).splitlines() if ln.strip()]
        sock_lines = [ln for ln in new_log if "socket" in ln.lower()]
        if back is not None:
            say(f"reachable again after {back:.1f} s")
            r = d.ctl("status")
            say(f"`memd ctl status`: exit {r.returncode}")
            if r.returncode != 0:
                problems.append(f"ctl status exit {r.returncode}")
        else:
            r = d.ctl("status")
            say(f"not reachable within {wait_s:.0f} s; `memd ctl status`: exit {r.returncode}: "
                f"{(r.stderr or r.stdout).strip().splitlines()[0][:160] if (r.stderr or r.stdout).strip() else ''}")
            problems.append(f"socket not recreated within {wait_s:.0f} s")
        if sock_lines:
            for ln in sock_lines[:3]:
                say(f"log: {ln[:240]}")
        else:
            say(f"no log line mentions the socket ({len(new_log)} new log lines)")
            problems.append("no log line about the socket")
        if back is None:
            rc = d.stop()
            say(f"SIGTERM: exit code {rc}; restarting to check the data")
            d.start()
        v = acks.verify(d.socket)
        say(describe_verify(v))
        if not verify_ok(v):
            problems.append("acknowledged writes missing")
    finally:
        d.cleanup()
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", f"socket back after {back:.1f} s, logged"


def sc_kill9_checkpoint(binary, rows=24000):
    """kill -9 while a checkpoint writes its snapshot (a DB big enough that
    the snapshot takes over a second); after restart no .partial file, the
    DB passes integrity_check, nothing acknowledged lost."""
    d = Daemon(binary, "ckpt", extra_toml={"checkpoint": "pages_per_step = 8\n"}, log_level="warn")
    problems = []
    snapdir = os.path.join(d.data_dir, "snapshots")
    try:
        d.start()
        acks = Acks()
        c = d.client(timeout=300)
        w = Words(4)
        t0 = time.monotonic()
        batch = 2000
        for b in range(rows // batch):
            meta = []
            for k in range(batch):
                n = b * batch + k
                sid, ext = f"ck-{n // 200}", f"ck-{n}"
                meta.append((sid, ext, ndjson_line(sid, ext, w.text(1200))))
            st, body = bulk_import(c, acks, meta)
            if not ok(st):
                problems.append(f"building the DB: import answered {show(st, body)}")
                break
        db = os.path.join(d.data_dir, "memd.db")
        size = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)
        say(f"imported {acks.count()} exchanges in {time.monotonic() - t0:.1f} s; db+wal {size >> 20} MiB")
        st, body = c.call("POST", "/v1/checkpoint", timeout=300)
        if not ok(st):
            problems.append(f"first checkpoint answered {show(st, body)}")
            return "FAIL", "; ".join(problems)
        dur = body.get("duration_ms", 0) / 1000.0
        say(f"a checkpoint takes {dur:.2f} s ({body.get('bytes', 0) >> 20} MiB snapshot, pages_per_step = 8)")
        if dur < 1.0:
            say("note: the snapshot took under 1 s; the kill may still land inside it")

        stop = threading.Event()
        live = Acks()

        def writer():
            wc = d.client(timeout=10)
            i = 0
            while not stop.is_set():
                st_, _ = write_one(wc, "ck-live", f"ck-live-{i}", f"live write {i} during checkpoint", timeout=10)
                if ok(st_):
                    live.add("ck-live", f"ck-live-{i}")
                elif st_ == "transport":
                    time.sleep(0.05)
                i += 1
            wc.close()

        wt = threading.Thread(target=writer, daemon=True)
        wt.start()
        time.sleep(0.3)
        result = {}

        def checkpoint():
            try:
                result["r"] = once(d.socket, "POST", "/v1/checkpoint", timeout=300)
            except TRANSPORT as e:
                result["r"] = ("transport", repr(e))

        ct = threading.Thread(target=checkpoint, daemon=True)
        ct.start()
        seen = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and ct.is_alive():
            p = partials(snapdir)
            if p:
                seen = p
                break
            time.sleep(0.005)
        if seen:
            time.sleep(max(0.05, 0.3 * dur))
        if not ct.is_alive():
            problems.append("the checkpoint finished before a .partial file was seen; no kill during it")
            say(f"checkpoint finished first: {result.get('r', ('?', ''))[0]}")
        d.kill9()
        stop.set()
        wt.join(15)
        ct.join(15)
        acks.merge(live)
        say(f"kill -9 while {seen} existed; {live.count()} live writes acknowledged meanwhile")
        say(f"snapshot dir after the kill: partial {partials(snapdir)}")
        d.start(timeout=120)
        time.sleep(1.0)
        left = partials(snapdir)
        say(f"after restart: partial files {left if left else 'none'}")
        if left:
            problems.append(f".partial left after restart: {left}")
        v = acks.verify(d.socket, timeout=120)
        say(describe_verify(v))
        if not verify_ok(v):
            problems.append("acknowledged writes missing")
        st, body = d.call("POST", "/v1/checkpoint", timeout=300)
        say(f"checkpoint after restart: {show(st, body)}; partial files then: {partials(snapdir) or 'none'}")
        if not ok(st):
            problems.append(f"checkpoint after restart answered {st}")
        rc = d.stop(60)
        say(f"SIGTERM: exit code {rc}")
        chk = integrity(db)
        say(f"integrity_check of memd.db: {chk}")
        if chk != "ok":
            problems.append(f"integrity_check: {chk}")
        snaps = sorted(n for n in os.listdir(snapdir) if n.startswith("memd-") and n.endswith(".db"))
        if snaps:
            say(f"integrity_check of the newest snapshot {snaps[-1]}: {integrity(os.path.join(snapdir, snaps[-1]))}")
    finally:
        d.cleanup()
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", "no .partial after restart, DB ok, nothing acknowledged lost"


def sc_kill9_import(binary, lines=50000, sessions=50):
    """kill -9 during one large POST /v1/import: after restart the request
    should be all there or not at all, and re-sending it must not duplicate."""
    d = Daemon(binary, "import", log_level="warn")
    problems = []
    try:
        d.start()
        acks = Acks()
        c = d.client(timeout=300)
        w = Words(5)
        for i in range(10):
            st, _ = write_one(c, "im-base", f"im-base-{i}", w.text(200))
            if ok(st):
                acks.add("im-base", f"im-base-{i}")
        per = lines // sessions
        meta = [(f"imp-{n // per}", f"imp-{n}") for n in range(lines)]
        body = import_body([ndjson_line(s, e, w.text(150)) for s, e in meta])
        # Calibrate on 5,000 other lines to know how long the big one takes.
        cal = [(f"cal-{n // 1000}", f"cal-{n}") for n in range(5000)]
        t0 = time.monotonic()
        st, resp = bulk_import(c, acks, [(s, e, ndjson_line(s, e, w.text(150))) for s, e in cal])
        t_cal = time.monotonic() - t0
        est = t_cal * lines / len(cal)
        say(f"request: {lines} NDJSON lines, {len(body) >> 20} MiB, {sessions} sessions; "
            f"5,000 lines took {t_cal:.2f} s, so ~{est:.1f} s expected")
        st, status = c.call("GET", "/v1/status")
        base = status["counts"]["exchanges"]
        c.close()

        sent = threading.Event()
        answer = {}

        def send():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(300)
            try:
                s.connect(d.socket)
                head = (f"POST /v1/import HTTP/1.1\r\nHost: memd\r\nContent-Type: application/x-ndjson\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
                s.sendall(head + body)
                sent.set()
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                answer["r"] = data[:300].decode("utf-8", "replace")
            except OSError as e:
                answer["r"] = f"transport: {e!r}"
            finally:
                sent.set()
                s.close()

        th = threading.Thread(target=send, daemon=True)
        th.start()
        sent.wait(120)
        t_sent = time.monotonic()
        poll = d.client(timeout=5)
        grew = None
        # Kill once some of the request is visible, or at ~40 % of the
        # expected time (an all-or-nothing import shows nothing before its end).
        while th.is_alive() and time.monotonic() - t_sent < 0.4 * est + 0.2:
            try:
                _, stv = poll.call("GET", "/v1/status")
                n = stv["counts"]["exchanges"] - base
                if n >= 2000:
                    grew = n
                    break
            except TRANSPORT:
                pass
            time.sleep(0.02)
        poll.close()
        finished_first = not th.is_alive()
        d.kill9()
        th.join(10)
        waited = time.monotonic() - t_sent
        if finished_first:
            problems.append("the import answered before the kill; inconclusive")
            say(f"import answered before the kill: {answer.get('r', '')[:200]}")
        say(f"kill -9 {waited:.2f} s after the body was sent"
            + (f" (status showed {grew} of its rows)" if grew else "")
            + f"; client saw: {answer.get('r', '')[:100]!r}")
        d.start(timeout=120)
        c = d.client(timeout=120)
        by_sid = {}
        for s, e in meta:
            by_sid.setdefault(s, set()).add(e)
        present, dups = 0, 0
        for s, exts in by_sid.items():
            seen, dup, err = session_ext_ids(c, s)
            present += len(seen & exts)
            dups += len(dup)
        say(f"after restart: {present} of the request's {lines} lines present")
        if 0 < present < lines:
            problems.append(f"partial import: {present}/{lines} lines committed (not all-or-nothing)")
        st, resp = c.call("POST", "/v1/import", body, timeout=600)
        if ok(st):
            say(f"re-send: {st} imported {resp.get('imported')}, duplicates {resp.get('duplicates')}, "
                f"rejected {len(resp.get('rejected', []))}")
            for s, e in meta:
                acks.add(s, e)
            if resp.get("duplicates") != present or resp.get("imported") != lines - present:
                problems.append("re-send counts do not match what was present")
        else:
            say(f"re-send: {show(st, resp)}")
            problems.append(f"re-send answered {st}")
        total, dups = 0, 0
        for s, exts in by_sid.items():
            seen, dup, err = session_ext_ids(c, s)
            total += len(seen & exts)
            dups += len(dup)
        _, stv = c.call("GET", "/v1/status")
        c.close()
        extra = stv["counts"]["exchanges"] - base - total
        say(f"after re-send: {total}/{lines} present, {dups} duplicated ext_ids, "
            f"exchange count grew by {stv['counts']['exchanges'] - base}")
        if total != lines or dups or extra:
            problems.append(f"after re-send {total}/{lines}, {dups} duplicates, {extra} extra rows")
        v = acks.verify(d.socket, timeout=120)
        say(f"all acknowledged writes: {describe_verify(v)}")
        if not verify_ok(v):
            problems.append("acknowledged writes missing")
    finally:
        d.cleanup()
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", f"import all-or-nothing ({present}/{lines} after the kill), re-send idempotent"


def sc_slow_loris(binary, idle=256, trickle=256, window_s=20.0, deadline_s=10.0):
    """256 connections that send nothing and 256 that trickle a header one
    byte a second; /v1/health from a normal client should still answer."""
    d = Daemon(binary, "loris")
    problems = []
    socks_idle, socks_trickle = [], []
    stop = threading.Event()
    closed_by_server = {"trickle": 0}
    try:
        d.start()
        acks = Acks()
        for i in range(5):
            st, _ = write_one(d.client(), "sl-0", f"sl-{i}", f"slow loris test {i}")
            if ok(st):
                acks.add("sl-0", f"sl-{i}")
        failed = 0
        for i in range(idle + trickle):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(d.socket)
            except OSError:
                failed += 1
                s.close()
                continue
            s.setblocking(False)
            if i < idle:
                socks_idle.append(s)
            else:
                try:
                    s.send(b"GET /v1/health HTTP/1.1\r\nHost: memd\r\nX-Slow: ")
                except OSError:
                    pass
                socks_trickle.append(s)
        n_trickle = len(socks_trickle)
        say(f"opened {len(socks_idle)} idle + {len(socks_trickle)} trickling connections"
            + (f" ({failed} connects failed)" if failed else "") + f"; daemon RSS {d.rss_kib()} KiB")

        def trickler():
            while not stop.wait(1.0):
                for s in list(socks_trickle):
                    try:
                        s.send(b"a")
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed_by_server["trickle"] += 1
                        socks_trickle.remove(s)
                        s.close()

        tt = threading.Thread(target=trickler, daemon=True)
        tt.start()
        t0 = time.monotonic()
        probes = []
        while time.monotonic() - t0 < window_s:
            ts = time.monotonic()
            try:
                st, _ = once(d.socket, "GET", "/v1/health", timeout=3)
                probes.append((ts - t0, st == 200, time.monotonic() - ts))
            except TRANSPORT as e:
                probes.append((ts - t0, False, type(e).__name__))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - ts)))
        first_ok = next((p for p in probes if p[1]), None)
        line = ", ".join(f"{p[0]:.0f}s:{'ok ' + format(p[2] * 1000, '.0f') + 'ms' if p[1] else 'FAIL(' + str(p[2]) + ')'}"
                         for p in probes)
        say(f"health probes (3 s timeout, 1/s): {line}")
        closed_idle = 0
        for s in socks_idle:
            try:
                r, _, _ = select.select([s], [], [], 0)
                if r and s.recv(1, socket.MSG_PEEK) == b"":
                    closed_idle += 1
            except OSError:
                closed_idle += 1
        say(f"after {window_s:.0f} s: server closed {closed_idle}/{len(socks_idle)} idle and "
            f"{closed_by_server['trickle']}/{n_trickle} trickling connections; "
            f"daemon RSS {d.rss_kib()} KiB")
        if first_ok is None:
            problems.append(f"/v1/health never answered within {window_s:.0f} s")
        else:
            say(f"first answer {first_ok[0]:.1f} s after the connections were open")
            if first_ok[0] > deadline_s:
                problems.append(f"/v1/health first answered after {first_ok[0]:.0f} s (want <= {deadline_s:.0f} s)")
            later_fail = [p for p in probes if p[0] >= first_ok[0] and not p[1]]
            if later_fail:
                problems.append(f"{len(later_fail)} health probes failed after the first answer")
        stop.set()
        tt.join(5)
        for s in socks_idle + socks_trickle:
            s.close()
        socks_idle, socks_trickle = [], []
        time.sleep(0.5)
        try:
            st, _ = once(d.socket, "GET", "/v1/health", timeout=10)
            say(f"after closing them: health {st}")
        except TRANSPORT as e:
            say(f"after closing them: health {e!r}")
            problems.append("health fails even after the connections closed")
        c = d.client()
        st, _ = write_one(c, "sl-0", "sl-after", "after the slow loris")
        c.close()
        if ok(st):
            acks.add("sl-0", "sl-after")
        v = acks.verify(d.socket)
        say(describe_verify(v))
        if not verify_ok(v):
            problems.append("acknowledged writes missing")
    finally:
        stop.set()
        for s in socks_idle + socks_trickle:
            s.close()
        d.cleanup()
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", f"/v1/health answered {first_ok[0]:.0f} s after 512 idle/slow connections opened"


SCENARIOS = [
    ("disk_full", sc_disk_full),
    ("read_only", sc_read_only),
    ("socket_deleted", sc_socket_deleted),
    ("kill9_checkpoint", sc_kill9_checkpoint),
    ("kill9_import", sc_kill9_import),
    ("slow_loris", sc_slow_loris),
]


def main():
    args = sys.argv[1:]
    if not args:
        print("usage: faults.py BINARY [SCENARIO...]", file=sys.stderr)
        return 2
    binary, wanted = args[0], args[1:]
    names = [n for n, _ in SCENARIOS]
    for w_ in wanted:
        if w_ not in names:
            print(f"unknown scenario {w_}; known: {' '.join(names)}", file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("note: not root; the tmpfs scenarios will be skipped", flush=True)
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    print(f"memd: {binary} {out.stdout.strip()}  ({time.strftime('%Y-%m-%d %H:%M:%S')})", flush=True)
    verdicts = []
    for name, fn in SCENARIOS:
        if wanted and name not in wanted:
            continue
        print(f"\n== {name}: {' '.join(fn.__doc__.split())}", flush=True)
        t0 = time.monotonic()
        try:
            verdict, why = fn(binary)
        except Exception as e:  # a scenario that breaks is a failure, with its trace
            traceback.print_exc(file=sys.stdout)
            verdict, why = "FAIL", f"scenario error: {e!r}"
        print(f"VERDICT {name}: {verdict} - {why}  ({time.monotonic() - t0:.0f} s)", flush=True)
        verdicts.append((name, verdict))
    print("\nsummary: " + ", ".join(f"{n} {v}" for n, v in verdicts), flush=True)
    return 1 if any(v == "FAIL" for _, v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
