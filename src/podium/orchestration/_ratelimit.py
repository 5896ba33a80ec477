"""Client-side rate limits per model, shared by every worker of a daemon.

Each key (a model alias or id) has a sliding window: every unit taken (a
request, an input or output token) is stamped and returns exactly one
``period`` later. The configured limit therefore holds over *any* window of
``period`` seconds; a continuously refilled bucket would let a burst at the end
of one minute and another at the start of the next through, twice the limit.

Waiters of one key queue in arrival order. Only the head of the queue looks at
the window: it computes when enough units will have expired (or a 429 backoff
ends) and sleeps exactly that long, or until :meth:`RateLimiter.configure` /
:meth:`RateLimiter.backoff` wakes it, so nothing polls.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields

from .._errors import UsageError

__all__ = ["Lease", "ModelLimits", "RateLimiter"]

# Timers may fire a hair before the deadline they were computed for; a floor on
# each nap keeps the re-check after such an early wake from spinning.
_MIN_NAP = 0.001

Sleep = Callable[[float], Awaitable[object]]
_Amounts = tuple[int, int, int]  # requests, input tokens, output tokens


@dataclass(frozen=True, kw_only=True)
class ModelLimits:
    """Limits for one model; ``None`` = not limited. "per minute" means per ``period``."""

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(
                    f"{f.name} must be a positive integer or None, got {value!r}", limit=f.name
                )

    def caps(self) -> tuple[int | None, int | None, int | None]:
        return (
            self.requests_per_minute,
            self.input_tokens_per_minute,
            self.output_tokens_per_minute,
        )


@dataclass(frozen=True, slots=True)
class _Use:
    expires: float
    amounts: _Amounts


@dataclass(eq=False)
class _Bucket:
    limits: ModelLimits | None = None
    uses: deque[_Use] = field(default_factory=deque)
    used: list[int] = field(default_factory=lambda: [0, 0, 0])
    blocked_until: float = -math.inf
    # Units of calls still in flight: counted, but not yet given an expiry.
    held: dict[int, _Amounts] = field(default_factory=dict)
    # One event per waiting acquire(), in arrival order; the head's event is set
    # whenever something it waits on may have changed.
    queue: deque[asyncio.Event] = field(default_factory=deque)

    def wake_head(self) -> None:
        if self.queue:
            self.queue[0].set()


def _fits(used: list[int], ask: _Amounts, caps: tuple[int | None, ...]) -> bool:
    for u, a, cap in zip(used, ask, caps, strict=True):
        # An empty window admits any single ask, even one above the limit:
        # otherwise an oversized request would wait forever.
        if cap is None or u <= 0:
            continue
        # A full (or overfull, after settle) window admits nothing, not even a
        # zero estimate: the call will use some of it.
        if u >= cap or u + a > cap:
            return False
    return True


def _check_count(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{what} must be an integer >= 0, got {value!r}")


class RateLimiter:
    """Per-model token buckets shared by every worker of a daemon. Each unit taken from a
    bucket returns to it exactly one ``period`` later (default 60 s), so the configured limit
    holds over ANY window of ``period`` seconds (a continuously-refilled bucket would allow 2x).

    ``clock`` and ``sleep`` must agree (both real, or both fake in tests).
    """

    def __init__(
        self,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not (isinstance(period, int | float) and math.isfinite(period) and period > 0):
            raise UsageError(f"period must be a positive number of seconds, got {period!r}")
        self._period = float(period)
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._lease_ids = 0

    @property
    def period(self) -> float:
        return self._period

    def configure(self, key: str, limits: ModelLimits) -> None:
        """Replace the limits of ``key``; usage already in the window still counts."""
        bucket = self._buckets.setdefault(key, _Bucket())
        bucket.limits = limits
        bucket.wake_head()

    def limits(self, key: str) -> ModelLimits | None:
        bucket = self._buckets.get(key)
        return None if bucket is None else bucket.limits

    async def lease(self, key: str, *, input_tokens: int = 0, requests: int = 1) -> Lease:
        """Like :meth:`acquire`, but the units stay taken until :meth:`Lease.release`.

        Their period starts at release, not at admission. podium cannot see when
        a CLI actually sends its calls (a fresh process takes a moment; a turn
        with tool use makes several), only that they have been sent by the time
        the turn ends; counting from the end keeps the limit true at the API,
        not only at podium's door. ``requests``: the calls the turn is expected
        to make, all held for its whole length.
        """
        waited, lease_id = await self._admit(key, input_tokens, requests, hold=True)
        return Lease(self, key, lease_id, waited)

    def _release(self, key: str, lease_id: int) -> None:
        bucket = self._buckets.get(key)
        if bucket is None or lease_id not in bucket.held:
            return
        amounts = bucket.held.pop(lease_id)
        now = self._clock()
        # Held units are already in ``used``; give them their expiry now.
        self._expire(bucket, now)
        bucket.uses.append(_Use(now + self._period, amounts))
        bucket.wake_head()

    async def acquire(self, key: str, *, input_tokens: int = 0, requests: int = 1) -> float:
        """Wait until ``requests`` requests and ``input_tokens`` fit in the window of ``key``.

        Returns the seconds waited (by ``clock``). A key with no limits and no
        backoff returns 0 at once. A cancelled waiter takes nothing.
        """
        waited, _ = await self._admit(key, input_tokens, requests, hold=False)
        return waited

    async def _admit(
        self, key: str, input_tokens: int, requests: int, *, hold: bool
    ) -> tuple[float, int]:
        _check_count(input_tokens, "input_tokens")
        _check_count(requests, "requests")
        if requests < 1:
            raise UsageError(f"requests must be at least 1, got {requests!r}")
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0, 0
        ask: _Amounts = (requests, input_tokens, 0)
        start = self._clock()
        ticket = asyncio.Event()
        bucket.queue.append(ticket)
        try:
            while True:
                # Cleared before looking, so a wake-up during the wait below is never lost.
                ticket.clear()
                if bucket.queue[0] is not ticket:
                    await ticket.wait()
                    continue
                now = self._clock()
                delay = self._delay(bucket, now, ask)
                if delay <= 0:
                    if not hold:
                        self._take(bucket, now, ask)
                        return max(0.0, now - start), 0
                    self._expire(bucket, now)
                    self._lease_ids += 1
                    bucket.held[self._lease_ids] = ask
                    for i, amount in enumerate(ask):
                        bucket.used[i] += amount
                    return max(0.0, now - start), self._lease_ids
                if math.isinf(delay):
                    await ticket.wait()  # only a release (or configure) can help
                else:
                    await self._nap(ticket, max(delay, _MIN_NAP))
        finally:
            self._leave(bucket, ticket)

    def settle(
        self,
        key: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        extra_requests: int = 0,
    ) -> None:
        """Record usage known only after a turn: input beyond the estimate, output, extra calls.

        It may push the window over the limit; later acquires then wait. Negative
        values count as 0: an overestimate is kept until it expires, never
        handed back early.
        """
        amounts: _Amounts = (max(0, extra_requests), max(0, input_tokens), max(0, output_tokens))
        if not any(amounts):
            return
        self._take(self._buckets.setdefault(key, _Bucket()), self._clock(), amounts)

    def backoff(self, key: str, seconds: float) -> None:
        """Block ``key`` until now + ``seconds`` (a 429's retry-after); never shortens a block."""
        if not (isinstance(seconds, int | float) and math.isfinite(seconds)):
            raise UsageError(f"backoff must be a finite number of seconds, got {seconds!r}")
        bucket = self._buckets.setdefault(key, _Bucket())
        bucket.blocked_until = max(bucket.blocked_until, self._clock() + seconds)
        bucket.wake_head()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per key: units used in the current window, the limits set, the backoff left, waiters."""
        now = self._clock()
        out: dict[str, dict[str, float]] = {}
        for key, bucket in self._buckets.items():
            self._expire(bucket, now)
            caps = bucket.limits.caps() if bucket.limits else (None, None, None)
            entry: dict[str, float] = {}
            for name, used, cap in zip(
                ("requests", "input_tokens", "output_tokens"), bucket.used, caps, strict=True
            ):
                entry[f"{name}_used"] = float(used)
                if cap is not None:
                    entry[f"{name}_limit"] = float(cap)
            entry["blocked_for"] = max(0.0, bucket.blocked_until - now)
            entry["waiting"] = float(len(bucket.queue))
            out[key] = entry
        return out

    # -- internals -------------------------------------------------------------

    def _expire(self, bucket: _Bucket, now: float) -> None:
        while bucket.uses and bucket.uses[0].expires <= now:
            use = bucket.uses.popleft()
            for i, amount in enumerate(use.amounts):
                bucket.used[i] -= amount

    def _take(self, bucket: _Bucket, now: float, amounts: _Amounts) -> None:
        self._expire(bucket, now)
        bucket.uses.append(_Use(now + self._period, amounts))
        for i, amount in enumerate(amounts):
            bucket.used[i] += amount

    def _delay(self, bucket: _Bucket, now: float, ask: _Amounts) -> float:
        """Seconds until ``ask`` fits and no backoff holds; <= 0 means now."""
        self._expire(bucket, now)
        ready = now
        if bucket.limits is not None:
            caps = bucket.limits.caps()
            used = list(bucket.used)
            if not _fits(used, ask, caps):
                # Uses expire in stamp order: walk them until enough are back.
                # Ends at the latest when the window is empty, which admits anything.
                ready = math.inf  # held units may keep it from ever fitting by expiry alone
                for use in bucket.uses:
                    for i, amount in enumerate(use.amounts):
                        used[i] -= amount
                    if _fits(used, ask, caps):
                        ready = use.expires
                        break
        return max(ready, bucket.blocked_until) - now

    async def _nap(self, ticket: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds`` or until ``ticket`` is set, whichever comes first."""

        def ring(timer: asyncio.Future[object]) -> None:
            if not timer.cancelled():
                ticket.set()

        timer = asyncio.ensure_future(self._sleep(seconds))
        timer.add_done_callback(ring)
        try:
            await ticket.wait()
        finally:
            timer.cancel()
        # A sleep that fails would otherwise turn the wait into a spin.
        if timer.done() and not timer.cancelled() and (error := timer.exception()) is not None:
            raise error

    @staticmethod
    def _leave(bucket: _Bucket, ticket: asyncio.Event) -> None:
        was_head = bool(bucket.queue) and bucket.queue[0] is ticket
        try:
            bucket.queue.remove(ticket)
        except ValueError:
            return
        if was_head:
            bucket.wake_head()


class Lease:
    """Units taken by :meth:`RateLimiter.lease`; :meth:`release` when the call has ended."""

    def __init__(self, limiter: RateLimiter, key: str, lease_id: int, waited: float) -> None:
        self._limiter = limiter
        self.key = key
        self._id = lease_id
        self.waited = waited
        """Seconds spent waiting for admission."""

    def release(self) -> None:
        """Start the units' period now; calling it again does nothing."""
        if self._id:
            self._limiter._release(self.key, self._id)
            self._id = 0
