"""Agent commands: spawn, fork, list, info, kill, kill-all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._errors import UsageError
from .._records import AgentRecord
from .._wire import agent_to_json
from ._app import JsonFlag, app, connect, print_json, read_text_file

__all__ = ["LIST_FIELDS", "list_entry"]

LIST_FIELDS = (
    "name",
    "status",
    "model",
    "requested_model",
    "backend",
    "session_id",
    "forked_from",
    "created_at",
    "request_count",
    "pid",
    "cost_usd",
)


def list_entry(agent: AgentRecord) -> dict[str, Any]:
    """The ``list --json`` shape of one agent (``model``: resolved id if known)."""
    data = agent_to_json(agent)
    return {key: data.get(key) for key in LIST_FIELDS}


def _model(agent: AgentRecord) -> str:
    return agent.resolved_model or agent.model or "default"


def _cost(value: Any) -> str:
    return f"${float(value or 0):.4f}"


@app.command()
def spawn(
    name: Annotated[str, typer.Argument(help="Agent name: lowercase letters, digits, - and _.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="haiku, sonnet, opus or a full id.")
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="System prompt text.")
    ] = None,
    system_prompt_file: Annotated[
        Path | None, typer.Option("--system-prompt-file", help="Read the system prompt from F.")
    ] = None,
    cwd: Annotated[
        Path | None, typer.Option("--cwd", help="Working directory (default: here).")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="Backend to run it on.")] = (
        "claude-code"
    ),
    isolation: Annotated[
        str | None,
        typer.Option(
            "--isolation",
            help="shared (default), worktree (own git worktree and branch), sandbox "
            "(bubblewrap) or container.",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Create an agent and start its process."""
    if system_prompt is not None and system_prompt_file is not None:
        raise UsageError("use --system-prompt or --system-prompt-file, not both")
    if system_prompt_file is not None:
        system_prompt = read_text_file(system_prompt_file, what="system prompt file")
    with connect() as client:
        agent = client.spawn(
            name,
            model=model,
            system_prompt=system_prompt,
            cwd=cwd,
            backend=backend,
            options={"isolation": isolation} if isolation else None,
        )
    if json_out:
        print_json(agent_to_json(agent))
        return
    typer.echo(
        f"spawned {agent.name} (model {_model(agent)}, status {agent.status.value}, "
        f"cwd {agent.cwd})"
    )


@app.command()
def fork(
    source: Annotated[str, typer.Argument(help="Agent to fork.")],
    new: Annotated[str, typer.Argument(help="Name of the new agent.")],
    model: Annotated[str | None, typer.Argument(help="Model for the fork (default: same).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Fork SOURCE into NEW: a new session carrying SOURCE's history."""
    with connect() as client:
        agent = client.fork(source, new, model)
    if json_out:
        print_json(agent_to_json(agent))
        return
    typer.echo(f"forked {agent.name} from {source} (model {_model(agent)})")


@app.command("list")
def list_(json_out: JsonFlag = False) -> None:
    """List the live agents."""
    with connect() as client:
        agents = client.list_agents()
    if json_out:
        print_json([list_entry(a) for a in agents])
        return
    if not agents:
        typer.echo("no agents")
        return
    table = Table("name", "status", "model", "requests", "cost", "pid", "forked from")
    for agent in agents:
        table.add_row(
            *(
                Text(str(value))  # Text, not str: names and models are not rich markup
                for value in (
                    agent.name,
                    agent.status.value,
                    _model(agent),
                    agent.request_count,
                    _cost(agent.cost_usd),
                    agent.pid or "-",
                    agent.forked_from or "-",
                )
            )
        )
    Console().print(table)


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    json_out: JsonFlag = False,
) -> None:
    """Show one agent: settings, lineage, children and recent requests."""
    with connect() as client:
        data = client.info(name)
    if json_out:
        print_json(data)
        return
    lineage = [*reversed(data.get("lineage") or []), data["name"]]
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, Any]] = [
        ("name", data["name"]),
        ("status", data["status"]),
        ("model", data.get("model") or "default"),
        ("requested model", data.get("requested_model") or "default"),
        ("backend", data.get("backend")),
        ("session", data.get("session_id")),
        ("pid", data.get("pid") or "-"),
        ("cwd", data.get("cwd")),
        ("lineage", " → ".join(lineage)),
        ("children", ", ".join(data.get("children") or []) or "-"),
        ("requests", data.get("request_count", 0)),
        ("cost", _cost(data.get("cost_usd"))),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data["created_at"]))),
        ("current request", data.get("current_request") or "-"),
        ("state dir", data.get("state_dir")),
    ]
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console = Console()
    console.print(table)
    recent = data.get("recent_requests") or []
    if recent:
        requests = Table("request", "status", "cost", "error")
        for request in recent:
            requests.add_row(
                Text(request["id"]),
                Text(request["status"]),
                _cost(request.get("cost_usd")),
                Text((request.get("error") or "")[:60]),
            )
        console.print(requests)


@app.command()
def kill(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    json_out: JsonFlag = False,
) -> None:
    """Stop an agent for good (its queued requests are cancelled)."""
    with connect() as client:
        agent = client.kill(name)
    if json_out:
        print_json(agent_to_json(agent))
        return
    typer.echo(f"killed {agent.name}")


@app.command("kill-all")
def kill_all(json_out: JsonFlag = False) -> None:
    """Kill every agent."""
    with connect() as client:
        names = client.kill_all()
    if json_out:
        print_json({"killed": names})
        return
    typer.echo(f"killed {', '.join(names)}" if names else "no agents")
