"""``GET /v1/events`` as Server-Sent Events, for clients that send ``Accept: text/event-stream``.

Each event is written as::

    id: <event id>
    event: <kind>
    data: <the event's JSON, as the JSON route gives it>

The stream starts after ``Last-Event-ID`` (the header a browser's EventSource
sends when it reconnects), else after ``?after=``, and first replays what the
store holds from there, then goes on live. Live events are pushed: a listener on
the runtime feeds each stream's bounded queue, no polling. Replay and live
overlap on purpose (the listener is registered before the replay reads the
store) and ids already sent are skipped, so nothing falls between the two.

A client too slow to drain its queue gets a final ``event: overflow`` (no
``id``, so its Last-Event-ID stays the last event it received) and the stream
ends; reconnecting with Last-Event-ID resumes exactly there. Quiet streams carry
a ``: keep-alive`` comment every 15 s. When the daemon shuts down every stream
gets ``event: shutdown`` and ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi.responses import StreamingResponse

from .._errors import DaemonError, DaemonStopping, InvalidName, RequestNotFound
from .._records import Event
from ..runtime import Runtime

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "KEEPALIVE_S",
    "MAX_STREAMS",
    "QUEUE_SIZE",
    "SSE_MEDIA_TYPE",
    "EventFilter",
    "EventStreams",
    "filtered_events",
    "resume_point",
    "wants_sse",
]

SSE_MEDIA_TYPE = "text/event-stream"
KEEPALIVE_S = 15.0
QUEUE_SIZE = 10_000
"""Events a stream may fall behind by before it is cut with ``event: overflow``."""
MAX_STREAMS = 64
"""Concurrent event streams per daemon; one more is refused (503)."""
_PAGE = 1000
_RETRY_MS = 2000


def wants_sse(request: Request) -> bool:
    """Whether the client asked for an event stream (``Accept: text/event-stream``)."""
    for part in request.headers.get("accept", "").split(","):
        if part.split(";", 1)[0].strip().lower() == SSE_MEDIA_TYPE:
            return True
    return False


def resume_point(last_event_id: str | None, after: int) -> int:
    """Where a stream starts: after ``Last-Event-ID`` if sent (a reconnection), else ``after``."""
    if last_event_id is None or not last_event_id.strip():
        return after
    value = last_event_id.strip()
    if not value.isdigit() or len(value) > 18:
        raise InvalidName(
            f"Last-Event-ID {value[:40]!r} is not an event id (a non-negative integer)",
            last_event_id=value[:40],
        )
    return int(value)


@dataclass
class EventFilter:
    """Which events a reader wants: those of one agent, of one run, or all."""

    runtime: Runtime
    agent: str | None = None
    run_id: str | None = None
    _in_run: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    def cheap_match(self, event: Event) -> bool:
        """The part of the test that needs no lookup (safe in a synchronous listener)."""
        return self.agent is None or event.agent == self.agent

    async def matches(self, event: Event) -> bool:
        if not self.cheap_match(event):
            return False
        if self.run_id is None:
            return True
        if event.data.get("run_id") == self.run_id:
            return True
        if event.request_id is None:
            return False
        # Requests of a run carry its id in their meta, not in their events.
        known = self._in_run.get(event.request_id)
        if known is None:
            try:
                request = await self.runtime.poll(event.request_id)
            except (RequestNotFound, InvalidName):
                known = False
            else:
                known = request.meta.get("run_id") == self.run_id
            if len(self._in_run) >= QUEUE_SIZE:
                self._in_run.clear()
            self._in_run[event.request_id] = known
        return known


async def filtered_events(
    runtime: Runtime, events_filter: EventFilter, *, after: int, limit: int, wait: float
) -> list[Event]:
    """The JSON long poll: up to ``limit`` matching events after ``after``, waiting up to ``wait``.

    Without a run filter this is one store read; with one, pages are read until
    a match turns up, the store runs out, or the wait does.
    """
    if events_filter.run_id is None:
        return await runtime.events(after=after, agent=events_filter.agent, limit=limit, wait=wait)
    deadline = time.monotonic() + wait
    cursor = after
    found: list[Event] = []
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        page = await runtime.events(
            after=cursor, agent=events_filter.agent, limit=_PAGE, wait=remaining
        )
        if not page:
            return found
        for event in page:
            if await events_filter.matches(event):
                found.append(event)
                if len(found) == limit:
                    return found
        cursor = page[-1].id
        if found:
            return found


def _frame(event: Event) -> bytes:
    # Compact and ASCII-only: one line whatever the data holds (JSON escapes every
    # newline, and lone surrogates become \u escapes instead of failing to encode).
    data = json.dumps(event.to_dict(), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind.value}\ndata: {data}\n\n".encode()


def _notice(kind: str, **data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class _Subscription:
    """One stream's end of the runtime's events: a bounded queue fed by a listener."""

    def __init__(self, events_filter: EventFilter) -> None:
        self.filter = events_filter
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        self.closed = False
        # The replay reached the store's end: what is queued follows on without a gap.
        self.caught_up = False

    def __call__(self, event: Event) -> None:
        # Called synchronously inside Runtime.emit: it must never raise or block.
        if self.overflowed or self.closed or not self.filter.cheap_match(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def close(self) -> None:
        self.closed = True
        # Wake a reader waiting on an empty queue; a full one is not waiting.
        if not self.queue.full():
            self.queue.put_nowait(None)

    def restart(self) -> None:
        """Forget what was queued (it is all in the store) after an overflow during replay."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.overflowed = False


