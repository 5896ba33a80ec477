"""A one-line live status on the terminal while a command waits for an agent.

``podium ask`` (waiting) shows the agent's current step: the tool it runs, an API
retry and its wait, the model thinking. Only when both stdout and stderr are a
terminal: a script, a pipe or a file gets nothing extra. The line is drawn on
stderr and erased before the answer is printed. Events come over the daemon's
event stream in a background thread; nothing here is imported unless shown.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from .._activity_view import StepTracker

if TYPE_CHECKING:
    from .._client import Client

__all__ = ["LiveStatus", "status_wanted"]

_REDRAW = 0.5
_WIDTH = 100


def status_wanted() -> bool:
    """Whether to draw: both streams are terminals."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class LiveStatus:
    """Draws ``agent``'s step until closed. Never fails the command it decorates."""

    def __init__(self, client: Client, agent: str) -> None:
        self._client = client
        self._agent = agent
        self._tracker = StepTracker()
        self._stop = threading.Event()
        self._drawn = False
        self._lock = threading.Lock()
        self._after = 0

    def __enter__(self) -> LiveStatus:
        try:
            self._after = int(self._client.activity().get("last_event_id") or 0)
        except Exception:
            return self  # an older daemon, a hiccup: no status, the ask goes on
        threading.Thread(target=self._follow, name="podium-status", daemon=True).start()
        threading.Thread(target=self._draw_loop, name="podium-status-draw", daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with self._lock:
            if self._drawn:
                sys.stderr.write("\r\033[2K")
                sys.stderr.flush()
                self._drawn = False

    def _follow(self) -> None:
        try:
            for event in self._client.follow_events(after=self._after, agent=self._agent):
                if self._stop.is_set():
                    return
                with self._lock:
                    self._tracker.feed(event.to_dict())
        except Exception:
            return

    def _draw_loop(self) -> None:
        while not self._stop.wait(_REDRAW):
            with self._lock:
                step = self._tracker.steps.get(self._agent)
                if step is None or self._stop.is_set():
                    continue
                elapsed = max(0.0, time.time() - step.since)
                line = f"{self._agent}: {step.text} ({elapsed:.0f}s)"
                if step.retries:
                    line += f" [{step.retries} API retries]"
                if len(line) > _WIDTH:
                    line = line[: _WIDTH - 1] + "…"
                sys.stderr.write(f"\r\033[2K\033[2m{line}\033[0m")
                sys.stderr.flush()
                self._drawn = True
