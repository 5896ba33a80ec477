"""What a request body says, read once per request for both recording and matching.

The two fakes speak different wire formats (Anthropic Messages, OpenAI chat
completions); each has a reader here that reduces a body to the same
:class:`Turn`, so rules, records and assertions work alike on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podium.testing._rules import MatchView
from podium.testing._text import (
    chat_last_user,
    chat_message_text,
    chat_system_text,
    conversation_text,
    has_tool_result,
    last_user_message,
    message_text,
    request_system_text,
)

__all__ = ["Turn", "anthropic_turn", "chat_turn"]


@dataclass(frozen=True)
class Turn:
    """The parts of a (possible) model turn that rules and records look at."""

    model: str | None
    system_text: str
    messages: list[Any]
    last_user_text: str
    conversation_text: str
    has_tool_result: bool
    tool_names: tuple[str, ...]

    @property
    def view(self) -> MatchView:
        return MatchView(
            model=self.model or "",
            system_text=self.system_text,
            last_user_text=self.last_user_text,
            conversation_text=self.conversation_text,
            has_tool_result=self.has_tool_result,
        )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _model(data: Mapping[str, Any]) -> str | None:
    model = data.get("model")
    return model if isinstance(model, str) else None


def anthropic_turn(data: Mapping[str, Any]) -> Turn:
    """Read an Anthropic Messages body (any body: missing fields read as empty)."""
    messages = _list(data.get("messages"))
    system = data.get("system")
    last = last_user_message(messages)
    return Turn(
        model=_model(data),
        system_text=request_system_text(system, messages),
        messages=messages,
        last_user_text=message_text(last) if last is not None else "",
        conversation_text=conversation_text(system, messages),
        has_tool_result=has_tool_result(last),
        tool_names=tuple(
            str(t.get("name")) for t in _list(data.get("tools")) if isinstance(t, Mapping)
        ),
    )


def _chat_tool_name(tool: Mapping[str, Any]) -> str:
    function = tool.get("function")
    if isinstance(function, Mapping):
        return str(function.get("name"))
    return str(tool.get("name"))  # the legacy ``functions`` list names them directly


def chat_turn(data: Mapping[str, Any]) -> Turn:
    """Read an OpenAI chat-completions body (any body: missing fields read as empty)."""
    messages = _list(data.get("messages"))
    last_text, tool_result = chat_last_user(messages)
    tools = _list(data.get("tools")) or _list(data.get("functions"))
    return Turn(
        model=_model(data),
        system_text=chat_system_text(messages),
        messages=messages,
        last_user_text=last_text,
        conversation_text="\n".join(
            t for t in (chat_message_text(m) for m in messages if isinstance(m, Mapping)) if t
        ),
        has_tool_result=tool_result,
        tool_names=tuple(_chat_tool_name(t) for t in tools if isinstance(t, Mapping)),
    )
