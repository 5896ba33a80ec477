"""Following the daemon's events live over Server-Sent Events (``GET /v1/events``).

The stream is read line by line on a connection of its own; a cut stream (an
``overflow`` notice, a dropped connection) is resumed after the last event
received (``Last-Event-ID``), so a follower never misses or repeats one. It ends
when the daemon shuts down (``event: shutdown``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._errors import DaemonError
from ._http import HTTPFailure, StreamRefused
from ._records import Event
from ._wire import event_from_json

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["follow_events"]

# Longer than the daemon's keep-alive interval (15 s): silence beyond it is a dead link.
_READ_TIMEOUT = 45.0
_RECONNECTS = 5


def follow_events(
    client: Client, *, after: int = 0, agent: str | None = None, run_id: str | None = None
) -> Iterator[Event]:
    """Events after ``after`` (of one agent, or of one run and its requests), as they come."""
    from ._daemon_api import _error_of

    last = after
    failures = 0
    while True:
        headers = {"Accept": "text/event-stream"}
        if last:
            headers["Last-Event-ID"] = str(last)
        params = {"agent": agent, "run_id": run_id}
        name: str | None = None
        data: list[str] = []
        try:
            lines = client._http.stream_lines(
                "/v1/events",
                params={k: v for k, v in params.items() if v is not None},
                headers=headers,
                timeout=_READ_TIMEOUT,
            )
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        name = value
                    elif field == "data":
                        data.append(value)
                    continue
                # A blank line ends a frame.
                if name == "shutdown":
                    return
                if data and name not in (None, "overflow"):
                    event = event_from_json(json.loads("\n".join(data)))
                    last = event.id
                    failures = 0
                    yield event
                name, data = None, []
        except StreamRefused as exc:
            raise _error_of(exc.response, client.url) from None
        except HTTPFailure as exc:
            failures += 1
            if failures > _RECONNECTS:
                raise DaemonError(
                    f"lost the event stream of the daemon at {client.url}: {exc}", url=client.url
                ) from None
            time.sleep(min(2.0, 0.2 * failures))
        # An overflow or a closed stream: resume after the last event received.
