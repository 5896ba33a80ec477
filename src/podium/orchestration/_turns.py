"""One turn of one run agent: rate-limited, cancellable, accounted.

Every model call a run makes (planning, tasks, quality-gate retries,
synthesis) goes through :meth:`Turns.ask`, so the daemon's rate limiter sees
all of them and a cancelled run interrupts the turn instead of abandoning it.

A turn with tool use is several API calls. After each turn the calls it made
(``api_calls`` in the request's meta, counted by the backend from its stream)
are settled with the limiter for the ones it was not leased for; each later
turn of that model leases as many calls as the model's recent turns made, so
parallel turns cannot overrun the limit together. The first turn of a model
is leased as one call: nothing is known about it yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from typing import Any

from .._errors import PodiumError
from .._records import Event, EventKind, RequestRecord, RequestSource, Usage
from ..runtime import Runtime
from ._adaptive import AdaptiveWidth, Ticket
from ._ratelimit import RateLimiter

__all__ = ["Turns", "estimate_tokens"]

# The CLI wraps every prompt in its own system prompt and tool definitions; the
# rate limiter is told the prompt's share up front and the real count after.
_CHARS_PER_TOKEN = 4
# How many recent turns of a model predict the calls of its next one.
_CALL_HISTORY = 8


def estimate_tokens(text: str) -> int:
    return len(text) // _CHARS_PER_TOKEN + 1


class Turns:
    def __init__(self, runtime: Runtime, limiter: RateLimiter) -> None:
        self.runtime = runtime
        self.limiter = limiter
        self._rate_keys: dict[str, str] = {}  # agent -> rate-limit key, for 429 back-off
        self._calls: dict[str, deque[int]] = {}  # rate-limit key -> calls of recent turns
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

    def expected_calls(self, key: str) -> int:
        """API calls to lease for the next turn of ``key``: the mean of its recent turns,
        rounded up; 1 before any turn of it has ended."""
        seen = self._calls.get(key)
        return max(1, math.ceil(sum(seen) / len(seen))) if seen else 1

    async def ask(
        self,
        agent: str,
        prompt: str,
        *,
        timeout: float | None,
        meta: dict[str, Any],
        on_submitted: Callable[[RequestRecord], None] | None = None,
        width: AdaptiveWidth | None = None,
    ) -> tuple[RequestRecord, float]:
        """Send one prompt and wait for its end; returns (request, seconds rate-limited).

        ``width``: the run's adaptive concurrency, which the turn waits to fit in first.
        """
        key = self._rate_keys.get(agent)
        if width is None:
            return await self._ask(agent, prompt, key, timeout, meta, on_submitted)
        ticket: Ticket = await width.acquire(key or "default", agent)
        ended: RequestRecord | None = None
        try:
            ended, waited = await self._ask(agent, prompt, key, timeout, meta, on_submitted)
        finally:
            width.release(ticket, ended)
        return ended, waited

    async def _ask(
        self,
        agent: str,
        prompt: str,
        key: str | None,
        timeout: float | None,
        meta: dict[str, Any],
        on_submitted: Callable[[RequestRecord], None] | None,
    ) -> tuple[RequestRecord, float]:
        estimate = estimate_tokens(prompt)
        expected = self.expected_calls(key) if key else 1
        lease = (
            await self.limiter.lease(key, input_tokens=estimate, requests=expected) if key else None
        )
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
            if key:
                # Settled before the lease is released, so no waiter is admitted
                # against a window that does not show the turn's extra calls yet.
                calls, counted = _calls_of(done)
                usage = _larger(done.usage, counted)
                actual = usage.input_tokens + usage.cache_creation_input_tokens
                self.limiter.settle(
                    key,
                    input_tokens=max(0, actual - estimate),
                    output_tokens=usage.output_tokens,
                    extra_requests=max(0, calls - expected),
                )
                history = self._calls.setdefault(key, deque(maxlen=_CALL_HISTORY))
                history.append(calls)
        finally:
            if lease is not None:
                lease.release()
        waited = lease.waited if lease is not None else 0.0
        return done, waited


def _calls_of(request: RequestRecord) -> tuple[int, Usage]:
    """API calls a turn made and their usage, as its backend recorded them; a backend
    that records none made one call (or none is known)."""
    meta = request.meta or {}
    calls = meta.get("api_calls")
    usage = meta.get("api_usage")
    return (
        calls if isinstance(calls, int) and calls > 0 else 1,
        Usage.from_api(usage if isinstance(usage, dict) else None),
    )


def _larger(a: Usage, b: Usage) -> Usage:
    # The CLI's own total is normally the sum of its calls; a turn that ended in
    # an error reports none, while its calls' own usage was recorded.
    return Usage(
        input_tokens=max(a.input_tokens, b.input_tokens),
        output_tokens=max(a.output_tokens, b.output_tokens),
        cache_creation_input_tokens=max(
            a.cache_creation_input_tokens, b.cache_creation_input_tokens
        ),
        cache_read_input_tokens=max(a.cache_read_input_tokens, b.cache_read_input_tokens),
    )
