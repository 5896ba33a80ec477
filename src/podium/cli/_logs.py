"""``podium logs``: the event log, optionally followed live (HTTP long polls)."""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Annotated, Any

import typer

from .._activity_view import ACTIVITY_KINDS, describe_event
from .._errors import DaemonStopping
from .._records import Event, EventKind
from ._app import JsonFlag, app, connect

__all__ = ["format_event"]

_PAGE = 1000
# One long poll; the daemon answers as soon as an event arrives.
_FOLLOW_WAIT = 30.0
_SUMMARY_CHARS = 160


def format_event(event: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event["ts"]))
    data = event.get("data") or {}
    # What a turn does reads as a sentence ("Bash: make test"), the rest as key=value.
    readable = describe_event(event["kind"], data) if event["kind"] in ACTIVITY_KINDS else None
    summary = readable or " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}"
        for key, value in data.items()
        if value is not None
    )
    if len(summary) > _SUMMARY_CHARS:
        summary = summary[: _SUMMARY_CHARS - 1] + "…"
    parts = [stamp, f"{event.get('agent') or '-':<14}", f"{event['kind']:<17}"]
    if event.get("request_id"):
        parts.append(event["request_id"])
    if summary:
        parts.append(summary)
    return " ".join(parts)


def _show(event: Event, json_out: bool) -> None:
    data = event.to_dict()
    if json_out:
        typer.echo(json.dumps(data, ensure_ascii=False))  # JSON lines: one event per line
    else:
        typer.echo(format_event(data))


@app.command()
def logs(
    name: Annotated[str | None, typer.Argument(help="Only this agent's events.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    tail: Annotated[
        int | None, typer.Option("--tail", "-n", help="Only the last N existing events.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Print the event log (with --json: one JSON object per line)."""
    with connect() as client:
        after = 0
        backlog: deque[Event] = deque(maxlen=tail if tail and tail > 0 else None)
        while True:
            page = client.events(after=after, agent=name, limit=_PAGE)
            backlog.extend(page)
            if page:
                after = page[-1].id
            if len(page) < _PAGE:
                break
        if name is not None and after == 0:
            # No event names it: unless a live agent has none yet, it is a typo, not an
            # empty log (AgentNotFound: exit 2). A killed agent keeps its events.
            client.info(name)
        if tail is not None and tail <= 0:
            backlog.clear()
        for event in backlog:
            _show(event, json_out)
        if not follow:
            return
        try:
            while True:
                for event in client.events(after=after, agent=name, wait=_FOLLOW_WAIT):
                    _show(event, json_out)
                    after = event.id
                    if event.kind is EventKind.DAEMON_STOPPED:
                        return  # the daemon's last event: the follow is complete
        except KeyboardInterrupt:
            return  # Ctrl-C is how a follow ends: not an error
        except DaemonStopping:
            # A follow that began as the daemon stopped, after its last event.
            typer.echo("the daemon is shutting down: no more events", err=True)
