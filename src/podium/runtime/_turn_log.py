"""What a running turn's stream tells podium, recorded as it comes: the request marked
running once its prompt is out, the turn's activity as events, its API retries and
model fallbacks counted. Recording never breaks off a turn that is being paid for."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._records import AgentRecord, AgentStatus, EventKind, RequestRecord, RequestState
from ..backends import PROMPT_SENT, Activity, BackendSession
from ._faults import describe_failure

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = ["TurnLog"]

_log = logging.getLogger("podium.runtime")

_ACTIVITY = frozenset(a.value for a in Activity)


class TurnLog:
    """The event sink of one request's turn (see ``EventSink``; it has ``batch()``).

    ``request`` is the request's latest record (running, once started).
    """

    def __init__(
        self,
        runtime: Runtime,
        agent: AgentRecord,
        request: RequestRecord,
        session: BackendSession,
    ) -> None:
        self._runtime = runtime
        self._agent = agent
        self._session = session
        self.request = request
        self.started = False
        self.retries = 0
        self.fallbacks: list[dict[str, Any]] = []
        self.start_failure: Exception | None = None
        """Why the request could not be recorded running (the turn still ran)."""

    async def mark_started(self) -> None:
        """Record the request running (once): on PROMPT_SENT, or before the turn for a
        session that does not announce it, or after a turn that failed before it."""
        if self.started:
            return
        runtime, store, agent = self._runtime, self._runtime.store, self._agent
        # One commit for the three (runtime.batch: nothing in it suspends), without
        # waiting for the disk: an fsync now holds up the CLI writing its transcript
        # (about 1 ms a turn). Podium crashing keeps it; the machine crashing before
        # the next durable commit leaves the request queued, and it runs again.
        with runtime.batch(durable=False):
            self.request = await store.update_request(
                self.request.id,
                state=RequestState.RUNNING,
                started_at=time.time(),
                model=self._session.resolved_model or agent.resolved_model or agent.model,
            )
            await store.update_agent(agent.name, status=AgentStatus.BUSY)
            await runtime.emit(
                EventKind.REQUEST_STARTED, agent=agent.name, request_id=self.request.id
            )
        self.started = True

    async def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == PROMPT_SENT:
            try:
                await self.mark_started()
            except Exception as exc:
                # The turn is under way in the process: it runs to its end (the
                # session stays in step) and the request then fails, naming why.
                self.start_failure = exc
            return
        # An event that cannot be recorded must not break off a turn being paid for.
        try:
            await self._record(kind, data)
        except Exception as exc:
            self._report(f"could not record a {kind} event", exc)

    async def _record(self, kind: str, data: dict[str, Any]) -> None:
        await self.mark_started()  # no event of the turn comes before its start
        if kind == "api_retry":
            self.retries += 1
            event = EventKind.API_RETRY
        elif kind in _ACTIVITY:
            event = EventKind(kind)
        elif kind == "model_fallback":
            self.fallbacks.append(data)
            event = EventKind.MODEL_FALLBACK
        else:
            event, data = EventKind.ERROR, {"backend_event": kind, **data}
        await self._runtime.emit(
            event, agent=self._agent.name, request_id=self.request.id, data=data
        )

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """The events the block records share one commit; like a single event, a
        commit that fails is logged and does not break off the turn."""
        block_failed = False
        try:
            # A turn's activity: committed at once, on the disk with the next durable
            # commit (at the latest the request's end).
            with self._runtime.batch(durable=False):
                try:
                    yield
                except BaseException:
                    block_failed = True
                    raise
        except Exception as exc:
            if block_failed:
                raise
            self._report("could not record events", exc)

    def _report(self, what: str, exc: Exception) -> None:
        _log.error(
            "agent %s: %s of %s: %s",
            self._agent.name,
            what,
            self.request.id,
            describe_failure(exc, self._runtime.config.home),
        )
