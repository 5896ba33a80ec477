"""What ``tell`` did with a message: steered into the running turn, or asked as usual."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ._records import RequestRecord
from ._wire import request_from_json, request_to_json

__all__ = ["TellMode", "TellResult"]


class TellMode(enum.StrEnum):
    STEERED = "steered"
    """Written into the agent's running turn; its next API call carries it."""
    ASKED = "asked"
    """The agent had no running turn (or its backend cannot take a message mid-turn):
    an ordinary request was queued."""


@dataclass(frozen=True, kw_only=True)
class TellResult:
    mode: TellMode
    request: RequestRecord
    """The running request the message joined, or the request it became."""
    reason: str | None = None
    """Why a message was asked rather than steered, when the agent was busy."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "reason": self.reason,
            "request": request_to_json(self.request),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TellResult:
        return cls(
            mode=TellMode(data["mode"]),
            request=request_from_json(data["request"]),
            reason=data.get("reason"),
        )
