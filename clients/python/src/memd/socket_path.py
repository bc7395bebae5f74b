"""Which socket to talk to, found exactly as ``memd ctl`` finds it.

Order (first hit wins):

1. the ``socket`` argument (``memd ctl --socket``);
2. ``$MEMD_SOCKET``;
3. ``daemon.socket`` of the configuration: the ``config`` argument
   (``--config``), else ``$MEMD_CONFIG``, else
   ``$XDG_CONFIG_HOME/memd/memd.toml`` (``~/.config/memd/memd.toml``), else
   ``/etc/memd/memd.toml``, with ``MEMD_DAEMON__SOCKET`` overriding the file;
4. the default: ``$RUNTIME_DIRECTORY/memd.sock``, else
   ``$XDG_RUNTIME_DIR/memd/memd.sock``, else ``/tmp/memd-$UID/memd.sock``;
   if that does not exist but the system unit's ``/run/memd/memd.sock``
   does, that one.

Empty environment variables count as unset, as they do for the daemon.
"""

from __future__ import annotations

import os
import socket as _socket
import stat
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from .errors import DaemonUnavailable, MemdError, Untrusted

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older interpreters only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

PathLike = Union[str, "os.PathLike[str]"]

SYSTEM_SOCKET = Path("/run/memd/memd.sock")


def _env(name: str, environ: Mapping[str, str]) -> str | None:
    value = environ.get(name)
    return value if value else None


def default_socket_path(environ: Mapping[str, str] | None = None) -> Path:
    """The daemon's default socket when the configuration names none."""
    env = os.environ if environ is None else environ
    runtime = _env("RUNTIME_DIRECTORY", env)
    if runtime is not None:
        # systemd may pass several colon-separated directories; the first is the daemon's.
        return Path(runtime.split(":")[0]) / "memd.sock"
    xdg = _env("XDG_RUNTIME_DIR", env)
    if xdg is not None:
        return Path(xdg) / "memd" / "memd.sock"
    return Path(f"/tmp/memd-{os.getuid()}/memd.sock")


def config_file(
    config: PathLike | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The configuration file the daemon and ``memd ctl`` would read, or
    ``None`` (built-in defaults). A file named explicitly (argument or
    ``$MEMD_CONFIG``) must exist."""
    env = os.environ if environ is None else environ
    explicit = Path(config) if config is not None else None
    if explicit is None and _env("MEMD_CONFIG", env) is not None:
        explicit = Path(env["MEMD_CONFIG"])
    if explicit is not None:
        if not explicit.exists():
            raise MemdError("config", f"config file {explicit}: file not found")
        return explicit
    xdg = _env("XDG_CONFIG_HOME", env)
    home = _env("HOME", env)
    candidates = []
    if xdg is not None:
        candidates.append(Path(xdg) / "memd" / "memd.toml")
    elif home is not None:
        candidates.append(Path(home) / ".config" / "memd" / "memd.toml")
    candidates.append(Path("/etc/memd/memd.toml"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _env_socket(env: Mapping[str, str]) -> str | None:
    """``MEMD_DAEMON__SOCKET`` (the key part in any case), read as the daemon
    reads an override: a TOML value if it is one, else the text."""
    for name, raw in env.items():
        if not name.startswith("MEMD_"):
            continue
        if [p.lower() for p in name[len("MEMD_") :].split("__")] != ["daemon", "socket"]:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}").get("v")
        except tomllib.TOMLDecodeError:
            value = raw
        return value if isinstance(value, str) else raw
    return None


def config_socket(
    config: PathLike | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """``daemon.socket`` of the configuration (with its environment
    override), or ``None`` when it names none."""
    env = os.environ if environ is None else environ
    path = config_file(config, env)
    from_file: str | None = None
    if path is not None:
        try:
            with open(path, "rb") as f:
                parsed = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise MemdError("config", f"config file {path}: {e}") from e
        daemon = parsed.get("daemon")
        if isinstance(daemon, dict) and isinstance(daemon.get("socket"), str):
            from_file = daemon["socket"]
    chosen = _env_socket(env) or from_file
    return Path(chosen) if chosen else None


def resolve_socket(
    socket: PathLike | None = None,
    config: PathLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The socket a client talks to, in ``memd ctl``'s order (see the
    module's docstring). ``environ`` defaults to ``os.environ``."""
    env = os.environ if environ is None else environ
    if socket is not None and str(socket):
        return Path(socket)
    from_env = _env("MEMD_SOCKET", env)
    if from_env is not None:
        return Path(from_env)
    configured = config_socket(config, env)
    if configured is not None:
        return configured
    default = default_socket_path(env)
    if not default.exists() and SYSTEM_SOCKET.exists():
        return SYSTEM_SOCKET
    return default


def check_server(path: Path) -> None:
    """Refuses a server that should not be sent memory, as ``memd ctl``
    does: it must run as this user or root, or as the owner of the socket's
    directory when only root or this user could have made that directory
    (``/run/memd`` of the system unit). Raises :class:`DaemonUnavailable`
    when nothing answers and :class:`Untrusted` for a stranger."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(5.0)
        try:
            s.connect(str(path))
        except OSError as e:
            raise DaemonUnavailable(str(path), e.strerror or str(e)) from e
        creds = s.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    finally:
        s.close()
    _pid, uid, _gid = struct.unpack("3i", creds)
    why = _distrust(path, uid)
    if why is not None:
        raise Untrusted(
            "untrusted",
            f"refusing to talk to the server on {path}: it runs as uid {uid}, {why}. "
            "Whoever runs it would read everything sent to it; check who owns that socket",
        )


def _distrust(path: Path, uid: int) -> str | None:
    me = os.geteuid()
    if uid in (me, 0):
        return None
    directory = path.parent
    try:
        dir_stat = directory.stat()
    except OSError as e:
        return f"and {directory}: {e.strerror}"
    if dir_stat.st_uid != uid:
        return f"which is neither you, root, nor the owner of {directory} (uid {dir_stat.st_uid})"
    parent = directory.parent
    try:
        parent_stat = parent.stat()
    except OSError as e:
        return f"and {parent}: {e.strerror}"
    group_or_world = stat.S_IWGRP | stat.S_IWOTH
    parent_safe = parent_stat.st_uid in (0, me) and not parent_stat.st_mode & group_or_world
    if dir_stat.st_mode & group_or_world or not parent_safe:
        return (
            f"which owns {directory} but that directory could have been made or changed by any user"
        )
    return None
