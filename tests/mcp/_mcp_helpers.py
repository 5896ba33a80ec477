"""Calling podium's MCP tools through the MCP SDK's client, and reading their JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client as McpClient
from podium import Client
from podium._options import AgentOptions, McpPlacement
from podium.mcp import McpSettings, PodiumTools, create_server
from tests._threaded_daemon import ThreadedDaemon


@dataclass
class Reply:
    is_error: bool
    data: dict[str, Any]

    @property
    def error(self) -> dict[str, Any]:
        assert self.is_error, self.data
        error: dict[str, Any] = self.data["error"]
        assert set(error) == {"code", "message", "context"}
        return error


class Tools:
    """One MCP session: ``await tools.call("spawn_agent", name="w")``."""

    def __init__(self, session: McpClient) -> None:
        self.session = session

    async def call(self, tool: str, **arguments: Any) -> Reply:
        result = await self.session.call_tool(tool, arguments)
        (block,) = result.content
        text = block.text  # type: ignore[union-attr]
        return Reply(bool(result.is_error), json.loads(text))

    async def ok(self, tool: str, **arguments: Any) -> dict[str, Any]:
        reply = await self.call(tool, **arguments)
        assert not reply.is_error, reply.data
        return reply.data

    async def refused(self, tool: str, code: str, **arguments: Any) -> dict[str, Any]:
        reply = await self.call(tool, **arguments)
        error = reply.error
        assert error["code"] == code, error
        return error


def state(client: Client) -> tuple[list[Any], list[Any], list[Any]]:
    """Everything a refused call must leave untouched: agents, requests and runs."""
    agents = [(a.name, a.status, a.request_count, a.options) for a in client.list_agents()]
    requests = [(r.id, r.state) for r in client.requests(limit=1000)]
    runs = [(r.id, r.state, r.budget_usd, len(r.tasks)) for r in client.list_runs(limit=1000)]
    return agents, requests, runs


async def refused_unchanged(
    tools: Tools, client: Client, tool: str, code: str, **arguments: Any
) -> dict[str, Any]:
    """Call ``tool``, expect the error ``code``, and check that nothing changed."""
    # Work earlier calls started (a spawned agent's first turn) ends first: the state
    # compared must be what only this call could change.
    for request in client.requests(limit=1000):
        if not request.done:
            client.wait(request.id, 60)
    before = state(client)
    error = await tools.refused(tool, code, **arguments)
    assert state(client) == before
    return error


@contextlib.asynccontextmanager
async def open_tools(daemon: ThreadedDaemon, settings: McpSettings) -> AsyncIterator[Tools]:
    impl = PodiumTools(settings, daemon.client())
    try:
        async with McpClient(create_server(settings, impl)) as session:
            yield Tools(session)
    finally:
        impl.close()


def lead_meta(name: str, scope: str, *, depth: int = 0, leave: bool = True) -> AgentOptions:
    """Options making ``name`` an agent of ``scope`` as if podium had spawned it so."""
    return AgentOptions(mcp=McpPlacement(agent=name, scope=scope, depth=depth, leave=leave))


def plain_team(root: Path, *, limits: str = "") -> Path:
    """A team whose worker takes any answer (no output schema), for the echo model."""
    (root / "lead.md").write_text("---\nname: lead\n---\nYou lead.\n")
    (root / "helper.md").write_text("---\nname: helper\ndescription: helps\n---\nYou help.\n")
    team = root / "podium.toml"
    team.write_text(
        '[team]\nname = "plain"\norchestrator = "lead.md"\n\n[workers]\nhelper = "helper.md"\n'
        + (f"\n[limits]\n{limits}\n" if limits else "")
    )
    return team
