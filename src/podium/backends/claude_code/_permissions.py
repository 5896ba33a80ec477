"""``permission_mode: ask``: the CLI's permission prompts answered by podium.

The CLI started with ``--permission-prompt-tool stdio`` sends a ``can_use_tool``
control request for each tool use its rules do not already allow (tools in
``allowed_tools`` never ask) and waits for ``{"behavior": "allow",
"updatedInput": ...}`` or ``{"behavior": "deny", "message": ...}``; the model
reads the message as the tool's result. The SDK's control protocol carries
both; the decision is the :class:`~podium.backends.Approver`'s.
"""

from __future__ import annotations

from typing import Any

from claude_agent_sdk import (
    PermissionResultAllow,
    PermissionResultDeny,
    ToolPermissionContext,
)
from claude_agent_sdk.types import CanUseTool

from ..._option_values import ASK_MODE
from .._protocol import SessionSpec

__all__ = ["ask_callback", "permission_flags"]

_NO_INBOX = "podium has no approval inbox for this agent here, so the tool use is denied"


def permission_flags(permission_mode: str | None) -> list[str]:
    """The CLI flags for a permission mode; ``ask`` is the CLI's ``default`` mode with
    its prompts sent over the control protocol instead of a terminal."""
    if permission_mode == ASK_MODE:
        return ["--permission-mode", "default", "--permission-prompt-tool", "stdio"]
    if permission_mode:
        return ["--permission-mode", permission_mode]
    return []


def ask_callback(spec: SessionSpec) -> CanUseTool | None:
    """The SDK's ``can_use_tool`` for an ``ask``-mode agent; ``None`` for any other."""
    if spec.options.permission_mode != ASK_MODE:
        return None
    approver = spec.approver

    async def can_use_tool(
        tool: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResultAllow | PermissionResultDeny:
        if approver is None:
            return PermissionResultDeny(message=_NO_INBOX)
        answer = await approver(tool, tool_input, context.tool_use_id or "")
        if answer.allow:
            # The input as the model wrote it (podium never edits a tool's input).
            return PermissionResultAllow(updated_input=tool_input)
        return PermissionResultDeny(message=answer.message)

    return can_use_tool
