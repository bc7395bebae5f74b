"""Typed answers of the memd API: frozen dataclasses, each built from the
daemon's JSON by ``from_json``.

Fields follow the API's names (see the README's API section). Parts the
daemon itself keeps loose (a dream pass's actions, a self-state, an item's
own attributes) stay plain JSON (``Any`` / ``Mapping``). Each type with
more fields than it names keeps the whole answer in ``raw``, so a field a
newer daemon adds is never lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Json = Mapping[str, Any]


def _opt_str(d: Json, key: str) -> str | None:
    v = d.get(key)
    return None if v is None else str(v)


def _opt_int(d: Json, key: str) -> int | None:
    v = d.get(key)
    return None if v is None else int(v)


def _opt_float(d: Json, key: str) -> float | None:
    v = d.get(key)
    return None if v is None else float(v)


def _rest(d: Json, known: tuple[str, ...]) -> Mapping[str, Any]:
    return {k: v for k, v in d.items() if k not in known}


# --- health, status ---------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """``GET /v1/health``"""

    status: str

    @classmethod
    def from_json(cls, d: Json) -> Health:
        return cls(status=str(d["status"]))


@dataclass(frozen=True)
class EmbedderStatus:
    """The embedder in ``status``: provider, model, dimension and queue."""

    provider: str
    model: str
    dim: int
    backlog: int
    embedded: int
    failures: int
    rate_per_s: float | None
    last_error: str | None
    fallback_reason: str | None

    @classmethod
    def from_json(cls, d: Json) -> EmbedderStatus:
        return cls(
            provider=str(d["provider"]),
            model=str(d["model"]),
            dim=int(d["dim"]),
            backlog=int(d["backlog"]),
            embedded=int(d.get("embedded", 0)),
            failures=int(d.get("failures", 0)),
            rate_per_s=_opt_float(d, "rate_per_s"),
            last_error=_opt_str(d, "last_error"),
            fallback_reason=_opt_str(d, "fallback_reason"),
        )


@dataclass(frozen=True)
class Counts:
    sessions: int
    exchanges: int

    @classmethod
    def from_json(cls, d: Json) -> Counts:
        return cls(sessions=int(d["sessions"]), exchanges=int(d["exchanges"]))


@dataclass(frozen=True)
class DriveLevels:
    """Drive levels of a namespace, 0..1, and why."""

    continuity: float
    coherence: float
    curiosity: float
    stability: float
    why: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> DriveLevels:
        return cls(
            continuity=float(d["continuity"]),
            coherence=float(d["coherence"]),
            curiosity=float(d["curiosity"]),
            stability=float(d["stability"]),
            why=tuple(str(w) for w in d.get("why") or ()),
        )


@dataclass(frozen=True)
class DreamRun:
    """One dream pass: as a pass reports it (``took_ms``) or as stored
    (``id``, ``ended_at``)."""

    namespace: str
    trigger: str
    dry_run: bool
    outcome: str
    started_at: str
    id: int | None = None
    ended_at: str | None = None
    took_ms: int | None = None
    drives_before: DriveLevels | None = None
    drives_after: DriveLevels | None = None
    actions: tuple[Mapping[str, Any], ...] = ()
    llm: Mapping[str, Any] | None = None
    errors: tuple[str, ...] = ()
    note: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> DreamRun:
        before, after = d.get("drives_before"), d.get("drives_after")
        return cls(
            namespace=str(d["namespace"]),
            trigger=str(d["trigger"]),
            dry_run=bool(d.get("dry_run", False)),
            outcome=str(d["outcome"]),
            started_at=str(d["started_at"]),
            id=_opt_int(d, "id"),
            ended_at=_opt_str(d, "ended_at"),
            took_ms=_opt_int(d, "took_ms"),
            drives_before=DriveLevels.from_json(before) if before else None,
            drives_after=DriveLevels.from_json(after) if after else None,
            actions=tuple(d.get("actions") or ()),
            llm=d.get("llm"),
            errors=tuple(str(e) for e in d.get("errors") or ()),
            note=_opt_str(d, "note"),
        )


@dataclass(frozen=True)
class DreamStatus:
    """The dream cycle's state (the ``dream`` part of ``status``)."""

    enabled: bool
    provider: str
    running: Mapping[str, Any] | None
    last_run: DreamRun | None
    next_scheduled: str | None
    drives: Mapping[str, DriveLevels]
    backlog: Mapping[str, Mapping[str, Any]]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: Json) -> DreamStatus:
        last = d.get("last_run")
        return cls(
            enabled=bool(d["enabled"]),
            provider=str(d["provider"]),
            running=d.get("running"),
            last_run=DreamRun.from_json(last) if last else None,
            next_scheduled=_opt_str(d, "next_scheduled"),
            drives={ns: DriveLevels.from_json(v) for ns, v in (d.get("drives") or {}).items()},
            backlog=dict(d.get("backlog") or {}),
            raw=d,
        )


