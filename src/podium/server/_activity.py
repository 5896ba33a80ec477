"""``GET /v1/activity``: what each busy agent is doing now, from the events as they come.

A runtime listener feeds a :class:`~podium._activity_view.StepTracker`, so the
answer costs no store read. ``last_event_id`` is where a client that wants the
live events from now on starts (``GET /v1/events?after=``): ``podium ask`` and
``podium run`` follow from there for their status line.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .._activity_view import StepTracker
from .._records import Event
from ..runtime import Runtime
from ._app import error_responses

__all__ = ["attach_activity", "router"]

router = APIRouter(prefix="/v1", tags=["events"])


class _StepOut(BaseModel):
    request_id: str | None
    step: str = Field(description="the tool running (and its input), a retry, or the model")
    kind: str = Field(description="the event kind that set the step")
    since: float
    retries: int
    first_event_id: int = Field(description="the request's first event: replay it from here")
    running_tools: int


class ActivityOut(BaseModel):
    last_event_id: int = Field(description="the newest event id: follow events after it")
    agents: dict[str, _StepOut] = Field(description="busy agents only")


class _Board:
    def __init__(self) -> None:
        self.tracker = StepTracker()

    def __call__(self, event: Event) -> None:
        # Inside Runtime.emit: never raises (the tracker reads dicts defensively).
        self.tracker.feed(event.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_event_id": self.tracker.last_event_id,
            "agents": {name: s.to_dict() for name, s in sorted(self.tracker.steps.items())},
        }


def attach_activity(app: FastAPI, runtime: Runtime | None) -> None:
    """Start keeping the board for ``app`` (before the daemon emits its first event)."""
    board = _Board()
    if runtime is not None:  # an app built only for its schema has none
        runtime.add_listener(board)
    app.state.podium_activity = board


@router.get(
    "/activity",
    summary="Each busy agent's current step, and the newest event id",
    response_model=ActivityOut,
    responses=error_responses(),
)
async def activity(request: Request) -> JSONResponse:
    board: _Board = request.app.state.podium_activity
    return JSONResponse(board.to_dict())
