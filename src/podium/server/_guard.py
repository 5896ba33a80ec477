"""The gate in front of every route: Host, Origin, bearer token, body size.

A pure ASGI middleware so nothing reaches FastAPI (or reads a body) before these
checks pass, and so an oversized body is refused while it is still streaming in.

* Host must name the daemon itself: a web page that rebinds its own DNS name to
  127.0.0.1 still sends its own name as Host (DNS rebinding).
* A request carrying an Origin other than the daemon's own comes from a web page
  (CSRF); podium's own clients never send one.
* Every route except ``GET /v1/health`` and the dashboard's static files
  (``GET``/``HEAD`` of ``/``, ``/dashboard`` and ``/dashboard/...``, which hold
  no secret) needs ``Authorization: Bearer <token>``. The dashboard page sends
  the token on every API call it makes; its same-origin requests carry the
  daemon's own Host, and an Origin (when the browser sends one) that is allowed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import DaemonError, UsageError
from ._http_errors import error_response

__all__ = ["MAX_BODY_BYTES", "Guard", "GuardSettings", "loopback_names"]

MAX_BODY_BYTES = 16 * 1024 * 1024
# An oversized body is still read (and dropped) up to this much, so the client
# gets its 413 instead of a connection reset in the middle of its upload.
_DRAIN_LIMIT = 4 * MAX_BODY_BYTES
_OPEN_PATHS = frozenset({"/v1/health"})
# The dashboard's static files: readable without the token (Host and Origin still checked).
_STATIC_PATHS = frozenset({"/", "/dashboard"})
_STATIC_PREFIX = "/dashboard/"
# Routing matches with ``$``, which also matches before a final newline: without
# this check ``/v1/agents/alpha%0A`` would reach agent ``alpha``.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, kw_only=True)
class GuardSettings:
    token: str
    allowed_hosts: frozenset[str]
    """Host header values accepted, lowercase, e.g. ``127.0.0.1:8765``."""
    allowed_origins: frozenset[str]
    """Origin header values accepted, e.g. ``http://127.0.0.1:8765``."""
    max_body: int = MAX_BODY_BYTES


def loopback_names(host: str, port: int | None) -> tuple[frozenset[str], frozenset[str]]:
    """The Host and Origin values that name a daemon bound to ``host:port``."""
    names: set[str] = {"127.0.0.1", "localhost"}
    if host and host not in ("0.0.0.0", "::"):
        names.add(f"[{host}]" if ":" in host else host)
    if port is None:  # unix socket: clients send a bare name
        return frozenset(names), frozenset()
    hosts = frozenset(f"{name}:{port}" for name in names)
    return hosts, frozenset(f"http://{h}" for h in hosts)


def _refuse(status: int, message: str, reason: str, **headers: str) -> ASGIApp:
    context = {"reason": reason}
    return error_response(status, DaemonError.code, message, context, headers=headers or None)


class Guard:
    def __init__(self, app: ASGIApp, settings: GuardSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            # No websockets here: refuse rather than let an unchecked protocol through.
            await send({"type": "websocket.close", "code": 1008})
            return
        refusal = self._check_headers(scope)
        if refusal is None:
            body = await _read_body(receive, self.settings.max_body)
            if body is None:
                refusal = _refuse(
                    413,
                    f"request body is larger than {self.settings.max_body} bytes",
                    "body_too_large",
                )
            else:
                await self.app(scope, _replay(body, receive), send)
                return
        await refusal(scope, receive, send)

    def _check_headers(self, scope: Scope) -> ASGIApp | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if host not in self.settings.allowed_hosts:
            return _refuse(400, f"Host {host!r} is not this daemon's address", "bad_host")
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.settings.allowed_origins:
            return _refuse(403, f"cross-origin request from {origin!r} refused", "bad_origin")
        if not _open(scope) and not self._authorized(headers):
            return _refuse(
                401,
                "missing or invalid token (send 'Authorization: Bearer <token>' with the "
                "token from $PODIUM_HOME/token)",
                "unauthorized",
                **{"WWW-Authenticate": "Bearer"},
            )
        if _CONTROL.search(scope["path"]):
            return error_response(
                400,
                UsageError.code,
                f"path {scope['path'][:200]!r} holds a control character",
                {"reason": "bad_path"},
            )
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            return _refuse(400, f"Content-Length {length!r} is not a number", "bad_length")
        if length is not None and int(length) > _DRAIN_LIMIT:
            # Too big to read and drop: answer now and close the connection.
            return _refuse(
                413,
                f"request body is larger than {self.settings.max_body} bytes",
                "body_too_large",
                Connection="close",
            )
        return None

    def _authorized(self, headers: Headers) -> bool:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return secrets.compare_digest(
            credential.strip().encode("utf-8", "replace"), self.settings.token.encode()
        )


def _open(scope: Scope) -> bool:
    """True for the paths anyone who passes the Host and Origin checks may read."""
    path: str = scope["path"]
    if path in _OPEN_PATHS:
        return True
    static = path in _STATIC_PATHS or path.startswith(_STATIC_PREFIX)
    return static and scope["method"] in ("GET", "HEAD")


async def _read_body(receive: Receive, limit: int) -> list[bytes] | None:
    """The body's chunks, or None if it exceeds ``limit`` (then it has been drained)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks  # disconnect: let the app see it
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_LIMIT:
            return None
        if not message.get("more_body", False):
            return chunks if size <= limit else None


def _replay(chunks: Iterable[bytes], receive: Receive) -> Receive:
    body = b"".join(chunks)
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as usual

    return replayed
