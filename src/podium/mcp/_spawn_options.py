"""The Claude Code options an MCP caller may give ``spawn_agent``, and what it may not.

A caller may shape a fresh agent's tools, permissions, turns and prompt. It gets
no ``mcp_config``, ``settings`` or ``env`` (each could start another MCP server or
change the environment the limits travel in), and no ``bypassPermissions``: one
agent cannot hand another a mode that skips every permission check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .._errors import InvalidOptions, UsageError

__all__ = ["MCP_SPAWN_OPTIONS", "McpPermissionMode", "spawn_options"]

MCP_SPAWN_OPTIONS: tuple[str, ...] = (
    "tools",
    "allowed_tools",
    "disallowed_tools",
    "permission_mode",
    "max_turns",
    "append_system_prompt",
)

McpPermissionMode = Literal["default", "acceptEdits", "plan", "dontAsk", "auto", "ask"]
"""Every permission mode but ``bypassPermissions``."""

_REFUSED_MODE = "bypassPermissions"


def spawn_options(
    given: Mapping[str, Any] | None, *, worker: str | None, fork: bool
) -> dict[str, Any]:
    """The options ``spawn_agent`` was given (``None`` values dropped), or a
    :class:`UsageError` before anything is done."""
    options = {key: value for key, value in (given or {}).items() if value is not None}
    unknown = sorted(set(options) - set(MCP_SPAWN_OPTIONS))
    if unknown:
        raise InvalidOptions(
            f"spawn_agent takes no option {', '.join(unknown)}; it takes "
            f"{', '.join(MCP_SPAWN_OPTIONS)}",
            option=unknown[0],
        )
    if not options:
        return options
    names = ", ".join(options)
    if fork:
        raise UsageError(f"a fork inherits the caller's settings: give no {names}")
    if worker is not None:
        raise UsageError(
            f"worker {worker!r} takes its tools and permissions from its team profile: "
            f"give no {names}",
            worker=worker,
        )
    if options.get("permission_mode") == _REFUSED_MODE:
        raise InvalidOptions(
            f"permission_mode {_REFUSED_MODE!r} cannot be given through MCP: one agent may "
            "not let another skip every permission check (use acceptEdits and allowed_tools)",
            option="permission_mode",
        )
    return options
