"""Landing a run's work over HTTP: apply its integration branch, clean what it left.

``POST /v1/runs/{run_id}/apply`` lands ``podium/run/<run id>`` on the project's
branch; a conflict is undone and answered 409 ``merge_conflict`` with the files in
``context.files``. ``POST /v1/runs/{run_id}/clean`` removes the run's worktrees and
branches, refusing (400 ``isolation_error``) to lose work unless ``force``.
``POST /v1/runs/clean`` keeps the newest ``keep`` finished runs and cleans the rest.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..isolation import MergeConflict
from ..orchestration._apply import apply_run
from ..orchestration._clean import clean_finished, clean_run
from ._app import error_responses
from ._http_errors import error_response
from ._isolation import _Body
from ._models import ErrorOut
from ._runs import EngineDep, RunId

__all__ = ["ApplyBody", "ApplyOut", "CleanRunBody", "CleanRunOut", "CleanRunsBody", "router"]

router = APIRouter(prefix="/v1", tags=["runs"])


class ApplyBody(_Body):
    into: str | None = Field(
        default=None, description="local branch to apply to (default: the checked-out one)"
    )
    squash: bool = Field(default=False, description="one commit instead of a merge")
    verify: bool = Field(default=True, description="run the repository's commit hooks")


class CommitOut(BaseModel):
    commit: str
    subject: str


class ApplyOut(BaseModel):
    run_id: str
    branch: str = Field(description="the run's integration branch")
    into: str
    mode: str = Field(description="fast-forward, merge, squash or up-to-date")
    from_: str = Field(alias="from", description="the branch's commit before")
    to: str = Field(description="the branch's commit after")
    head: str = Field(description="the integration branch's commit")
    commits: list[CommitOut] = Field(description="commits new on the branch")
    files: list[str] = Field(description="files changed from..to")
    tasks: list[str] = Field(description="the run's tasks whose work landed")
    verified: bool


class CleanRunBody(_Body):
    force: bool = Field(default=False, description="delete unmerged or uncommitted work too")


class CleanRunsBody(_Body):
    keep: int = Field(default=0, ge=0, description="finished runs whose worktrees stay")
    force: bool = Field(default=False, description="delete unmerged or uncommitted work too")


class KeptOut(BaseModel):
    kind: str
    name: str
    loses: str | None


class CleanRunOut(BaseModel):
    run_id: str
    project: str
    removed_worktrees: list[str]
    removed_branches: list[str]
    kept: list[KeptOut]


class SkippedOut(BaseModel):
    run_id: str
    reason: str


class CleanRunsOut(BaseModel):
    keep: int
    kept_runs: list[str]
    cleaned: list[CleanRunOut]
    skipped: list[SkippedOut]


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorOut,
        "description": "Applying conflicted: it was undone and the branch left as it was; "
        "context.files lists the conflicting files",
    }
}


@router.post(
    "/runs/clean",
    summary="Keep the newest finished runs' worktrees and branches; clean the older ones",
    response_model=CleanRunsOut,
    responses=error_responses(),
)
async def clean_runs(body: CleanRunsBody, engine: EngineDep) -> JSONResponse:
    return JSONResponse(await clean_finished(engine, keep=body.keep, force=body.force))


@router.post(
    "/runs/{run_id}/apply",
    summary="Land a run's integration branch on the project's branch (or another)",
    response_model=ApplyOut,
    responses={**error_responses(404), **_CONFLICT},
)
async def apply(run_id: RunId, body: ApplyBody, engine: EngineDep) -> JSONResponse:
    try:
        result = await apply_run(
            engine, run_id, into=body.into, squash=body.squash, verify=body.verify
        )
    except MergeConflict as exc:
        payload = exc.to_dict()
        return error_response(409, payload["code"], exc.message, payload["context"])
    return JSONResponse(result)


@router.post(
    "/runs/{run_id}/clean",
    summary="Remove a finished run's worktrees and branches (refuses to lose work unless forced)",
    response_model=CleanRunOut,
    responses=error_responses(404),
)
async def clean(run_id: RunId, body: CleanRunBody, engine: EngineDep) -> JSONResponse:
    return JSONResponse(await clean_run(engine, run_id, force=body.force))
