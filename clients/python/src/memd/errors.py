"""Exceptions: every error the daemon answers with, and the daemon being away.

The daemon answers a failed request with ``{"error": {"code", "message"}}``
and an HTTP status; :func:`error_from_answer` turns that into the matching
subclass of :class:`MemdError`, which keeps the daemon's ``code``,
``message`` and ``status``. Code that only cares that *something* failed
catches :class:`MemdError`.
"""

from __future__ import annotations

from typing import Any


class MemdError(Exception):
    """An error from memd, or from reaching it.

    ``code`` is the daemon's error code (``not_found``, ``invalid_value``,
    …) or, for errors the client itself detected, one of its own
    (``daemon_unavailable``, ``client_timeout``, ``bad_response``,
    ``config``, ``untrusted``). ``status`` is the HTTP status, or ``None``
    when no answer came.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.status = status


class NotFound(MemdError):
    """404: no such session, gist, concept, source, route …"""


class InvalidRequest(MemdError):
    """400/413/422: ``malformed_json``, ``bad_field``, ``invalid_value``,
    ``payload_too_large``, ``firewall_rejected`` (the write firewall refused
    the text) or a refused source request. Sending the same
    request again fails the same way."""


class Conflict(MemdError):
    """409: ``namespace_mismatch`` (a session belongs to another namespace),
    ``dream_running`` (a pass is under way), ``ambiguous`` (a concept name in
    several namespaces), ``fact_state`` (a fact not in a state the operation
    applies to: superseding or editing one that is not live, promoting or
    rejecting one that is not a candidate)."""


class Forbidden(MemdError):
    """403: the daemon does not allow this process's uid."""


class Unavailable(MemdError):
    """503/507: the daemon cannot serve now (``shutting_down``,
    ``read_only``, ``storage_unavailable``, ``too_many_connections``,
    ``disk_full``). Retrying later may work."""


class DaemonUnavailable(Unavailable):
    """No daemon answers on the socket: it does not exist, refuses
    connections, or the connection broke before an answer came."""

    def __init__(self, socket: str, reason: str) -> None:
        super().__init__(
            "daemon_unavailable",
            f"cannot reach memd at {socket}: {reason}. Is the daemon running? "
            "Start it with `memd daemon` (or `systemctl --user start memd`), "
            "or pass socket= / set $MEMD_SOCKET.",
        )
        self.socket = socket


class Timeout(MemdError):
    """The request took too long: the daemon's own ``timeout`` (503, after
    ``api.request_timeout_s``) or the client's (``client_timeout``)."""


class Untrusted(MemdError):
    """The server on the socket runs as a uid that may not be sent memory
    (neither this user, root, nor the owner of a safe socket directory)."""


_BY_STATUS: dict[int, type[MemdError]] = {
    400: InvalidRequest,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    422: InvalidRequest,
    503: Unavailable,
    507: Unavailable,
}


def error_from_answer(status: int, body: Any) -> MemdError:
    """The exception for a non-2xx answer whose parsed body is ``body``."""
    code, message = "", ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or "")
    elif isinstance(body, str):
        message = body
    if not code:
        code = f"http_{status}"
    if code == "timeout":
        return Timeout(code, message, status)
    cls = _BY_STATUS.get(status, MemdError)
    return cls(code, message or f"HTTP {status}", status)
