"""The API's requests, built once for both clients.

Each function returns a :class:`Call`: method, path, query, body and how to
read a successful answer. :class:`memd.Client` and :class:`memd.AsyncClient`
only send it, so a route's shape lives here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import (
    Any,
    Generic,
    TypeVar,
    Union,
)
from urllib.parse import quote

from . import types as t

T = TypeVar("T")

NdjsonInput = Union[str, bytes, Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reader of its answer (parsed JSON, or the text
    when ``text`` is set)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] | None = None
    json: Mapping[str, Any] | None = None
    content: bytes | None = None
    text: bool = False


def _seg(value: str) -> str:
    """A session id as one path segment."""
    return quote(value, safe="")


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    """Unset optional fields are left out, so the daemon's defaults apply."""
    return {k: v for k, v in d.items() if v is not None}


def health() -> Call[t.Health]:
    return Call("GET", "/v1/health", t.Health.from_json)


def status() -> Call[t.Status]:
    return Call("GET", "/v1/status", t.Status.from_json)


def _dream_of_status(d: Any) -> t.DreamStatus | None:
    dream = d.get("dream")
    return t.DreamStatus.from_json(dream) if dream else None


def dream_status() -> Call[t.DreamStatus | None]:
    return Call("GET", "/v1/status", _dream_of_status)


def metrics() -> Call[str]:
    return Call("GET", "/v1/metrics", str, text=True)


def remember(
    session_id: str,
    content: str,
    role: str,
    namespace: str | None,
    ext_id: str | None,
    created_at: str | None,
    metadata: Mapping[str, Any] | None,
    embedding: Sequence[float] | None,
) -> Call[t.Remembered]:
    body = _drop_none(
        {
            "role": role,
            "content": content,
            "namespace": namespace,
            "ext_id": ext_id,
            "created_at": created_at,
            "metadata": metadata,
            "embedding": list(embedding) if embedding is not None else None,
        }
    )
    return Call(
        "POST", f"/v1/sessions/{_seg(session_id)}/exchanges", t.Remembered.from_json, json=body
    )


