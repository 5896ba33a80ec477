"""Flatten Anthropic and OpenAI chat message structures into plain text.

Rules and assertions match on text, but the wire formats nest text in blocks
(text, tool_result, tool_use; OpenAI's content parts and tool_calls).
Flattening in one place keeps matching and recording consistent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "chat_last_user",
    "chat_message_text",
    "chat_system_text",
    "conversation_text",
    "has_tool_result",
    "last_user_message",
    "message_text",
    "request_system_text",
    "strip_reminders",
    "system_text",
]

_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)


def _blocks_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, Sequence):
        return ""
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
            continue
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            parts.append(_blocks_text(block.get("content", "")))
        elif kind == "tool_use":
            # Rendered so that ``any_content`` can see what the model asked a tool to do.
            args = json.dumps(block.get("input", {}), sort_keys=True)
            parts.append(f"{block.get('name', '')} {args}")
    return "\n".join(p for p in parts if p)


def message_text(message: Mapping[str, Any]) -> str:
    """Text of one message: text blocks, tool_result contents and tool_use calls."""
    return _blocks_text(message.get("content", ""))


def system_text(system: Any) -> str:
    """The system prompt as one string (it may be a string or a list of text blocks)."""
    return _blocks_text(system)


def request_system_text(system: Any, messages: Sequence[Any]) -> str:
    """System prompt plus ``role: "system"`` messages.

    Claude Code puts part of its system prompt (working directory, environment)
    in a system-role message rather than the top-level ``system`` field.
    """
    parts = [system_text(system)]
    parts.extend(
        message_text(m) for m in messages if isinstance(m, Mapping) and m.get("role") == "system"
    )
    return "\n".join(p for p in parts if p)


def strip_reminders(text: str) -> str:
    """Drop the ``<system-reminder>`` blocks Claude Code prepends to user turns."""
    return _REMINDER.sub("", text).strip()


def last_user_message(messages: Sequence[Any]) -> Mapping[str, Any] | None:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message
    return None


def has_tool_result(message: Mapping[str, Any] | None) -> bool:
    if message is None:
        return False
    content = message.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str):
        return False
    return any(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content)


def conversation_text(system: Any, messages: Sequence[Any]) -> str:
    """System prompt plus every message, for matching against the whole conversation."""
    parts = [system_text(system)]
    parts.extend(message_text(m) for m in messages if isinstance(m, Mapping))
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------- OpenAI chat messages

_CHAT_SYSTEM_ROLES = ("system", "developer")


def _tool_call_text(call: Mapping[str, Any]) -> str:
    function = call.get("function")
    function = function if isinstance(function, Mapping) else {}
    raw = function.get("arguments", "")
    try:
        # Same rendering as an Anthropic tool_use, so one ``any_content`` fits both.
        args = json.dumps(json.loads(raw), sort_keys=True)
    except (TypeError, ValueError):
        args = str(raw)
    return f"{function.get('name', '')} {args}"


def chat_message_text(message: Mapping[str, Any]) -> str:
    """Text of one chat message: its content (string or parts) and any tool calls."""
    parts = [_blocks_text(message.get("content"))]
    calls = message.get("tool_calls")
    if isinstance(calls, Sequence) and not isinstance(calls, str):
        parts.extend(_tool_call_text(c) for c in calls if isinstance(c, Mapping))
    return "\n".join(p for p in parts if p)


def chat_system_text(messages: Sequence[Any]) -> str:
    """The ``system`` and ``developer`` messages, where chat APIs keep instructions."""
    texts = (
        chat_message_text(m)
        for m in messages
        if isinstance(m, Mapping) and m.get("role") in _CHAT_SYSTEM_ROLES
    )
    return "\n".join(t for t in texts if t)


def chat_last_user(messages: Sequence[Any]) -> tuple[str, bool]:
    """(text, is_tool_result) of what the client said last.

    Chat APIs send each tool result as its own ``role: "tool"`` message after
    the assistant's call; the trailing run of them plays the part of
    Anthropic's user message full of tool_result blocks.
    """
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role == "tool":
            results.append(chat_message_text(message))
            continue
        if results:
            break
        if role == "user":
            return chat_message_text(message), False
    if results:
        return "\n".join(reversed(results)), True
    return "", False
