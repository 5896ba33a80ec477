"""What an agent is doing mid-turn, as backend events: tools, sub-agents, API calls, text.

A backend reports these through its turn's :data:`~podium.backends.EventSink`
under the names in :class:`Activity`; the runtime records each as an event of
the same kind (with the agent and request id). Inputs are shown as a short
summary (a Bash command, a file path), cut to :data:`SUMMARY_CHARS` and with
anything that looks like a credential masked: the registry of known secret
values is applied again when the event is recorded.
"""

from __future__ import annotations

import enum
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..isolation._credentials import MASK

__all__ = [
    "SUBAGENT_TOOLS",
    "SUMMARY_CHARS",
    "TEXT_INTERVAL",
    "Activity",
    "SteerableSession",
    "TextThrottle",
    "mask_secrets",
    "snippet",
    "summarize_input",
]

SUMMARY_CHARS = 160
"""A tool input summary is cut to this many characters."""
TEXT_INTERVAL = 1.0
"""At most one ``text`` progress event per this many seconds per turn."""
_SNIPPET_CHARS = 200

SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
"""The tools through which Claude Code starts a sub-agent."""


class Activity(enum.StrEnum):
    """Backend event names for what a turn is doing (also the event kinds recorded)."""

    TOOL_STARTED = "tool_started"
    TOOL_FINISHED = "tool_finished"
    SUBAGENT_STARTED = "subagent_started"
    SUBAGENT_FINISHED = "subagent_finished"
    API_CALL = "api_call"
    TEXT = "text"


@runtime_checkable
class SteerableSession(Protocol):
    """A session that can take a user message into the turn it is running."""

    async def steer(self, text: str) -> bool:
        """Deliver ``text`` into the running turn; False when no turn is running."""
        ...


# key=value / key: value / --key value where the key names a credential; a bearer
# token; and the shapes of common API keys. Masked whether or not podium knows them.
_NAMED = re.compile(
    r"(?i)(\b[\w-]*(?:api[_-]?key|token|secret|passw(?:or)?d|credential|auth)[\w-]*"
    r"[\"']?\s*(?:=|:|\s)\s*[\"']?)([^\s\"'&;]{4,})"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})")
_KEY_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AKIA[A-Z0-9]{16}|AIza[A-Za-z0-9_-]{30,})"
)


def mask_secrets(text: str) -> str:
    """``text`` with credential-looking values replaced by the mask."""
    text = _KEY_SHAPES.sub(MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _NAMED.sub(lambda m: m.group(1) + MASK, text)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The input field that says most about a call, for the tools Claude Code ships.
_KEY_FIELD = {
    "Bash": "command",
    "Read": "file_path",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "Glob": "pattern",
    "Grep": "pattern",
    "WebFetch": "url",
    "WebSearch": "query",
    "Task": "description",
    "Agent": "description",
    "Skill": "skill",
}


def summarize_input(tool: str, data: Mapping[str, Any] | None) -> str:
    """A one-line, masked, truncated account of a tool call's input."""
    if not data:
        return ""
    field = _KEY_FIELD.get(tool)
    value = data.get(field) if field else None
    if isinstance(value, str) and value:
        text = value
    else:
        # Anything else (an MCP tool, a new tool): its input as compact JSON.
        try:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            text = str(data)
    return _cut(mask_secrets(text), SUMMARY_CHARS)


def snippet(text: str) -> str:
    """The end of a partial answer, one line, masked: what the agent is writing now."""
    text = " ".join(text.split())
    if len(text) > _SNIPPET_CHARS:
        text = "…" + text[-(_SNIPPET_CHARS - 1) :]
    return mask_secrets(text)


class TextThrottle:
    """Lets one ``text`` progress event through per :data:`TEXT_INTERVAL`; keeps the latest
    snippet in between so the next one shown is never stale."""

    def __init__(self, interval: float = TEXT_INTERVAL) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._pending: str | None = None

    def offer(self, text: str, now: float | None = None) -> str | None:
        """The snippet to emit now, or None (then ``text`` waits as the latest)."""
        now = time.monotonic() if now is None else now
        self._pending = text
        return self.due(now)

    def due(self, now: float | None = None) -> str | None:
        """The waiting snippet if the interval has passed since the last one shown."""
        now = time.monotonic() if now is None else now
        if self._pending is None or now - self._last < self.interval:
            return None
        text, self._pending = self._pending, None
        self._last = now
        return text
