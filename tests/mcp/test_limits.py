"""Bad input: calls over a limit, calls out of scope, wrong argument types.

Each is refused with a precise JSON error, and the daemon's state (agents,
requests, runs) is exactly what it was before the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium import Client
from podium.mcp import McpSettings, ScopeLedger
from tests._threaded_daemon import ThreadedDaemon

from ._mcp_helpers import lead_meta, open_tools, plain_team, refused_unchanged

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
        # Finished first: a request still running would change the state compared below.
        request = client.ask("users-own", "private", wait=True)
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
            lead, client, "spawn_agent", "limit_exceeded", name="boss", allow_spawn=True
        )
        assert error["message"] == (
            "cannot give 'boss' leave to spawn: it would be at spawn depth 1, and the "
            "maximum spawn depth is 1; nothing was started"
        )
        assert error["context"] == {
            "limit": "max_depth",
            "depth": 1,
            "max_depth": 1,
            "agent": "boss",
        }
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
    assert '"PODIUM_AGENT":"manager"' in manager.options.mcp_config
    assert '"PODIUM_MCP_SCOPE":"crew"' in manager.options.mcp_config
    assert manager.options.allowed_tools == ("mcp__podium__*",)
    assert client.get_agent("plain").options.mcp_config is None

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
    assert client.get_agent("capped").options.max_budget_usd == 0.5
    assert client.get_agent("cheap").options.max_budget_usd == 0.2


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


async def test_ask_and_assign_take_a_per_call_budget_within_both_limits(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    settings = McpSettings(home=home, call_budget_usd=0.5, budget_usd=0.3)
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="w", max_budget_usd=0.25)
        error = await refused_unchanged(
            tools,
            client,
            "assign_task",
            "limit_exceeded",
            agent="w",
            prompt="hi",
            max_budget_usd=0.75,
        )
        assert error["message"] == (
            "cannot assign a task: max_budget_usd $0.75 is over the per-call cap of $0.50 "
            "($0.30 is left of this scope's budget); nothing was started"
        )
        assert error["context"] == {
            "limit": "call_budget_usd",
            "requested_usd": 0.75,
            "call_budget_usd": 0.5,
            "left_usd": 0.3,
        }
        error = await refused_unchanged(
            tools, client, "ask_agent", "limit_exceeded", agent="w", prompt="hi", max_budget_usd=0.4
        )
        assert error["message"] == (
            "cannot ask: max_budget_usd $0.40 is more than the $0.30 left of this scope's "
            "budget (the per-call cap is $0.50); nothing was started"
        )
        assert error["context"] == {
            "limit": "budget_usd",
            "requested_usd": 0.4,
            "call_budget_usd": 0.5,
            "left_usd": 0.3,
        }
        # Within both: the request carries its cap, and kept to it.
        asked = await tools.ok("ask_agent", agent="w", prompt="cheap", max_budget_usd=0.2)
        assert asked["call_cap_usd"] == 0.2
        assert asked["over_budget"] is False
        assert "over_budget_notice" not in asked
        # No figure given: the smaller of the per-call cap and what is left.
        queued = await tools.ok("assign_task", agent="w", prompt="default cap")
        assert queued["call_cap_usd"] == pytest.approx(0.299)
        # Spawning asks the same of its max_budget_usd.
        error = await refused_unchanged(
            tools, client, "spawn_agent", "limit_exceeded", name="rich", max_budget_usd=0.45
        )
        assert error["context"]["limit"] == "budget_usd"


async def test_a_request_over_its_per_call_cap_is_reported_and_its_agent_gets_no_more_work(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    # EchoBackend charges $0.001 a turn: a cap of $0.0005 is overrun by any request.
    async with open_tools(daemon, McpSettings(home=home)) as tools:
        for name in ("w", "other", "third"):
            await tools.ok("spawn_agent", name=name)
        task = await tools.ok("assign_task", agent="w", prompt="job", max_budget_usd=0.0005)
        assert task["call_cap_usd"] == 0.0005
        (done,) = (await tools.ok("wait_for", request_ids=[task["request_id"]]))["done"]
        assert done["state"] == "complete"
        assert done["cost_usd"] == 0.001
        assert done["over_budget"] is True
        notice = (
            f"request {task['request_id']} cost $0.0010, over its per-call cap of $0.0005: "
            "agent 'w' takes no more work in this scope"
        )
        assert done["over_budget_notice"] == notice
        assert await tools.ok("get_result", request_id=task["request_id"]) == done
        listed = {a["name"]: a["over_budget"] for a in (await tools.ok("list_agents"))["agents"]}
        assert listed == {"w": True, "other": False, "third": False}

        # ask_agent reports an overrun in its own answer.
        asked = await tools.ok("ask_agent", agent="third", prompt="hi", max_budget_usd=0.0005)
        assert asked["over_budget"] is True

        # w gets no more work, however it is offered; the others still do.
        for tool, args in (
            ("assign_task", {"agent": "w", "prompt": "more"}),
            ("ask_agent", {"agent": "w", "prompt": "more", "max_budget_usd": 1.0}),
            ("relay", {"source": "other", "target": "w", "prompt": "more"}),
        ):
            error = await refused_unchanged(tools, client, tool, "limit_exceeded", **args)
            assert (
                f"'w': its request {task['request_id']} cost $0.0010, over its per-call "
                in (error["message"])
            )
            assert error["message"].endswith(
                "so it takes no more work in this scope (kill_agent it and spawn another); "
                "nothing was started"
            )
            assert error["context"] == {
                "limit": "call_cap_usd",
                "agent": "w",
                "request_id": task["request_id"],
                "cost_usd": 0.001,
                "call_cap_usd": 0.0005,
            }
        relayed = await tools.ok("relay", source="w", target="other", prompt="use it")
        assert relayed["call_cap_usd"] is None
        assert (await tools.ok("ask_agent", agent="other", prompt="fine"))["over_budget"] is False
    # Another server process of the scope judges it the same way: the caps are on disk.
    async with open_tools(daemon, McpSettings(home=home)) as tools:
        await refused_unchanged(
            tools, client, "assign_task", "limit_exceeded", agent="w", prompt="again"
        )
        await tools.ok("kill_agent", agent="w")


async def test_run_plan_refusals_leave_the_runs_untouched(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    team = plain_team(workdir)
    plan = {"tasks": [{"task_id": "count", "worker": "helper", "description": "Count to 3."}]}
    async with open_tools(daemon, McpSettings(home=home, team=team, budget_usd=5.0)) as tools:
        ran = await tools.ok("run_plan", request="Count.", plan=plan, wait=True, timeout=60)
        assert ran["state"] == "complete", ran
        cost = client.get_run(ran["run_id"]).cost_usd
        assert cost > 0
        error = await refused_unchanged(
            tools, client, "run_plan", "limit_exceeded", request="Again.", plan=plan, budget_usd=5.0
        )
        assert error["message"].startswith(
            "cannot start a planned run: budget_usd $5.00 is more than the $"
        )
        assert error["context"]["limit"] == "budget_usd"
        assert error["context"]["left_usd"] == pytest.approx(5.0 - cost)
        await refused_unchanged(
            tools, client, "run_plan", "invalid_arguments", request="Again.", plan="a plan"
        )
        await refused_unchanged(
            tools, client, "run_plan", "invalid_arguments", request="Again.", budget_usd=-1
        )
    # The scope's first run spent the whole budget of this server.
    spent_out = McpSettings(home=home, team=team, budget_usd=cost)
    async with open_tools(daemon, spent_out) as tools:
        error = await refused_unchanged(
            tools, client, "run_plan", "limit_exceeded", request="Again.", plan=plan
        )
        assert error["message"].startswith("cannot start a planned run: the budget of $")
    assert [r.id for r in client.list_runs()] == [ran["run_id"]]
    assert ScopeLedger(home, "mcp").runs() == [ran["run_id"]]


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