@dataclass(frozen=True)
class Status:
    """``GET /v1/status``: the main parts typed; everything in ``raw``
    (``index``, ``store``, ``checkpoint``, ``sources``, …)."""

    version: str
    pid: int
    uptime_s: int
    socket: str
    data_dir: str
    db_path: str
    config: str
    schema_version: int
    embedder: EmbedderStatus
    counts: Counts
    dream: DreamStatus | None
    firewall: FirewallStatus | None = None
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: Json) -> Status:
        dream, firewall = d.get("dream"), d.get("firewall")
        return cls(
            version=str(d["version"]),
            pid=int(d["pid"]),
            uptime_s=int(d["uptime_s"]),
            socket=str(d["socket"]),
            data_dir=str(d.get("data_dir", "")),
            db_path=str(d["db_path"]),
            config=str(d["config"]),
            schema_version=int(d.get("schema_version", 0)),
            embedder=EmbedderStatus.from_json(d["embedder"]),
            counts=Counts.from_json(d["counts"]),
            dream=DreamStatus.from_json(dream) if dream else None,
            firewall=FirewallStatus.from_json(firewall) if firewall else None,
            raw=d,
        )


@dataclass(frozen=True)
class FirewallStatus:
    """The write firewall in ``status``: texts scanned since the daemon
    started and what came of them; rows ``held`` in quarantine and
    ``flagged_rows`` now."""

    enabled: bool
    scanned: int
    flagged: int
    quarantined: int
    rejected: int
    held: int
    flagged_rows: int

    @classmethod
    def from_json(cls, d: Json) -> FirewallStatus:
        return cls(
            enabled=bool(d["enabled"]),
            scanned=int(d["scanned"]),
            flagged=int(d["flagged"]),
            quarantined=int(d["quarantined"]),
            rejected=int(d["rejected"]),
            held=int(d["held"]),
            flagged_rows=int(d["flagged_rows"]),
        )


@dataclass(frozen=True)
class ReembedResult:
    """``POST /v1/reembed``"""

    queued: bool
    all: bool
    upto_id: int | None

    @classmethod
    def from_json(cls, d: Json) -> ReembedResult:
        return cls(queued=bool(d["queued"]), all=bool(d["all"]), upto_id=_opt_int(d, "upto_id"))


# --- sessions and exchanges -------------------------------------------------


@dataclass(frozen=True)
class FirewallVerdict:
    """What the write firewall found in a stored text: its classes
    (``instruction_override``, ``exfiltration``, …) and why."""

    classes: tuple[str, ...]
    reason: str

    @classmethod
    def from_json(cls, d: Json) -> FirewallVerdict:
        return cls(classes=tuple(str(c) for c in d.get("classes") or ()), reason=str(d["reason"]))

    @classmethod
    def opt(cls, d: Json | None) -> FirewallVerdict | None:
        return cls.from_json(d) if d else None


@dataclass(frozen=True)
class Remembered:
    """``POST /v1/sessions/{sid}/exchanges``: the stored exchange's id;
    ``duplicate`` when its ``ext_id`` had been seen (nothing stored).
    ``quarantined``: the write firewall keeps it out of recall and context
    packs until released; ``flagged``: stored usable but listed for review;
    ``firewall`` says which classes it found and why."""

    id: int
    session_id: str
    namespace: str
    created_at: str
    duplicate: bool
    quarantined: bool = False
    flagged: bool = False
    firewall: FirewallVerdict | None = None

    @classmethod
    def from_json(cls, d: Json) -> Remembered:
        return cls(
            id=int(d["id"]),
            session_id=str(d["session_id"]),
            namespace=str(d["namespace"]),
            created_at=str(d["created_at"]),
            duplicate=bool(d["duplicate"]),
            quarantined=bool(d.get("quarantined", False)),
            flagged=bool(d.get("flagged", False)),
            firewall=FirewallVerdict.opt(d.get("firewall")),
        )


@dataclass(frozen=True)
class Rejected:
    """A line of an import that was not stored, numbered from 1; ``code``
    ``firewall_rejected`` and its ``classes`` when the write firewall
    refused it."""

    line: int
    error: str
    code: str | None = None
    classes: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> Rejected:
        return cls(
            line=int(d["line"]),
            error=str(d["error"]),
            code=_opt_str(d, "code"),
            classes=tuple(str(c) for c in d.get("classes") or ()),
        )


