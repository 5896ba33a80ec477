"""Agents' isolated workspaces over HTTP (``/v1/workspaces/{name}/...``): diff, merge, clean.

They work on killed agents too: a worktree outlives its agent until it is
merged and cleaned. A merge that conflicts is aborted (the project is left as it
was) and answered 409 ``merge_conflict`` with the files in ``context.files``.
Cleaning refuses (400 ``isolation_error``) to delete work not merged into the
project's HEAD or not committed, unless ``force``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._errors import AgentNotFound, PodiumError
from .._records import AgentRecord, AgentStatus
from ..isolation import (
    IsolationError,
    IsolationMode,
    MergeConflict,
    Workspace,
    diff_workspace,
    isolator_for,
    merge_workspace,
)
from ..runtime import Runtime
from ._app import AgentName, RuntimeDep, error_responses
from ._http_errors import error_response
from ._models import ErrorOut, unstorable

__all__ = ["CleanBody", "CleanOut", "DiffOut", "MergeBody", "MergeOut", "router"]

router = APIRouter(prefix="/v1", tags=["agents"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = unstorable(data)
        if problem is not None:
            raise ValueError(problem)
        return data


class MergeBody(_Body):
    into: str | None = Field(
        default=None, description="branch to merge into (default: the project's current branch)"
    )


class CleanBody(_Body):
    force: bool = Field(
        default=False,
        description="delete unmerged or uncommitted work too (and kill the agent if it runs)",
    )


class DiffOut(BaseModel):
    agent: str
    branch: str
    base_commit: str | None
    worktree: str
    commits: int = Field(description="commits on the branch since its base")
    diff: str = Field(description="git diff base...branch")
    uncommitted: str = Field(description="changes in the worktree not committed yet")
    untracked: list[str] = Field(description="new files not committed yet")


class MergeOut(BaseModel):
    agent: str
    branch: str
    into: str
    merged: bool
    commit: str = Field(description="the target branch's commit after the merge")
    changed: bool = Field(description="false when the branch was merged already")
    committed_first: str | None = Field(
        description="the commit made of the worktree's uncommitted work before merging, if any"
    )


class CleanOut(BaseModel):
    agent: str
    mode: str
    released: bool
    branch: str | None
    killed: bool = Field(description="the agent was running and was killed first (force)")


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorOut,
        "description": "The merge conflicted: it was aborted and the project left as it was; "
        "context.files lists the conflicting files",
    }
}


async def _agent(runtime: Runtime, name: str) -> AgentRecord:
    """The agent, killed or not: a workspace outlives its agent."""
    found = await runtime.store.find_agent(name)
    if found is not None:
        return found
    for agent in await runtime.store.list_agents(include_killed=True):
        if agent.name == name:
            return agent
    raise AgentNotFound(f"no agent named {name!r}", agent=name)


async def _workspace(runtime: Runtime, name: str) -> tuple[AgentRecord, Workspace]:
    agent = await _agent(runtime, name)
    ws = agent.options.workspace
    if ws is None:
        raise IsolationError(
            f"agent {name!r} has no isolated workspace (it works in {agent.cwd} as is)",
            agent=name,
        )
    return agent, ws


def _worktree(agent: AgentRecord, ws: Workspace) -> Workspace:
    if ws.mode is not IsolationMode.WORKTREE:
        raise IsolationError(
            f"agent {agent.name!r} does not work in a git worktree (isolation: {ws.mode.value})",
            agent=agent.name,
            mode=ws.mode.value,
        )
    return ws


def _with_agent(exc: PodiumError, name: str) -> PodiumError:
    exc.context.setdefault("agent", name)
    return exc


@router.get(
    "/workspaces/{name}/diff",
    summary="An agent's work in its worktree: its branch against its base, plus uncommitted",
    response_model=DiffOut,
    responses=error_responses(404),
)
async def diff(name: AgentName, runtime: RuntimeDep) -> JSONResponse:
    agent, ws = await _workspace(runtime, name)
    try:
        result = await diff_workspace(_worktree(agent, ws))
    except PodiumError as exc:
        raise _with_agent(exc, name) from None
    return JSONResponse({**result, "agent": name})


@router.post(
    "/workspaces/{name}/merge",
    summary="Merge an agent's branch into the project's current branch (or another)",
    response_model=MergeOut,
    responses={**error_responses(404), **_CONFLICT},
)
async def merge(name: AgentName, body: MergeBody, runtime: RuntimeDep) -> JSONResponse:
    agent, ws = await _workspace(runtime, name)
    try:
        result = await merge_workspace(_worktree(agent, ws), into=body.into)
    except MergeConflict as exc:
        payload = exc.to_dict()
        return error_response(409, payload["code"], exc.message, payload["context"])
    except PodiumError as exc:
        raise _with_agent(exc, name) from None
    return JSONResponse({**result, "agent": name})


@router.post(
    "/workspaces/{name}/clean",
    summary="Remove an agent's workspace (refuses to lose unmerged work unless forced)",
    response_model=CleanOut,
    responses=error_responses(404),
)
async def clean(name: AgentName, body: CleanBody, runtime: RuntimeDep) -> JSONResponse:
    agent, ws = await _workspace(runtime, name)
    killed = False
    if agent.status is not AgentStatus.KILLED:
        if not body.force:
            raise IsolationError(
                f"agent {name!r} is still alive; kill it first (podium kill {name}) "
                "or pass --force",
                agent=name,
            )
        await runtime.kill(name)
        killed = True
    try:
        await isolator_for(ws.mode).release(ws, force=body.force)
    except PodiumError as exc:
        raise _with_agent(exc, name) from None
    return JSONResponse(
        {
            "agent": name,
            "mode": ws.mode.value,
            "released": True,
            "branch": ws.branch,
            "killed": killed,
        }
    )
