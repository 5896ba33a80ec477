"""One turn of one run agent: rate-limited, cancellable, accounted.

Every model call a run makes (planning, tasks, quality-gate retries,
synthesis) goes through :meth:`Turns.ask`, so the daemon's rate limiter sees
all of them and a cancelled run interrupts the turn instead of abandoning it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from .._errors import PodiumError
from .._records import Event, EventKind, RequestRecord, RequestSource
from ..runtime import Runtime
from ._ratelimit import RateLimiter

__all__ = ["Turns", "estimate_tokens"]

# The CLI wraps every prompt in its own system prompt and tool definitions; the
# rate limiter is told the prompt's share up front and the real count after.
_CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return len(text) // _CHARS_PER_TOKEN + 1


class Turns:
    def __init__(self, runtime: Runtime, limiter: RateLimiter) -> None:
        self.runtime = runtime
        self.limiter = limiter
        self._rate_keys: dict[str, str] = {}  # agent -> rate-limit key, for 429 back-off
        runtime.add_listener(self._on_event)

    def close(self) -> None:
        self.runtime.remove_listener(self._on_event)

    def bind(self, agent: str, rate_key: str | None) -> None:
        if rate_key:
            self._rate_keys[agent] = rate_key

    def forget(self, agent: str) -> None:
        self._rate_keys.pop(agent, None)

    def _on_event(self, event: Event) -> None:
        # A 429 seen by one worker slows every worker of that model: the CLI
        # retries on its own, the others must not pile on meanwhile.
        if event.kind is not EventKind.API_RETRY or event.agent is None:
            return
        key = self._rate_keys.get(event.agent)
        data = event.data or {}

        status = data.get("error_status", data.get("status"))
        if key is None or status != 429:
            return
        delay_ms = data.get("retry_delay_ms")
        seconds = float(delay_ms) / 1000.0 if isinstance(delay_ms, int | float) else 1.0
        self.limiter.backoff(key, max(seconds, 0.0))

    async def ask(
        self,
        agent: str,
        prompt: str,
        *,
        timeout: float | None,
        meta: dict[str, Any],
        on_submitted: Callable[[RequestRecord], None] | None = None,
    ) -> tuple[RequestRecord, float]:
        """Send one prompt and wait for its end; returns (request, seconds rate-limited)."""
        key = self._rate_keys.get(agent)
        estimate = estimate_tokens(prompt)
        lease = await self.limiter.lease(key, input_tokens=estimate) if key else None
        try:
            request = await self.runtime.ask(
                agent, prompt, timeout=timeout, source=RequestSource.TASK, meta=meta
            )
            if on_submitted is not None:
                on_submitted(request)
            try:
                done = await self.runtime.wait(request.id)
            except asyncio.CancelledError:
                # Interrupt the turn rather than leave a CLI working for nobody.
                with contextlib.suppress(PodiumError):
                    await asyncio.shield(self.runtime.cancel(request.id))
                raise
        finally:
            if lease is not None:
                lease.release()
        waited = lease.waited if lease is not None else 0.0
        if key:
            usage = done.usage
            actual = usage.input_tokens + usage.cache_creation_input_tokens
            self.limiter.settle(
                key, input_tokens=max(0, actual - estimate), output_tokens=usage.output_tokens
            )
        return done, waited
