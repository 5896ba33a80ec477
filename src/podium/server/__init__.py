"""The podium daemon: the runtime behind a token-protected local HTTP API.

Routes (prefix ``/v1``; JSON in and out; all but ``GET /health`` need
``Authorization: Bearer <token from $PODIUM_HOME/token>``)::

    GET    /health                      status, version, pid, started_at, uptime_s
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
    GET    /events?after=&agent=&limit=&wait=   long poll (wait <= 300 s)
    POST   /runs                        start {request, team, cwd, plan | plan_file, budget_usd}
    GET    /runs?limit=                 newest first
    GET    /runs/{run_id}               the run (tasks, states, costs) and its directory
    GET    /runs/{run_id}/wait?timeout= long poll; ``done`` says whether it ended
    GET    /runs/{run_id}/report        {"run_id", "report": markdown or null}
    POST   /runs/{run_id}/cancel        stop dispatching, interrupt running tasks
    POST   /runs/{run_id}/resume        continue an interrupted / failed / cancelled run

Errors are ``{"error": {"code", "message", "context"}}`` (see ``_http_errors``
for the status of each code). A wait that runs out is HTTP 408 with code
``wait_timeout`` and the request id in ``context``; the request is not cancelled.

Daemon control (:func:`start_daemon`, :func:`stop_daemon`, :func:`running_daemon`)
and the state files are importable without FastAPI or the runtime; ``serve``,
``serve_async`` and ``create_app`` load them on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._daemon import (
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
    autostart_disabled,
    running_daemon,
    start_daemon,
    stop_daemon,
)
from ._state import DaemonInfo, daemon_file, log_file, read_daemon_info, read_token, token_file

if TYPE_CHECKING:
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
