"""The asynchronous client (asyncio).

Mirrors :mod:`memd.client` method for method (tests/test_socket.py checks
that the signatures match); both send the requests built in :mod:`memd._calls`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, Any, TypeVar

import httpx

from . import _calls
from . import types as t
from ._base import BASE_URL, DEFAULT_TIMEOUT, ExportTail, PathLike, Sink, Source, _Base, _error
from ._calls import Call, NdjsonInput

T = TypeVar("T")


class AsyncClient(_Base):
    """An asyncio connection to a memd daemon over its Unix socket: the
    same methods as :class:`memd.Client`, each a coroutine.

    ``socket`` is found as ``memd ctl`` finds it when not given (argument,
    ``$MEMD_SOCKET``, the configuration's ``daemon.socket`` — ``config`` or
    the usual lookup —, the default path, the system unit's socket).
    ``namespace`` is the default for every call that takes one (a call's
    own ``namespace=`` wins). ``timeout`` is in seconds (``None``: none).
    ``check_peer`` refuses a server running as another user, as
    ``memd ctl`` does.

    Use it as an async context manager, or await :meth:`aclose`. Errors are
    :class:`memd.MemdError` subclasses; a daemon that is not running gives
    :class:`memd.DaemonUnavailable`.
    """

    def __init__(
        self,
        socket: PathLike | None = None,
        *,
        config: PathLike | None = None,
        namespace: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        check_peer: bool = True,
    ) -> None:
        super().__init__(socket, config, namespace, timeout, check_peer)
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.socket)),
            base_url=BASE_URL,
            timeout=timeout,
        )

    async def aclose(self) -> None:
        """Closes the connection."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, call: Call[T]) -> T:
        with self._translate():
            self._check_peer()
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json, content=call.content
            )
        return self._finish(call, response)

    # --- system ---------------------------------------------------------

    async def health(self) -> t.Health:
        """``GET /v1/health``: answers while the daemon runs."""
        return await self._run(_calls.health())

    async def status(self) -> t.Status:
        """``GET /v1/status``: version, paths, embedder, counts, index,
        checkpoints, dream cycle and sources."""
        return await self._run(_calls.status())

    async def metrics(self) -> str:
        """``GET /v1/metrics``: Prometheus text format."""
        return await self._run(_calls.metrics())

    async def reembed(self, *, all: bool = False) -> t.ReembedResult:
        """``POST /v1/reembed``: re-embed rows of other models in the
        background (``all``: every row)."""
        return await self._run(_calls.reembed(all))

    # --- exchanges and sessions -----------------------------------------

    async def remember(
        self,
        session_id: str,
        content: str,
        *,
        role: str = "user",
        namespace: str | None = None,
        ext_id: str | None = None,
        created_at: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        embedding: Sequence[float] | None = None,
    ) -> t.Remembered:
        """``POST /v1/sessions/{session_id}/exchanges``: store one exchange.

        ``role`` is ``user``, ``assistant``, ``system`` or ``tool``;
        ``created_at`` an RFC 3339 time (default: now); ``ext_id`` makes the
        call idempotent (a repeat stores nothing, ``duplicate`` is true);
        ``embedding`` is a vector from the daemon's current model, used
        instead of embedding ``content``. A session belongs to the namespace
        of its first exchange: naming another raises :class:`memd.Conflict`.
        """
        return await self._run(
            _calls.remember(
                session_id,
                content,
                role,
                self._ns(namespace),
                ext_id,
                created_at,
                metadata,
                embedding,
            )
        )

    async def import_ndjson(self, data: NdjsonInput) -> t.ImportResult:
        """``POST /v1/import``: many exchanges at once, each with its
        ``session_id``. ``data`` is NDJSON (``str``/``bytes``) or an iterable
        of mappings (one line each). One request is stored whole or not at
        all; bad lines are reported in ``rejected`` by number."""
        return await self._run(_calls.import_ndjson(data))

    async def sessions(
        self,
        *,
        namespace: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> t.SessionList:
        """``GET /v1/sessions``: a namespace's sessions, most recently written first."""
        return await self._run(_calls.sessions(self._ns(namespace), limit, offset))

    async def session(
        self, session_id: str, *, after: int | None = None, limit: int | None = None
    ) -> t.SessionHistory:
        """``GET /v1/sessions/{session_id}``: the session and its exchanges,
        oldest first (those with ids after ``after``, at most ``limit``)."""
        return await self._run(_calls.session(session_id, after, limit))

    async def delete_session(self, session_id: str) -> t.DeletedSession:
        """``DELETE /v1/sessions/{session_id}``: forget a session, its
        exchanges, vectors and gist."""
        return await self._run(_calls.delete_session(session_id))

    # --- recall and context ---------------------------------------------

    async def recall(
        self,
        query: str,
        *,
        k: int | None = None,
        namespace: str | None = None,
        session_id: str | None = None,
        tiers: Sequence[str] | None = None,
        budget_chars: int | None = None,
        explain: bool = False,
        mode: str | None = None,
        vector: Sequence[float] | None = None,
        rrf_k: float | None = None,
        fts_weight: float | None = None,
        vector_weight: float | None = None,
        candidates: int | None = None,
        neighbor_weight: float | None = None,
        entity_boost: float | None = None,
        max_term_df: float | None = None,
        max_terms: int | None = None,
        as_of: str | None = None,
    ) -> t.RecallResult:
        """``POST /v1/recall``: the memories that matter for ``query``, best first.

        ``tiers`` picks from ``exchange``, ``gist``, ``era``, ``concept``,
        ``chunk``, ``fact`` (default: all); ``mode`` is ``hybrid`` (default),
        ``lexical`` or ``vector``; ``explain`` adds each hit's ranks;
        ``vector`` is the query's vector from the daemon's model (``query``
        may then be empty); ``budget_chars`` packs hits while their text
        fits. ``rrf_k`` … ``max_terms`` override the configured fusion for
        this request. Facts are the live ones unless ``as_of`` (RFC 3339)
        asks what memd believed at that instant.
        """
        fields = dict(
            k=k,
            namespace=self._ns(namespace),
            session_id=session_id,
            tiers=tiers,
            budget_chars=budget_chars,
            explain=explain,
            mode=mode,
            vector=vector,
            rrf_k=rrf_k,
            fts_weight=fts_weight,
            vector_weight=vector_weight,
            candidates=candidates,
            neighbor_weight=neighbor_weight,
            entity_boost=entity_boost,
            max_term_df=max_term_df,
            max_terms=max_terms,
            as_of=as_of,
        )
        return await self._run(_calls.recall(query, fields))

    async def context(
        self,
        query: str,
        *,
        namespace: str | None = None,
        session_id: str | None = None,
        budget_chars: int | None = None,
        k: int | None = None,
        without_dream: bool = False,
        as_of: str | None = None,
    ) -> t.ContextPack:
        """``POST /v1/context``: the context pack for an LLM call — profile,
        narrative, self-state, facts, gists and eras, concepts and chunks,
        relevant exchanges and the session's recent turns — within
        ``budget_chars`` (default 4000); its facts are those believed at
        ``as_of`` (RFC 3339) when given. :meth:`memd.ContextPack.as_text`
        renders it; pass its ``ids`` to :meth:`record_interaction`."""
        return await self._run(
            _calls.context(
                query, self._ns(namespace), session_id, budget_chars, k, without_dream, as_of
            )
        )

    # --- the dream cycle ------------------------------------------------

    async def dream(
        self,
        *,
        namespace: str | None = None,
        force: bool = False,
        drive: str | None = None,
        dry_run: bool = False,
        until_caught_up: bool = False,
        wait: bool = False,
    ) -> t.DreamStarted:
        """``POST /v1/dream``: run the dream cycle now. Without ``wait`` it
        runs in the background (``started``); with it, the passes' records.
        ``drive`` is ``continuity``, ``coherence`` or ``curiosity``. While a
        pass runs: :class:`memd.Conflict` (``dream_running``)."""
        return await self._run(
            _calls.dream(self._ns(namespace), force, drive, dry_run, until_caught_up, wait)
        )

    async def dream_status(self) -> t.DreamStatus | None:
        """The dream cycle's state from ``status``: drives and backlog per
        namespace, the running pass, the last run, the next scheduled one."""
        return await self._run(_calls.dream_status())

    async def dream_runs(
        self, *, namespace: str | None = None, limit: int | None = None
    ) -> tuple[t.DreamRun, ...]:
        """``GET /v1/dream/runs``: past passes, newest first (no namespace:
        every namespace)."""
        return await self._run(_calls.dream_runs(self._ns(namespace), limit))

    async def gist(self, session_id: str) -> t.Gist:
        """``GET /v1/sessions/{session_id}/gist``: :class:`memd.NotFound`
        until the dream cycle wrote one."""
        return await self._run(_calls.gist(session_id))

    async def eras(self, *, namespace: str | None = None) -> t.Eras:
        """``GET /v1/eras``: the monthly digests."""
        return await self._run(_calls.eras(self._ns(namespace)))

    async def profile(self, *, namespace: str | None = None) -> t.Profile:
        """``GET /v1/profile``"""
        return await self._run(_calls.profile(self._ns(namespace)))

    async def narrative(self, *, namespace: str | None = None) -> t.Narrative:
        """``GET /v1/narrative``"""
        return await self._run(_calls.narrative(self._ns(namespace)))

    async def self_state(self, *, namespace: str | None = None) -> t.SelfState:
        """``GET /v1/self``: the agent's self-state."""
        return await self._run(_calls.self_state(self._ns(namespace)))

    # --- sources and concepts -------------------------------------------

    async def sources(self) -> tuple[t.Source, ...]:
        """``GET /v1/sources``: each source's state and counters."""
        return await self._run(_calls.sources())

    async def sync_source(
        self, name: str, *, table: str | None = None, full: bool = False
    ) -> t.SyncResult:
        """``POST /v1/sources/{name}/sync``: read changes since the last sync
        (``full``: every row, removing concepts of deleted rows)."""
        return await self._run(_calls.sync_source(name, table, full))

    async def source_rows(
        self,
        name: str,
        op: str,
        table: str,
        *,
        id: int | str | None = None,
        ids: Sequence[int | str] | None = None,
        row: Mapping[str, Any] | None = None,
        rows: Sequence[Mapping[str, Any]] | None = None,
    ) -> t.RowsResult:
        """``POST /v1/sources/{name}/rows``: the application hook. ``op`` is
        ``sync_row`` (``id``: read it from the source, or ``row``: as given),
        ``sync_batch`` (``ids`` or ``rows``) or ``delete_row`` (``id``/``ids``)."""
        return await self._run(_calls.source_rows(name, op, table, id, ids, row, rows))

    async def concept(self, name: str, *, namespace: str | None = None) -> t.Concept:
        """``GET /v1/concepts/{name}`` (``table:row_id``)."""
        return await self._run(_calls.concept(name, namespace))

    async def edit_concept(
        self,
        name: str,
        *,
        namespace: str | None = None,
        strength: float | None = None,
        text: str | None = None,
        clear_text: bool = False,
        restore: bool = False,
    ) -> t.Concept:
        """``PATCH /v1/concepts/{name}``: set the strength (0..10) or a text
        overlay (``clear_text``: back to the source's text); ``restore``
        brings back a removed concept. The source is never written."""
        return await self._run(
            _calls.edit_concept(name, namespace, strength, text, clear_text, restore)
        )

    async def remove_concept(self, name: str, *, namespace: str | None = None) -> t.Concept:
        """``DELETE /v1/concepts/{name}``: out of memory (syncs do not bring
        it back until restored); the source is untouched."""
        return await self._run(_calls.remove_concept(name, namespace))

    # --- facts ----------------------------------------------------------

    async def add_fact(
        self,
        text: str,
        *,
        namespace: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        entities: Sequence[str] | None = None,
        slot: str | None = None,
        status: str | None = None,
        confidence: float | None = None,
        valid_from: str | None = None,
        supersedes: int | None = None,
        provenance: Mapping[str, Any] | None = None,
        embedding: Sequence[float] | None = None,
    ) -> t.FactCreated:
        """``POST /v1/facts``: write a fact.

        ``kind`` is ``user_profile``, ``preference``, ``env``, ``project``,
        ``event`` or ``other`` (default); ``slot`` the attribute it sets
        (``residence``, …); ``status`` ``active`` (default) or ``candidate``
        (the review queue); ``confidence`` 0..1 (default 1); ``valid_from``
        RFC 3339 (default now); ``supersedes`` the id of a live fact this one
        retires in the same write; ``provenance`` ``{exchange_ids,
        session_id, ext_ids, client}``. Superseding a fact that is not live:
        :class:`memd.Conflict` (``fact_state``).
        """
        fields = dict(
            namespace=self._ns(namespace),
            kind=kind,
            subject=subject,
            entities=entities,
            slot=slot,
            status=status,
            confidence=confidence,
            valid_from=valid_from,
            supersedes=supersedes,
            provenance=provenance,
            embedding=embedding,
        )
        return await self._run(_calls.add_fact(text, fields))

    async def facts(
        self,
        *,
        namespace: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        slot: str | None = None,
        as_of: str | None = None,
        include_retired: bool = False,
        limit: int | None = None,
        offset: int | None = None,
    ) -> t.FactList:
        """``GET /v1/facts``: newest first; by default live facts and
        candidates (``include_retired``: superseded and rejected ones too;
        ``as_of``, RFC 3339: what memd believed at that instant)."""
        return await self._run(
            _calls.facts(
                self._ns(namespace),
                status,
                kind,
                subject,
                slot,
                as_of,
                include_retired,
                limit,
                offset,
            )
        )

    async def fact(self, id: int) -> t.FactHistory:
        """``GET /v1/facts/{id}``: the fact and every version of it, oldest first."""
        return await self._run(_calls.fact(id))

    async def edit_fact(
        self,
        id: int,
        *,
        text: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        entities: Sequence[str] | None = None,
        slot: str | None = None,
        confidence: float | None = None,
        valid_from: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        embedding: Sequence[float] | None = None,
    ) -> t.FactCreated:
        """``PATCH /v1/facts/{id}``: a new version that supersedes the live
        fact ``id``; unset fields keep their value (``valid_from`` too: an
        edit is a correction)."""
        fields = dict(
            text=text,
            kind=kind,
            subject=subject,
            entities=entities,
            slot=slot,
            confidence=confidence,
            valid_from=valid_from,
            provenance=provenance,
            embedding=embedding,
        )
        return await self._run(_calls.edit_fact(id, fields))

    async def promote_fact(self, id: int) -> t.Fact:
        """``POST /v1/facts/{id}/promote``: a candidate becomes active."""
        return await self._run(_calls.promote_fact(id))

    async def reject_fact(self, id: int) -> t.Fact:
        """``POST /v1/facts/{id}/reject``: a candidate becomes invalid."""
        return await self._run(_calls.reject_fact(id))

    async def forget_fact(self, id: int) -> t.FactForgotten:
        """``DELETE /v1/facts/{id}``: delete the fact everywhere (row,
        search indexes, later context packs and exports)."""
        return await self._run(_calls.forget_fact(id))

    # --- interactions and why -------------------------------------------

    async def record_interaction(
        self,
        prompt: str,
        response: str,
        *,
        namespace: str | None = None,
        session_id: str | None = None,
        context_ids: Iterable[Mapping[str, Any]] | None = None,
        client: str | None = None,
    ) -> t.InteractionRecorded:
        """``POST /v1/interactions``: what was done with a context pack.
        ``context_ids`` is the pack's :attr:`memd.ContextPack.ids`; each
        live fact of it that ``response`` echoes is reinforced (confidence,
        ``reference_count``, ``last_referenced_at``)."""
        return await self._run(
            _calls.record_interaction(
                prompt, response, self._ns(namespace), session_id, context_ids, client
            )
        )

    async def interactions(
        self,
        *,
        namespace: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> t.InteractionList:
        """``GET /v1/interactions``: the interaction log, newest first."""
        return await self._run(_calls.interactions(self._ns(namespace), session_id, limit, offset))

    async def fact_interactions(
        self, fact_id: int, *, limit: int | None = None, offset: int | None = None
    ) -> t.FactInteractions:
        """``GET /v1/facts/{id}/interactions``: those whose pack held the
        fact or that reinforced it, newest first."""
        return await self._run(_calls.fact_interactions(fact_id, limit, offset))

    async def why(
        self, tier: str, id: int, *, limit: int | None = None, offset: int | None = None
    ) -> t.Why:
        """``GET /v1/why/{tier}/{id}`` (``tier``: ``fact`` or ``exchange``):
        where it came from and the interactions that used it."""
        return await self._run(_calls.why(tier, id, limit, offset))

    # --- the write firewall's quarantine --------------------------------

    async def quarantine(
        self, *, namespace: str | None = None, mark: str | None = None, limit: int | None = None
    ) -> tuple[t.QuarantinedRow, ...]:
        """``GET /v1/quarantine``: rows the write firewall marked, newest
        first (``mark``: ``quarantined`` or ``flagged``, default both; no
        namespace: every namespace)."""
        return await self._run(_calls.quarantine(self._ns(namespace), mark, limit))

    async def release_quarantined(self, tier: str, id: int) -> t.QuarantineAction:
        """``POST /v1/quarantine/{tier}/{id}/release``: let a marked row
        (``exchange``, ``fact``, ``concept``, ``chunk``) into recall and
        context packs."""
        return await self._run(_calls.release_quarantined(tier, id))

    async def drop_quarantined(self, tier: str, id: int) -> t.QuarantineAction:
        """``DELETE /v1/quarantine/{tier}/{id}``: delete a marked row for
        good (a fact is forgotten)."""
        return await self._run(_calls.drop_quarantined(tier, id))

    # --- durability -----------------------------------------------------

    async def checkpoint(self) -> t.CheckpointResult:
        """``POST /v1/checkpoint``: take a verified snapshot now."""
        return await self._run(_calls.checkpoint())

    async def checkpoints(self) -> t.Checkpoints:
        """``GET /v1/checkpoints``: snapshots on disk, newest first."""
        return await self._run(_calls.checkpoints())

    async def export(self, out: PathLike | IO[bytes]) -> t.ExportResult:
        """``GET /v1/export``: all memory (every tier) as JSONL, streamed
        to ``out`` (a path or a binary file). Raises
        :class:`memd.MemdError` (``export_truncated``) if the stream ends
        without its end marker."""
        tail = ExportTail()
        with Sink(out) as f, self._translate():
            self._check_peer()
            async with self._http.stream("GET", "/v1/export") as response:
                if not response.is_success:
                    raise _error(response.status_code, await response.aread())
                async for chunk in response.aiter_bytes():
                    f.write(chunk)
                    tail.feed(chunk)
        return tail.result()

    async def import_all(self, source: bytes | PathLike | IO[bytes]) -> t.ImportAllResult:
        """``POST /v1/import-all``: load an export (bytes, a path or a
        binary file, streamed) into an empty store, all or nothing."""
        call: Call[t.ImportAllResult] = Call("POST", "/v1/import-all", _calls.import_all_result)
        with Source(source) as src, self._translate():
            self._check_peer()
            response = await self._http.request("POST", "/v1/import-all", content=src.achunks())
        return self._finish(call, response)
