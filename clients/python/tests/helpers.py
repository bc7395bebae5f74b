"""Drives :class:`memd.AsyncClient` through the same scenarios as
:class:`memd.Client`: every coroutine method is run to completion on a loop
of the test's own, so each test exercises both clients' real methods."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import memd

KINDS = ["sync", "async"]


class Blocking:
    """An AsyncClient whose coroutine methods block until done."""

    def __init__(self, client: memd.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **kw: self._loop.run_until_complete(attr(*a, **kw))
        return attr

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())


def open_client(kind: str, **kwargs: Any) -> Iterator[memd.Client | Blocking]:
    """A client of ``kind`` (``sync`` or ``async``), closed afterwards."""
    if kind == "sync":
        with memd.Client(**kwargs) as c:
            yield c
        return
    loop = asyncio.new_event_loop()
    try:
        b = Blocking(memd.AsyncClient(**kwargs), loop)
        try:
            yield b
        finally:
            b.close()
    finally:
        loop.close()
