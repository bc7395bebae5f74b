"""`memd mcp` driven by the official MCP Python SDK's client, over stdio
and over Streamable HTTP (`--http`, bearer token): each test runs once per
transport, against a real daemon, with the daemon's raw socket as the
reference.

scripts/test-mcp.sh starts the daemon and sets MEMD_BIN (the memd binary)
and MEMD_SOCKET (its socket). Each test uses its own namespace, so tests
do not see each other's memory.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx2
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import InitializeResult

MEMD = os.environ["MEMD_BIN"]
SOCKET = os.environ["MEMD_SOCKET"]

TOOLS = {
    "remember", "recall", "context", "forget", "dream_status", "dream_run",
    "facts_list", "fact_add", "fact_forget",
}
RESOURCES = ["memd://profile", "memd://narrative", "memd://self", "memd://eras"]
GIST_TEMPLATE = "memd://sessions/{session_id}/gist"


# --- the raw socket: plain HTTP/1.1 over the Unix socket -------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("memd", timeout=60)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self._path)
        self.sock = s


def raw(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = _UnixHTTPConnection(SOCKET)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


# --- the MCP side -----------------------------------------------------------

TRANSPORTS = ["stdio", "http"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def http_server(*args: str, token: str) -> AsyncIterator[str]:
    """`memd mcp --http 127.0.0.1:0 ARGS` with the token in MEMD_MCP_TOKEN;
    yields its URL (from its first line on stderr), stops it with SIGTERM
    and checks it exits 0."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [MEMD, "mcp", "--http", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
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
                    assert proc.poll() is None, f"memd mcp --http exited: {err.read().decode()}"
                    assert time.monotonic() < deadline, "no URL on stderr within 30 s"
                    await asyncio.sleep(0.02)
            yield url
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
        err.seek(0)
        assert code == 0, f"memd mcp --http exited {code}: {err.read().decode()}"


@asynccontextmanager
async def connect(transport: str, *args: str, socket: str = SOCKET) -> AsyncIterator[tuple[ClientSession, InitializeResult]]:
    """An initialized SDK client session with `memd mcp ARGS` over `transport`."""
    server_args = ["--socket", socket, *args]
    if transport == "stdio":
        # The SDK hands the server only a few safe variables (not MEMD_SOCKET).
        params = StdioServerParameters(command=MEMD, args=["mcp", *server_args])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                yield session, await session.initialize()
        return
    token = secrets.token_hex(32)
    async with http_server(*server_args, token=token) as url:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    yield session, await session.initialize()


@asynccontextmanager
async def mcp_session(transport: str, *args: str, socket: str = SOCKET) -> AsyncIterator[ClientSession]:
    async with connect(transport, *args, socket=socket) as (session, _):
        yield session


def text_of(result: Any) -> str:
    assert result.content, result
    return result.content[0].text


async def ok(session: ClientSession, tool: str, args: dict[str, Any]) -> Any:
    r = await session.call_tool(tool, args)
    assert not r.is_error, f"{tool}({args}) failed: {text_of(r)}"
    value = json.loads(text_of(r))
    assert r.structured_content == value
    return value


async def fails(session: ClientSession, tool: str, args: dict[str, Any]) -> tuple[str, str]:
    """A tool error: its code (from the text `code: message`) and message."""
    r = await session.call_tool(tool, args)
    assert r.is_error, f"{tool}({args}) should fail: {text_of(r)}"
    code, _, message = text_of(r).partition(": ")
    assert r.structured_content["error"]["code"] == code
    return code, message


def rounded(v: Any) -> Any:
    """`v` with floats to 12 significant digits: the server re-serializes
    the daemon's JSON, and serde_json's default float parsing may move a
    score by one unit in the last place."""
    if isinstance(v, float):
        return float(f"{v:.12g}")
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [rounded(x) for x in v]
    return v


def fresh_ns() -> str:
    return "mcp-" + uuid.uuid4().hex[:8]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- tests ------------------------------------------------------------------