@dataclass(frozen=True)
class ImportResult:
    """``POST /v1/import``; ``quarantined`` and ``flagged`` count lines
    stored so by the write firewall."""

    imported: int
    duplicates: int
    rejected: tuple[Rejected, ...]
    quarantined: int = 0
    flagged: int = 0

    @classmethod
    def from_json(cls, d: Json) -> ImportResult:
        return cls(
            imported=int(d.get("imported", 0)),
            duplicates=int(d.get("duplicates", 0)),
            rejected=tuple(Rejected.from_json(r) for r in d.get("rejected") or ()),
            quarantined=int(d.get("quarantined", 0)),
            flagged=int(d.get("flagged", 0)),
        )


@dataclass(frozen=True)
class Session:
    """A session as lists show it."""

    id: str
    namespace: str
    created_at: str
    updated_at: str
    exchanges: int

    @classmethod
    def from_json(cls, d: Json) -> Session:
        return cls(
            id=str(d["id"]),
            namespace=str(d["namespace"]),
            created_at=str(d["created_at"]),
            updated_at=str(d["updated_at"]),
            exchanges=int(d["exchanges"]),
        )


@dataclass(frozen=True)
class SessionList:
    """``GET /v1/sessions``: most recently written first."""

    namespace: str
    sessions: tuple[Session, ...]

    @classmethod
    def from_json(cls, d: Json) -> SessionList:
        return cls(
            namespace=str(d["namespace"]),
            sessions=tuple(Session.from_json(s) for s in d["sessions"]),
        )


@dataclass(frozen=True)
class Exchange:
    """One stored conversation turn."""

    id: int
    session_id: str
    namespace: str
    role: str
    content: str
    created_at: str
    ext_id: str | None = None
    metadata: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, d: Json) -> Exchange:
        return cls(
            id=int(d["id"]),
            session_id=str(d["session_id"]),
            namespace=str(d["namespace"]),
            role=str(d["role"]),
            content=str(d["content"]),
            created_at=str(d["created_at"]),
            ext_id=_opt_str(d, "ext_id"),
            metadata=d.get("metadata"),
        )


@dataclass(frozen=True)
class SessionHistory:
    """``GET /v1/sessions/{sid}``: the session and its exchanges, oldest first."""

    session: Session
    exchanges: tuple[Exchange, ...]

    @classmethod
    def from_json(cls, d: Json) -> SessionHistory:
        return cls(
            session=Session.from_json(d["session"]),
            exchanges=tuple(Exchange.from_json(x) for x in d["exchanges"]),
        )


@dataclass(frozen=True)
class DeletedSession:
    """``DELETE /v1/sessions/{sid}``"""

    deleted: str
    namespace: str
    exchanges: int

    @classmethod
    def from_json(cls, d: Json) -> DeletedSession:
        return cls(
            deleted=str(d["deleted"]),
            namespace=str(d["namespace"]),
            exchanges=int(d["exchanges"]),
        )


# --- recall and context -----------------------------------------------------


@dataclass(frozen=True)
class HitExplain:
    """With ``explain``: how a hit was ranked."""

    fused: float
    bm25_rank: int | None = None
    vector_rank: int | None = None
    vector_score: float | None = None
    neighbor_boost: float | None = None
    supplement: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> HitExplain:
        return cls(
            fused=float(d["fused"]),
            bm25_rank=_opt_int(d, "bm25_rank"),
            vector_rank=_opt_int(d, "vector_rank"),
            vector_score=_opt_float(d, "vector_score"),
            neighbor_boost=_opt_float(d, "neighbor_boost"),
            supplement=_opt_str(d, "supplement"),
        )


_HIT_FIELDS = (
    "tier",
    "id",
    "ext_id",
    "session_id",
    "namespace",
    "role",
    "content",
    "created_at",
    "score",
    "key",
    "explain",
)


@dataclass(frozen=True)
class Hit:
    """One recall result. ``tier`` is ``exchange``, ``gist``, ``era``,
    ``concept``, ``chunk`` or ``fact``; ``attrs`` holds an item's own
    attributes (a concept's ``source`` and ``name``, a chunk's ``path``, an
    era's ``month``, a fact's ``kind``, ``status``, ``subject``, ``slot``,
    ``entities``, ``confidence``, ``valid_from`` and ``valid_to``, …)."""

    tier: str
    id: int
    namespace: str
    content: str
    created_at: str
    score: float
    ext_id: str | None = None
    session_id: str | None = None
    role: str | None = None
    key: str | None = None
    explain: HitExplain | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Json) -> Hit:
        explain = d.get("explain")
        return cls(
            tier=str(d["tier"]),
            id=int(d["id"]),
            namespace=str(d["namespace"]),
            content=str(d["content"]),
            created_at=str(d["created_at"]),
            score=float(d["score"]),
            ext_id=_opt_str(d, "ext_id"),
            session_id=_opt_str(d, "session_id"),
            role=_opt_str(d, "role"),
            key=_opt_str(d, "key"),
            explain=HitExplain.from_json(explain) if explain else None,
            attrs=_rest(d, _HIT_FIELDS),
        )


