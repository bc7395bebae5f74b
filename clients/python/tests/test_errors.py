"""The daemon's errors as exceptions, and the daemon being away."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon
from helpers import KINDS, open_client

import memd
from memd.errors import error_from_answer


@pytest.fixture(params=KINDS)
def m(request: pytest.FixtureRequest, daemon: Daemon) -> Iterator[Any]:
    yield from open_client(str(request.param), socket=daemon.socket)


def test_unknown_session_is_not_found(m: Any) -> None:
    with pytest.raises(memd.NotFound) as e:
        m.session("no-such-session")
    assert (e.value.code, e.value.status) == ("not_found", 404)
    assert "no-such-session" in e.value.message
    with pytest.raises(memd.NotFound):
        m.delete_session("no-such-session")
    with pytest.raises(memd.NotFound):
        m.gist("no-such-session")


def test_bad_values_are_invalid(m: Any) -> None:
    for k in (0, 100_000):
        with pytest.raises(memd.InvalidRequest) as e:
            m.recall("anything", k=k)
        assert (e.value.code, e.value.status) == ("invalid_value", 422)
    with pytest.raises(memd.InvalidRequest) as e:
        m.recall("anything", k=-1)
    assert (e.value.code, e.value.status) == ("bad_field", 400)
    with pytest.raises(memd.InvalidRequest) as e:
        m.recall("anything", mode="sideways")
    assert e.value.code == "bad_field"
    with pytest.raises(memd.InvalidRequest) as e:
        m.remember("s", "hi", created_at="yesterday-ish")
    assert e.value.code == "invalid_value"
    with pytest.raises(memd.MemdError):  # every subclass is a MemdError
        m.recall("")


def test_a_stopped_daemon_is_unavailable(fresh_daemon: Daemon) -> None:
    for kind in KINDS:
        for c in open_client(kind, socket=fresh_daemon.socket):
            assert c.health().status == "ok"
            fresh_daemon.stop()
            with pytest.raises(memd.DaemonUnavailable) as e:
                c.health()
            assert e.value.code == "daemon_unavailable"
            assert str(fresh_daemon.socket) in e.value.message
            assert isinstance(e.value, memd.Unavailable)
            fresh_daemon.start()


def test_a_missing_socket_is_unavailable(tmp_path: Path) -> None:
    for kind in KINDS:
        for c in open_client(kind, socket=tmp_path / "none.sock"):
            with pytest.raises(memd.DaemonUnavailable) as e:
                c.status()
            assert "No such file" in e.value.message


def test_a_socket_nobody_listens_on_is_unavailable(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nothing listens: connection refused
    for kind in KINDS:
        for c in open_client(kind, socket=path, check_peer=False):
            with pytest.raises(memd.DaemonUnavailable) as e:
                c.health()
            assert "refused" in e.value.message


def test_client_timeout(daemon: Daemon) -> None:
    for kind in KINDS:
        for c in open_client(kind, socket=daemon.socket, timeout=1e-6):
            with pytest.raises(memd.Timeout) as e:
                c.checkpoint()
            assert e.value.code == "client_timeout"


def test_answers_map_to_classes() -> None:
    def err(status: int, code: str) -> memd.MemdError:
        return error_from_answer(status, {"error": {"code": code, "message": "m"}})

    assert type(err(404, "not_found")) is memd.NotFound
    for status, code in [
        (400, "malformed_json"),
        (400, "bad_field"),
        (422, "invalid_value"),
        (413, "payload_too_large"),
    ]:
        assert type(err(status, code)) is memd.InvalidRequest
    assert type(err(409, "dream_running")) is memd.Conflict
    assert type(err(403, "forbidden")) is memd.Forbidden
    assert type(err(503, "timeout")) is memd.Timeout
    assert type(err(503, "shutting_down")) is memd.Unavailable
    assert type(err(507, "disk_full")) is memd.Unavailable
    assert type(err(500, "internal")) is memd.MemdError
    odd = error_from_answer(502, "bad gateway")
    assert (odd.code, odd.message, odd.status) == ("http_502", "bad gateway", 502)


async def test_async_clients_run_concurrently(daemon: Daemon) -> None:
    async with memd.AsyncClient(daemon.socket, namespace="ns-concurrent") as c:
        await asyncio.gather(*(c.remember("conc", f"turn {i} about a heron") for i in range(20)))
        results = await asyncio.gather(*(c.recall("heron", k=5) for _ in range(20)))
        assert all(len(r.results) == 5 for r in results)
        assert (await c.session("conc")).session.exchanges == 20
        with pytest.raises(memd.NotFound):
            await c.session("no-such-session")
