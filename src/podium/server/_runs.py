"""Orchestrated runs over HTTP (``/v1/runs``, ``/v1/orchestrate``): a thin adapter over RunEngine.

A run is answered as ``RunRecord.to_dict()`` plus ``dir``, the run directory,
so a user can open its plan, task results and report directly; ``GET
/v1/runs/{run_id}`` adds ``applied``, what ``podium apply`` landed from it.
``POST /v1/orchestrate`` is the seed's name for ``POST /v1/runs``: same body,
same answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from .._errors import DaemonError, DaemonStopping, WaitTimeout
from ..orchestration import RunEngine
from ..orchestration._artifacts import RunDir, check_run_id
from ..orchestration._run_git import read_applied
from ._app import MAX_EVENT_WAIT, AppState, error_responses
from ._models import (
    ApproveBody,
    RejectBody,
    ReportOut,
    RunBody,
    RunDetailOut,
    RunOut,
    RunWaitOut,
)

if TYPE_CHECKING:
    from ..orchestration._run_records import RunRecord

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["runs"])


async def _engine(request: Request) -> RunEngine:
    state: AppState = request.app.state.podium
    if state.stopping:
        raise DaemonStopping("the daemon is shutting down")
    if state.runs is None:
        raise DaemonError("this daemon does not run orchestrated runs")
    return state.runs


async def _run_id(run_id: str) -> str:
    # Checked before the engine sees it: "../x" is an invalid id, not a path to look at.
    return check_run_id(run_id)


EngineDep = Annotated[RunEngine, Depends(_engine)]
RunId = Annotated[str, Depends(_run_id)]


def _run_json(engine: RunEngine, run: RunRecord, **extra: Any) -> dict[str, Any]:
    return {**run.to_dict(), "dir": str(engine.run_dir(run.id)), **extra}


def _ok(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


async def _submit(body: RunBody, engine: RunEngine) -> JSONResponse:
    run = await engine.submit(
        body.request,
        team=body.team,
        cwd=body.cwd,
        plan=body.plan,
        plan_file=body.plan_file,
        budget_usd=body.budget_usd,
        mode=body.mode,
        user_env=body.user_env,
        review=body.review,
    )
    return _ok(_run_json(engine, run), status=201)


_SUBMIT_DOC = (
    "Validates the team, plan and budget, creates the run directory and starts the "
    "run; answers at once with the run (state ``planning``, or ``running`` when a plan "
    "is given). Follow it with ``GET /v1/runs/{run_id}/wait`` or the events."
)


@router.post(
    "/runs",
    summary="Start an orchestrated run of a team on a request",
    description=_SUBMIT_DOC,
    status_code=201,
    response_model=RunOut,
    responses=error_responses(),
)
async def submit_run(body: RunBody, engine: EngineDep) -> JSONResponse:
    return await _submit(body, engine)


@router.post(
    "/orchestrate",
    summary="Start an orchestrated run (the seed's name for POST /v1/runs)",
    description=_SUBMIT_DOC,
    status_code=201,
    response_model=RunOut,
    responses=error_responses(),
)
async def orchestrate(body: RunBody, engine: EngineDep) -> JSONResponse:
    return await _submit(body, engine)


@router.get(
    "/runs",
    summary="The newest runs, newest first",
    response_model=list[RunOut],
    responses=error_responses(),
)
async def list_runs(
    engine: EngineDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 50
) -> JSONResponse:
    return _ok([_run_json(engine, run) for run in await engine.list_runs(limit=limit)])


@router.get(
    "/runs/{run_id}",
    summary="A run: its tasks, their states and costs, its directory, where it was applied",
    response_model=RunDetailOut,
    responses=error_responses(404),
)
async def get_run(run_id: RunId, engine: EngineDep) -> JSONResponse:
    run = await engine.get(run_id)
    applied = read_applied(RunDir(engine.runs_root, run.id))
    return _ok(_run_json(engine, run, applied=applied))


@router.get(
    "/runs/{run_id}/report",
    summary="A run's report (markdown) once written",
    response_model=ReportOut,
    responses=error_responses(404),
)
async def run_report(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok({"run_id": run_id, "report": await engine.report(run_id)})


@router.post(
    "/runs/{run_id}/cancel",
    summary="Cancel a run: nothing new starts, running tasks are interrupted",
    response_model=RunOut,
    responses=error_responses(404),
)
async def cancel_run(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok(_run_json(engine, await engine.cancel(run_id)))


@router.post(
    "/runs/{run_id}/resume",
    summary="Continue an interrupted, failed or cancelled run where it stopped",
    response_model=RunOut,
    responses=error_responses(404),
)
async def resume_run(run_id: RunId, engine: EngineDep) -> JSONResponse:
    return _ok(_run_json(engine, await engine.resume(run_id)))


@router.post(
    "/runs/{run_id}/approve",
    summary="Run a plan awaiting approval (its own, or an edited plan checked like any plan)",
    response_model=RunOut,
    responses=error_responses(404),
)
async def approve_run(
    run_id: RunId, engine: EngineDep, body: ApproveBody | None = None
) -> JSONResponse:
    body = body or ApproveBody()
    run = await engine.approve(run_id, plan=body.plan, plan_file=body.plan_file)
    return _ok(_run_json(engine, run))


@router.post(
    "/runs/{run_id}/reject",
    summary="End a run awaiting approval: rejected, no task starts",
    response_model=RunOut,
    responses=error_responses(404),
)
async def reject_run(
    run_id: RunId, engine: EngineDep, body: RejectBody | None = None
) -> JSONResponse:
    body = body or RejectBody()
    return _ok(_run_json(engine, await engine.reject(run_id, reason=body.reason)))


@router.get(
    "/runs/{run_id}/wait",
    summary="Wait for a run to end or to await approval (long poll; done says if it ended)",
    response_model=RunWaitOut,
    responses=error_responses(404),
)
async def wait_run(
    run_id: RunId,
    engine: EngineDep,
    timeout: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
) -> JSONResponse:
    # One slice of a long wait: a run may take hours, an HTTP call should not.
    # Running out of time is a normal answer here ("done": false), not an error.
    slice_ = MAX_EVENT_WAIT if timeout is None else min(timeout, MAX_EVENT_WAIT)
    try:
        run = await engine.wait(run_id, slice_)
    except WaitTimeout:
        run = await engine.get(run_id)
    return _ok(_run_json(engine, run, done=run.done))
