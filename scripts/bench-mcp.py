"""MCP overhead: the same recalls, side by side in one run, through

  raw        HTTP/1.1 keep-alive over the daemon's Unix socket (Python's
             http.client, JSON decoded): the floor every other path adds to
  client     the Python client (clients/python, memd.Client, httpx over UDS)
  mcp-stdio  `memd mcp` over stdio, driven by the official MCP SDK's client
  mcp-http   `memd mcp --http` (Streamable HTTP on 127.0.0.1, bearer token),
             the same SDK client

Loads EXCHANGES synthetic exchanges into one namespace over the raw socket
(NDJSON import), waits until every row has its vector, then runs QUERIES
recalls (k=10) per path. Each query goes through every path in turn, the
order rotating, so drift (cache, CPU contention) is spread evenly; every
path's answer is checked to name the same rows in the same order.

Run by scripts/bench-mcp.sh, which builds the release binary and starts a
daemon on a temp dir; usage there.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import logging

import httpx2
import memd
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

NAMESPACE = "bench"
K = 10


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("memd", timeout=120)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(self._path)
        self.sock = s


class Raw:
    """One keep-alive connection, reopened if the daemon closed it idle."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = UnixHTTPConnection(path)

    def call(self, method: str, route: str, body: Any = None, raw_body: bytes | None = None) -> Any:
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode())
        headers = {"content-type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            try:
                self.conn.request(method, route, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = UnixHTTPConnection(self.path)
                if attempt:
                    raise
        if resp.status // 100 != 2:
            raise RuntimeError(f"{method} {route}: {resp.status} {payload[:300]!r}")
        return json.loads(payload)


def corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 32))) for _ in range(n)]


def load(raw: Raw, texts: list[str], batch: int = 1000) -> float:
    started = time.monotonic()
    for lo in range(0, len(texts), batch):
        lines = []
        for i in range(lo, min(lo + batch, len(texts))):
            lines.append(json.dumps({
                "session_id": f"bench-{i // 50}",
                "role": "user" if i % 2 == 0 else "assistant",
                "content": texts[i],
                "ext_id": f"b{i}",
                "namespace": NAMESPACE,
            }))
        raw.call("POST", "/v1/import", raw_body=("\n".join(lines) + "\n").encode())
    return time.monotonic() - started


def wait_embedded(raw: Raw, limit_s: float = 3600) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    while True:
        st = raw.call("GET", "/v1/status")
        if st["embedder"]["backlog"] == 0:
            return time.monotonic() - started, st["embedder"]
        if time.monotonic() - started > limit_s:
            raise RuntimeError(f"embedder backlog still {st['embedder']['backlog']} after {limit_s} s")
        time.sleep(0.2)


def queries(texts: list[str], n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choice(texts).split()
        start = rng.randrange(max(1, len(words) - 5))
        out.append(" ".join(words[start:start + 5]))
    return out


def rows(answer: Any) -> list[tuple[str, int]]:
    return [(h["tier"], h["id"]) for h in answer["results"]]


@asynccontextmanager
async def http_server(bin_path: str, socket_path: str) -> AsyncIterator[tuple[str, str]]:
    token = secrets.token_hex(32)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [bin_path, "mcp", "--http", "127.0.0.1:0", "--socket", socket_path, "--namespace", NAMESPACE],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "MEMD_MCP_TOKEN": token},
        )
        try:
            url = None
            deadline = time.monotonic() + 30
            while url is None:
                err.seek(0)
                for line in err.read().decode().splitlines():
                    if "serving Streamable HTTP at " in line:
                        url = line.split(" at ", 1)[1].split()[0]
                if url is None:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        err.seek(0)
                        raise RuntimeError(f"memd mcp --http did not start: {err.read().decode()}")
                    await asyncio.sleep(0.02)
            yield url, token
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


async def mcp_stdio(stack: AsyncExitStack, bin_path: str, socket_path: str) -> ClientSession:
    params = StdioServerParameters(command=bin_path, args=["mcp", "--socket", socket_path, "--namespace", NAMESPACE])
    read, write = await stack.enter_async_context(stdio_client(params))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return session


