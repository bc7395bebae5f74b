"""What the sync and async clients share: the socket, the default
namespace, the peer check, reading answers and mapping failures."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar, Union

import httpx

from ._calls import Call
from .errors import DaemonUnavailable, MemdError, Timeout, error_from_answer
from .socket_path import check_server, resolve_socket
from .types import ExportResult

T = TypeVar("T")

PathLike = Union[str, "os.PathLike[str]"]

#: Seconds a request may take before the client gives up; the daemon has
#: its own limit (``api.request_timeout_s``) except for checkpoints, dream
#: passes, source syncs and import-all, which grow with the store.
DEFAULT_TIMEOUT = 120.0

BASE_URL = "http://memd"


class _Base:
    """Socket, namespace and answer handling for both clients."""

    def __init__(
        self,
        socket: PathLike | None,
        config: PathLike | None,
        namespace: str | None,
        timeout: float | None,
        check_peer: bool,
    ) -> None:
        self.socket: Path = resolve_socket(socket, config)
        self.namespace = namespace
        self.timeout = timeout
        self._peer_checked = not check_peer

    def _ns(self, namespace: str | None) -> str | None:
        return namespace if namespace is not None else self.namespace

    def _check_peer(self) -> None:
        # Once per client: the socket's server must be one we may send memory to.
        if not self._peer_checked:
            check_server(self.socket)
            self._peer_checked = True

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """httpx's failures as memd's exceptions."""
        try:
            yield
        except httpx.TimeoutException as e:
            raise Timeout(
                "client_timeout", f"no answer from memd at {self.socket} in time: {e}"
            ) from e
        except httpx.ConnectError as e:
            raise DaemonUnavailable(str(self.socket), _reason(e)) from e
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            raise DaemonUnavailable(str(self.socket), f"the connection broke: {_reason(e)}") from e

    @staticmethod
    def _finish(call: Call[T], response: httpx.Response) -> T:
        if response.is_success:
            if call.text:
                return call.parse(response.text)
            try:
                body = response.json()
            except ValueError as e:
                raise MemdError(
                    "bad_response",
                    f"memd answered with non-JSON: {response.text[:200]!r}",
                    response.status_code,
                ) from e
            return call.parse(body)
        raise _error(response.status_code, response.content)


def _reason(e: Exception) -> str:
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return str(e) or type(e).__name__


def _error(status: int, content: bytes) -> MemdError:
    body: Any
    try:
        body = json.loads(content)
    except ValueError:
        body = content.decode(errors="replace")
    return error_from_answer(status, body)


class ExportTail:
    """Counts what an export wrote and reads its end marker, which proves
    the stream was not cut short."""

    def __init__(self) -> None:
        self.lines = 0
        self.bytes = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\n")
        self.bytes += len(chunk)
        self._tail = (self._tail + chunk)[-4096:]

    def result(self) -> ExportResult:
        last = self._tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            end = json.loads(last)
        except ValueError:
            end = None
        if not isinstance(end, dict) or end.get("memd_export_end") is not True:
            raise MemdError(
                "export_truncated", "the export ended without its end marker; it is incomplete"
            )
        return ExportResult(rows=int(end["rows"]), lines=self.lines, bytes=self.bytes)


#: Bytes read at a time when streaming a file to import-all.
CHUNK = 1 << 20


class Sink:
    """A path opened for writing, or a binary file used as given."""

    def __init__(self, out: PathLike | IO[bytes]) -> None:
        self._out = out
        self._opened: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        if isinstance(self._out, (str, os.PathLike)):
            self._opened = open(Path(self._out), "wb")
            return self._opened
        return self._out

    def __exit__(self, *exc: object) -> None:
        if self._opened is not None:
            self._opened.close()


class Source:
    """Bytes as they are, or a path's or binary file's content in chunks."""

    def __init__(self, src: bytes | PathLike | IO[bytes]) -> None:
        self._src = src
        self._opened: IO[bytes] | None = None

    def __enter__(self) -> Source:
        if isinstance(self._src, (str, os.PathLike)):
            self._opened = open(Path(self._src), "rb")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._opened is not None:
            self._opened.close()

    def _file(self) -> IO[bytes] | None:
        if self._opened is not None:
            return self._opened
        return None if isinstance(self._src, (bytes, str, os.PathLike)) else self._src

    def chunks(self) -> bytes | Iterator[bytes]:
        f = self._file()
        if f is None:
            assert isinstance(self._src, bytes)
            return self._src
        return iter(lambda: f.read(CHUNK), b"")

    def achunks(self) -> bytes | AsyncIterator[bytes]:
        f = self._file()
        if f is None:
            assert isinstance(self._src, bytes)
            return self._src
        return _aread(f)


async def _aread(f: IO[bytes]) -> AsyncIterator[bytes]:
    # Reading a local file blocks briefly; a thread keeps the loop free.
    while True:
        chunk = await asyncio.to_thread(f.read, CHUNK)
        if not chunk:
            return
        yield chunk
