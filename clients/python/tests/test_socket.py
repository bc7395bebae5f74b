"""Socket lookup, in ``memd ctl``'s order, and the signatures of both clients."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from conftest import Daemon

import memd
from memd.socket_path import SYSTEM_SOCKET, resolve_socket


def test_memd_socket_is_used_when_no_socket_is_given(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMD_SOCKET", str(daemon.socket))
    monkeypatch.delenv("MEMD_CONFIG", raising=False)
    with memd.Client() as c:
        assert c.socket == daemon.socket
        assert c.health().status == "ok"


async def test_memd_socket_async(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMD_SOCKET", str(daemon.socket))
    async with memd.AsyncClient() as c:
        assert c.socket == daemon.socket
        assert (await c.status()).socket == str(daemon.socket)


def test_memd_config_names_the_socket(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMD_SOCKET", raising=False)
    monkeypatch.setenv("MEMD_CONFIG", str(daemon.config))
    with memd.Client() as c:
        assert c.socket == daemon.socket
        assert c.health().status == "ok"
    monkeypatch.delenv("MEMD_CONFIG")
    with memd.Client(config=daemon.config) as c:
        assert c.socket == daemon.socket


def test_order(tmp_path: Path) -> None:
    cfg = tmp_path / "memd.toml"
    cfg.write_text('[daemon]\nsocket = "/from/config.sock"\n')
    user = tmp_path / "xdg" / "memd" / "memd.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[daemon]\nsocket = "/from/user-config.sock"\n')
    base = {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}

    def resolve(env: dict[str, str], **kw: object) -> str:
        return str(resolve_socket(environ={**base, **env}, **kw))  # type: ignore[arg-type]

    # The argument first, then $MEMD_SOCKET, then the configuration.
    assert resolve({"MEMD_SOCKET": "/env.sock"}, socket="/arg.sock") == "/arg.sock"
    assert resolve({"MEMD_SOCKET": "/env.sock", "MEMD_CONFIG": str(cfg)}) == "/env.sock"
    assert resolve({"MEMD_SOCKET": ""}, config=cfg) == "/from/config.sock"
    assert resolve({"MEMD_CONFIG": str(cfg)}) == "/from/config.sock"
    # An explicit config beats $MEMD_CONFIG, which beats the user's file.
    other = tmp_path / "other.toml"
    other.write_text("[daemon]\n")
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert resolve({**xdg, "MEMD_CONFIG": str(cfg)}) == "/from/config.sock"
    assert resolve(xdg) == "/from/user-config.sock"
    # The environment override of daemon.socket, read as the daemon reads it.
    assert resolve({**xdg, "MEMD_DAEMON__SOCKET": "/over.sock"}) == "/over.sock"
    assert resolve({"MEMD_DAEMON__Socket": '"/quoted.sock"'}) == "/quoted.sock"
    # A file without daemon.socket: the default.
    assert resolve({"MEMD_CONFIG": str(other)}) == str(tmp_path / "run" / "memd" / "memd.sock")
    # A named file must exist.
    with pytest.raises(memd.MemdError) as e:
        resolve({"MEMD_CONFIG": str(tmp_path / "missing.toml")})
    assert e.value.code == "config"
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon\n")
    with pytest.raises(memd.MemdError):
        resolve({}, config=bad)


def test_default_paths(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path / "home")}
    assert memd.default_socket_path({**home, "RUNTIME_DIRECTORY": "/run/a:/run/b"}) == Path(
        "/run/a/memd.sock"
    )
    assert memd.default_socket_path({**home, "XDG_RUNTIME_DIR": "/run/user/7"}) == Path(
        "/run/user/7/memd/memd.sock"
    )
    assert memd.default_socket_path({**home, "XDG_RUNTIME_DIR": ""}) == Path(
        f"/tmp/memd-{os.getuid()}/memd.sock"
    )
    expected = memd.default_socket_path(home)
    if not expected.exists() and SYSTEM_SOCKET.exists():
        expected = SYSTEM_SOCKET
    assert resolve_socket(environ=home) == expected


def test_both_clients_have_the_same_methods() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            n: inspect.signature(f)
            for n, f in inspect.getmembers(cls, inspect.isfunction)
            if not n.startswith("_") and n not in ("close", "aclose")
        }

    sync, aio = public(memd.Client), public(memd.AsyncClient)
    assert sync.keys() == aio.keys()
    for name in sync:
        assert inspect.iscoroutinefunction(getattr(memd.AsyncClient, name)), name
        assert str(sync[name]) == str(aio[name]), name
    expected = {
        "health", "status", "metrics", "reembed", "remember", "import_ndjson", "sessions", "session",
        "delete_session", "recall", "context", "dream", "dream_status", "dream_runs", "gist", "eras",
        "profile", "narrative", "self_state", "sources", "sync_source", "source_rows", "concept",
        "edit_concept", "remove_concept", "checkpoint", "checkpoints", "export", "import_all",
        "add_fact", "facts", "fact", "edit_fact", "promote_fact", "reject_fact", "forget_fact",
        "record_interaction", "interactions", "fact_interactions", "why", "quarantine",
        "release_quarantined", "drop_quarantined",
    }  # fmt: skip
    assert set(sync) == expected
