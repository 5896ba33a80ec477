"""Adaptive concurrency: a run narrows its parallelism per model when the API is overloaded.

When the API answers 429 (rate limited) or 529 (overloaded), every Claude Code
CLI retries on its own; a run that keeps all its workers going only adds to the
storm. Each model of a run has a width — how many of its turns may be in flight
— run as AIMD: halved on an overload signal (an ``api_retry`` with status 429 or
529, or a turn that ended on one), +1 after ``increase_after`` turns that
succeeded without one, never below 1 nor above the team's ``max_parallel``.
Turns already running when the width drops go on: their results are kept.

One overload is counted once: signals from turns that started before the last
decrease are the same storm, already answered (as TCP does per window).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .._records import Event, EventKind, RequestRecord, RequestState

__all__ = ["OVERLOAD_STATUSES", "AdaptiveWidth", "Ticket"]

OVERLOAD_STATUSES = frozenset({429, 529})
# Successful turns in a row before the width grows by one.
DEFAULT_INCREASE_AFTER = 3


@dataclass(eq=False)
class _Model:
    ceiling: int
    width: int
    min_width: int
    decreases: int = 0
    increases: int = 0
    overloads: int = 0
    successes: int = 0
    epoch: int = 0
    in_flight: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)

    def to_dict(self) -> dict[str, int]:
        return {
            "width": self.width,
            "min_width": self.min_width,
            "ceiling": self.ceiling,
            "decreases": self.decreases,
            "increases": self.increases,
            "overloads": self.overloads,
            "in_flight": self.in_flight,
        }


@dataclass(eq=False)
class Ticket:
    """One turn's place in its model's width; give it back with :meth:`AdaptiveWidth.release`."""

    model: str
    agent: str
    epoch: int
    overloaded: bool = False
    released: bool = False


class AdaptiveWidth:
    """Per-model AIMD widths for one run. ``on_change`` gets :meth:`snapshot` after each
    change of a width (to save it in the run's record)."""

    def __init__(
        self,
        ceiling: int,
        *,
        increase_after: int = DEFAULT_INCREASE_AFTER,
        on_change: Callable[[dict[str, dict[str, int]]], object] | None = None,
    ) -> None:
        if ceiling < 1:
            raise ValueError(f"the ceiling must be at least 1, not {ceiling}")
        if increase_after < 1:
            raise ValueError(f"increase_after must be at least 1, not {increase_after}")
        self.ceiling = ceiling
        self.increase_after = increase_after
        self._on_change = on_change
        self._models: dict[str, _Model] = {}
        self._holding: dict[str, Ticket] = {}  # agent -> its turn's ticket

    def _model(self, model: str) -> _Model:
        found = self._models.get(model)
        if found is None:
            found = _Model(ceiling=self.ceiling, width=self.ceiling, min_width=self.ceiling)
            self._models[model] = found
        return found

    async def acquire(self, model: str, agent: str) -> Ticket:
        """Wait until a turn of ``model`` fits in its width (arrival order)."""
        state = self._model(model)
        if state.waiters or state.in_flight >= state.width:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            state.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    state.in_flight -= 1  # admitted as it was cancelled: give it back
                    self._wake(state)
                else:
                    state.waiters.remove(waiter)
                raise
        else:
            state.in_flight += 1
        ticket = Ticket(model=model, agent=agent, epoch=state.epoch)
        self._holding[agent] = ticket
        return ticket

    def release(self, ticket: Ticket, request: RequestRecord | None) -> None:
        """The turn ended (``request`` is its record, None if it never got one)."""
        if ticket.released:
            return
        ticket.released = True
        if self._holding.get(ticket.agent) is ticket:
            del self._holding[ticket.agent]
        state = self._model(ticket.model)
        state.in_flight -= 1
        if request is not None:
            status = request.meta.get("api_error_status")
            if status in OVERLOAD_STATUSES:
                self._overload(ticket)
            elif request.state is RequestState.COMPLETE and not ticket.overloaded:
                self._success(state)
        self._wake(state)

    def on_event(self, event: Event) -> None:
        """A runtime listener: an ``api_retry`` on 429/529 from one of this run's turns."""
        if event.kind is not EventKind.API_RETRY or event.agent is None:
            return
        ticket = self._holding.get(event.agent)
        if ticket is None:
            return
        data = event.data or {}
        if data.get("error_status", data.get("status")) in OVERLOAD_STATUSES:
            self._overload(ticket)

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {model: state.to_dict() for model, state in self._models.items()}

    # --- internals --------------------------------------------------------------------

    def _overload(self, ticket: Ticket) -> None:
        state = self._model(ticket.model)
        ticket.overloaded = True
        state.overloads += 1
        state.successes = 0
        if ticket.epoch != state.epoch:
            return  # started before the last decrease: that storm was answered already
        state.epoch += 1  # this turn's own later retries are the same storm
        new = max(1, state.width // 2)
        if new != state.width:
            state.width = new
            state.decreases += 1
            state.min_width = min(state.min_width, new)
        self._changed()

    def _success(self, state: _Model) -> None:
        state.successes += 1
        if state.successes >= self.increase_after and state.width < state.ceiling:
            state.width += 1
            state.increases += 1
            state.successes = 0
            self._changed()

    def _wake(self, state: _Model) -> None:
        while state.waiters and state.in_flight < state.width:
            waiter = state.waiters.popleft()
            if waiter.done():
                continue
            state.in_flight += 1
            waiter.set_result(None)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.snapshot())