@dataclass(frozen=True)
class RecallResult:
    """``POST /v1/recall``: best matches first."""

    results: tuple[Hit, ...]
    mode: str
    took_ms: float

    @classmethod
    def from_json(cls, d: Json) -> RecallResult:
        return cls(
            results=tuple(Hit.from_json(h) for h in d["results"]),
            mode=str(d.get("mode", "hybrid")),
            took_ms=float(d["took_ms"]),
        )

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


_ITEM_FIELDS = ("tier", "id", "text", "score", "created_at", "session_id", "role", "key", "clipped")


@dataclass(frozen=True)
class ContextItem:
    """One item of a context pack; ``id`` is a row id, or a namespace for
    the per-namespace tiers (profile, narrative, self)."""

    tier: str
    id: int | str
    text: str
    score: float | None = None
    created_at: str | None = None
    session_id: str | None = None
    role: str | None = None
    key: str | None = None
    clipped: bool = False
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Json) -> ContextItem:
        raw_id = d["id"]
        return cls(
            tier=str(d["tier"]),
            id=raw_id if isinstance(raw_id, int) else str(raw_id),
            text=str(d["text"]),
            score=_opt_float(d, "score"),
            created_at=_opt_str(d, "created_at"),
            session_id=_opt_str(d, "session_id"),
            role=_opt_str(d, "role"),
            key=_opt_str(d, "key"),
            clipped=bool(d.get("clipped", False)),
            attrs=_rest(d, _ITEM_FIELDS),
        )


@dataclass(frozen=True)
class ContextSection:
    name: str
    items: tuple[ContextItem, ...]

    @classmethod
    def from_json(cls, d: Json) -> ContextSection:
        return cls(name=str(d["name"]), items=tuple(ContextItem.from_json(i) for i in d["items"]))


@dataclass(frozen=True)
class ContextPack:
    """``POST /v1/context``: what to put in front of an LLM, in priority
    order, within ``budget_chars``. ``ids`` lists what was used."""

    namespace: str
    budget_chars: int
    used_chars: int
    sections: tuple[ContextSection, ...]
    ids: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> ContextPack:
        return cls(
            namespace=str(d["namespace"]),
            budget_chars=int(d["budget_chars"]),
            used_chars=int(d["used_chars"]),
            sections=tuple(ContextSection.from_json(s) for s in d["sections"]),
            ids=tuple(d.get("ids") or ()),
        )

    def as_text(self) -> str:
        """The pack as prompt text: one block per non-empty section, headed
        by its name, one item per line."""
        blocks = []
        for s in self.sections:
            if s.items:
                lines = "\n".join(f"- {i.text}" for i in s.items)
                blocks.append(f"## {s.name}\n{lines}")
        return "\n\n".join(blocks)


# --- the dream cycle's tiers ------------------------------------------------


