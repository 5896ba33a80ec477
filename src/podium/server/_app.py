"""The daemon's HTTP API (prefix ``/v1``): a thin adapter over :class:`Runtime`.

Handlers are async and await the runtime directly, so a long ``wait`` parks one
coroutine and never holds up other requests. The OpenAPI schema is served at
``/openapi.json`` behind the same token as every other route (it holds no
secret, but "everything but health needs the token" is the simpler rule to
trust); it names the bearer scheme, so generated clients send the token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from .._errors import DaemonStopping
from .._names import check_name
from .._records import EventKind, RequestRecord
from .._version import __version__
from .._wire import agent_to_json, info_to_json, request_to_json
from ..orchestration._artifacts import check_run_id
from ..runtime import Runtime
from ._guard import Guard, GuardSettings
from ._http_errors import install_error_handlers
from ._models import (
    AgentInfoOut,
    AgentOut,
    AskBody,
    BroadcastBody,
    ErrorOut,
    EventOut,
    ForkBody,
    HealthOut,
    KilledOut,
    PoolOut,
    RelayBody,
    RequestOut,
    SpawnBody,
    StatusOut,
    TellBody,
    TellOut,
)
from ._sse import (
    SSE_MEDIA_TYPE,
    EventFilter,
    EventStreams,
    filtered_events,
    resume_point,
    wants_sse,
)

if TYPE_CHECKING:
    from ..distributed import Coordinator
    from ..orchestration import RunEngine

__all__ = ["AppState", "create_app", "error_responses"]

_log = logging.getLogger("podium.server")

# Long polls are cut into slices no longer than this, so no HTTP call hangs for
# hours and a vanished client frees its handler soon.
MAX_EVENT_WAIT = 300.0
# SQLite's largest integer: a greater event id cannot be compared with, only refused.
_MAX_ID = 2**63 - 1


@dataclass(kw_only=True)
class AppState:
    runtime: Runtime
    started_at: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    request_shutdown: Callable[[], None] | None = None
    runs: RunEngine | None = None
    """Orchestrated runs (``/v1/runs``); ``None`` answers those routes with 503."""
    streams: EventStreams = field(default_factory=EventStreams)
    """Open ``GET /v1/events`` event streams."""
    coordinator: Coordinator | None = None
    """Distributed mode's queue link (``/v1/workers``, ``/v1/jobs``); None when embedded."""

    stopping: bool = False
    """Set by :meth:`wind_down`: every call is refused with DaemonStopping."""

    def begin_shutdown(self) -> None:
        """Stop the server (which winds the daemon down first)."""
        if self.request_shutdown is not None:
            self.request_shutdown()

    async def wind_down(self) -> None:
        """The daemon is stopping (once, before the server waits for the calls in flight):
        new calls are refused, runs are left interrupted, agents stop (a turn under way
        ends interrupted, its waiters told), ``daemon_stopped`` is the last event, then
        event streams end and every other wait ends with DaemonStopping. So followers
        see the end of everything, and no call is cut off for outliving the grace."""
        if self.stopping:
            return
        self.stopping = True
        _log.info("stopping: closing every agent")
        self.runtime.hold_waits()
        try:
            if self.runs is not None:
                # Before the agents: runs are marked interrupted while their agents exist.
                await self.runs.close()
            await self.runtime.stop_agents()
        finally:
            with contextlib.suppress(Exception):  # a runtime that never started
                await self.runtime.emit(EventKind.DAEMON_STOPPED, data={"pid": os.getpid()})
            self.streams.close_all()
            self.runtime.end_waits()


_ERROR_TEXT = {
    400: "Invalid input (a name, id, prompt, option), or a Host header not naming the daemon",
    401: "Missing or wrong token",
    403: "Cross-origin request (an Origin header other than the daemon's own)",
    404: "Unknown agent, request, run or approval",
    408: "The wait ran out; the request goes on (its id is in context.request_id)",
    409: "An agent of that name already exists, or the approval is already decided",
    413: "Request body too large",
    422: "Malformed JSON, or a body or query of the wrong shape",
    500: "Unexpected error in the daemon",
    502: "The backend (the model's CLI) failed",
    503: "Not available now: the daemon is shutting down, or has no run engine, "
    "or too many event streams are open",
}
_ALWAYS = (400, 401, 403, 413, 422, 500, 503)


