"""Making the state consistent after whoever ran before us crashed."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .._records import AgentStatus, EventKind, RequestRecord, RequestSource, RequestState
from ..store import Store

__all__ = ["recover_state"]

Emit = Callable[..., Awaitable[Any]]


async def recover_state(store: Store, emit: Emit) -> list[RequestRecord]:
    """Hibernate every agent, reap CLI processes left behind, mark requests that were
    running as interrupted; return the queued requests that are still owed."""
    for agent in await store.list_agents():
        if agent.pid is not None:
            _reap_orphan(agent.pid, agent.session_id)
        if agent.status is not AgentStatus.HIBERNATED or agent.pid is not None:
            await store.update_agent(agent.name, status=AgentStatus.HIBERNATED, pid=None)
    for request in await store.list_requests(states=[RequestState.RUNNING]):
        await store.update_request(
            request.id,
            state=RequestState.INTERRUPTED,
            error="podium stopped while the request was running",
            completed_at=time.time(),
        )
        await emit(
            EventKind.REQUEST_FINISHED,
            agent=request.agent,
            request_id=request.id,
            data={"state": RequestState.INTERRUPTED.value, "cost_usd": 0.0},
        )
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


def _reap_orphan(pid: int, session_id: str) -> None:
    """Kill a CLI process group left behind by a daemon that died, if it is still ours."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    # The pid may have been reused: only a process carrying this agent's session is ours.
    if session_id.encode() not in cmdline:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
