"""``podium mcp``: podium's agents as MCP tools, for an orchestrating Claude (or any MCP client).

Tools: ``list_agents``, ``spawn_agent`` (fresh, a team worker, or a fork of
the caller), ``ask_agent`` (blocking, with timeout), ``assign_task`` (a request
id at once), ``wait_for`` (one or many ids, all or any), ``get_result``,
``relay``, ``kill_agent``, ``run_plan``. Results are JSON; a refused call is a
tool error ``{"error": {"code", "message", "context"}}`` and changes nothing.

Limits are enforced from the daemon's records, not the server's memory: at
most ``max_agents`` live agents per scope, spawn depth below ``max_depth`` (a
worker spawns only with leave, ``allow_spawn``), a per-run budget checked
before every spawn, task, relay and planned run, and a per-call cap. The cap
bounds each spawned agent's process (its CLI's ``--max-budget-usd``) and each
request given through ``ask_agent``, ``assign_task`` or ``relay`` (optionally
lowered per call with ``max_budget_usd``). The runtime cannot stop one request
at a cap of its own, so that is judged when the request ends: over its cap, it
is reported ``over_budget`` and its agent is given no more work in the scope.

The server is a thin adapter over :class:`podium.Client`; it hosts no
runtime. :func:`attach_options` gives an agent the server (``--mcp-config``).
The SDK-backed parts load on first use, so the daemon can attach the server
without importing the MCP SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._attach import SERVER_NAME, TOOL_PATTERN, attach_options, server_command, tool_name
from ._ledger import ScopeLedger
from ._limits import MCP_META, Caller, LimitExceeded, OutOfScope
from ._settings import (
    DEFAULT_MAX_AGENTS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_SCOPE,
    McpSettings,
)

if TYPE_CHECKING:
    from ._serve import serve_http, serve_stdio
    from ._server import TOOL_NAMES, create_server
    from ._tools import PodiumTools

__all__ = [
    "DEFAULT_MAX_AGENTS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_SCOPE",
    "MCP_META",
    "SERVER_NAME",
    "TOOL_NAMES",
    "TOOL_PATTERN",
    "Caller",
    "LimitExceeded",
    "McpSettings",
    "OutOfScope",
    "PodiumTools",
    "ScopeLedger",
    "attach_options",
    "create_server",
    "serve_http",
    "serve_stdio",
    "server_command",
    "tool_name",
]

_LAZY = {
    "TOOL_NAMES": "._server",
    "create_server": "._server",
    "PodiumTools": "._tools",
    "serve_http": "._serve",
    "serve_stdio": "._serve",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