def ndjson(data: NdjsonInput) -> bytes:
    """NDJSON bytes from text, bytes, or mappings (one line each)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return b"".join(json.dumps(dict(x), ensure_ascii=False).encode() + b"\n" for x in data)


def import_ndjson(data: NdjsonInput) -> Call[t.ImportResult]:
    return Call("POST", "/v1/import", t.ImportResult.from_json, content=ndjson(data))


def recall(query: str, fields: Mapping[str, Any]) -> Call[t.RecallResult]:
    body = _drop_none({"query": query, **fields})
    if body.get("explain") is False:
        del body["explain"]
    if "tiers" in body:
        body["tiers"] = list(body["tiers"])
    if "vector" in body:
        body["vector"] = list(body["vector"])
    return Call("POST", "/v1/recall", t.RecallResult.from_json, json=body)


def context(
    query: str,
    namespace: str | None,
    session_id: str | None,
    budget_chars: int | None,
    k: int | None,
    without_dream: bool,
    as_of: str | None,
) -> Call[t.ContextPack]:
    body = _drop_none(
        {
            "query": query,
            "namespace": namespace,
            "session_id": session_id,
            "budget_chars": budget_chars,
            "k": k,
            "without_dream": without_dream or None,
            "as_of": as_of,
        }
    )
    return Call("POST", "/v1/context", t.ContextPack.from_json, json=body)


def sessions(namespace: str | None, limit: int | None, offset: int | None) -> Call[t.SessionList]:
    params = _drop_none({"namespace": namespace, "limit": limit, "offset": offset})
    return Call("GET", "/v1/sessions", t.SessionList.from_json, params=params)


def session(session_id: str, after: int | None, limit: int | None) -> Call[t.SessionHistory]:
    params = _drop_none({"after": after, "limit": limit})
    return Call(
        "GET", f"/v1/sessions/{_seg(session_id)}", t.SessionHistory.from_json, params=params
    )


def delete_session(session_id: str) -> Call[t.DeletedSession]:
    return Call("DELETE", f"/v1/sessions/{_seg(session_id)}", t.DeletedSession.from_json)


def dream(
    namespace: str | None,
    force: bool,
    drive: str | None,
    dry_run: bool,
    until_caught_up: bool,
    wait: bool,
) -> Call[t.DreamStarted]:
    body = _drop_none(
        {
            "namespace": namespace,
            "force": force,
            "drive": drive,
            "dry_run": dry_run,
            "until_caught_up": until_caught_up,
            "wait": wait,
        }
    )
    return Call("POST", "/v1/dream", t.DreamStarted.from_json, json=body)


def _runs(d: Any) -> tuple[t.DreamRun, ...]:
    return tuple(t.DreamRun.from_json(r) for r in d["runs"])


def dream_runs(namespace: str | None, limit: int | None) -> Call[tuple[t.DreamRun, ...]]:
    return Call(
        "GET", "/v1/dream/runs", _runs, params=_drop_none({"namespace": namespace, "limit": limit})
    )


def gist(session_id: str) -> Call[t.Gist]:
    return Call("GET", f"/v1/sessions/{_seg(session_id)}/gist", t.Gist.from_json)


def _ns(namespace: str | None) -> dict[str, Any]:
    return _drop_none({"namespace": namespace})


def eras(namespace: str | None) -> Call[t.Eras]:
    return Call("GET", "/v1/eras", t.Eras.from_json, params=_ns(namespace))


def profile(namespace: str | None) -> Call[t.Profile]:
    return Call("GET", "/v1/profile", t.Profile.from_json, params=_ns(namespace))


def narrative(namespace: str | None) -> Call[t.Narrative]:
    return Call("GET", "/v1/narrative", t.Narrative.from_json, params=_ns(namespace))


def self_state(namespace: str | None) -> Call[t.SelfState]:
    return Call("GET", "/v1/self", t.SelfState.from_json, params=_ns(namespace))


def reembed(all: bool) -> Call[t.ReembedResult]:
    return Call("POST", "/v1/reembed", t.ReembedResult.from_json, json={"all": all})


def checkpoint() -> Call[t.CheckpointResult]:
    return Call("POST", "/v1/checkpoint", t.CheckpointResult.from_json)


def checkpoints() -> Call[t.Checkpoints]:
    return Call("GET", "/v1/checkpoints", t.Checkpoints.from_json)


def _sources(d: Any) -> tuple[t.Source, ...]:
    return tuple(t.Source.from_json(s) for s in d["sources"])


def sources() -> Call[tuple[t.Source, ...]]:
    return Call("GET", "/v1/sources", _sources)


def sync_source(name: str, table: str | None, full: bool) -> Call[t.SyncResult]:
    body = _drop_none({"table": table, "full": full})
    return Call("POST", f"/v1/sources/{_seg(name)}/sync", t.SyncResult.from_json, json=body)


def source_rows(
    name: str,
    op: str,
    table: str,
    id: int | str | None,
    ids: Sequence[int | str] | None,
    row: Mapping[str, Any] | None,
    rows: Sequence[Mapping[str, Any]] | None,
) -> Call[t.RowsResult]:
    body = _drop_none(
        {
            "op": op,
            "table": table,
            "id": id,
            "ids": list(ids) if ids is not None else None,
            "row": dict(row) if row is not None else None,
            "rows": [dict(r) for r in rows] if rows is not None else None,
        }
    )
    return Call("POST", f"/v1/sources/{_seg(name)}/rows", t.RowsResult.from_json, json=body)


def _concept(d: Any) -> t.Concept:
    return t.Concept.from_json(d["concept"])


def _concept_path(name: str) -> str:
    # The route takes the rest of the path, so a `source/table:id` name keeps its slash.
    return "/v1/concepts/" + quote(name, safe="/:")


def concept(name: str, namespace: str | None) -> Call[t.Concept]:
    return Call("GET", _concept_path(name), _concept, params=_ns(namespace))


def edit_concept(
    name: str,
    namespace: str | None,
    strength: float | None,
    text: str | None,
    clear_text: bool,
    restore: bool,
) -> Call[t.Concept]:
    if text is not None and clear_text:
        raise ValueError("give text or clear_text, not both")
    body: dict[str, Any] = _drop_none({"strength": strength, "text": text})
    if clear_text:
        body["text"] = None
    body["restore"] = restore
    return Call("PATCH", _concept_path(name), _concept, params=_ns(namespace), json=body)


def remove_concept(name: str, namespace: str | None) -> Call[t.Concept]:
    return Call("DELETE", _concept_path(name), _concept, params=_ns(namespace))


def import_all_result(d: Any) -> t.ImportAllResult:
    return t.ImportAllResult.from_json(d)


# --- facts ------------------------------------------------------------------


def _fact_path(id: int) -> str:
    return f"/v1/facts/{int(id)}"


def _fact_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Set fields as JSON: sequences as lists, provenance as an object."""
    body = _drop_none(fields)
    for key in ("entities", "embedding"):
        if key in body:
            body[key] = list(body[key])
    if "provenance" in body:
        body["provenance"] = dict(body["provenance"])
    return body