def error_responses(*extra: int, token: bool = True) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the errors a route may answer, all shaped as :class:`ErrorOut`."""
    codes = sorted({*_ALWAYS, *extra} - (set() if token else {401}))
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}


def _ok(content: Any, status: int = 200, background: BackgroundTask | None = None) -> JSONResponse:
    # Records are plain JSON already: skip FastAPI's encoder, which walks every
    # character of multi-megabyte prompts and answers.
    return JSONResponse(content, status_code=status, background=background)


def _requests(records: list[RequestRecord]) -> list[dict[str, Any]]:
    return [request_to_json(r) for r in records]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.podium
    return state


# Dependencies are ``async def``: FastAPI runs a plain ``def`` one in its thread pool,
# a thread hop per dependency on every request.
async def _runtime(request: Request) -> Runtime:
    state = _state(request)
    if state.stopping:
        raise DaemonStopping("the daemon is shutting down")
    return state.runtime


async def _agent_name(name: str) -> str:
    # Path names are checked like body names: "../x" is invalid, not "not found".
    return check_name(name)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
"""The daemon's runtime, for every router's handlers."""
AgentName = Annotated[str, Depends(_agent_name)]
"""An agent name from the path, checked."""

router = APIRouter(prefix="/v1")


# --- the hot route -------------------------------------------------------------------------
# Every `podium ask` comes here, and its time is added to the turn: matched first, and
# without dependencies to solve (they were a third of FastAPI's time for it).


@router.post(
    "/agents/{name:path}/ask",
    tags=["agents"],
    summary="Ask an agent: the queued request, or with wait the finished one",
    response_model=RequestOut,
    responses=error_responses(404, 408),
)
async def ask(name: str, body: AskBody, request: Request) -> JSONResponse:
    runtime = _state(request).runtime
    if body.wait:
        # A wait timeout answers 408 (WaitTimeout, with request_id); the request goes on.
        record = await runtime.ask_and_wait(
            check_name(name), body.prompt, timeout=body.timeout, wait_timeout=body.wait_timeout
        )
    else:
        record = await runtime.ask(check_name(name), body.prompt, timeout=body.timeout)
    return _ok(request_to_json(record))


# --- daemon --------------------------------------------------------------------------------


@router.get(
    "/health",
    tags=["daemon"],
    summary="Daemon status (no token needed)",
    response_model=HealthOut,
    responses=error_responses(token=False),
)
async def health(request: Request) -> JSONResponse:
    state = _state(request)
    return _ok(
        {
            "status": "ok",
            "version": __version__,
            "pid": state.pid,
            "started_at": state.started_at,
            "uptime_s": time.time() - state.started_at,
            "mode": "embedded" if state.coordinator is None else "distributed",
        }
    )


@router.get(
    "/pool",
    tags=["daemon"],
    summary="Warm pool: live processes, max_warm, hibernated agents, waiters, memory",
    response_model=PoolOut,
    responses=error_responses(),
)
async def pool(runtime: RuntimeDep) -> JSONResponse:
    return _ok(await runtime.pool_status())


@router.post(
    "/shutdown",
    tags=["daemon"],
    summary="Stop every agent and exit",
    status_code=202,
    response_model=StatusOut,
    responses={
        501: {"model": StatusOut, "description": "This server cannot be stopped over HTTP"},
        **error_responses(),
    },
)
async def shutdown(request: Request) -> JSONResponse:
    state = _state(request)
    if state.request_shutdown is None:
        return _ok({"status": "not_supported"}, status=501)
    # After the response is sent, so the caller hears the answer.
    return _ok(
        {"status": "shutting_down"}, status=202, background=BackgroundTask(state.begin_shutdown)
    )


# --- agents --------------------------------------------------------------------------------


@router.post(
    "/agents",
    tags=["agents"],
    summary="Spawn an agent (its process starts warm)",
    status_code=201,
    response_model=AgentOut,
    responses=error_responses(409, 422, 502),
)
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


@router.get(
    "/agents",
    tags=["agents"],
    summary="List live agents",
    response_model=list[AgentOut],
    responses=error_responses(),
)
async def list_agents(runtime: RuntimeDep) -> JSONResponse:
    return _ok([agent_to_json(a) for a in await runtime.list_agents()])


@router.post(
    "/agents/kill-all",
    tags=["agents"],
    summary="Kill every agent",
    response_model=KilledOut,
    responses=error_responses(),
)
async def kill_all(runtime: RuntimeDep) -> JSONResponse:
    return _ok({"killed": await runtime.kill_all()})


@router.get(
    "/agents/{name:path}",
    tags=["agents"],
    summary="An agent with its lineage, children and recent requests",
    response_model=AgentInfoOut,
    responses=error_responses(404),
)
async def info(name: AgentName, runtime: RuntimeDep) -> JSONResponse:
    return _ok(info_to_json(await runtime.info(name)))


@router.delete(
    "/agents/{name:path}",
    tags=["agents"],
    summary="Kill an agent (queued requests are cancelled, the running one interrupted)",
    response_model=AgentOut,
    responses=error_responses(404),
)
async def kill(name: AgentName, runtime: RuntimeDep) -> JSONResponse:
    return _ok(agent_to_json(await runtime.kill(name)))


@router.post(
    "/agents/{name:path}/fork",
    tags=["agents"],
    summary="Fork an agent: a new session carrying its history, any model or backend",
    status_code=201,
    response_model=AgentOut,
    responses=error_responses(404, 409, 502),
)
async def fork(name: AgentName, body: ForkBody, runtime: RuntimeDep) -> JSONResponse:
    agent = await runtime.fork(
        name, body.new, body.model, backend=body.backend, base_url=body.base_url
    )
    return _ok(agent_to_json(agent), status=201)


@router.post(
    "/agents/{name:path}/tell",
    tags=["agents"],
    summary="Tell an agent: into its running turn (steered), else an ordinary ask",
    response_model=TellOut,
    responses=error_responses(404),
)
async def tell(name: AgentName, body: TellBody, runtime: RuntimeDep) -> JSONResponse:
    return _ok((await runtime.tell(name, body.text)).to_dict())


# --- requests ------------------------------------------------------------------------------


@router.post(
    "/relay",
    tags=["agents"],
    summary="Send an agent another's last answer, verbatim, with an instruction",
    response_model=RequestOut,
    responses=error_responses(404, 408),
)
async def relay(body: RelayBody, runtime: RuntimeDep) -> JSONResponse:
    record = await runtime.relay(body.source, body.to, body.prompt, timeout=body.timeout)
    if body.wait:
        record = await runtime.wait(record.id, body.wait_timeout)
    return _ok(request_to_json(record))


@router.post(
    "/broadcast",
    tags=["agents"],
    summary="Ask every live agent (but the excluded) the same prompt",
    response_model=list[RequestOut],
    responses=error_responses(404),
)
async def broadcast(body: BroadcastBody, runtime: RuntimeDep) -> JSONResponse:
    records = await runtime.broadcast(body.prompt, exclude=body.exclude, timeout=body.timeout)
    return _ok(_requests(records))


@router.get(
    "/requests",
    tags=["requests"],
    summary="The newest requests (of one agent, or all), oldest first",
    response_model=list[RequestOut],
    responses=error_responses(),
)
async def list_requests(
    runtime: RuntimeDep,
    agent: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 50,
) -> JSONResponse:
    if agent is not None:
        check_name(agent)
    return _ok(_requests(await runtime.list_requests(agent=agent, limit=limit)))


@router.get(
    "/requests/{request_id}",
    tags=["requests"],
    summary="A request, finished or not (poll)",
    response_model=RequestOut,
    responses=error_responses(404),
)
async def poll(request_id: str, runtime: RuntimeDep) -> JSONResponse:
    return _ok(request_to_json(await runtime.poll(request_id)))


@router.post(
    "/requests/{request_id}/wait",
    tags=["requests"],
    summary="Wait for a request to finish (408 when the wait runs out; nothing is cancelled)",
    response_model=RequestOut,
    responses=error_responses(404, 408),
)
async def wait(
    request_id: str,
    runtime: RuntimeDep,
    timeout: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
) -> JSONResponse:
    return _ok(request_to_json(await runtime.wait(request_id, timeout)))


@router.post(
    "/requests/{request_id}/cancel",
    tags=["requests"],
    summary="Cancel a queued request or interrupt a running one",
    response_model=RequestOut,
    responses=error_responses(404),
)
async def cancel(request_id: str, runtime: RuntimeDep) -> JSONResponse:
    return _ok(request_to_json(await runtime.cancel(request_id)))


# --- events --------------------------------------------------------------------------------


_SSE_DOC = (
    "With ``Accept: text/event-stream``: a Server-Sent Events stream, one event per "
    "record (``id: <id>``, ``event: <kind>``, ``data: <the event as JSON>``), starting "
    "after ``Last-Event-ID`` (else ``after``), live until the client leaves; "
    "``limit`` and ``wait`` do not apply. ``: keep-alive`` comments every 15 s; "
    "``event: overflow`` (the client fell too far behind: reconnect with "
    "Last-Event-ID) and ``event: shutdown`` end it. Otherwise a JSON list: a long "
    "poll of up to ``wait`` seconds for the first event after ``after``."
)


@router.get(
    "/events",
    tags=["events"],
    summary="Events after a cursor: JSON long poll, or Server-Sent Events",
    description=_SSE_DOC,
    response_model=list[EventOut],
    responses={
        200: {
            "description": "The events (JSON), or an event stream",
            "content": {
                SSE_MEDIA_TYPE: {
                    "schema": {"type": "string"},
                    "example": 'id: 7\nevent: spawned\ndata: {"id":7,"kind":"spawned"}\n\n',
                }
            },
        },
        **error_responses(),
    },
)
async def events(
    request: Request,
    after: Annotated[int, Query(ge=0, le=_MAX_ID, description="events with a greater id")] = 0,
    agent: Annotated[str | None, Query(description="only this agent's events")] = None,
    run_id: Annotated[
        str | None, Query(description="only this run's events (and its requests')")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    wait: Annotated[float, Query(ge=0, le=MAX_EVENT_WAIT)] = 0.0,
    last_event_id: Annotated[
        str | None, Header(description="event streams: resume after this id")
    ] = None,
) -> Response:
    if agent is not None:
        check_name(agent)
    if run_id is not None:
        check_run_id(run_id)
    # Not refused while the daemon stops: a follower's long poll gets its last events.
    runtime = _state(request).runtime
    wanted = EventFilter(runtime, agent=agent, run_id=run_id)
    if wants_sse(request):
        start = resume_point(last_event_id, after)
        return _state(request).streams.response(runtime, wanted, after=start)
    found = await filtered_events(runtime, wanted, after=after, limit=limit, wait=wait)
    return _ok([e.to_dict() for e in found])


_TAGS = [
    {"name": "daemon", "description": "The daemon itself"},
    {"name": "agents", "description": "Named, persistent agents and what to send them"},
    {"name": "requests", "description": "Prompts sent to agents, and their answers"},
    {"name": "events", "description": "Everything that happened, in order"},
    {"name": "runs", "description": "Orchestrated runs of a team"},
    {"name": "cluster", "description": "Distributed mode: worker hosts and the job queue"},
    {"name": "approvals", "description": "Tool uses of ask-mode agents waiting for a decision"},
]
_OPEN_OPERATIONS = {("/v1/health", "get")}


class _PodiumAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema plus the bearer token every operation but health needs."""
        if self.openapi_schema:
            return self.openapi_schema
        schema = get_openapi(
            title=self.title,
            version=self.version,
            summary="Run a team of Claude Code agents under an orchestrator.",
            description=(
                "Every route but ``GET /v1/health`` needs ``Authorization: Bearer <token>`` "
                "(the token is in ``$PODIUM_HOME/token``). Errors are "
                '``{"error": {"code", "message", "context"}}``.'
            ),
            routes=self.routes,
            tags=_TAGS,
        )
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["token"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "the token in $PODIUM_HOME/token",
        }
        schema["security"] = [{"token": []}]
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if (path, method) in _OPEN_OPERATIONS:
                    operation["security"] = []
        self.openapi_schema = schema
        return schema


def create_app(state: AppState, guard: GuardSettings) -> Guard:
    """The ASGI app: the API behind its :class:`Guard`. The runtime must be started."""
    app = _PodiumAPI(
        title="podium",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        redirect_slashes=False,
    )
    app.state.podium = state
    install_error_handlers(app)
    app.include_router(router)
    # Imported here: the runs routes use this module's AppState and wait slice.
    from ._runs import router as runs_router

    app.include_router(runs_router)
    from ._run_landing import router as landing_router

    app.include_router(landing_router)
    from ._isolation import router as isolation_router

    app.include_router(isolation_router)
    from ._dashboard import dashboard_router

    app.include_router(dashboard_router)
    from ._cluster import router as cluster_router

    app.include_router(cluster_router)
    from ._activity import attach_activity
    from ._activity import router as activity_router

    attach_activity(app, state.runtime)
    app.include_router(activity_router)
    from ._attach import router as attach_router

    app.include_router(attach_router)
    from ._approvals import router as approvals_router

    app.include_router(approvals_router)
    return Guard(app, guard)
