"""The approval inbox: ``podium inbox``, ``podium allow ID``, ``podium deny ID``.

Agents spawned with ``--permission-mode ask`` wait here for each tool use that
needs permission; the decision goes straight to the agent's CLI.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from .._approvals import ApprovalRecord
from ._app import JsonFlag, app, connect, print_json
from ._common import echo

__all__: list[str] = []

_INPUT_WIDTH = 80


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def _one_line(record: ApprovalRecord) -> str:
    text = json.dumps(record.input, ensure_ascii=False)
    return text if len(text) <= _INPUT_WIDTH else text[: _INPUT_WIDTH - 1] + "…"


def _describe(record: ApprovalRecord) -> str:
    line = f"{record.id} {record.state.value}: {record.agent} {record.tool}"
    return f"{line} ({record.reason})" if record.reason else line


@app.command()
def inbox(
    show_all: Annotated[
        bool, typer.Option("--all", help="Decided approvals too, not only pending ones.")
    ] = False,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Tool uses of ask-mode agents waiting for `podium allow ID` / `podium deny ID`."""
    with connect() as client:
        found = client.approvals(pending_only=not show_all, agent=agent)
    if json_out:
        print_json([a.to_dict() for a in found])
        return
    if not found:
        echo("no approvals waiting" if not show_all else "no approvals")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    now = time.time()
    table = Table()
    for heading in ("id", "agent", "tool", "input", "waiting", "state", "request"):
        # Ids are copied into `podium allow`: never wrapped; the input gives way.
        table.add_column(heading, no_wrap=heading != "input", overflow="fold")
    for record in found:
        end = record.decided_at or now
        values = (
            record.id, record.agent, record.tool, _one_line(record),
            _age(end - record.created_at), record.state.value, record.request_id or "-",
        )  # fmt: skip
        # Text, not str: tool inputs are not rich markup.
        table.add_row(*(Text(v) for v in values))
    Console().print(table)


@app.command()
def allow(
    approval_id: Annotated[str, typer.Argument(help="The approval's id (ap-...).")],
    json_out: JsonFlag = False,
) -> None:
    """Allow a waiting tool use: the agent's CLI runs it."""
    with connect() as client:
        record = client.allow(approval_id)
    if json_out:
        print_json(record.to_dict())
    else:
        echo(_describe(record))


@app.command()
def deny(
    approval_id: Annotated[str, typer.Argument(help="The approval's id (ap-...).")],
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="What the model is told (it reads it as the tool's result)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Deny a waiting tool use; the agent goes on without it."""
    with connect() as client:
        record = client.deny(approval_id, reason)
    if json_out:
        print_json(record.to_dict())
    else:
        echo(_describe(record))