def test_initialize_lists_tools_resources_and_the_template(transport: str) -> None:
    async def go() -> None:
        async with connect(transport, "--namespace", "alice") as (session, init):
            assert init.server_info.name == "memd"
            assert init.capabilities.tools is not None
            assert init.capabilities.resources is not None
            assert "alice" in (init.instructions or "")

            tools = (await session.list_tools()).tools
            assert {t.name for t in tools} == TOOLS
            for t in tools:
                assert t.description and len(t.description) > 20, t.name
                assert t.input_schema["type"] == "object", t.name
                for field, schema in t.input_schema.get("properties", {}).items():
                    assert "description" in schema or "$ref" in schema, (t.name, field)
                assert "namespace" not in t.input_schema.get("properties", {}), t.name
            remember = next(t for t in tools if t.name == "remember")
            assert set(remember.input_schema["required"]) == {"session_id", "role", "content"}

            resources = (await session.list_resources()).resources
            assert [str(r.uri) for r in resources] == RESOURCES
            templates = (await session.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == [GIST_TEMPLATE]

    run(go())


def test_every_tool_and_every_resource(transport: str) -> None:
    ns = fresh_ns()

    async def go() -> None:
        async with mcp_session(transport, "--namespace", ns) as s:
            stored = await ok(
                s,
                "remember",
                {
                    "session_id": f"{ns}-chat",
                    "role": "user",
                    "content": "I adopted a grey cat named Miso",
                    "created_at": "2024-05-01T13:45:00Z",
                    "ext_id": "m1",
                    "metadata": {"channel": "web"},
                },
            )
            assert stored["namespace"] == ns and not stored["duplicate"]
            again = await ok(
                s,
                "remember",
                {"session_id": f"{ns}-chat", "role": "user", "content": "I adopted a grey cat named Miso", "ext_id": "m1"},
            )
            assert again["duplicate"] and again["id"] == stored["id"]
            await ok(
                s,
                "remember",
                {"session_id": f"{ns}-chat", "role": "assistant", "content": "Miso is a lovely name for a cat."},
            )

            hits = await ok(s, "recall", {"query": "what is the cat called", "k": 5, "tiers": ["exchange"], "mode": "hybrid", "session_id": f"{ns}-chat"})
            assert hits["results"] and "Miso" in hits["results"][0]["content"]
            assert all(h["namespace"] == ns for h in hits["results"])

            pack = await ok(s, "context", {"query": "what pet", "budget_chars": 2000, "session_id": f"{ns}-chat"})
            assert pack["namespace"] == ns and pack["used_chars"] <= 2000
            assert any("Miso" in i["text"] for sec in pack["sections"] for i in sec["items"])

            status = await ok(s, "dream_status", {})
            assert status["namespace"] == ns and "recent_runs" in status

            dry = await ok(s, "dream_run", {"force": True, "dry_run": True})
            assert dry["runs"] and all(r["dry_run"] for r in dry["runs"])
            done = await ok(s, "dream_run", {"force": True, "wait": True})
            assert done["runs"] and all(r["namespace"] == ns for r in done["runs"])
            status = await ok(s, "dream_status", {})
            assert status["recent_runs"], status

            # Every resource reads as the daemon's route for this namespace.
            for uri, route in zip(RESOURCES, ["/v1/profile", "/v1/narrative", "/v1/self", "/v1/eras"]):
                res = await s.read_resource(uri)
                body = json.loads(res.contents[0].text)
                code, expected = raw("GET", f"{route}?namespace={ns}")
                assert code == 200, (uri, expected)
                assert body == expected, uri
            gist = await s.read_resource(f"memd://sessions/{ns}-chat/gist")
            body = json.loads(gist.contents[0].text)
            assert body["session_id"] == f"{ns}-chat" and body["namespace"] == ns

            with pytest.raises(MCPError) as missing:
                await s.read_resource("memd://sessions/no-such-session/gist")
            assert "not_found" in missing.value.message
            with pytest.raises(MCPError):
                await s.read_resource("memd://nothing")

            deleted = await ok(s, "forget", {"session_id": f"{ns}-chat"})
            assert deleted == {"deleted": f"{ns}-chat", "namespace": ns, "exchanges": 2}

            # Errors the model can act on: its own argument mistakes, and the
            # daemon's {error: {code, message}} passed through.
            code, message = await fails(s, "remember", {"session_id": "x", "role": "robot", "content": "hi"})
            assert code == "bad_arguments" and "robot" in message
            code, message = await fails(s, "recall", {"query": "cat", "namespace": "someone-else"})
            assert code == "bad_arguments" and "namespace" in message
            code, message = await fails(s, "remember", {"session_id": "x", "role": "user", "content": "hi", "created_at": "yesterday"})
            assert code == "invalid_value" and "created_at" in message
            code, _ = await fails(s, "forget", {"session_id": f"{ns}-chat"})
            assert code == "not_found"

    run(go())


def test_agent_loop_matches_the_raw_socket(transport: str) -> None:
    ns = fresh_ns()
    sid = f"{ns}-loop"
    topics = ["hiking in the Alps", "sourdough baking", "learning Rust", "a trip to Kyoto", "jazz piano"]
    turns = [
        ("user" if i % 2 == 0 else "assistant", f"Turn {i}: let us talk about {topics[i % len(topics)]} (note {i})")
        for i in range(50)
    ]

    async def go() -> None:
        async with mcp_session(transport, "--namespace", ns) as s:
            ids = []
            for i, (role, content) in enumerate(turns):
                r = await ok(s, "remember", {"session_id": sid, "role": role, "content": content, "ext_id": f"t{i}"})
                ids.append(r["id"])

            # What MCP stored is what the socket shows, in order.
            code, history = raw("GET", f"/v1/sessions/{sid}")
            assert code == 200
            assert [x["id"] for x in history["exchanges"]] == ids
            assert [(x["role"], x["content"]) for x in history["exchanges"]] == turns
            assert history["session"]["namespace"] == ns

            for query in ["sourdough", "what do we know about Kyoto", "piano"]:
                via_mcp = await ok(s, "recall", {"query": query, "k": 8})
                code, via_raw = raw("POST", "/v1/recall", {"query": query, "k": 8, "namespace": ns})
                assert code == 200
                pick = lambda ans: [(h["tier"], h["id"], h["content"]) for h in ans["results"]]
                assert pick(via_mcp) == pick(via_raw), query
                assert via_mcp["results"], query

            via_mcp = await ok(s, "context", {"query": "baking bread", "budget_chars": 1500, "session_id": sid})
            code, via_raw = raw("POST", "/v1/context", {"query": "baking bread", "budget_chars": 1500, "session_id": sid, "namespace": ns})
            assert code == 200
            assert via_mcp["ids"] == via_raw["ids"]
            assert rounded(via_mcp["sections"]) == rounded(via_raw["sections"])

            deleted = await ok(s, "forget", {"session_id": sid})
            assert deleted == {"deleted": sid, "namespace": ns, "exchanges": 50}
            code, _ = raw("GET", f"/v1/sessions/{sid}")
            assert code == 404
            after = await ok(s, "recall", {"query": "sourdough", "k": 8})
            assert not any(h.get("session_id") == sid for h in after["results"])

    run(go())


def test_facts_tools_match_the_raw_socket(transport: str) -> None:
    ns, theirs = fresh_ns(), fresh_ns()
    code, secret = raw("POST", "/v1/facts", {"namespace": theirs, "text": "Bob's locker code is 4711"})
    assert code == 201
    secret_id = secret["fact"]["id"]

    def raw_ok(method: str, path: str, body: Any = None) -> Any:
        code, answer = raw(method, path, body)
        assert code in (200, 201), (path, answer)
        return answer

    def fact_ids(ans: Any) -> list[int]:
        return [f["id"] for f in ans["facts"]]

    async def go() -> None:
        async with mcp_session(transport, "--namespace", ns) as s:
            porto = await ok(
                s,
                "fact_add",
                {
                    "text": "Alice lives in Porto",
                    "kind": "user_profile",
                    "subject": "Alice",
                    "slot": "residence",
                    "entities": ["Porto"],
                    "valid_from": "2023-01-01T00:00:00Z",
                },
            )
            old = porto["fact"]
            assert old["namespace"] == ns and old["status"] == "active" and porto["superseded"] is None
            assert old["provenance"]["client"] == "memd-mcp"
            assert raw_ok("GET", f"/v1/facts/{old['id']}")["fact"] == old

            lisbon = await ok(
                s,
                "fact_add",
                {
                    "text": "Alice moved to Lisbon",
                    "kind": "user_profile",
                    "subject": "Alice",
                    "slot": "residence",
                    "valid_from": "2025-03-01T00:00:00Z",
                    "supersedes": old["id"],
                },
            )
            new = lisbon["fact"]
            assert lisbon["superseded"]["id"] == old["id"]
            assert lisbon["superseded"]["status"] == "superseded"
            assert lisbon["superseded"]["superseded_by"] == new["id"]

            # Live facts: the new one only, as the socket lists them.
            live = await ok(s, "facts_list", {})
            assert fact_ids(live) == [new["id"]]
            assert live == raw_ok("GET", f"/v1/facts?namespace={ns}")
            filtered = await ok(s, "facts_list", {"kind": "user_profile", "subject": "Alice", "slot": "residence", "status": "active", "limit": 5})
            assert filtered == raw_ok("GET", f"/v1/facts?namespace={ns}&kind=user_profile&subject=Alice&slot=residence&status=active&limit=5")
            assert fact_ids(filtered) == [new["id"]]
            history = await ok(s, "facts_list", {"include_retired": True})
            assert sorted(fact_ids(history)) == sorted([old["id"], new["id"]])
            assert history == raw_ok("GET", f"/v1/facts?namespace={ns}&include_retired=true")

            # as_of is valid time: inside Porto's years (2023 until the move).
            then = "2024-06-01T00:00:00Z"
            past = await ok(s, "facts_list", {"as_of": then})
            assert fact_ids(past) == [old["id"]]
            assert past == raw_ok("GET", f"/v1/facts?namespace={ns}&as_of={then}")

            query = {"query": "where does Alice live", "tiers": ["fact"], "k": 5}
            pick = lambda ans: [(h["tier"], h["id"]) for h in ans["results"]]
            hits_then = await ok(s, "recall", {**query, "as_of": then})
            assert pick(hits_then) == [("fact", old["id"])]
            assert pick(hits_then) == pick(raw_ok("POST", "/v1/recall", {**query, "as_of": then, "namespace": ns}))
            hits_now = await ok(s, "recall", query)
            assert pick(hits_now) == [("fact", new["id"])]

            ctx = {"query": "where does Alice live", "budget_chars": 2000}
            pack_then = await ok(s, "context", {**ctx, "as_of": then})
            assert pack_then["ids"] == raw_ok("POST", "/v1/context", {**ctx, "as_of": then, "namespace": ns})["ids"]
            pack_now = await ok(s, "context", ctx)
            facts_in = lambda pack: {i["id"] for i in pack["ids"] if i["tier"] == "fact"}
            assert facts_in(pack_then) <= {old["id"]} and facts_in(pack_now) <= {new["id"]}

            # Another namespace's fact reads as missing and stays.
            code, _ = await fails(s, "fact_forget", {"id": secret_id})
            assert code == "not_found"
            code, message = await fails(s, "fact_add", {"text": "Bob's locker code is 1234", "supersedes": secret_id})
            assert code == "not_found" and theirs not in message
            code, _ = await fails(s, "fact_add", {"text": "Alice plays chess", "kind": "hobby"})
            assert code == "bad_arguments"

            gone = await ok(s, "fact_forget", {"id": new["id"]})
            assert gone["forgotten"] == new["id"] and gone["namespace"] == ns
            code, _ = raw("GET", f"/v1/facts/{new['id']}")
            assert code == 404
            assert await ok(s, "facts_list", {}) == {"namespace": ns, "facts": []}
            code, _ = await fails(s, "fact_forget", {"id": new["id"]})
            assert code == "not_found"

    run(go())
    assert raw_ok("GET", f"/v1/facts/{secret_id}")["fact"]["status"] == "active"


def test_one_namespace_per_server(transport: str) -> None:
    ours, theirs = fresh_ns(), fresh_ns()
    code, _ = raw(
        "POST",
        f"/v1/sessions/{theirs}-secret/exchanges",
        {"role": "user", "content": "my locker code is 4711", "namespace": theirs},
    )
    assert code == 201

    async def go() -> None:
        async with mcp_session(transport, "--namespace", ours) as s:
            hits = await ok(s, "recall", {"query": "locker code 4711"})
            assert hits["results"] == []
            code, _ = await fails(s, "forget", {"session_id": f"{theirs}-secret"})
            assert code == "not_found"
            with pytest.raises(MCPError):
                await s.read_resource(f"memd://sessions/{theirs}-secret/gist")
            # Writing into their session is refused by the daemon.
            code, _ = await fails(s, "remember", {"session_id": f"{theirs}-secret", "role": "user", "content": "hi"})
            assert code == "namespace_mismatch"

    run(go())
    code, history = raw("GET", f"/v1/sessions/{theirs}-secret")
    assert code == 200 and len(history["exchanges"]) == 1


def test_a_daemon_that_is_down_is_reported_promptly(transport: str, tmp_path: Any) -> None:
    async def go() -> None:
        async with mcp_session(transport, socket=str(tmp_path / "nobody.sock")) as s:
            started = time.monotonic()
            code, message = await fails(s, "recall", {"query": "anything"})
            assert time.monotonic() - started < 5
            assert code == "daemon_unreachable"
            assert "nobody.sock" in message and "memd daemon" in message
            with pytest.raises(MCPError) as e:
                await s.read_resource("memd://profile")
            assert "daemon_unreachable" in e.value.message

    run(go())


def leaves(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [x for sub in e.exceptions for x in leaves(sub)]
    return [e]


def test_http_without_the_token_is_refused() -> None:
    """The SDK client with no token or a wrong one gets 401 and never a
    session; the server keeps serving the right one."""
    token = secrets.token_hex(32)

    async def initialize(url: str, headers: dict[str, str]) -> None:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()

    async def go() -> None:
        async with http_server("--socket", SOCKET, token=token) as url:
            for headers in [{}, {"Authorization": f"Bearer {secrets.token_hex(32)}"}]:
                # The SDK surfaces the 401 as an error response (inside its
                # task groups), without the status: that is checked below.
                with pytest.raises(BaseException) as refused:
                    await asyncio.wait_for(initialize(url, headers), 30)
                assert any(isinstance(e, MCPError) for e in leaves(refused.value)), refused.value
                async with httpx2.AsyncClient(timeout=30) as http:
                    r = await http.post(url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            await initialize(url, {"Authorization": f"Bearer {token}"})

    run(go())
