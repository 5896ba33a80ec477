"""``podium mcp``: podium's tools for an MCP client, over stdio or streamable HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import UsageError
from ._app import app

__all__: list[str] = []

_TRANSPORTS = ("stdio", "http")
DEFAULT_HTTP_PORT = 8767


@app.command("mcp")
def mcp_(
    transport: Annotated[
        str, typer.Option("--transport", metavar="stdio|http", help="How clients connect.")
    ] = "stdio",
    host: Annotated[
        str, typer.Option("--host", help="HTTP: address to bind (loopback only by default).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="HTTP: port (0 = a free one).")
    ] = DEFAULT_HTTP_PORT,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="HTTP: allow a non-loopback --host (token still required)."
        ),
    ] = False,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            metavar="NAME",
            help="The podium agent this server acts for [env PODIUM_AGENT].",
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="RUN_ID",
            help="Agentic run whose budget and records apply [env PODIUM_RUN_ID].",
        ),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            "--scope",
            metavar="NAME",
            help="Which agents this server may drive "
            "(default: the run, else 'mcp') [env PODIUM_MCP_SCOPE].",
        ),
    ] = None,
    team: Annotated[
        Path | None,
        typer.Option(
            "--team",
            metavar="FILE",
            help="Team whose workers spawn_agent and run_plan use [env PODIUM_TEAM].",
        ),
    ] = None,
    max_agents: Annotated[
        int | None,
        typer.Option(
            "--max-agents", help="Live agents per scope [env PODIUM_MCP_MAX_AGENTS, default 8]."
        ),
    ] = None,
    max_depth: Annotated[
        int | None,
        typer.Option(
            "--max-depth",
            help="Spawn depth limit [env PODIUM_MCP_MAX_DEPTH, default 1: workers cannot spawn].",
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            metavar="USD",
            help="Per-run budget of everything spawned [env PODIUM_MCP_BUDGET_USD].",
        ),
    ] = None,
    call_budget: Annotated[
        float | None,
        typer.Option(
            "--call-budget",
            metavar="USD",
            help="Per-call cap: the most one spawned agent, or one request given "
            "through MCP, may spend [env PODIUM_MCP_CALL_BUDGET_USD].",
        ),
    ] = None,
) -> None:
    """Serve podium's agent tools over MCP (stdio by default, for `claude --mcp-config`).

    Tools: list_agents, spawn_agent, ask_agent, assign_task, wait_for, get_result,
    relay, kill_agent, run_plan. HTTP serves http://HOST:PORT/mcp and needs
    'Authorization: Bearer <token from $PODIUM_HOME/token>'.
    """
    if transport not in _TRANSPORTS:
        raise UsageError(f"--transport must be stdio or http, got {transport!r}")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    import anyio

    from ..mcp import McpSettings
    from ..mcp._serve import serve_http, serve_stdio

    settings = McpSettings.from_env().with_overrides(
        agent=agent,
        run_id=run,
        scope=scope,
        team=None if team is None else team.expanduser().resolve(),
        max_agents=max_agents,
        max_depth=max_depth,
        budget_usd=budget,
        call_budget_usd=call_budget,
    )
    if transport == "stdio":
        anyio.run(serve_stdio, settings)
        return

    def ready(url: str) -> None:
        typer.echo(f"podium MCP server listening on {url}", err=True)

    async def main() -> None:
        await serve_http(settings, host=host, port=port, allow_remote=allow_remote, on_ready=ready)

    anyio.run(main)
