"""Watching a turn: its overall timeout, and stalls (no sign of life for too long).

A turn's sign of life is the backend's own: for Claude Code, a line on the CLI's
stream or growth of its transcript. A turn that shows none for ``stall_timeout``
is flagged (a ``request_stalled`` event, ``stalls`` in the request's meta, with
the seconds since the last progress and the last stream event), interrupted,
then retried once or failed, as ``stall_policy`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import PodiumError
from .._records import AgentRecord, EventKind, RequestRecord
from ..backends import BackendSession, EventSink, TurnResult
from ._config import StallPolicy

if TYPE_CHECKING:
    from ._actor import AgentActor

__all__ = ["Watched", "run_watched", "stall_settings"]

# After an interrupt, how long the turn gets to report its result before the
# process is stopped outright.
INTERRUPT_GRACE = 15.0

Progress = Callable[[], tuple[float, str | None]]


@dataclass(kw_only=True)
class Watched:
    """How a watched turn ended. ``turn`` is done (its result or its error)."""

    turn: asyncio.Task[TurnResult]
    timed_out: bool = False
    stall_error: str | None = None
    stalls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class _Stall:
    seconds: float
    last_event: str | None


def stall_settings(actor: AgentActor, agent: AgentRecord) -> tuple[float, str]:
    """The agent's own ``stall_timeout`` / ``stall_policy`` if set, else the daemon's."""
    config = actor.runtime.config
    opts = agent.options
    timeout = opts.stall_timeout if opts.stall_timeout is not None else config.stall_timeout
    policy = opts.stall_policy or config.stall_policy
    return timeout, policy


async def run_watched(
    actor: AgentActor,
    agent: AgentRecord,
    request: RequestRecord,
    session: BackendSession,
    on_event: EventSink,
    timeout: float,
) -> Watched:
    """Run ``request``'s turn under its timeout and the stall watch."""
    stall_timeout, policy = stall_settings(actor, agent)
    deadline = time.monotonic() + timeout
    attempt = 1
    stalls: list[dict[str, Any]] = []
    while True:
        turn = asyncio.create_task(session.run_turn(request.prompt, on_event))
        progress = _alive_while_asking(actor, getattr(session, "progress", None))
        outcome = await _wait(
            turn, progress if stall_timeout > 0 else None, stall_timeout, deadline
        )
        if outcome == "done":
            return Watched(turn=turn, stalls=stalls)
        if outcome == "timeout":
            await _interrupt(actor, session, turn)
            return Watched(turn=turn, timed_out=True, stalls=stalls)
        assert isinstance(outcome, _Stall)
        retry = policy == StallPolicy.RETRY and attempt == 1
        evidence = {
            "stalled_s": round(outcome.seconds, 1),
            "last_event": outcome.last_event,
            "stall_timeout": stall_timeout,
            "policy": policy,
            "attempt": attempt,
            "action": "retried" if retry else "failed",
        }
        await _flag(actor, request, evidence)
        await _interrupt(actor, session, turn)
        stalls.append(evidence)
        if not retry:
            error = (
                f"stalled: no progress for {outcome.seconds:.0f} s "
                f"(last stream event: {outcome.last_event or 'none'}; stall_timeout "
                f"{stall_timeout:g} s, stall_policy {policy})"
            )
            if attempt > 1:
                error += "; it had been retried once"
            return Watched(turn=turn, stall_error=error, stalls=stalls)
        # The stalled turn's own end (interrupted) is not the request's answer.
        with contextlib.suppress(Exception):
            await turn
        attempt += 1
        try:
            session = await actor._ensure_session(agent, request)
        except PodiumError as exc:
            failed: asyncio.Future[TurnResult] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return Watched(turn=asyncio.ensure_future(failed), stalls=stalls)


def _alive_while_asking(actor: AgentActor, progress: Progress | None) -> Progress | None:
    """A turn waiting on a person's decision (its tool use in the approval inbox) is
    not stuck, however long the person takes: that wait has its own approval_timeout."""
    if progress is None:
        return None
    watched = progress

    def alive() -> tuple[float, str | None]:
        if actor.asking:
            return time.monotonic(), "awaiting approval"
        return watched()

    return alive


async def _wait(
    turn: asyncio.Task[TurnResult],
    progress: Progress | None,
    stall_timeout: float,
    deadline: float,
) -> str | _Stall:
    started = time.monotonic()
    first = True
    while True:
        now = time.monotonic()
        wake = deadline
        if progress is not None:
            # Nothing is stalled as it starts: the first look (a stat of the transcript)
            # waits until a stall could be due, off the path of the prompt.
            last, event = (started, None) if first else progress()
            last = max(last, started)
            if now - last >= stall_timeout:
                return _Stall(seconds=now - last, last_event=event)
            wake = min(wake, last + stall_timeout)
        first = False
        done, _ = await asyncio.wait({turn}, timeout=max(0.05, wake - now))
        if done:
            return "done"
        if time.monotonic() >= deadline:
            return "timeout"


async def _interrupt(
    actor: AgentActor, session: BackendSession, turn: asyncio.Task[TurnResult]
) -> None:
    """Interrupt the turn; a process that does not answer in time is stopped."""
    await session.interrupt()
    done, _ = await asyncio.wait({turn}, timeout=INTERRUPT_GRACE)
    if not done:
        await actor._stop_session()


async def _flag(actor: AgentActor, request: RequestRecord, evidence: dict[str, Any]) -> None:
    runtime = actor.runtime
    await runtime.emit(
        EventKind.REQUEST_STALLED, agent=actor.name, request_id=request.id, data=evidence
    )
    with contextlib.suppress(PodiumError):
        current = await runtime.store.get_request(request.id)
        stalls = [*current.meta.get("stalls", []), evidence]
        await runtime.store.update_request(request.id, meta={**current.meta, "stalls": stalls})
