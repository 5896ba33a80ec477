"""``podium watch`` (an agent's or a run's activity, live) and ``podium tell``."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from .._activity_view import describe_event
from .._tell import TellMode
from ._app import JsonFlag, app, connect, print_json, read_prompt
from ._logs import format_event

__all__ = ["watch_line"]


def watch_line(event: dict[str, Any]) -> str:
    """One readable line: time, agent, the request's short id, what happened."""
    text = describe_event(event["kind"], event.get("data") or {})
    if text is None:
        return format_event(event)
    stamp = time.strftime("%H:%M:%S", time.localtime(event["ts"]))
    request = event.get("request_id") or ""
    # <agent>-<seq>-<tag>: the sequence number tells an agent's requests apart.
    short = request.rsplit("-", 2)[1].lstrip("0") if request.count("-") >= 2 else ""
    who = event.get("agent") or "-"
    label = f"{who}#{short}" if short else who
    return f"{stamp} {label:<18} {event['kind']:<17} {text}"


def _is_run(target: str) -> bool:
    if not target.startswith("run-"):
        return False
    from ..orchestration._artifacts import RUN_ID_PATTERN

    return RUN_ID_PATTERN.fullmatch(target) is not None


@app.command()
def watch(
    target: Annotated[str, typer.Argument(metavar="NAME|RUN_ID", help="Agent name or run id.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON event per line, for scripts.")
    ] = False,
) -> None:
    """Follow what an agent (or a run's agents) does, live, until Ctrl-C.

    An agent: its running request from its start, then every event from now on (tools started and
    finished, API calls and retries, sub-agents, text progress, requests). A run:
    its whole timeline so far, then live.
    """
    with connect() as client:
        run_id = target if _is_run(target) else None
        agent = None if run_id else target
        if run_id is not None:
            client.get_run(run_id)  # RunNotFound: exit 2, not an empty stream
            after = 0
        else:
            client.info(target)  # AgentNotFound: exit 2
            board = client.activity()
            after = int(board.get("last_event_id") or 0)
            step = (board.get("agents") or {}).get(target)
            if step is not None:
                # A request under way is shown from its start.
                after = max(0, int(step.get("first_event_id") or after + 1) - 1)
        try:
            for event in client.follow_events(after=after, agent=agent, run_id=run_id):
                data = event.to_dict()
                if json_out:
                    typer.echo(json.dumps(data, ensure_ascii=False))
                else:
                    typer.echo(watch_line(data))
        except KeyboardInterrupt:
            return  # Ctrl-C is how a watch ends: not an error


@app.command()
def tell(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    text: Annotated[str, typer.Argument(help="The message; '-' reads standard input.")],
    json_out: JsonFlag = False,
) -> None:
    """Tell NAME something while it works: the message joins its running request (the
    model reads it at its next step; the request still ends with one answer). An idle
    agent gets it as an ordinary request (its id is printed; podium wait ID)."""
    message = read_prompt(text, what="TEXT")
    with connect() as client:
        told = client.tell(name, message)
    if json_out:
        print_json(told.to_dict())
    elif told.mode is TellMode.STEERED:
        typer.echo(f"told {name} during {told.request.id}")
    else:
        note = f" ({told.reason})" if told.reason else ""
        typer.echo(f"queued as {told.request.id}{note}")
