"""What an HTTP model API looks like to podium: one completion at a time.

A provider turns a :class:`CompletionRequest` (system blocks plus the visible
conversation) into a :class:`Completion`, or raises :class:`APIFailure` with the
HTTP status and the server's ``retry-after``. Retries, fallbacks, history and
prices are the session's business, so every provider gets them the same way.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .._errors import BackendError
from .._records import Usage
from ._protocol import ChatMessage

__all__ = [
    "OVERLOADED",
    "RETRYABLE",
    "APIFailure",
    "Completion",
    "CompletionRequest",
    "Provider",
    "Route",
    "parse_retry_after",
]

OVERLOADED = 529
# Worth another try after a pause: rate limits, overload, the server's own faults,
# and None (the connection failed before a status).
RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, OVERLOADED})


class APIFailure(BackendError):
    """A model API refused or failed a request."""

    code = "api_failure"

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, status=status, **context)
        self.status = status
        self.retry_after = retry_after
        self.retryable = (status is None or status in RETRYABLE) if retryable is None else retryable

    @property
    def overloaded(self) -> bool:
        # Anthropic says 529; OpenAI-compatible servers (OpenAI, vLLM) say 503.
        return self.status in (OVERLOADED, 503)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (a number or an HTTP date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


@dataclass(frozen=True, kw_only=True)
class Route:
    """One place a turn may go: the agent's own backend and model, or a fallback."""

    backend: str
    model: str | None
    base_url: str | None = None

    def describe(self) -> str:
        return f"{self.backend}:{self.model or 'default'}"

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url}


@dataclass(frozen=True, kw_only=True)
class CompletionRequest:
    model: str
    system: tuple[str, ...]
    """System blocks in order: the system prompt, then profile context."""
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    cache: bool
    """Mark the system blocks and the conversation so far for prompt caching."""
    stream: bool


@dataclass(frozen=True, kw_only=True)
class Completion:
    text: str
    usage: Usage
    """``input_tokens`` excludes cached input, whatever the API's own convention."""
    model: str
    stop_reason: str | None = None
    batch_id: str | None = None


class Provider(Protocol):
    """One client of one API (an endpoint and its credentials)."""

    name: str

    def resolve_model(self, model: str | None) -> str:
        """The id sent to the API; raises BackendError when no model can be chosen."""
        ...

    async def complete(self, request: CompletionRequest, *, batch: bool) -> Completion:
        """One model call. ``batch``: through the provider's batch API, if it has one."""
        ...

    async def aclose(self) -> None: ...
