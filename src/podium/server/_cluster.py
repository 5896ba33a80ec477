"""Distributed mode over HTTP: the worker hosts (``/v1/workers``) and the jobs (``/v1/jobs``).

An embedded daemon (no queue) answers with ``mode: embedded`` and empty lists:
its turns run inside it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .._errors import UsageError
from ..queue import JobState
from ._app import AppState, error_responses

__all__ = ["JobOut", "JobsOut", "WorkerOut", "WorkersOut", "router"]

router = APIRouter(prefix="/v1", tags=["cluster"])

# A worker that has not reported for this many leases is shown as lost.
_LOST_AFTER_LEASES = 2.0


# The documented shapes of the answers (they feed /openapi.json; the contract tests
# check every answer against them). They must match WorkerInfo.to_dict / Job.to_dict.


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    concurrency: int
    lanes: list[str] = Field(description="lanes served; empty: every lane")
    running: list[str] = Field(description="ids of the jobs it runs now")
    started_at: float
    heartbeat_at: float
    completed: int
    failed: int
    meta: dict[str, Any]
    heartbeat_age_s: float
    alive: bool = Field(description="false once it has not reported for two leases")
    load: float = Field(description="running jobs / concurrency")


class WorkersOut(BaseModel):
    mode: Literal["embedded", "distributed"]
    queue: str | None = Field(description="the queue's URL, password hidden (null: embedded)")
    lease: float | None
    max_running: int | None
    dead_letters: int
    workers: list[WorkerOut]


class JobOut(BaseModel):
    id: str
    kind: str
    lane: str
    payload: dict[str, Any]
    state: JobState
    key: str | None
    attempt: int = Field(description="claims so far; the current claim's fencing token")
    max_attempts: int
    worker: str | None
    submitted_at: float
    started_at: float | None
    heartbeat_at: float | None
    finished_at: float | None
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    history: list[dict[str, Any]] = Field(description="attempts that ended without a result")


class JobsOut(BaseModel):
    mode: Literal["embedded", "distributed"]
    jobs: list[JobOut]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.podium
    return state


@router.get(
    "/workers",
    summary="Worker hosts: load, lanes and last heartbeat",
    response_model=WorkersOut,
    responses=error_responses(401),
)
async def list_workers(request: Request) -> JSONResponse:
    coordinator = _state(request).coordinator
    if coordinator is None:
        # Same keys as in distributed mode, so a client reads either alike.
        return JSONResponse(
            {
                "mode": "embedded",
                "queue": None,
                "lease": None,
                "max_running": None,
                "dead_letters": 0,
                "workers": [],
            }
        )
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
    response_model=JobsOut,
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
