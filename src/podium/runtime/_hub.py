"""Events as they are recorded: listeners told at once, long polls woken, and the
events of a batch told only once the batch is committed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from .._errors import DaemonStopping
from .._records import Event, EventKind
from ..isolation._credentials import DEFAULT_SECRETS
from ..store import Store

__all__ = ["EventHub"]


class EventHub:
    """Records events in the store ``store()`` returns and tells who listens."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store
        self._new_event = asyncio.Event()
        self._listeners: list[Callable[[Event], None]] = []
        # Events recorded inside batch(), told once the batch is durable; and its task.
        self._held: list[Event] | None = None
        self._held_by: asyncio.Task[Any] | None = None
        # Set while the daemon stops: long polls hold their answers until it is set.
        self._stopping: asyncio.Event | None = None
        # The daemon's last event: every follower's last answer, whatever agent it follows.
        self._last_word: Event | None = None

    async def emit(
        self,
        kind: EventKind,
        *,
        agent: str | None = None,
        request_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        if data and len(DEFAULT_SECRETS):
            data = DEFAULT_SECRETS.redact_value(data)
        event = await self._store().append_event(
            kind, agent=agent, request_id=request_id, data=data
        )
        if kind is EventKind.DAEMON_STOPPED:
            self._last_word = event
        if self._held is not None and asyncio.current_task() is self._held_by:
            self._held.append(event)
        else:
            self._tell(event)
        return event

    def _tell(self, event: Event) -> None:
        for listener in tuple(self._listeners):
            listener(event)
        # Wake every waiter once, then start a fresh generation.
        self._new_event.set()
        self._new_event = asyncio.Event()

    @contextlib.contextmanager
    def batch(self, *, durable: bool = True) -> Iterator[None]:
        """See :meth:`Runtime.batch`."""
        if self._held is not None:
            yield
            return
        held: list[Event] = []
        self._held, self._held_by = held, asyncio.current_task()
        committed = False
        # A store of an older make without batch() commits each write on its own.
        store_batch = getattr(self._store(), "batch", None)
        block = contextlib.nullcontext() if store_batch is None else store_batch(durable=durable)
        try:
            with block:
                try:
                    yield
                except BaseException:
                    committed = True  # the store keeps what the block wrote
                    raise
            committed = True
        finally:
            self._held = self._held_by = None
            if committed:
                for event in held:
                    self._tell(event)

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    async def events(
        self, *, after: int, agent: str | None, limit: int, wait: float
    ) -> list[Event]:
        """See :meth:`Runtime.events`."""
        deadline = time.monotonic() + wait
        while True:
            signal_ = self._new_event
            found = await self._store().events(after=after, agent=agent, limit=limit)
            remaining = deadline - time.monotonic()
            stopping = self._stopping
            if stopping is not None and not stopping.is_set() and remaining > 0:
                # The daemon is stopping: the answer waits for its last events, so a
                # follower gets them all and does not come back to a closed door.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), remaining)
                continue
            if stopping is not None and agent is not None:
                found = self._with_last_word(found, after=after, limit=limit)
            if found or remaining <= 0:
                return found
            if stopping is not None:
                raise DaemonStopping("the daemon is shutting down: no more events will come")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(signal_.wait(), remaining)

    def _with_last_word(self, found: list[Event], *, after: int, limit: int) -> list[Event]:
        """An agent's events end with the daemon's last one (agent-less) once it is told,
        so the follower of one agent knows the follow is over too."""
        last = self._last_word
        if last is None or last.id <= after or len(found) >= limit:
            return found
        if found and found[-1].id >= last.id:
            return found
        return [*found, last]

    def hold_waits(self) -> None:
        """The daemon begins to stop: long polls hold their answers until :meth:`end_waits`."""
        if self._stopping is None:
            self._stopping = asyncio.Event()

    def resume_waits(self) -> None:
        """Started again after a stop: long polls wait as before."""
        self._stopping = self._last_word = None

    def end_waits(self) -> None:
        """Long polls answer now (DaemonStopping if they found nothing), and wait no more."""
        self.hold_waits()
        assert self._stopping is not None
        self._stopping.set()
        self._new_event.set()
        self._new_event = asyncio.Event()
