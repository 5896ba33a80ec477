"""Making the state consistent after whoever ran before us crashed."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import PodiumError
from .._records import (
    AgentRecord,
    AgentStatus,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
)
from ..backends import SessionSpec, StartMode
from ..backends.claude_code import RecoveredTurn
from ..pricing import PriceTable, load_price_table
from ..store import Store

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = ["TurnReader", "recover_state", "transcript_reader"]

Emit = Callable[..., Awaitable[Any]]
# What the agent's own records (its CLI's transcript) show of a request's turn.
TurnReader = Callable[[AgentRecord, RequestRecord], RecoveredTurn | None]

_log = logging.getLogger("podium.runtime")

_STOPPED = "podium stopped while the request was running"


async def recover_state(
    store: Store,
    emit: Emit,
    *,
    read_turn: TurnReader | None = None,
    home: Path | None = None,
) -> list[RequestRecord]:
    """Hibernate every agent, reap CLI processes left behind, end requests that were
    running (with what their transcript shows of them); return the queued requests
    that are still owed."""
    for agent in await store.list_agents():
        if agent.pid is not None:
            _reap_orphan(agent.pid, agent.session_id)
        if agent.status is not AgentStatus.HIBERNATED or agent.pid is not None:
            await store.update_agent(agent.name, status=AgentStatus.HIBERNATED, pid=None)
    table: list[PriceTable | None] = []
    for request in await store.list_requests(states=[RequestState.RUNNING]):
        owner = await store.find_agent(request.agent)
        turn = None
        if owner is not None and read_turn is not None and request.started_at is not None:
            # The orphan was reaped above: the transcript is final.
            try:
                turn = read_turn(owner, request)
            except Exception:  # an unreadable record must not stop the restart
                _log.exception("could not read the transcript of request %s", request.id)
        if owner is None or turn is None or not (turn.calls or turn.unrecorded_calls):
            await store.update_request(
                request.id,
                state=RequestState.INTERRUPTED,
                error=_STOPPED,
                completed_at=time.time(),
            )
            await emit(
                EventKind.REQUEST_FINISHED,
                agent=request.agent,
                request_id=request.id,
                data={"state": RequestState.INTERRUPTED.value, "cost_usd": 0.0},
            )
            continue
        if not table:
            table.append(_price_table(home))
        await _record_turn(store, emit, owner, request, turn, table[0])
    # Requests that never started are still owed: they run now, in order.
    # Those of orchestrated runs are not: their run decides on resume
    # whether (and how) to send them again.
    owed: list[RequestRecord] = []
    for request in await store.list_requests(states=[RequestState.QUEUED]):
        if request.source is RequestSource.TASK:
            await store.update_request(
                request.id,
                state=RequestState.INTERRUPTED,
                error="podium stopped before the run's request started",
                completed_at=time.time(),
            )
        elif await store.find_agent(request.agent) is None:
            await store.update_request(
                request.id, state=RequestState.CANCELLED, error="agent was killed"
            )
        else:
            owed.append(request)
    return owed


def transcript_reader(runtime: Runtime) -> TurnReader:
    """Reads a request's turn from its agent's transcript, for backends that keep one."""

    def read(agent: AgentRecord, request: RequestRecord) -> RecoveredTurn | None:
        # Only a backend whose process outlives the daemon keeps such a record.
        reader = getattr(runtime.backends.get(agent.backend), "recover_turn", None)
        if reader is None or request.started_at is None:
            return None
        try:
            env = runtime.agent_env(agent)
        except PodiumError:
            env = {}  # a key variable gone since: the transcript's place does not need it
        spec = SessionSpec(
            agent=agent.name,
            session_id=agent.session_id,
            mode=StartMode.RESUME,
            cwd=runtime.agent_cwd(agent),
            state_dir=runtime.config.agent_dir(agent.name, agent.session_id),
            options=agent.options,
            env=env,
        )
        turn: RecoveredTurn | None = reader(spec, prompt=request.prompt, since=request.started_at)
        return turn

    return read


def _price_table(home: Path | None) -> PriceTable | None:
    try:
        return load_price_table(home=home)
    except PodiumError:
        return None  # costs then show as unknown, never as $0


async def _record_turn(
    store: Store,
    emit: Emit,
    agent: AgentRecord,
    request: RequestRecord,
    turn: RecoveredTurn,
    table: PriceTable | None,
) -> None:
    """A turn that went on without podium: its answer if it finished, and in any case
    what its calls cost, priced from their usage, so no money goes unrecorded."""
    cost: float | None = 0.0
    for model, usage in turn.calls:
        call_cost = table.cost(model, usage) if table is not None else None
        cost = None if cost is None or call_cost is None else cost + call_cost
    # A call sent but never answered in the transcript may have been billed too.
    cost_unknown = cost is None or turn.unrecorded_calls > 0
    meta = {
        **request.meta,
        "recovered": "transcript",
        "api_calls": len(turn.calls),
        "api_usage": turn.usage.to_dict(),
    }
    if cost_unknown:
        meta["cost_unknown"] = True
    if turn.unrecorded_calls:
        meta["unrecorded_api_calls"] = turn.unrecorded_calls
    error: str | None
    result: str | None
    if turn.finished:
        state, error, result = RequestState.COMPLETE, None, turn.text
    else:
        calls = f"{len(turn.calls)} API call(s)"
        if turn.unrecorded_calls:
            calls += f" and {turn.unrecorded_calls} sent whose answer it never recorded"
        state, result = RequestState.INTERRUPTED, turn.text or None
        error = (
            f"{_STOPPED}: interrupted, may have completed (its process went on without "
            f"podium; the transcript records {calls})"
        )
    request = await store.update_request(
        request.id,
        state=state,
        error=error,
        result=result,
        usage=turn.usage,
        cost_usd=cost or 0.0,
        model=turn.model or request.model,
        completed_at=time.time(),
        meta=meta,
    )
    agent_changes: dict[str, Any] = {
        "request_count": agent.request_count + 1,
        "cost_usd": agent.cost_usd + (cost or 0.0),
        "unpriced_requests": agent.unpriced_requests + int(cost_unknown),
        "usage": agent.usage + turn.usage,
        # The transcript holds the turn: the session resumes from it.
        "has_session": True,
    }
    if state is RequestState.COMPLETE:
        agent_changes["last_request_id"] = request.id
    await store.update_agent(agent.name, **agent_changes)
    await emit(
        EventKind.REQUEST_FINISHED,
        agent=request.agent,
        request_id=request.id,
        data={
            "state": state.value,
            "cost_usd": None if cost_unknown else cost,
            "usage": turn.usage.to_dict(),
            "error": error,
            "recovered": "transcript",
        },
    )


def _reap_orphan(pid: int, session_id: str) -> None:
    """Kill a CLI process group left behind by a daemon that died, if it is still ours,
    and the tools it was running (the CLI starts them in process groups of their own)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    # The pid may have been reused: only a process carrying this agent's session is ours.
    if session_id.encode() not in cmdline:
        return
    groups = {pid, *_tool_groups(pid, session_id)}
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def _tool_groups(cli_pid: int, session_id: str) -> set[int]:
    """Process groups of the tools a CLI started: the CLI marks their environment
    with its pid and session."""
    marks = (f"CLAUDE_PID={cli_pid}".encode(), f"CLAUDE_CODE_SESSION_ID={session_id}".encode())
    groups: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if all(mark in environ for mark in marks):
                groups.add(os.getpgid(int(entry.name)))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return groups
