"""Activity read off a Claude Code turn's stream-json output.

The CLI prints one ``assistant`` event per content block (a ``tool_use`` block
is printed as the tool starts), a ``user`` event carrying each ``tool_result``
when the tool ends, and repeats the API message id on every block of one call.
:class:`TurnActivity` turns those into the backend events of ``.._activity``.
Events of a sub-agent's own calls carry ``parent_tool_use_id``: they are
reported with ``parent`` set to the Task/Agent call they belong to.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from claude_agent_sdk import AssistantMessage, TextBlock, ToolResultBlock, ToolUseBlock, UserMessage

from .._activity import SUBAGENT_TOOLS, Activity, TextThrottle, snippet, summarize_input
from .._protocol import EventSink

__all__ = ["TurnActivity"]


@dataclass(frozen=True, kw_only=True)
class _Running:
    name: str
    started: float
    subagent: bool


class TurnActivity:
    """Follows one turn's messages and reports what it does to ``sink``."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        # A sink that can make several events durable with one commit (the
        # runtime's) offers batch(): the events of one message share one.
        self._batch: Callable[[], AbstractContextManager[None]] = getattr(
            sink, "batch", contextlib.nullcontext
        )
        self._running: dict[str, _Running] = {}
        self._calls: set[str] = set()
        self._text = TextThrottle()

    async def on_assistant(self, message: AssistantMessage) -> None:
        with self._batch():
            await self._on_assistant(message)

    async def _on_assistant(self, message: AssistantMessage) -> None:
        parent = message.parent_tool_use_id
        if (
            message.message_id
            and message.model != "<synthetic>"
            and message.message_id not in self._calls
        ):
            self._calls.add(message.message_id)
            await self._emit(
                Activity.API_CALL,
                {"model": message.model, "message_id": message.message_id, "usage": message.usage},
                parent,
            )
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                await self._tool_started(block, parent)
            elif isinstance(block, TextBlock) and block.text.strip():
                shown = self._text.offer(snippet(block.text))
                if shown is not None:
                    await self._emit(Activity.TEXT, {"text": shown}, parent)

    async def on_user(self, message: UserMessage) -> None:
        if isinstance(message.content, str):
            return
        with self._batch():
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    await self._tool_finished(block, message.parent_tool_use_id)

    async def flush_text(self) -> None:
        """Show a snippet held back by the throttle, if its interval has passed."""
        shown = self._text.due()
        if shown is not None:
            await self._emit(Activity.TEXT, {"text": shown}, None)

    async def _tool_started(self, block: ToolUseBlock, parent: str | None) -> None:
        subagent = block.name in SUBAGENT_TOOLS
        self._running[block.id] = _Running(
            name=block.name, started=time.monotonic(), subagent=subagent
        )
        data: dict[str, Any] = {
            "tool": block.name,
            "tool_use_id": block.id,
            "input": summarize_input(block.name, block.input),
        }
        await self._emit(Activity.TOOL_STARTED, data, parent)
        if subagent:
            kind = block.input.get("subagent_type") if isinstance(block.input, dict) else None
            await self._emit(
                Activity.SUBAGENT_STARTED,
                {
                    "tool_use_id": block.id,
                    "subagent_type": kind if isinstance(kind, str) else None,
                    "description": data["input"],
                },
                parent,
            )

    async def _tool_finished(self, block: ToolResultBlock, parent: str | None) -> None:
        running = self._running.pop(block.tool_use_id, None)
        seconds = round(time.monotonic() - running.started, 3) if running else None
        ok = not block.is_error
        data: dict[str, Any] = {
            "tool": running.name if running else None,
            "tool_use_id": block.tool_use_id,
            "ok": ok,
            "seconds": seconds,
        }
        await self._emit(Activity.TOOL_FINISHED, data, parent)
        if running is not None and running.subagent:
            await self._emit(
                Activity.SUBAGENT_FINISHED,
                {"tool_use_id": block.tool_use_id, "ok": ok, "seconds": seconds},
                parent,
            )

    async def _emit(self, kind: Activity, data: dict[str, Any], parent: str | None) -> None:
        if parent:
            data = {**data, "parent": parent}
        await self._sink(kind.value, data)
