"""Holding an agent for ``podium attach`` over HTTP (``/v1/holds/{name}``).

``POST /v1/holds/{name}`` waits until the agent's earlier turns are done and its process
is stopped, then answers what to run: Claude Code's TUI on the agent's session
(argv, cwd, the environment podium gives the agent, which may hold its API key:
this answer goes only to the token holder, like everything here).
``DELETE /v1/holds/{name}`` releases it; so does the daemon once the holder's processes
are gone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..runtime._hold import add_holder, held, hold_agent, release_agent
from ._app import AgentName, RuntimeDep, error_responses

__all__ = ["HoldBody", "HoldOut", "HolderOut", "ReleasedOut", "router"]

router = APIRouter(prefix="/v1", tags=["agents"])


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pid: Annotated[int, Field(gt=0, strict=True, description="the holder's process id")]


class HoldOut(BaseModel):
    agent: str
    session_id: str
    argv: list[str] = Field(description="the TUI's command line: claude --resume <session> ...")
    cwd: str
    env: dict[str, str] = Field(description="environment to add to the caller's own")
    unset: list[str] = Field(description="variables to remove from the caller's own")
    config_dir: str
    notes: list[str] = Field(description="what podium changed in the user's own configuration")


class HolderOut(BaseModel):
    agent: str
    held: bool


class ReleasedOut(BaseModel):
    agent: str
    released: bool = Field(description="false: it was not held")


class HeldOut(BaseModel):
    pids: list[int]
    since: float


@router.post(
    "/holds/{name}",
    response_model=HoldOut,
    summary="Hold an agent for interactive take-over: its queue waits, its process stops",
    responses=error_responses(404),
)
async def hold(name: AgentName, body: HoldBody, runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(await hold_agent(runtime, name, body.pid))


@router.post(
    "/holds/{name}/pids",
    response_model=HolderOut,
    summary="Add a process of the holder (the TUI it started)",
    responses=error_responses(404),
)
async def hold_pid(name: AgentName, body: HoldBody, runtime: RuntimeDep) -> JSONResponse:
    await runtime.store.get_agent(name)  # 404 for an unknown agent
    add_holder(runtime, name, body.pid)
    return JSONResponse({"agent": name, "held": True})


@router.delete(
    "/holds/{name}",
    response_model=ReleasedOut,
    summary="Release an agent's hold: its queued asks run, resuming the same session",
    responses=error_responses(404),
)
async def release(name: AgentName, runtime: RuntimeDep) -> JSONResponse:
    await runtime.store.get_agent(name)
    return JSONResponse({"agent": name, "released": release_agent(runtime, name)})


@router.get(
    "/holds",
    response_model=dict[str, HeldOut],
    summary="Agents held for take-over, with their holders' pids",
    responses=error_responses(),
)
async def holds(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(held(runtime))