@dataclass(frozen=True)
class DreamStarted:
    """``POST /v1/dream``: the passes' records with ``wait`` (or a dry
    run), else ``started`` (202: the pass runs in the background)."""

    started: bool
    runs: tuple[DreamRun, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> DreamStarted:
        return cls(
            started=bool(d.get("started", False)),
            runs=tuple(DreamRun.from_json(r) for r in d.get("runs") or ()),
        )


@dataclass(frozen=True)
class Gist:
    """``GET /v1/sessions/{sid}/gist``: a session's summary; turns up to
    ``last_exchange_id`` are covered."""

    id: int
    session_id: str
    namespace: str
    month: str
    text: str
    last_exchange_id: int
    turns: int
    provider: str
    created_at: str
    updated_at: str
    model: str | None = None
    statements: Any = None

    @classmethod
    def from_json(cls, d: Json) -> Gist:
        return cls(
            id=int(d["id"]),
            session_id=str(d["session_id"]),
            namespace=str(d["namespace"]),
            month=str(d["month"]),
            text=str(d["text"]),
            last_exchange_id=int(d["last_exchange_id"]),
            turns=int(d["turns"]),
            provider=str(d["provider"]),
            created_at=str(d["created_at"]),
            updated_at=str(d["updated_at"]),
            model=_opt_str(d, "model"),
            statements=d.get("statements"),
        )


@dataclass(frozen=True)
class Era:
    """One month's digest."""

    month: str
    text: str
    stale: bool
    built_at: str
    id: int | None = None
    sessions: Any = None
    gist_ids: Any = None
    provider: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> Era:
        return cls(
            month=str(d["month"]),
            text=str(d["text"]),
            stale=bool(d["stale"]),
            built_at=str(d["built_at"]),
            id=_opt_int(d, "id"),
            sessions=d.get("sessions"),
            gist_ids=d.get("gist_ids"),
            provider=_opt_str(d, "provider"),
        )


@dataclass(frozen=True)
class Eras:
    """``GET /v1/eras``"""

    namespace: str
    eras: tuple[Era, ...]

    @classmethod
    def from_json(cls, d: Json) -> Eras:
        return cls(namespace=str(d["namespace"]), eras=tuple(Era.from_json(e) for e in d["eras"]))


@dataclass(frozen=True)
class Profile:
    """``GET /v1/profile``: standing facts stated in the first person."""

    namespace: str
    text: str
    facts: tuple[Mapping[str, Any], ...]
    sessions_covered: int
    stale: bool
    built_at: str
    provider: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> Profile:
        return cls(
            namespace=str(d["namespace"]),
            text=str(d["text"]),
            facts=tuple(d.get("facts") or ()),
            sessions_covered=int(d["sessions_covered"]),
            stale=bool(d["stale"]),
            built_at=str(d["built_at"]),
            provider=_opt_str(d, "provider"),
        )


@dataclass(frozen=True)
class Narrative:
    """``GET /v1/narrative``: the current arc."""

    namespace: str
    text: str
    stale: bool
    built_at: str
    provider: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> Narrative:
        return cls(
            namespace=str(d["namespace"]),
            text=str(d["text"]),
            stale=bool(d["stale"]),
            built_at=str(d["built_at"]),
            provider=_opt_str(d, "provider"),
        )


@dataclass(frozen=True)
class SelfState:
    """``GET /v1/self``: the agent's self-state (drives, mood,
    reflections, open questions, …) as the consolidator wrote it."""

    namespace: str
    state: Mapping[str, Any]
    built_at: str

    @classmethod
    def from_json(cls, d: Json) -> SelfState:
        return cls(
            namespace=str(d["namespace"]), state=d.get("state") or {}, built_at=str(d["built_at"])
        )


# --- sources and concepts ---------------------------------------------------


@dataclass(frozen=True)
class SyncStats:
    """Counters of a table (or a files source) since the daemon started."""

    synced: int
    deleted: int
    errors: int
    retries: int
    overwrite_warnings: int
    unchanged: int
    last_sync_at: str | None = None
    last_error: str | None = None
    concepts: int | None = None
    removed: int | None = None

    @classmethod
    def from_json(cls, d: Json) -> SyncStats:
        return cls(
            synced=int(d["synced"]),
            deleted=int(d["deleted"]),
            errors=int(d["errors"]),
            retries=int(d["retries"]),
            overwrite_warnings=int(d["overwrite_warnings"]),
            unchanged=int(d["unchanged"]),
            last_sync_at=_opt_str(d, "last_sync_at"),
            last_error=_opt_str(d, "last_error"),
            concepts=_opt_int(d, "concepts"),
            removed=_opt_int(d, "removed"),
        )


@dataclass(frozen=True)
class Source:
    """A configured source: ``kind`` is ``sqlite``, ``postgres`` or
    ``files``; ``state`` is ``starting``, ``ok``, ``down`` or ``error``."""

    name: str
    kind: str
    namespace: str
    state: str
    since: str
    last_error: str | None = None
    path: str | None = None
    url: str | None = None
    documents: int | None = None
    chunks: int | None = None
    stats: SyncStats | None = None
    tables: Mapping[str, SyncStats] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: Json) -> Source:
        stats = d.get("stats")
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            namespace=str(d["namespace"]),
            state=str(d["state"]),
            since=str(d["since"]),
            last_error=_opt_str(d, "last_error"),
            path=_opt_str(d, "path"),
            url=_opt_str(d, "url"),
            documents=_opt_int(d, "documents"),
            chunks=_opt_int(d, "chunks"),
            stats=SyncStats.from_json(stats) if stats else None,
            tables={t: SyncStats.from_json(s) for t, s in (d.get("tables") or {}).items()},
            raw=d,
        )


@dataclass(frozen=True)
class TableReport:
    """What one sync of a table (or a folder) did."""

    table: str
    full: bool
    rows: int
    synced: int
    deleted: int
    overwrite_warnings: int = 0

    @classmethod
    def from_json(cls, d: Json) -> TableReport:
        return cls(
            table=str(d["table"]),
            full=bool(d["full"]),
            rows=int(d["rows"]),
            synced=int(d["synced"]),
            deleted=int(d["deleted"]),
            overwrite_warnings=int(d.get("overwrite_warnings", 0)),
        )


