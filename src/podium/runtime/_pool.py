"""The warm pool: how many agent processes may be live at once, across all agents.

An idle Claude Code CLI holds 190-280 MB; a thousand of them do not fit on one
machine. The pool hands out ``limit`` slots. An agent that needs a process and
finds none free waits in one queue shared by every agent (priority first, then
arrival), while the least recently used idle holder is asked to hibernate: its
process stops, its session stays on disk and resumes on its next turn. A holder
that ends a turn while others wait gives its slot up too, so one agent with a
long queue cannot keep a slot from the rest.

A slot is also refused while the machine's available memory is below a floor:
the process would otherwise be started into an OOM kill.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ._memory import MB, mem_available

__all__ = ["HIBERNATE", "Hibernate", "WaitReason", "WarmPool"]

# How often a waiter held back by the memory floor looks again (memory frees
# without any event podium could wait on).
_MEMORY_POLL = 1.0

Evict = Callable[[str], None]
OnWait = Callable[["WaitReason"], Awaitable[None]]


class Hibernate:
    """The mailbox item that asks an actor to stop its idle process for the pool."""


HIBERNATE = Hibernate()


@dataclass(frozen=True, kw_only=True)
class WaitReason:
    """Why an agent's process may not start yet, for its request's record and event."""

    reason: str
    """``max_warm`` (every slot is taken) or ``memory`` (below the floor)."""
    message: str
    warm: int
    max_warm: int | None
    mem_available_mb: int | None = None
    min_free_mb: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "message": self.message,
            "warm": self.warm,
            "max_warm": self.max_warm,
            "mem_available_mb": self.mem_available_mb,
            "min_free_mb": self.min_free_mb,
        }


@dataclass(eq=False)
class _Holder:
    busy: bool = True
    evicting: bool = False


@dataclass(order=True)
class _Waiter:
    key: tuple[int, int]
    agent: str = field(compare=False)
    granted: asyncio.Future[None] = field(compare=False)


class WarmPool:
    """Slots for live processes. ``limit`` None: no limit (the memory floor still holds).

    ``evict(agent)`` asks an agent's actor to hibernate when it can (it must end in
    :meth:`release`); ``available()`` returns the bytes of memory available, or None
    where that is unknown (then only the limit counts).
    """

    def __init__(
        self,
        limit: int | None,
        *,
        min_free_mb: int = 0,
        available: Callable[[], int | None] = mem_available,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"a warm pool needs at least one slot, not {limit}")
        self.limit = limit
        self.min_free_mb = min_free_mb
        self._available = available
        self.evict: Evict = lambda _agent: None
        # Least recently used first: a holder moves to the end when a turn ends.
        self._holders: OrderedDict[str, _Holder] = OrderedDict()
        self._waiters: list[_Waiter] = []
        self._order = itertools.count()
        self.hibernations = 0
        """Holders asked to make room so far."""

    # --- what agents call -------------------------------------------------------------

    async def acquire(
        self, agent: str, *, priority: int = 0, on_wait: OnWait | None = None
    ) -> float:
        """Wait for a slot for ``agent``'s process; returns the seconds waited.

        Cancellation-safe: a cancelled waiter leaves the queue, or gives back a
        slot granted in the meantime.
        """
        if agent in self._holders:
            return 0.0
        loop = asyncio.get_running_loop()
        waiter = _Waiter((-priority, next(self._order)), agent, loop.create_future())
        heapq.heappush(self._waiters, waiter)
        self._pump()
        if waiter.granted.done():
            return 0.0
        start = time.monotonic()
        told: str | None = None
        try:
            while not waiter.granted.done():
                reason = self._reason()
                if on_wait is not None and reason is not None and reason.reason != told:
                    told = reason.reason
                    await on_wait(reason)
                    continue
                # Memory frees with no event to wait on: look again now and then.
                poll = _MEMORY_POLL if reason is not None and reason.reason == "memory" else None
                await asyncio.wait({waiter.granted}, timeout=poll)
                if not waiter.granted.done():
                    self._pump()
        except BaseException:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.release(agent)
            else:
                waiter.granted.cancel()
                self._drop(waiter)
            raise
        return time.monotonic() - start

    def release(self, agent: str) -> None:
        """``agent``'s process is gone (stopped, hibernated, crashed). Idempotent."""
        if self._holders.pop(agent, None) is not None:
            self._pump()

    def busy(self, agent: str) -> None:
        holder = self._holders.get(agent)
        if holder is not None:
            holder.busy = True

    def idle(self, agent: str) -> None:
        """A turn of ``agent`` ended: it is now the most recently used holder."""
        holder = self._holders.get(agent)
        if holder is not None:
            holder.busy = False
            self._holders.move_to_end(agent)
            self._pump()

    def should_yield(self, agent: str) -> bool:
        """True if ``agent`` holds a slot that another agent is waiting for."""
        return agent in self._holders and bool(self._waiters)

    def holds(self, agent: str) -> bool:
        return agent in self._holders

    def evicting(self, agent: str) -> bool:
        """True if ``agent`` was asked to hibernate and still holds its slot."""
        holder = self._holders.get(agent)
        return holder is not None and holder.evicting

    def forget(self, agent: str) -> None:
        """``agent`` is gone for good (killed): its waiters and slot go with it."""
        for waiter in [w for w in self._waiters if w.agent == agent]:
            waiter.granted.cancel()
            self._drop(waiter)
        self.release(agent)

    # --- what fronts show -------------------------------------------------------------

    @property
    def warm(self) -> int:
        return len(self._holders)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def snapshot(self) -> dict[str, Any]:
        available = self._available()
        return {
            "warm": self.warm,
            "max_warm": self.limit,
            "waiting": self.waiting,
            "busy": sum(h.busy for h in self._holders.values()),
            "hibernations": self.hibernations,
            "min_free_mb": self.min_free_mb,
            "mem_available_mb": None if available is None else available // MB,
        }

    # --- internals --------------------------------------------------------------------

    def _drop(self, waiter: _Waiter) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return
        heapq.heapify(self._waiters)
        self._pump()

    def _full(self) -> bool:
        return self.limit is not None and len(self._holders) >= self.limit

    def _memory_short(self) -> int | None:
        """Available MB when below the floor, else None."""
        if self.min_free_mb <= 0:
            return None
        available = self._available()
        if available is None or available >= self.min_free_mb * MB:
            return None
        return available // MB

    def _reason(self) -> WaitReason | None:
        if not self._waiters:
            return None
        if self._full():
            return WaitReason(
                reason="max_warm",
                message=f"waiting for a warm slot: {self.warm} of max_warm {self.limit} "
                "processes are live",
                warm=self.warm,
                max_warm=self.limit,
            )
        short = self._memory_short()
        if short is not None:
            return WaitReason(
                reason="memory",
                message=f"waiting for memory: {short} MB available, below the floor of "
                f"{self.min_free_mb} MB (PODIUM_MIN_FREE_MB)",
                warm=self.warm,
                max_warm=self.limit,
                mem_available_mb=short,
                min_free_mb=self.min_free_mb,
            )
        return None

    def _pump(self) -> None:
        """Grant slots to the head of the queue while they are free; make room otherwise."""
        while self._waiters:
            head = self._waiters[0]
            if head.granted.done():  # cancelled
                heapq.heappop(self._waiters)
                continue
            if self._full():
                self._make_room(len(self._waiters))
                return
            if self._memory_short() is not None:
                # Stopping an idle process is the one thing podium can do for memory;
                # a free slot does not help there.
                self._make_room(1, count_free=False)
                return
            heapq.heappop(self._waiters)
            self._holders[head.agent] = _Holder()
            head.granted.set_result(None)

    def _make_room(self, wanted: int, *, count_free: bool = True) -> None:
        """Ask idle holders, least recently used first, to hibernate: enough for
        ``wanted`` waiters, counting those already asked (and free slots)."""
        free = 0
        if count_free and self.limit is not None:
            free = max(0, self.limit - len(self._holders))
        pending = sum(h.evicting for h in self._holders.values())
        needed = wanted - free - pending
        for agent, holder in list(self._holders.items()):
            if needed <= 0:
                return
            if holder.busy or holder.evicting:
                continue
            holder.evicting = True
            needed -= 1
            self.hibernations += 1
            self.evict(agent)
