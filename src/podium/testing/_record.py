"""What the fake saw and how it answered, one immutable snapshot per request."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from podium.testing._rules import ToolCall
from podium.testing._text import strip_reminders

__all__ = ["MODEL_TURN_PATHS", "RecordedRequest"]

# The paths of model turns, the requests rules answer: Anthropic's and OpenAI's.
MODEL_TURN_PATHS = ("/v1/messages", "/v1/chat/completions")


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request. Replaced by a newer snapshot when its response finishes.

    ``finished_at`` is None while the response is still being sent, so tests can
    observe in-flight calls; ``completed`` is False when the client went away
    (e.g. an interrupted turn) before the whole response was sent.
    """

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    model: str | None
    system_text: str
    messages: list[Any]
    last_user_text: str
    stream: bool
    received_at: float
    finished_at: float | None = None
    response_text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    status: int | None = None
    rule_index: int | None = None
    completed: bool = False
    tool_names: tuple[str, ...] = ()
    has_tool_result: bool = False

    @property
    def is_message(self) -> bool:
        """True for a model turn (POST /v1/messages or /v1/chat/completions)."""
        return self.method == "POST" and self.path in MODEL_TURN_PATHS

    @property
    def user_prompt(self) -> str:
        """``last_user_text`` without the ``<system-reminder>`` blocks the CLI adds."""
        return strip_reminders(self.last_user_text)

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.received_at

    def overlaps(self, other: RecordedRequest) -> bool:
        """Whether the two requests were in flight at the same time."""
        self_end = self.finished_at if self.finished_at is not None else float("inf")
        other_end = other.finished_at if other.finished_at is not None else float("inf")
        return self.received_at < other_end and other.received_at < self_end

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["tool_calls"] = [
            {"name": c.name, "input": dict(c.input), "id": c.id} for c in self.tool_calls
        ]
        data["tool_names"] = list(self.tool_names)
        return data
