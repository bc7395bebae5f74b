"""memd-client: the Python client of memd, the long-term memory daemon for
AI agents.

    import memd

    with memd.Client(namespace="alice") as m:
        m.remember("chat-1", "I adopted a grey cat named Miso")
        for hit in m.recall("what is my cat called", k=3):
            print(hit.score, hit.content)

:class:`Client` (blocking) and :class:`AsyncClient` (asyncio) talk to the
daemon over its Unix socket, found as ``memd ctl`` finds it
(:func:`resolve_socket`). Answers are frozen dataclasses (:mod:`memd.types`);
failures are :class:`MemdError` subclasses carrying the daemon's error code.
"""

from .aio import AsyncClient
from .client import Client
from .errors import (
    Conflict,
    DaemonUnavailable,
    Forbidden,
    InvalidRequest,
    MemdError,
    NotFound,
    Timeout,
    Unavailable,
    Untrusted,
)
from .socket_path import default_socket_path, resolve_socket
from .types import (
    CheckpointResult,
    Checkpoints,
    Concept,
    ContextItem,
    ContextPack,
    ContextSection,
    Counts,
    DeletedSession,
    DreamRun,
    DreamStarted,
    DreamStatus,
    DriveLevels,
    EmbedderStatus,
    Era,
    Eras,
    Exchange,
    ExportResult,
    Gist,
    Health,
    Hit,
    HitExplain,
    ImportAllResult,
    ImportResult,
    Narrative,
    Profile,
    RecallResult,
    ReembedResult,
    Rejected,
    Remembered,
    RowsResult,
    SelfState,
    Session,
    SessionHistory,
    SessionList,
    Snapshot,
    Source,
    Status,
    SyncResult,
    SyncStats,
    TableReport,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "CheckpointResult",
    "Checkpoints",
    "Client",
    "Concept",
    "Conflict",
    "ContextItem",
    "ContextPack",
    "ContextSection",
    "Counts",
    "DaemonUnavailable",
    "DeletedSession",
    "DreamRun",
    "DreamStarted",
    "DreamStatus",
    "DriveLevels",
    "EmbedderStatus",
    "Era",
    "Eras",
    "Exchange",
    "ExportResult",
    "Forbidden",
    "Gist",
    "Health",
    "Hit",
    "HitExplain",
    "ImportAllResult",
    "ImportResult",
    "InvalidRequest",
    "MemdError",
    "Narrative",
    "NotFound",
    "Profile",
    "RecallResult",
    "ReembedResult",
    "Rejected",
    "Remembered",
    "RowsResult",
    "SelfState",
    "Session",
    "SessionHistory",
    "SessionList",
    "Snapshot",
    "Source",
    "Status",
    "SyncResult",
    "SyncStats",
    "TableReport",
    "Timeout",
    "Unavailable",
    "Untrusted",
    "default_socket_path",
    "resolve_socket",
]
