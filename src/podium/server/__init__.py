"""The podium daemon: the runtime behind a token-protected local HTTP API.

Routes (prefix ``/v1``; JSON in and out; all but ``GET /health`` need
``Authorization: Bearer <token from $PODIUM_HOME/token>``)::

    GET    /health                      status, version, pid, started_at, uptime_s (no token)
    POST   /shutdown                    202; the daemon stops every agent and exits
    POST   /agents                      spawn {name, model, system_prompt, cwd, backend, options}
    GET    /agents                      list
    GET    /agents/{name}               info (agent + lineage, children, recent_requests)
    DELETE /agents/{name}               kill
    POST   /agents/kill-all             {"killed": [names]}
    POST   /agents/{name}/fork          {new, model}
    POST   /agents/{name}/ask           {prompt, timeout, wait, wait_timeout}
    POST   /relay                       {from, to, prompt, timeout, wait, wait_timeout}
    POST   /broadcast                   {prompt, exclude, timeout} -> [request]
    GET    /requests?agent=&limit=      newest ``limit``, oldest first
    GET    /requests/{id}               poll
    POST   /requests/{id}/wait?timeout= the finished request; 408 when the wait runs out
    POST   /requests/{id}/cancel
    GET    /events?after=&agent=&run_id=&limit=&wait=
                                        JSON: long poll (wait <= 300 s); with
                                        ``Accept: text/event-stream``: Server-Sent
                                        Events from ``Last-Event-ID`` (else ``after``)
    POST   /runs                        start {request, team, cwd, plan | plan_file,
                                        budget_usd, mode: planned | agentic}
    POST   /orchestrate                 the same as POST /runs (the seed's name)
    GET    /runs?limit=                 newest first
    GET    /runs/{run_id}               the run (tasks, states, costs), its directory, applies
    GET    /runs/{run_id}/wait?timeout= long poll; ``done`` says whether it ended
    GET    /runs/{run_id}/report        {"run_id", "report": markdown or null}
    POST   /runs/{run_id}/cancel        stop dispatching, interrupt running tasks
    POST   /runs/{run_id}/resume        continue an interrupted / failed / cancelled run
    POST   /runs/{run_id}/apply         {into, squash, verify}: land its integration branch
                                        (409 merge_conflict, nothing changed)
    POST   /runs/{run_id}/clean         {force}: remove its worktrees and branches
    POST   /runs/clean                  {keep, force}: clean all but the newest finished runs

Outside ``/v1``: ``GET /openapi.json``, the OpenAPI schema of all the above
(token needed, like everything but health; it declares the bearer scheme), and
``GET /`` → ``/dashboard/``: the web dashboard's static files (no token: they hold
no secrets; the page sends the token, read from its URL fragment, on every API call).

Every request passes the guard first (``_guard``): Host must name the daemon
(400, against DNS rebinding), an Origin must be the daemon's own (403, against
CSRF), the token must match (401), the body must fit in 16 MiB (413).

Errors are ``{"error": {"code", "message", "context"}}`` (see ``_http_errors``
for the status of each code). A wait that runs out is HTTP 408 with code
``wait_timeout`` and the request id in ``context``; the request is not cancelled.

Daemon control (:func:`start_daemon`, :func:`stop_daemon`, :func:`running_daemon`)
and the state files are importable without FastAPI or the runtime; ``serve``,
``serve_async`` and ``create_app`` load them on first use.
"""

from __future__ import annotations

import importlib

from ._daemon import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    autostart_disabled,
    running_daemon,
    start_daemon,
    stop_daemon,
)
from ._state import DaemonInfo, daemon_file, log_file, read_daemon_info, read_token, token_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._app import AppState, create_app
    from ._guard import MAX_BODY_BYTES, GuardSettings
    from ._serve import BACKEND_FACTORY_ENV, serve, serve_async

__all__ = [
    "BACKEND_FACTORY_ENV",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "MAX_BODY_BYTES",
    "AppState",
    "DaemonInfo",
    "GuardSettings",
    "autostart_disabled",
    "create_app",
    "daemon_file",
    "log_file",
    "read_daemon_info",
    "read_token",
    "running_daemon",
    "serve",
    "serve_async",
    "start_daemon",
    "stop_daemon",
    "token_file",
]

_LAZY = {
    "AppState": "._app",
    "create_app": "._app",
    "GuardSettings": "._guard",
    "MAX_BODY_BYTES": "._guard",
    "BACKEND_FACTORY_ENV": "._serve",
    "serve": "._serve",
    "serve_async": "._serve",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'podium.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
