"""Orchestrated runs over HTTP (prefix ``/v1/runs``): a thin adapter over :class:`RunEngine`.

A run is answered as ``RunRecord.to_dict()`` plus ``dir``, the run directory,
so a user can open its plan, task results and report directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from .._errors import DaemonError, WaitTimeout
from ..orchestration import RunEngine
from ..orchestration._artifacts import check_run_id
from ._app import MAX_EVENT_WAIT, AppState
from ._models import RunBody

if TYPE_CHECKING:
    from ..orchestration._run_records import RunRecord

__all__ = ["router"]

router = APIRouter(prefix="/v1/runs")


def _engine(request: Request) -> RunEngine:
    state: AppState = request.app.state.podium
    if state.runs is None:
        raise DaemonError("this daemon does not run orchestrated runs")
    return state.runs


def _run_id(run_id: str) -> str:
    # Checked before the engine sees it: "../x" is an invalid id, not a path to look at.
    return check_run_id(run_id)


EngineDep = Annotated[RunEngine, Depends(_engine)]
RunId = Annotated[str, Depends(_run_id)]


def _run_json(engine: RunEngine, run: RunRecord, **extra: Any) -> dict[str, Any]:
    return {**run.to_dict(), "dir": str(engine.run_dir(run.id)), **extra}


def _ok(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


@router.post("")
async def submit_run(body: RunBody, engine: EngineDep) -> JSONResponse:
    run = await engine.submit(
        body.request,
        team=body.team,
        cwd=body.cwd,
        plan=body.plan,
        plan_file=body.plan_file,
        budget_usd=body.budget_usd,
    )
    return _ok(_run_json(engine, run), status=201)


@router.get("")
async def list_runs(
    engine: EngineDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 50
) -> JSONResponse:
    return _ok([_run_json(engine, run) for run in await engine.list_runs(limit=limit)])


@router.get("/{run_id}")
async def get_run(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok(_run_json(engine, await engine.get(run_id)))


@router.get("/{run_id}/report")
async def run_report(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok({"run_id": run_id, "report": await engine.report(run_id)})


@router.post("/{run_id}/cancel")
async def cancel_run(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok(_run_json(engine, await engine.cancel(run_id)))


@router.post("/{run_id}/resume")
async def resume_run(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok(_run_json(engine, await engine.resume(run_id)))


@router.get("/{run_id}/wait")
async def wait_run(
    run_id: RunId,
    engine: EngineDep,
    timeout: Annotated[float | None, Query(ge=0)] = None,
) -> JSONResponse:
    # One slice of a long wait: a run may take hours, an HTTP call should not.
    # Running out of time is a normal answer here ("done": false), not an error.
    slice_ = MAX_EVENT_WAIT if timeout is None else min(timeout, MAX_EVENT_WAIT)
    try:
        run = await engine.wait(run_id, slice_)
    except WaitTimeout:
        run = await engine.get(run_id)
    return _ok(_run_json(engine, run, done=run.done))