class EventStreams:
    """The daemon's open event streams, so shutdown can end them all at once."""

    def __init__(self) -> None:
        self._open: set[_Subscription] = set()
        self.closing = False

    def __len__(self) -> int:
        return len(self._open)

    def close_all(self) -> None:
        """End every stream (``event: shutdown``) and refuse new ones: the daemon is stopping."""
        self.closing = True
        for subscription in list(self._open):
            subscription.close()

    def response(
        self, runtime: Runtime, events_filter: EventFilter, *, after: int
    ) -> StreamingResponse:
        if self.closing:
            raise DaemonStopping("the daemon is shutting down")
        if len(self._open) >= MAX_STREAMS:
            raise DaemonError(
                f"too many event streams open (at most {MAX_STREAMS}); close one and retry",
                limit=MAX_STREAMS,
            )
        return StreamingResponse(
            self._stream(runtime, _Subscription(events_filter), after),
            media_type=SSE_MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(
        self, runtime: Runtime, subscription: _Subscription, after: int
    ) -> AsyncIterator[bytes]:
        # Registered here, when the stream starts (a client gone before that leaves
        # nothing behind), and before the replay reads the store: nothing emitted
        # from here on can be missed.
        self._open.add(subscription)
        runtime.add_listener(subscription)
        try:
            yield f"retry: {_RETRY_MS}\n\n".encode()
            last = after
            async for frame, event_id in _replay(runtime, subscription, after):
                last = event_id
                yield frame
            async for frame in _live(subscription, last):
                yield frame
        finally:
            # Also when the client went away: the stream is cancelled here.
            runtime.remove_listener(subscription)
            self._open.discard(subscription)


async def _replay(
    runtime: Runtime, subscription: _Subscription, after: int
) -> AsyncIterator[tuple[bytes, int]]:
    """What the store holds after ``after``, page by page, until it has caught up."""
    cursor = after
    while not subscription.closed:
        page = await runtime.events(after=cursor, agent=subscription.filter.agent, limit=_PAGE)
        for event in page:
            cursor = event.id
            if await subscription.filter.matches(event):
                yield _frame(event), event.id
        if subscription.overflowed:
            # Live events outran the replay; they are in the store too: read on.
            subscription.restart()
            continue
        if len(page) < _PAGE:
            subscription.caught_up = True
            return
    return


async def _live(subscription: _Subscription, last: int) -> AsyncIterator[bytes]:
    queue = subscription.queue
    while True:
        if subscription.closed and (queue.empty() or not subscription.caught_up):
            # After what was queued before the close (the daemon's last events), unless
            # the replay stopped short: then the queue's ids are past a gap, and the
            # notice's last_event_id must be where the replay stopped, to resume from.
            yield _notice("shutdown", last_event_id=last, message="the daemon is shutting down")
            return
        if subscription.overflowed:
            # Fell a whole queue behind: say so now rather than after draining it.
            yield _overflow(last)
            return
        try:
            async with asyncio.timeout(KEEPALIVE_S):
                event = await queue.get()
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        if event is None or event.id <= last:
            continue  # a wake-up, or already sent by the replay
        if await subscription.filter.matches(event):
            last = event.id
            yield _frame(event)


def _overflow(last: int) -> bytes:
    return _notice(
        "overflow",
        last_event_id=last,
        message=(
            f"this client fell more than {QUEUE_SIZE} events behind; "
            "reconnect with Last-Event-ID to resume"
        ),
    )