def add_fact(text: str, fields: Mapping[str, Any]) -> Call[t.FactCreated]:
    body = _fact_body({"text": text, **fields})
    return Call("POST", "/v1/facts", t.FactCreated.from_json, json=body)


def facts(
    namespace: str | None,
    status: str | None,
    kind: str | None,
    subject: str | None,
    slot: str | None,
    as_of: str | None,
    include_retired: bool,
    limit: int | None,
    offset: int | None,
) -> Call[t.FactList]:
    params = _drop_none(
        {
            "namespace": namespace,
            "status": status,
            "kind": kind,
            "subject": subject,
            "slot": slot,
            "as_of": as_of,
            # The daemon reads a query bool as `true`/`false`, not Python's `True`.
            "include_retired": "true" if include_retired else None,
            "limit": limit,
            "offset": offset,
        }
    )
    return Call("GET", "/v1/facts", t.FactList.from_json, params=params)


def fact(id: int) -> Call[t.FactHistory]:
    return Call("GET", _fact_path(id), t.FactHistory.from_json)


def edit_fact(id: int, fields: Mapping[str, Any]) -> Call[t.FactCreated]:
    body = _fact_body(fields)
    return Call("PATCH", _fact_path(id), t.FactCreated.from_json, json=body)


def _reviewed(d: Any) -> t.Fact:
    return t.Fact.from_json(d["fact"])


def promote_fact(id: int) -> Call[t.Fact]:
    return Call("POST", _fact_path(id) + "/promote", _reviewed)


def reject_fact(id: int) -> Call[t.Fact]:
    return Call("POST", _fact_path(id) + "/reject", _reviewed)


def forget_fact(id: int) -> Call[t.FactForgotten]:
    return Call("DELETE", _fact_path(id), t.FactForgotten.from_json)


# --- interactions and why ---------------------------------------------------


def record_interaction(
    prompt: str,
    response: str,
    namespace: str | None,
    session_id: str | None,
    context_ids: Iterable[Mapping[str, Any]] | None,
    client: str | None,
) -> Call[t.InteractionRecorded]:
    # A pack's `ids` may carry more than tier and id; the daemon refuses unknown fields.
    ids = [{"tier": c["tier"], "id": c["id"]} for c in context_ids] if context_ids else None
    body = _drop_none(
        {
            "prompt": prompt,
            "response": response,
            "namespace": namespace,
            "session_id": session_id,
            "context_ids": ids,
            "client": client,
        }
    )
    return Call("POST", "/v1/interactions", t.InteractionRecorded.from_json, json=body)


def interactions(
    namespace: str | None, session_id: str | None, limit: int | None, offset: int | None
) -> Call[t.InteractionList]:
    params = _drop_none(
        {"namespace": namespace, "session_id": session_id, "limit": limit, "offset": offset}
    )
    return Call("GET", "/v1/interactions", t.InteractionList.from_json, params=params)


def fact_interactions(
    fact_id: int, limit: int | None, offset: int | None
) -> Call[t.FactInteractions]:
    params = _drop_none({"limit": limit, "offset": offset})
    return Call(
        "GET",
        _fact_path(fact_id) + "/interactions",
        t.FactInteractions.from_json,
        params=params,
    )


def why(tier: str, id: int, limit: int | None, offset: int | None) -> Call[t.Why]:
    params = _drop_none({"limit": limit, "offset": offset})
    return Call("GET", f"/v1/why/{_seg(tier)}/{int(id)}", t.Why.from_json, params=params)


# --- the write firewall's quarantine ----------------------------------------


def _quarantined(d: Any) -> tuple[t.QuarantinedRow, ...]:
    return tuple(t.QuarantinedRow.from_json(r) for r in d["rows"])


def quarantine(
    namespace: str | None, mark: str | None, limit: int | None
) -> Call[tuple[t.QuarantinedRow, ...]]:
    params = _drop_none({"namespace": namespace, "mark": mark, "limit": limit})
    return Call("GET", "/v1/quarantine", _quarantined, params=params)


def _marked_path(tier: str, id: int) -> str:
    return f"/v1/quarantine/{_seg(tier)}/{int(id)}"


def release_quarantined(tier: str, id: int) -> Call[t.QuarantineAction]:
    return Call("POST", _marked_path(tier, id) + "/release", t.QuarantineAction.from_json)


def drop_quarantined(tier: str, id: int) -> Call[t.QuarantineAction]:
    return Call("DELETE", _marked_path(tier, id), t.QuarantineAction.from_json)
