"""Distributed mode over HTTP: the worker hosts (``/v1/workers``) and the jobs (``/v1/jobs``).

An embedded daemon (no queue) answers with ``mode: embedded`` and empty lists:
its turns run inside it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from .._errors import UsageError
from ..queue import JobState
from ._app import AppState, error_responses

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["cluster"])

# A worker that has not reported for this many leases is shown as lost.
_LOST_AFTER_LEASES = 2.0


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.podium
    return state


@router.get(
    "/workers",
    summary="Worker hosts: load, lanes and last heartbeat",
    responses=error_responses(401),
)
async def list_workers(request: Request) -> JSONResponse:
    coordinator = _state(request).coordinator
    if coordinator is None:
        return JSONResponse({"mode": "embedded", "queue": None, "workers": []})
    now = time.time()
    lease = coordinator.settings.lease
    workers: list[dict[str, Any]] = []
    for info in await coordinator.workers():
        data = info.to_dict()
        data["heartbeat_age_s"] = max(0.0, now - info.heartbeat_at)
        data["alive"] = data["heartbeat_age_s"] <= lease * _LOST_AFTER_LEASES
        data["load"] = len(info.running) / info.concurrency if info.concurrency else 0.0
        workers.append(data)
    dead = await coordinator.queue.list_jobs(states=[JobState.DEAD], limit=1000)
    return JSONResponse(
        {
            "mode": "distributed",
            "queue": coordinator.shown_url,
            "lease": lease,
            "max_running": coordinator.settings.max_running,
            "dead_letters": len(dead),
            "workers": workers,
        }
    )


@router.get(
    "/jobs",
    summary="Jobs on the queue, oldest first (state=dead: the dead letters)",
    responses=error_responses(400, 401),
)
async def list_jobs(
    request: Request,
    state: Annotated[list[str] | None, Query(description="queued, running, ... dead")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
) -> JSONResponse:
    coordinator = _state(request).coordinator
    if coordinator is None:
        return JSONResponse({"mode": "embedded", "jobs": []})
    states: list[JobState] | None = None
    if state:
        try:
            states = [JobState(value) for value in state]
        except ValueError:
            known = ", ".join(s.value for s in JobState)
            raise UsageError(f"unknown job state in {state!r}; known: {known}") from None
    jobs = await coordinator.queue.list_jobs(states=states, limit=limit)
    return JSONResponse({"mode": "distributed", "jobs": [job.to_dict() for job in jobs]})