@dataclass(frozen=True)
class SyncResult:
    """``POST /v1/sources/{name}/sync``"""

    source: str
    tables: tuple[TableReport, ...]

    @classmethod
    def from_json(cls, d: Json) -> SyncResult:
        return cls(
            source=str(d["source"]), tables=tuple(TableReport.from_json(t) for t in d["tables"])
        )


@dataclass(frozen=True)
class RowsResult:
    """``POST /v1/sources/{name}/rows``: the application hook's report."""

    source: str
    result: TableReport

    @classmethod
    def from_json(cls, d: Json) -> RowsResult:
        return cls(source=str(d["source"]), result=TableReport.from_json(d["result"]))


@dataclass(frozen=True)
class Concept:
    """A row of a source as memory holds it; ``text`` is the user's
    overlay when there is one, else the source's text."""

    name: str
    namespace: str
    source: str
    table: str
    row_id: str
    text: str
    source_text: str
    strength: float
    removed: bool
    synced_at: str
    overlay: str | None = None
    marker: str | None = None
    item_id: int | None = None
    edited_at: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> Concept:
        return cls(
            name=str(d["name"]),
            namespace=str(d["namespace"]),
            source=str(d["source"]),
            table=str(d["table"]),
            row_id=str(d["row_id"]),
            text=str(d["text"]),
            source_text=str(d["source_text"]),
            strength=float(d["strength"]),
            removed=bool(d["removed"]),
            synced_at=str(d["synced_at"]),
            overlay=_opt_str(d, "overlay"),
            marker=_opt_str(d, "marker"),
            item_id=_opt_int(d, "item_id"),
            edited_at=_opt_str(d, "edited_at"),
        )


# --- checkpoints, export, import of everything ------------------------------


@dataclass(frozen=True)
class CheckpointResult:
    """``POST /v1/checkpoint``: the verified snapshot just taken."""

    path: str
    bytes: int
    duration_ms: float
    wal_truncated: bool
    removed: tuple[str, ...] = ()
    index_layout_bytes: int | None = None

    @classmethod
    def from_json(cls, d: Json) -> CheckpointResult:
        return cls(
            path=str(d["path"]),
            bytes=int(d["bytes"]),
            duration_ms=float(d["duration_ms"]),
            wal_truncated=bool(d["wal_truncated"]),
            removed=tuple(str(r) for r in d.get("removed") or ()),
            index_layout_bytes=_opt_int(d, "index_layout_bytes"),
        )


@dataclass(frozen=True)
class Snapshot:
    path: str
    bytes: int
    created_at: str

    @classmethod
    def from_json(cls, d: Json) -> Snapshot:
        return cls(path=str(d["path"]), bytes=int(d["bytes"]), created_at=str(d["created_at"]))


@dataclass(frozen=True)
class Checkpoints:
    """``GET /v1/checkpoints``: snapshots on disk, newest first."""

    dir: str
    snapshots: tuple[Snapshot, ...]

    @classmethod
    def from_json(cls, d: Json) -> Checkpoints:
        return cls(
            dir=str(d["dir"]), snapshots=tuple(Snapshot.from_json(s) for s in d["snapshots"])
        )


@dataclass(frozen=True)
class ExportResult:
    """``GET /v1/export`` written out: lines (header and end marker
    included) and bytes written, and the row count of the end marker."""

    rows: int
    lines: int
    bytes: int


@dataclass(frozen=True)
class ImportAllResult:
    """``POST /v1/import-all``"""

    rows: int
    tables: Mapping[str, int]
    vectors: int

    @classmethod
    def from_json(cls, d: Json) -> ImportAllResult:
        return cls(
            rows=int(d["rows"]),
            tables={k: int(v) for k, v in (d.get("tables") or {}).items()},
            vectors=int(d.get("vectors", 0)),
        )


# --- facts ------------------------------------------------------------------


def _opt_fact(d: Json | None) -> Fact | None:
    return Fact.from_json(d) if d else None


