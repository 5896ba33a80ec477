"""The daemon's HTTP API (prefix ``/v1``): a thin adapter over :class:`Runtime`.

Handlers are async and await the runtime directly, so a long ``wait`` parks one
coroutine and never holds up other requests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from .._names import check_name
from .._records import RequestRecord
from .._version import __version__
from .._wire import agent_to_json, info_to_json, request_to_json
from ..runtime import Runtime
from ._guard import Guard, GuardSettings
from ._http_errors import install_error_handlers
from ._models import AskBody, BroadcastBody, ForkBody, RelayBody, SpawnBody

if TYPE_CHECKING:
    from ..orchestration import RunEngine

__all__ = ["AppState", "create_app"]

# Long polls are cut into slices no longer than this, so no HTTP call hangs for
# hours and a vanished client frees its handler soon.
MAX_EVENT_WAIT = 300.0


@dataclass(kw_only=True)
class AppState:
    runtime: Runtime
    started_at: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    request_shutdown: Callable[[], None] | None = None
    runs: RunEngine | None = None
    """Orchestrated runs (``/v1/runs``); ``None`` answers those routes with 503."""


def _ok(content: Any, status: int = 200, background: BackgroundTask | None = None) -> JSONResponse:
    # Records are plain JSON already: skip FastAPI's encoder, which walks every
    # character of multi-megabyte prompts and answers.
    return JSONResponse(content, status_code=status, background=background)


def _requests(records: list[RequestRecord]) -> list[dict[str, Any]]:
    return [request_to_json(r) for r in records]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.podium
    return state


def _runtime(request: Request) -> Runtime:
    return _state(request).runtime


def _agent_name(name: str) -> str:
    # Path names are checked like body names: "../x" is invalid, not "not found".
    return check_name(name)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
AgentName = Annotated[str, Depends(_agent_name)]

router = APIRouter(prefix="/v1")


# --- daemon --------------------------------------------------------------------------------


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    state = _state(request)
    return _ok(
        {
            "status": "ok",
            "version": __version__,
            "pid": state.pid,
            "started_at": state.started_at,
            "uptime_s": time.time() - state.started_at,
        }
    )


@router.post("/shutdown")
async def shutdown(request: Request) -> JSONResponse:
    stop = _state(request).request_shutdown
    if stop is None:
        return _ok({"status": "not_supported"}, status=501)
    # After the response is sent, so the caller hears the answer.
    return _ok({"status": "shutting_down"}, status=202, background=BackgroundTask(stop))


# --- agents --------------------------------------------------------------------------------


@router.post("/agents")
async def spawn(body: SpawnBody, runtime: RuntimeDep) -> JSONResponse:
    agent = await runtime.spawn(
        body.name,
        model=body.model,
        system_prompt=body.system_prompt,
        cwd=body.cwd,
        backend=body.backend,
        options=body.options,
    )
    return _ok(agent_to_json(agent), status=201)


@router.get("/agents")
async def list_agents(runtime: RuntimeDep) -> JSONResponse:
    return _ok([agent_to_json(a) for a in await runtime.list_agents()])


@router.post("/agents/kill-all")
async def kill_all(runtime: RuntimeDep) -> JSONResponse:
    return _ok({"killed": await runtime.kill_all()})


@router.get("/agents/{name:path}")
async def info(name: AgentName, runtime: RuntimeDep) -> JSONResponse:
    return _ok(info_to_json(await runtime.info(name)))


@router.delete("/agents/{name:path}")
async def kill(name: AgentName, runtime: RuntimeDep) -> JSONResponse:
    return _ok(agent_to_json(await runtime.kill(name)))


@router.post("/agents/{name:path}/fork")
async def fork(name: AgentName, body: ForkBody, runtime: RuntimeDep) -> JSONResponse:
    return _ok(agent_to_json(await runtime.fork(name, body.new, body.model)), status=201)


@router.post("/agents/{name:path}/ask")
async def ask(name: AgentName, body: AskBody, runtime: RuntimeDep) -> JSONResponse:
    record = await runtime.ask(name, body.prompt, timeout=body.timeout)
    if body.wait:
        # A wait timeout answers 408 (WaitTimeout, with request_id); the request goes on.
        record = await runtime.wait(record.id, body.wait_timeout)
    return _ok(request_to_json(record))


# --- requests ------------------------------------------------------------------------------


@router.post("/relay")
async def relay(body: RelayBody, runtime: RuntimeDep) -> JSONResponse:
    record = await runtime.relay(body.source, body.to, body.prompt, timeout=body.timeout)
    if body.wait:
        record = await runtime.wait(record.id, body.wait_timeout)
    return _ok(request_to_json(record))


@router.post("/broadcast")
async def broadcast(body: BroadcastBody, runtime: RuntimeDep) -> JSONResponse:
    records = await runtime.broadcast(body.prompt, exclude=body.exclude, timeout=body.timeout)
    return _ok(_requests(records))


@router.get("/requests")
async def list_requests(
    runtime: RuntimeDep,
    agent: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 50,
) -> JSONResponse:
    if agent is not None:
        check_name(agent)
    return _ok(_requests(await runtime.list_requests(agent=agent, limit=limit)))


@router.get("/requests/{request_id}")
async def poll(request_id: str, runtime: RuntimeDep) -> JSONResponse:
    return _ok(request_to_json(await runtime.poll(request_id)))


@router.post("/requests/{request_id}/wait")
async def wait(
    request_id: str,
    runtime: RuntimeDep,
    timeout: Annotated[float | None, Query(ge=0)] = None,
) -> JSONResponse:
    return _ok(request_to_json(await runtime.wait(request_id, timeout)))


@router.post("/requests/{request_id}/cancel")
async def cancel(request_id: str, runtime: RuntimeDep) -> JSONResponse:
    return _ok(request_to_json(await runtime.cancel(request_id)))


# --- events --------------------------------------------------------------------------------


@router.get("/events")
async def events(
    runtime: RuntimeDep,
    after: Annotated[int, Query(ge=0)] = 0,
    agent: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    wait: Annotated[float, Query(ge=0, le=MAX_EVENT_WAIT)] = 0.0,
) -> JSONResponse:
    if agent is not None:
        check_name(agent)
    found = await runtime.events(after=after, agent=agent, limit=limit, wait=wait)
    return _ok([e.to_dict() for e in found])


def create_app(state: AppState, guard: GuardSettings) -> Guard:
    """The ASGI app: the API behind its :class:`Guard`. The runtime must be started."""
    app = FastAPI(
        title="podium",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    app.state.podium = state
    install_error_handlers(app)
    app.include_router(router)
    # Imported here: the runs routes use this module's AppState and wait slice.
    from ._runs import router as runs_router

    app.include_router(runs_router)
    return Guard(app, guard)
