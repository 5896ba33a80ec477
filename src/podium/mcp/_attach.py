"""Attaching ``podium mcp`` to an agent: the ``--mcp-config`` JSON and the tool permission.

The server runs as ``<this python> -m podium mcp`` over stdio, started by the
agent's own CLI; its environment names the agent, scope and limits (see
:class:`McpSettings`). The CLI refuses an MCP tool it was not allowed to use
in a headless session, so ``mcp__podium__*`` joins the agent's allowed tools.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .._errors import UsageError
from .._options import AgentOptions
from ._settings import McpSettings

__all__ = ["SERVER_NAME", "TOOL_PATTERN", "attach_options", "server_command", "tool_name"]

SERVER_NAME = "podium"
TOOL_PATTERN = f"mcp__{SERVER_NAME}__*"


def tool_name(tool: str) -> str:
    """The name a model sees for one of podium's tools, e.g. ``mcp__podium__wait_for``."""
    return f"mcp__{SERVER_NAME}__{tool}"


def server_command() -> list[str]:
    """argv of the stdio server: the interpreter running podium now, never a shell string."""
    return [sys.executable, "-m", "podium", "mcp"]


def attach_options(options: AgentOptions, settings: McpSettings) -> AgentOptions:
    """``options`` plus the podium MCP server (merged into any ``mcp_config`` already there)."""
    command, *args = server_command()
    entry = {"type": "stdio", "command": command, "args": args, "env": settings.to_env()}
    servers: dict[str, Any] = {}
    if options.mcp_config:
        try:
            servers = dict(json.loads(options.mcp_config)["mcpServers"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                "cannot attach the podium MCP server: the agent's mcp_config is not a JSON "
                'object with "mcpServers"'
            ) from None
    servers[SERVER_NAME] = entry
    allowed = [t for t in options.allowed_tools if t != TOOL_PATTERN]
    return options.replace(
        mcp_config=json.dumps({"mcpServers": servers}, separators=(",", ":")),
        allowed_tools=(*allowed, TOOL_PATTERN),
    )