@dataclass(frozen=True)
class Fact:
    """One atomic statement about a subject, with two clocks:
    ``valid_from``/``valid_to`` (when it was true in the world) and
    ``recorded_at``/``retired_at`` (when memd believed it; a candidate or a
    rejected fact has no ``recorded_at``). ``status`` is ``active``,
    ``candidate``, ``superseded`` or ``invalid``; ``provenance`` is where it
    came from (``exchange_ids``, ``session_id``, ``ext_ids``, ``client``).
    Times are RFC 3339."""

    id: int
    namespace: str
    text: str
    kind: str
    status: str
    confidence: float
    reference_count: int
    valid_from: str
    created_at: str
    updated_at: str
    subject: str | None = None
    entities: tuple[str, ...] = ()
    slot: str | None = None
    last_referenced_at: str | None = None
    valid_to: str | None = None
    recorded_at: str | None = None
    retired_at: str | None = None
    superseded_by: int | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    #: How many times it was stated (extracted repeats fold into it).
    support: int = 1

    @property
    def live(self) -> bool:
        """Active and not retired: what recall and the context pack use."""
        return self.status == "active" and self.retired_at is None

    @classmethod
    def from_json(cls, d: Json) -> Fact:
        return cls(
            id=int(d["id"]),
            namespace=str(d["namespace"]),
            text=str(d["text"]),
            kind=str(d["kind"]),
            status=str(d["status"]),
            confidence=float(d["confidence"]),
            reference_count=int(d["reference_count"]),
            valid_from=str(d["valid_from"]),
            created_at=str(d["created_at"]),
            updated_at=str(d["updated_at"]),
            subject=_opt_str(d, "subject"),
            entities=tuple(str(e) for e in d.get("entities") or ()),
            slot=_opt_str(d, "slot"),
            last_referenced_at=_opt_str(d, "last_referenced_at"),
            valid_to=_opt_str(d, "valid_to"),
            recorded_at=_opt_str(d, "recorded_at"),
            retired_at=_opt_str(d, "retired_at"),
            superseded_by=_opt_int(d, "superseded_by"),
            provenance=d.get("provenance") or {},
            support=int(d.get("support", 1)),
        )


@dataclass(frozen=True)
class FactCreated:
    """``POST /v1/facts``, ``PATCH /v1/facts/{id}``: the new fact, the one
    it superseded, and what the write firewall made of its text
    (``quarantined``: kept out of recall until released; ``flagged``:
    usable, listed for review)."""

    fact: Fact
    superseded: Fact | None = None
    quarantined: bool = False
    flagged: bool = False
    firewall: FirewallVerdict | None = None

    @classmethod
    def from_json(cls, d: Json) -> FactCreated:
        return cls(
            fact=Fact.from_json(d["fact"]),
            superseded=_opt_fact(d.get("superseded")),
            quarantined=bool(d.get("quarantined", False)),
            flagged=bool(d.get("flagged", False)),
            firewall=FirewallVerdict.opt(d.get("firewall")),
        )


@dataclass(frozen=True)
class FactList:
    """``GET /v1/facts``: newest first."""

    namespace: str
    facts: tuple[Fact, ...]

    @classmethod
    def from_json(cls, d: Json) -> FactList:
        return cls(
            namespace=str(d["namespace"]), facts=tuple(Fact.from_json(f) for f in d["facts"])
        )

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)


@dataclass(frozen=True)
class FactHistory:
    """``GET /v1/facts/{id}``: the fact and every version of it, oldest first."""

    fact: Fact
    history: tuple[Fact, ...]

    @classmethod
    def from_json(cls, d: Json) -> FactHistory:
        return cls(
            fact=Fact.from_json(d["fact"]), history=tuple(Fact.from_json(f) for f in d["history"])
        )


@dataclass(frozen=True)
class FactForgotten:
    """``DELETE /v1/facts/{id}``: ``unlinked`` counts older versions that
    named it as their successor."""

    forgotten: int
    namespace: str
    unlinked: int

    @classmethod
    def from_json(cls, d: Json) -> FactForgotten:
        return cls(
            forgotten=int(d["forgotten"]),
            namespace=str(d["namespace"]),
            unlinked=int(d["unlinked"]),
        )


# --- interactions and why ---------------------------------------------------


@dataclass(frozen=True)
class Interaction:
    """A recorded use of a context pack: the prompt, the pack's ids, the
    response, and the facts it reinforced."""

    id: int
    namespace: str
    prompt: str
    response: str
    created_at: str
    session_id: str | None = None
    client: str | None = None
    context_ids: tuple[Mapping[str, Any], ...] = ()
    reinforced: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> Interaction:
        return cls(
            id=int(d["id"]),
            namespace=str(d["namespace"]),
            prompt=str(d["prompt"]),
            response=str(d["response"]),
            created_at=str(d["created_at"]),
            session_id=_opt_str(d, "session_id"),
            client=_opt_str(d, "client"),
            context_ids=tuple(d.get("context_ids") or ()),
            reinforced=tuple(int(f) for f in d.get("reinforced") or ()),
        )


def _interactions(d: Json) -> tuple[Interaction, ...]:
    return tuple(Interaction.from_json(i) for i in d.get("interactions") or ())


@dataclass(frozen=True)
class Reinforced:
    """A fact the response echoed, after its reinforcement."""

    fact_id: int
    confidence: float
    reference_count: int
    last_referenced_at: str

    @classmethod
    def from_json(cls, d: Json) -> Reinforced:
        return cls(
            fact_id=int(d["fact_id"]),
            confidence=float(d["confidence"]),
            reference_count=int(d["reference_count"]),
            last_referenced_at=str(d["last_referenced_at"]),
        )