async def mcp_http(stack: AsyncExitStack, bin_path: str, socket_path: str) -> ClientSession:
    url, token = await stack.enter_async_context(http_server(bin_path, socket_path))
    client = await stack.enter_async_context(
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300))
    )
    read, write = await stack.enter_async_context(streamable_http_client(url, http_client=client))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return session


def tool_answer(result: Any) -> Any:
    if result.is_error:
        raise RuntimeError(result.content[0].text)
    return result.structured_content


def pct(sorted_ms: list[float], p: float) -> float:
    i = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[i]


async def main() -> None:
    # rmcp answers the session's closing DELETE with 202, which this SDK
    # logs as a failure although the session is closed.
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--exchanges", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--skip-http", action="store_true")
    o = ap.parse_args()

    raw = Raw(o.socket)
    texts = corpus(o.exchanges)
    load_s = load(raw, texts)
    embed_s, embedder = wait_embedded(raw)
    st = raw.call("GET", "/v1/status")
    print(f"memd {st.get('version', '?')}: {o.exchanges} exchanges imported in {load_s:.1f} s, "
          f"embedded {embed_s:.1f} s later; embedder {embedder['provider']} ({embedder['model']}, {embedder['dim']}-d)")

    qs = queries(texts, o.queries + o.warmup)
    async with AsyncExitStack() as stack:
        client = stack.enter_context(memd.Client(o.socket, namespace=NAMESPACE))
        stdio = await mcp_stdio(stack, o.bin, o.socket)
        daemon_ms: list[float] = []

        async def via_raw(q: str) -> Any:
            answer = raw.call("POST", "/v1/recall", {"query": q, "k": K, "namespace": NAMESPACE})
            daemon_ms.append(answer["took_ms"])
            return answer

        async def via_client(q: str) -> Any:
            r = client.recall(q, k=K)
            return {"results": [{"tier": h.tier, "id": h.id} for h in r.results]}

        async def via_stdio(q: str) -> Any:
            return tool_answer(await stdio.call_tool("recall", {"query": q, "k": K}))

        paths: dict[str, Callable[[str], Awaitable[Any]]] = {
            "raw": via_raw, "client": via_client, "mcp-stdio": via_stdio,
        }
        if not o.skip_http:
            web = await mcp_http(stack, o.bin, o.socket)

            async def via_http(q: str) -> Any:
                return tool_answer(await web.call_tool("recall", {"query": q, "k": K}))

            paths["mcp-http"] = via_http

        names = list(paths)
        lat: dict[str, list[float]] = {n: [] for n in names}
        mismatches = 0
        for i, q in enumerate(qs):
            answers = {}
            # Rotate who goes first, so no path always meets a cold cache.
            for j in range(len(names)):
                name = names[(i + j) % len(names)]
                t = time.perf_counter()
                answers[name] = await paths[name](q)
                if i >= o.warmup:
                    lat[name].append((time.perf_counter() - t) * 1000)
            ref = rows(answers["raw"])
            if i >= o.warmup and any(rows(a) != ref for a in answers.values()):
                mismatches += 1

    base = statistics.median(lat["raw"])
    print(f"\nrecall k={K}, {o.queries} queries per path (+{o.warmup} warm-up), one client, sequential")
    print(f"{'path':<10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'p50 over raw':>13}")
    for name in names:
        s = sorted(lat[name])
        over = statistics.median(s) - base
        print(f"{name:<10} {pct(s, 50):>8.2f} {pct(s, 95):>8.2f} {pct(s, 99):>8.2f} "
              f"{statistics.fmean(s):>8.2f} {'' if name == 'raw' else f'{over:+.2f}':>13}")
    inside = sorted(daemon_ms[o.warmup:])
    print(f"the daemon's own took_ms (from raw's answers): p50 {pct(inside, 50):.2f}, p95 {pct(inside, 95):.2f}")
    print(f"answers naming other rows than raw: {mismatches} of {o.queries} queries")


if __name__ == "__main__":
    asyncio.run(main())
