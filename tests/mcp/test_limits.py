"""Bad input: calls over a limit, calls out of scope, wrong argument types.

Each is refused with a precise JSON error, and the daemon's state (agents,
requests) is exactly what it was before the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium import Client
from podium.mcp import McpSettings
from tests._threaded_daemon import ThreadedDaemon

from ._mcp_helpers import Tools, lead_meta, open_tools


def state(client: Client) -> tuple[list[Any], list[Any]]:
    """Everything a refused call must leave untouched."""
    agents = [(a.name, a.status, a.request_count, a.options) for a in client.list_agents()]
    requests = [(r.id, r.state) for r in client.requests(limit=1000)]
    return agents, requests


async def refused_unchanged(
    tools: Tools, client: Client, tool: str, code: str, **arguments: Any
) -> dict[str, Any]:
    before = state(client)
    error = await tools.refused(tool, code, **arguments)
    assert state(client) == before
    return error


# --- count ------------------------------------------------------------------------------


async def test_spawn_over_max_agents_is_refused(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    async with open_tools(daemon, McpSettings(home=home, max_agents=2)) as tools:
        await tools.ok("spawn_agent", name="one")
        await tools.ok("spawn_agent", name="two")
        error = await refused_unchanged(
            tools, client, "spawn_agent", "limit_exceeded", name="three"
        )
        assert error["message"] == (
            "cannot spawn: 2 agent(s) of this scope are alive and the limit is 2; kill one "
            "first (kill_agent). Nothing was started"
        )
        assert error["context"] == {"limit": "max_agents", "alive": 2, "max_agents": 2}
        await tools.ok("kill_agent", agent="one")
        await tools.ok("spawn_agent", name="three")


async def test_agents_outside_the_scope_do_not_count_and_cannot_be_driven(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    client.spawn("users-own", cwd=workdir)
    client.spawn("other-scope", cwd=workdir, options=lead_meta("other-scope", "x", depth=1))
    async with open_tools(daemon, McpSettings(home=home, max_agents=1)) as tools:
        assert (await tools.ok("list_agents"))["agents"] == []
        for tool, args in (
            ("assign_task", {"agent": "users-own", "prompt": "hi"}),
            ("ask_agent", {"agent": "other-scope", "prompt": "hi"}),
            ("kill_agent", {"agent": "users-own"}),
            ("relay", {"source": "users-own", "target": "other-scope", "prompt": "hi"}),
        ):
            error = await refused_unchanged(tools, client, tool, "out_of_scope", **args)
            assert "was not spawned through this MCP scope ('mcp')" in error["message"]
        request = client.ask("users-own", "private")
        error = await refused_unchanged(
            tools, client, "get_result", "out_of_scope", request_id=request.id
        )
        assert error["context"] == {"request_id": request.id}
        await tools.ok("spawn_agent", name="mine")


# --- depth ------------------------------------------------------------------------------


async def test_a_worker_cannot_spawn_at_max_depth(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    client.spawn("lead", cwd=workdir, options=lead_meta("lead", "crew"))
    async with open_tools(daemon, McpSettings(home=home, agent="lead", scope="crew")) as lead:
        await lead.ok("spawn_agent", name="worker")
        error = await refused_unchanged(
            lead, client, "spawn_agent", "usage_error", name="boss", allow_spawn=True
        )
        assert error["message"] == (
            "cannot give 'boss' leave to spawn: it would be at spawn depth 1, and the "
            "maximum spawn depth is 1; nothing was started"
        )
    as_worker = McpSettings(home=home, agent="worker", scope="crew")
    async with open_tools(daemon, as_worker) as worker:
        error = await refused_unchanged(worker, client, "spawn_agent", "limit_exceeded", name="sub")
        assert error["message"] == (
            "cannot spawn: agent 'worker' is at spawn depth 1 and the maximum spawn depth "
            "is 1; nothing was started"
        )
        assert error["context"] == {
            "limit": "max_depth",
            "depth": 1,
            "max_depth": 1,
            "agent": "worker",
        }
        error = await refused_unchanged(
            worker, client, "run_plan", "limit_exceeded", request="do it all"
        )
        assert error["message"].startswith("cannot start a planned run: agent 'worker'")


async def test_a_worker_spawns_only_with_leave(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    client.spawn("lead", cwd=workdir, options=lead_meta("lead", "crew"))
    lead = McpSettings(home=home, agent="lead", scope="crew", max_depth=2, max_agents=4)
    async with open_tools(daemon, lead) as tools:
        await tools.ok("spawn_agent", name="plain")
        await tools.ok("spawn_agent", name="manager", allow_spawn=True)
    # The manager's CLI gets the podium MCP server, acting for the manager.
    manager = client.get_agent("manager")
    assert '"PODIUM_AGENT":"manager"' in manager.options["mcp_config"]
    assert '"PODIUM_MCP_SCOPE":"crew"' in manager.options["mcp_config"]
    assert manager.options["allowed_tools"] == ["mcp__podium__*"]
    assert "mcp_config" not in client.get_agent("plain").options

    plain = McpSettings(home=home, agent="plain", scope="crew", max_depth=2, max_agents=4)
    async with open_tools(daemon, plain) as tools:
        error = await refused_unchanged(tools, client, "spawn_agent", "limit_exceeded", name="sub")
        assert error["message"] == (
            "cannot spawn: agent 'plain' was not given leave to spawn (spawn_agent "
            "allow_spawn=true); nothing was started"
        )
        assert error["context"] == {"limit": "leave", "agent": "plain"}

    managed = McpSettings(home=home, agent="manager", scope="crew", max_depth=2, max_agents=4)
    async with open_tools(daemon, managed) as tools:
        sub = await tools.ok("spawn_agent", name="sub")
        assert sub["agent"]["depth"] == 2
        assert sub["agent"]["spawned_by"] == "manager"
    as_sub = McpSettings(home=home, agent="sub", scope="crew", max_depth=2, max_agents=4)
    async with open_tools(daemon, as_sub) as tools:
        error = await refused_unchanged(
            tools, client, "spawn_agent", "limit_exceeded", name="subsub"
        )
        assert error["context"]["limit"] == "max_depth"


# --- budget -----------------------------------------------------------------------------


async def test_spawn_over_the_per_call_cap_is_refused(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    async with open_tools(daemon, McpSettings(home=home, call_budget_usd=0.5)) as tools:
        error = await refused_unchanged(
            tools, client, "spawn_agent", "limit_exceeded", name="pricey", max_budget_usd=1.25
        )
        assert error["message"] == (
            "cannot spawn: max_budget_usd $1.25 is over the per-call cap of $0.50; "
            "nothing was started"
        )
        assert error["context"] == {
            "limit": "call_budget_usd",
            "requested_usd": 1.25,
            "call_budget_usd": 0.5,
        }
        capped = await tools.ok("spawn_agent", name="capped")
        assert capped["max_budget_usd"] == 0.5
        cheap = await tools.ok("spawn_agent", name="cheap", max_budget_usd=0.2)
        assert cheap["max_budget_usd"] == 0.2
    # The cap is the worker CLI's own --max-budget-usd: enforced after every API call.
    assert client.get_agent("capped").options["max_budget_usd"] == 0.5
    assert client.get_agent("cheap").options["max_budget_usd"] == 0.2


async def test_calls_over_the_run_budget_are_refused(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    # EchoBackend charges $0.001 a turn.
    async with open_tools(daemon, McpSettings(home=home, budget_usd=0.0025)) as tools:
        spawned = await tools.ok("spawn_agent", name="worker")
        # No more than what is left of the budget, whatever the per-call cap.
        assert spawned["max_budget_usd"] == 0.0025
        await tools.ok("spawn_agent", name="spare")
        for n in range(3):
            await tools.ok("ask_agent", agent="worker", prompt=f"job {n}")
        for tool, args in (
            ("assign_task", {"agent": "worker", "prompt": "one more"}),
            ("ask_agent", {"agent": "spare", "prompt": "one more"}),
            ("relay", {"source": "worker", "target": "spare", "prompt": "one more"}),
            ("spawn_agent", {"name": "extra"}),
        ):
            error = await refused_unchanged(tools, client, tool, "limit_exceeded", **args)
            assert error["message"].endswith(
                "the budget of $0.0025 is spent ($0.0030 so far); nothing was started"
            )
            assert error["context"] == {
                "limit": "budget_usd",
                "budget_usd": 0.0025,
                "spent_usd": 0.003,
            }
        # Killing the agent does not give its money back.
        await tools.ok("kill_agent", agent="worker")
        await refused_unchanged(
            tools, client, "assign_task", "limit_exceeded", agent="spare", prompt="after the kill"
        )
        listed = await tools.ok("list_agents")
        assert listed["spent_usd"] == pytest.approx(0.003)
        assert listed["limits"]["budget_usd"] == 0.0025


# --- argument types ---------------------------------------------------------------------

WRONG_ARGUMENTS = [
    ("spawn_agent", {"name": 5}, "'name': Input should be a valid string (got int)"),
    ("spawn_agent", {"name": "w", "fork": "perhaps"}, "'fork': Input should be a valid boolean"),
    (
        "spawn_agent",
        {"name": "w", "max_budget_usd": -1},
        "'max_budget_usd': Input should be greater than 0 (got int)",
    ),
    (
        "ask_agent",
        {"agent": "w", "prompt": "hi", "timeout": "soon"},
        "'timeout': Input should be a valid number",
    ),
    (
        "ask_agent",
        {"agent": "w", "prompt": "hi", "timeout": 0},
        "'timeout': Input should be greater than 0",
    ),
    (
        "assign_task",
        {"agent": "w", "prompt": ["do", "this"]},
        "'prompt': Input should be a valid string (got list)",
    ),
    ("assign_task", {"agent": "w"}, "'prompt': Field required"),
    ("wait_for", {"request_ids": 42}, "'request_ids.list[str]': Input should be a valid list"),
    (
        "wait_for",
        {"request_ids": ["w-000001-0000abcd"], "mode": "some"},
        "'mode': Input should be 'all' or 'any'",
    ),
    ("get_result", {"request_id": None}, "'request_id': Input should be a valid string"),
    (
        "relay",
        {"source": "a", "target": "b", "prompt": {"x": 1}},
        "'prompt': Input should be a valid string (got dict)",
    ),
    ("kill_agent", {"agent": True}, "'agent': Input should be a valid string (got bool)"),
    ("run_plan", {"request": "r", "plan": "a plan"}, "'plan': Input should be a valid dict"),
]


@pytest.mark.parametrize(("tool", "arguments", "expected"), WRONG_ARGUMENTS)
async def test_wrong_argument_types_are_refused_before_anything_happens(
    daemon: ThreadedDaemon,
    client: Client,
    home: Path,
    tool: str,
    arguments: dict[str, Any],
    expected: str,
) -> None:
    async with open_tools(daemon, McpSettings(home=home)) as tools:
        await tools.ok("spawn_agent", name="w")
        await tools.ok("ask_agent", agent="w", prompt="a first answer")
        error = await refused_unchanged(tools, client, tool, "invalid_arguments", **arguments)
    assert error["message"].startswith(f"{tool}: wrong arguments, nothing was done: ")
    assert expected in error["message"]
    assert error["context"]["tool"] == tool
    assert error["context"]["errors"]


async def test_malformed_values_are_refused_by_podium_before_anything_happens(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    async with open_tools(daemon, McpSettings(home=home)) as tools:
        await tools.ok("spawn_agent", name="w")
        cases = [
            ("spawn_agent", {"name": "Bad Name"}, "invalid_name"),
            ("spawn_agent", {"name": "w2", "model": "gpt-4"}, "invalid_model"),
            ("spawn_agent", {"name": "w"}, "agent_exists"),
            ("assign_task", {"agent": "w", "prompt": "   "}, "invalid_prompt"),
            ("assign_task", {"agent": "ghost", "prompt": "hi"}, "agent_not_found"),
            ("get_result", {"request_id": "not-an-id"}, "invalid_name"),
            ("get_result", {"request_id": "w-000009-0000abcd"}, "request_not_found"),
            ("wait_for", {"request_ids": []}, "invalid_arguments"),
            ("run_plan", {"request": "r"}, "usage_error"),
        ]
        for tool, args, code in cases:
            await refused_unchanged(tools, client, tool, code, **args)