@dataclass(frozen=True)
class NotReinforced:
    """A fact of the pack that did not move, and why: ``not_echoed``,
    ``too_short``, ``candidate``, ``superseded``, ``invalid``,
    ``other_namespace``, ``not_found``, ``no_longer_live`` or
    ``reinforcement_off``."""

    fact_id: int
    reason: str

    @classmethod
    def from_json(cls, d: Json) -> NotReinforced:
        return cls(fact_id=int(d["fact_id"]), reason=str(d["reason"]))


@dataclass(frozen=True)
class InteractionRecorded:
    """``POST /v1/interactions``"""

    interaction: Interaction
    reinforced: tuple[Reinforced, ...] = ()
    not_reinforced: tuple[NotReinforced, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> InteractionRecorded:
        return cls(
            interaction=Interaction.from_json(d["interaction"]),
            reinforced=tuple(Reinforced.from_json(r) for r in d.get("reinforced") or ()),
            not_reinforced=tuple(
                NotReinforced.from_json(r) for r in d.get("not_reinforced") or ()
            ),
        )


@dataclass(frozen=True)
class InteractionList:
    """``GET /v1/interactions``: newest first."""

    namespace: str
    interactions: tuple[Interaction, ...]

    @classmethod
    def from_json(cls, d: Json) -> InteractionList:
        return cls(namespace=str(d["namespace"]), interactions=_interactions(d))

    def __iter__(self) -> Iterator[Interaction]:
        return iter(self.interactions)

    def __len__(self) -> int:
        return len(self.interactions)


@dataclass(frozen=True)
class FactInteractions:
    """``GET /v1/facts/{id}/interactions``: those whose pack held the fact
    or that reinforced it, newest first."""

    fact_id: int
    interactions: tuple[Interaction, ...]

    @classmethod
    def from_json(cls, d: Json) -> FactInteractions:
        return cls(fact_id=int(d["fact_id"]), interactions=_interactions(d))


@dataclass(frozen=True)
class WhyExchange:
    """An exchange as ``why`` shows it."""

    id: int
    namespace: str
    session_id: str
    role: str
    content: str
    created_at: str
    ext_id: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> WhyExchange:
        return cls(
            id=int(d["id"]),
            namespace=str(d["namespace"]),
            session_id=str(d["session_id"]),
            role=str(d["role"]),
            content=str(d["content"]),
            created_at=str(d["created_at"]),
            ext_id=_opt_str(d, "ext_id"),
        )


@dataclass(frozen=True)
class Why:
    """``GET /v1/why/{tier}/{id}``: a fact (its ``provenance`` says where it
    came from) or an exchange and the ``facts`` whose provenance names it;
    then every recorded interaction that used it, newest first."""

    tier: str
    id: int
    interactions: tuple[Interaction, ...]
    fact: Fact | None = None
    exchange: WhyExchange | None = None
    facts: tuple[Fact, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> Why:
        exchange = d.get("exchange")
        return cls(
            tier=str(d["tier"]),
            id=int(d["id"]),
            interactions=_interactions(d),
            fact=_opt_fact(d.get("fact")),
            exchange=WhyExchange.from_json(exchange) if exchange else None,
            facts=tuple(Fact.from_json(f) for f in d.get("facts") or ()),
        )


# --- the write firewall's quarantine ----------------------------------------


@dataclass(frozen=True)
class QuarantinedRow:
    """A row the write firewall marked: ``mark`` is ``quarantined`` (kept
    out of recall) or ``flagged`` (usable); ``text`` is absent if the row is
    gone meanwhile."""

    tier: str
    id: int
    namespace: str
    mark: str
    classes: tuple[str, ...]
    reason: str
    created_at: str
    text: str | None = None

    @classmethod
    def from_json(cls, d: Json) -> QuarantinedRow:
        return cls(
            tier=str(d["tier"]),
            id=int(d["id"]),
            namespace=str(d["namespace"]),
            mark=str(d["mark"]),
            classes=tuple(str(c) for c in d.get("classes") or ()),
            reason=str(d["reason"]),
            created_at=str(d["created_at"]),
            text=_opt_str(d, "text"),
        )


@dataclass(frozen=True)
class QuarantineAction:
    """``POST /v1/quarantine/{tier}/{id}/release`` (``action``
    ``released``) and ``DELETE /v1/quarantine/{tier}/{id}`` (``dropped``)."""

    tier: str
    id: int
    action: str

    @classmethod
    def from_json(cls, d: Json) -> QuarantineAction:
        return cls(tier=str(d["tier"]), id=int(d["id"]), action=str(d["action"]))
