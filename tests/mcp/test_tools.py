"""Every MCP tool against a real daemon (EchoBackend answers each prompt with itself)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from podium import Client, RequestState
from podium.mcp import TOOL_NAMES, McpSettings, ScopeLedger
from tests._threaded_daemon import ThreadedDaemon

from ._mcp_helpers import lead_meta, open_tools, plain_team


async def test_the_tools_are_listed_with_their_argument_schemas(
    daemon: ThreadedDaemon, settings: McpSettings
) -> None:
    async with open_tools(daemon, settings) as tools:
        listed = (await tools.session.list_tools()).tools
        assert [t.name for t in listed] == list(TOOL_NAMES)
        by_name = {t.name: t for t in listed}
        wait_for = by_name["wait_for"].input_schema
        assert wait_for["required"] == ["request_ids"]
        assert set(wait_for["properties"]) == {"request_ids", "timeout", "mode"}
        assert by_name["assign_task"].input_schema["required"] == ["agent", "prompt"]
        for tool in listed:
            assert tool.description


async def test_spawn_assign_then_wait_for_both_and_get_result(
    daemon: ThreadedDaemon, settings: McpSettings, client: Client, workdir: Path
) -> None:
    async with open_tools(daemon, settings) as tools:
        for name in ("alpha", "beta"):
            spawned = await tools.ok("spawn_agent", name=name, system_prompt=f"You are {name}.")
            assert spawned["agent"]["name"] == name
            assert spawned["agent"]["depth"] == 1
            assert spawned["agent"]["may_spawn"] is False
        first = await tools.ok("assign_task", agent="alpha", prompt="sleep:0.4")
        second = await tools.ok("assign_task", agent="beta", prompt="task for beta")
        # assign_task answers at once: the request is queued or running, not done.
        assert first["state"] in ("queued", "running")
        assert first["done"] is False

        waited = await tools.ok(
            "wait_for", request_ids=[first["request_id"], second["request_id"]], timeout=30
        )

        assert waited["pending"] == []
        assert waited["timed_out"] is False
        done = {d["request_id"]: d for d in waited["done"]}
        assert done[second["request_id"]]["result"] == "task for beta"
        assert done[first["request_id"]]["state"] == "complete"
        got = await tools.ok("get_result", request_id=second["request_id"])
        assert got == done[second["request_id"]]
        # Spawned agents carry how they came to be, in the daemon's own records.
        meta = client.get_agent("alpha").options.mcp
        assert meta is not None
        assert meta.scope == "mcp"
        assert meta.depth == 1
        assert meta.leave is False


async def test_wait_for_any_returns_the_first_and_leaves_the_rest_pending(
    daemon: ThreadedDaemon, settings: McpSettings, client: Client
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="slow")
        await tools.ok("spawn_agent", name="quick")
        slow = await tools.ok("assign_task", agent="slow", prompt="sleep:3")
        quick = await tools.ok("assign_task", agent="quick", prompt="done fast")

        waited = await tools.ok(
            "wait_for",
            request_ids=[slow["request_id"], quick["request_id"]],
            mode="any",
            timeout=20,
        )

        assert [d["request_id"] for d in waited["done"]] == [quick["request_id"]]
        assert waited["pending"] == [slow["request_id"]]
        assert waited["timed_out"] is False
        # Nothing was cancelled: the slow one finishes on its own.
        assert client.wait(slow["request_id"], 20).state is RequestState.COMPLETE


async def test_wait_for_that_runs_out_reports_pending_and_cancels_nothing(
    daemon: ThreadedDaemon, settings: McpSettings, client: Client
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="sleeper")
        task = await tools.ok("assign_task", agent="sleeper", prompt="sleep:2")

        waited = await tools.ok("wait_for", request_ids=task["request_id"], timeout=0.3)

        assert waited == {"done": [], "pending": [task["request_id"]], "timed_out": True}
        assert client.wait(task["request_id"], 20).state is RequestState.COMPLETE
        again = await tools.ok("wait_for", request_ids=[task["request_id"]], timeout=5)
        assert again["done"][0]["result"] == "sleep:2"


async def test_ask_agent_waits_for_the_answer(
    daemon: ThreadedDaemon, settings: McpSettings
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="oracle")
        answer = await tools.ok("ask_agent", agent="oracle", prompt="what is 6x7?", timeout=30)
        assert answer["state"] == "complete"
        assert answer["result"] == "what is 6x7?"
        assert answer["cost_usd"] > 0


async def test_ask_agent_timeout_names_the_request_which_goes_on(
    daemon: ThreadedDaemon, settings: McpSettings, client: Client
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="oracle")
        error = await tools.refused(
            "ask_agent", "wait_timeout", agent="oracle", prompt="sleep:1.5", timeout=0.2
        )
        request_id = error["context"]["request_id"]
        assert request_id in error["message"]
        assert client.wait(request_id, 20).state is RequestState.COMPLETE


async def test_relay_passes_the_source_answer_verbatim(
    daemon: ThreadedDaemon, settings: McpSettings
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="fetcher")
        await tools.ok("spawn_agent", name="analyst")
        await tools.ok("ask_agent", agent="fetcher", prompt='{"supply": 42}')
        relayed = await tools.ok("relay", source="fetcher", target="analyst", prompt="Analyse it.")
        (done,) = (await tools.ok("wait_for", request_ids=[relayed["request_id"]]))["done"]
        assert done["agent"] == "analyst"
        assert done["result"].startswith("Analyse it.")
        assert '{"supply": 42}' in done["result"]


async def test_kill_agent_stops_it_and_it_can_no_longer_be_used(
    daemon: ThreadedDaemon, settings: McpSettings, client: Client
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="temp")
        killed = await tools.ok("kill_agent", agent="temp")
        assert killed["killed"] == "temp"
        assert [a.name for a in client.list_agents()] == []
        assert (await tools.ok("list_agents"))["agents"] == []
        error = await tools.refused("assign_task", "agent_not_found", agent="temp", prompt="hi")
        assert "was killed" in error["message"]


async def test_list_agents_shows_caller_agents_limits_and_spending(
    daemon: ThreadedDaemon, settings: McpSettings
) -> None:
    async with open_tools(daemon, settings) as tools:
        await tools.ok("spawn_agent", name="one")
        await tools.ok("ask_agent", agent="one", prompt="hello")
        listed = await tools.ok("list_agents")
        assert listed["caller"] == {"agent": None, "depth": 0, "may_spawn": True, "scope": "mcp"}
        (one,) = listed["agents"]
        assert one["name"] == "one"
        assert one["request_count"] == 1
        assert listed["spent_usd"] == one["cost_usd"] > 0
        assert listed["limits"]["max_agents"] == 8


async def test_fork_inherits_the_calling_agent_and_cannot_spawn(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    client.spawn("lead", cwd=workdir, options=lead_meta("lead", "team1"))
    client.ask("lead", "remember PLUM", wait=True)
    lead = McpSettings(home=home, agent="lead", scope="team1", max_depth=3)
    async with open_tools(daemon, lead) as tools:
        forked = await tools.ok("spawn_agent", name="twin", fork=True)
        assert forked["forked_from"] == "lead"
        assert forked["agent"]["depth"] == 1
        assert forked["agent"]["may_spawn"] is False
        listed = await tools.ok("list_agents")
        assert [a["name"] for a in listed["agents"]] == ["twin"]
    twin = client.get_agent("twin")
    assert twin.forked_from == "lead"
    # The fork carries a copy of the lead's options, yet it is not the lead: acting
    # for the fork, the server places it one level down, without leave to spawn.
    as_twin = McpSettings(home=home, agent="twin", scope="team1", max_depth=3)
    async with open_tools(daemon, as_twin) as tools:
        error = await tools.refused("spawn_agent", "limit_exceeded", name="grandchild")
        assert error["context"]["limit"] == "leave"
    assert client.list_agents()[-1].name == "twin"


async def test_spawn_a_team_worker_uses_its_profile(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    from tests.orchestration._run_helpers import example_team

    team = example_team(workdir)
    settings = McpSettings(home=home, team=team)
    async with open_tools(daemon, settings) as tools:
        listed = await tools.ok("list_agents")
        assert listed["workers"] == ["anga", "fabien", "marie"]
        spawned = await tools.ok("spawn_agent", name="sec", worker="marie")
        assert spawned["agent"]["worker"] == "marie"
        error = await tools.refused("spawn_agent", "usage_error", name="x", worker="bob")
        assert "'bob' is not a worker of team review" in error["message"]
        assert "anga, fabien, marie" in error["message"]
    agent = client.get_agent("sec")
    assert agent.system_prompt is not None
    assert "security" in agent.system_prompt.lower()
    assert agent.options.tools
    assert [a.name for a in client.list_agents()] == ["sec"]


async def test_a_team_worker_spawned_over_mcp_gets_its_workspace_and_key(
    daemon: ThreadedDaemon,
    client: Client,
    home: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """spawn_agent(worker=...) builds the same agent a planned run would: a worktree
    worker never edits the user's tree, and its key comes from its own variable."""
    from podium.isolation import IsolationMode
    from tests.orchestration._run_helpers import example_team

    ident = ["-c", "user.name=dev", "-c", "user.email=dev@localhost"]
    (workdir / "app.py").write_text("print('hi')\n")
    for args in (["init", "-q"], ["add", "app.py"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-C", str(workdir), *ident, *args], check=True)
    team = example_team(workdir)
    text = team.read_text()
    assert 'marie = ".claude/DANCE.md"' in text
    team.write_text(
        text.replace(
            'marie = ".claude/DANCE.md"',
            'marie = { profile = ".claude/DANCE.md", isolation = "worktree", '
            'api_key_env = "MARIE_API_KEY" }',
        )
    )
    monkeypatch.setenv("MARIE_API_KEY", "sk-ant-marie-0123456789")
    monkeypatch.chdir(workdir)  # an outside MCP client works where it was started
    async with open_tools(daemon, McpSettings(home=home, team=team)) as tools:
        await tools.ok("spawn_agent", name="sec", worker="marie")
    agent = client.get_agent("sec")
    assert agent.options.isolation is not None
    assert agent.options.isolation.mode is IsolationMode.WORKTREE
    workspace = agent.options.workspace
    assert workspace is not None
    assert workspace.branch is not None
    assert workspace.project == workdir.resolve()
    assert Path(agent.cwd) == workspace.cwd != workdir.resolve()
    assert (workspace.cwd / "app.py").is_file()
    assert agent.options.api_key_env == "MARIE_API_KEY"
    # What the process was started with: in the worktree, under the worker's key.
    started = daemon.echo.started[-1]
    assert started.cwd == workspace.cwd
    assert started.env["ANTHROPIC_API_KEY"] == "sk-ant-marie-0123456789"


async def test_run_plan_runs_a_planned_run_and_counts_it_against_the_budget(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    team = plain_team(workdir)
    settings = McpSettings(home=home, team=team, budget_usd=5.0)
    plan = {"tasks": [{"task_id": "count", "worker": "helper", "description": "Count to 3."}]}
    async with open_tools(daemon, settings) as tools:
        ran = await tools.ok(
            "run_plan", request="Count to three.", plan=plan, wait=True, timeout=60
        )
        assert ran["state"] == "complete", ran
        assert ran["tasks"][0]["task_id"] == "count"
        assert ran["report"].startswith(f"# Run {ran['run_id']}")
        assert ran["budget_usd"] == 5.0
        assert ScopeLedger(home, "mcp").runs() == [ran["run_id"]]
        listed = await tools.ok("list_agents")
        assert listed["spent_usd"] == client.get_run(ran["run_id"]).cost_usd > 0


async def test_results_are_json_text_and_structured_content(
    daemon: ThreadedDaemon, settings: McpSettings
) -> None:
    async with open_tools(daemon, settings) as tools:
        result = await tools.session.call_tool("list_agents", {})
        (block,) = result.content
        assert json.loads(block.text) == result.structured_content  # type: ignore[union-attr]


async def test_concurrent_calls_on_one_session(
    daemon: ThreadedDaemon, settings: McpSettings
) -> None:
    async with open_tools(daemon, settings) as tools:
        for name in ("a", "b", "c"):
            await tools.ok("spawn_agent", name=name)
        answers = await asyncio.gather(
            *(tools.ok("ask_agent", agent=n, prompt=f"from {n}") for n in ("a", "b", "c"))
        )
        assert [a["result"] for a in answers] == ["from a", "from b", "from c"]
