"""Agentic runs in a real daemon, with a scripted lead in place of the model.

The lead's "model" is a script that calls podium's MCP tools exactly as the
``podium mcp`` server attached to it would (same settings, taken from the
``--mcp-config`` the run gave the lead); workers are EchoBackend agents. The
real-CLI version is in test_real_cli.py; this one reaches the corners (budget,
work left running, cancel) in a second each.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from typer.testing import CliRunner

from podium import Client
from podium._errors import UsageError
from podium._records import Usage
from podium.backends import EventSink, SessionSpec, TurnResult
from podium.cli import app
from podium.mcp import McpSettings, PodiumTools
from podium.orchestration import RunRecord
from tests._echo_backend import EchoBackend, EchoSession
from tests._threaded_daemon import ThreadedDaemon

from ._mcp_helpers import plain_team

Script = Callable[[PodiumTools], Awaitable[str]]
LEAD_COST = 0.01


class _LeadSession(EchoSession):
    backend: ScriptedLead

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        script = self.backend.script
        if script is None or not prompt.startswith("PODIUM AGENTIC RUN"):
            return await super().run_turn(prompt, on_event)
        self.backend.lead_prompts.append(prompt)
        servers = json.loads(self.spec.options.mcp_config)["mcpServers"]
        tools = PodiumTools(McpSettings.from_env(servers["podium"]["env"]))
        failure: str | None = None
        try:
            text = await script(tools)
        except RuntimeError as exc:  # the scripted model failing its turn
            text, failure = "", str(exc)
        finally:
            await anyio.to_thread.run_sync(tools.close)
        return TurnResult(
            text=text,
            is_error=failure is not None,
            error=failure,
            usage=Usage(input_tokens=10, output_tokens=10),
            cost_usd=LEAD_COST,
            model="scripted-lead",
            session_id=self.spec.session_id,
        )


class ScriptedLead(EchoBackend):
    """EchoBackend whose agentic lead runs ``script`` against the MCP tools."""

    def __init__(self) -> None:
        super().__init__()
        self.script: Script | None = None
        self.lead_prompts: list[str] = []

    def session(self, spec: SessionSpec) -> EchoSession:
        return _LeadSession(self, spec)


@pytest.fixture
def backend() -> ScriptedLead:
    return ScriptedLead()


@pytest.fixture
def daemon(home: Path, backend: ScriptedLead) -> Iterator[ThreadedDaemon]:
    running = ThreadedDaemon(home)
    running.echo = backend
    running.start()
    try:
        yield running
    finally:
        running.stop()


def call(tools: PodiumTools, method: str, **kwargs: Any) -> Awaitable[dict[str, Any]]:
    return anyio.to_thread.run_sync(lambda: getattr(tools, method)(**kwargs))


def agentic(client: Client, team: Path, request: str = "Count things.") -> RunRecord:
    run = client.submit_run(request, team=team, mode="agentic")
    return client.wait_run(run.id, timeout=60)


async def test_every_assignment_is_a_task_of_the_run(
    backend: ScriptedLead, client: Client, workdir: Path
) -> None:
    team = plain_team(workdir, limits="budget_usd = 1.0\nper_task_budget_usd = 0.25")

    async def script(tools: PodiumTools) -> str:
        await call(tools, "spawn_agent", name="helper-a", worker="helper")
        await call(tools, "spawn_agent", name="solo", system_prompt="You count.")
        first = await call(tools, "assign_task", agent="helper-a", prompt="count apples")
        second = await call(tools, "assign_task", agent="solo", prompt="count pears")
        waited = await tools.wait_for(
            [first["request_id"], second["request_id"]], timeout=30, mode="all"
        )
        return "SYNTHESIS: " + " + ".join(d["result"] for d in waited["done"])

    backend.script = script
    run = agentic(client, team)

    assert run.state.value == "complete", run.error
    assert run.plan_source == "agentic"
    assert [(t.worker, t.agent, t.state.value) for t in run.tasks] == [
        ("helper", "helper-a", "complete"),
        ("solo", "solo", "complete"),
    ]
    assert run.cost_by_worker == {"helper": 0.001, "solo": 0.001}
    assert run.planning_cost_usd == LEAD_COST
    assert run.cost_usd == pytest.approx(LEAD_COST + 0.002)
    report = client.run_report(run.id)
    assert report is not None
    assert report.startswith(f"# Run {run.id}\n\nSYNTHESIS: count apples + count pears")
    run_dir = Path(client.run_info(run.id)["dir"])
    result = json.loads((run_dir / run.tasks[0].result_path).read_text())  # type: ignore[operator]
    assert result["output"] == "count apples"
    assert result["status"] == "complete"
    # The lead got the MCP server: this run's scope, budget and team, its own name.
    (lead,) = [spec for spec in backend.started if spec.agent == run.orchestrator_agent]
    env = json.loads(lead.options.mcp_config)["mcpServers"]["podium"]["env"]
    assert env["PODIUM_AGENT"] == run.orchestrator_agent
    assert env["PODIUM_RUN_ID"] == env["PODIUM_MCP_SCOPE"] == run.id
    assert env["PODIUM_TEAM"] == str(team)
    assert env["PODIUM_MCP_CALL_BUDGET_USD"] == "0.25"
    assert env["PODIUM_NO_AUTOSTART"] == "1"
    assert "mcp__podium__*" in lead.options.allowed_tools
    assert lead.options.max_budget_usd == 1.0
    (helper,) = [spec for spec in backend.started if spec.agent == "helper-a"]
    assert helper.options.max_budget_usd == 0.25
    assert helper.options.mcp_config is None
    prompt = backend.lead_prompts[0]
    assert "- helper: helps" in prompt
    assert "<<<BEGIN REQUEST>>>\nCount things.\n<<<END REQUEST>>>" in prompt
    # The lead and the workers are retired with the run.
    assert client.list_agents() == []


async def test_the_run_budget_stops_the_lead_from_giving_out_more_work(
    backend: ScriptedLead, client: Client, workdir: Path
) -> None:
    team = plain_team(workdir, limits="budget_usd = 0.0025")
    refusals: list[dict[str, Any]] = []

    async def script(tools: PodiumTools) -> str:
        await call(tools, "spawn_agent", name="worker")
        for n in range(4):
            try:
                await call(tools, "ask_agent", agent="worker", prompt=f"job {n}", timeout=30)
            except UsageError as exc:
                refusals.append(exc.to_dict())
        return "stopped by the budget"

    backend.script = script
    run = agentic(client, team)

    assert [r["context"]["limit"] for r in refusals] == ["budget_usd"]
    assert refusals[0]["message"].startswith("cannot ask: the budget of $0.0025 is spent")
    assert len(run.tasks) == 3
    assert run.cost_by_worker == {"worker": pytest.approx(0.003)}


async def test_work_left_running_when_the_lead_answers_is_cancelled_and_recorded(
    backend: ScriptedLead, client: Client, workdir: Path
) -> None:
    team = plain_team(workdir)

    async def script(tools: PodiumTools) -> str:
        await call(tools, "spawn_agent", name="slowpoke")
        await call(tools, "assign_task", agent="slowpoke", prompt="sleep:30")
        return "I did not wait."

    backend.script = script
    run = agentic(client, team)

    assert run.state.value == "complete", run.error
    (task,) = run.tasks
    # Cancelled while queued, or interrupted while running: either way, said why.
    assert task.state.value in ("cancelled", "interrupted")
    assert (task.reason or "").startswith("the orchestrator finished without waiting for it (")
    report = client.run_report(run.id) or ""
    assert "### Not completed" in report
    assert [r.state.value for r in client.requests(agent="slowpoke")] == [task.state.value]


async def test_cancelling_an_agentic_run_stops_the_lead_and_its_workers(
    backend: ScriptedLead, client: Client, workdir: Path
) -> None:
    team = plain_team(workdir)

    async def script(tools: PodiumTools) -> str:
        await call(tools, "spawn_agent", name="busy")
        task = await call(tools, "assign_task", agent="busy", prompt="sleep:30")
        await tools.wait_for([task["request_id"]], timeout=60, mode="all")
        return "never"

    backend.script = script
    run = client.submit_run("Take forever.", team=team, mode="agentic")
    for _ in range(200):
        if client.requests(agent="busy"):
            break
        await anyio.sleep(0.05)
    cancelled = client.cancel_run(run.id)

    assert cancelled.state.value == "cancelled"
    assert all(t.done for t in cancelled.tasks)
    assert client.list_agents() == []


def test_bad_modes_are_refused_before_anything_starts(
    daemon: ThreadedDaemon, client: Client, workdir: Path
) -> None:
    team = plain_team(workdir)
    with pytest.raises(UsageError, match="mode must be 'planned' or 'agentic', got 'chaotic'"):
        client.submit_run("x", team=team, mode="chaotic")
    with pytest.raises(UsageError, match="an agentic run has no plan"):
        client.submit_run("x", team=team, mode="agentic", plan={"tasks": []})
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--mode", "chaotic", "--team", str(team), "x"])
    assert result.exit_code == 2
    assert "--mode must be planned or agentic, got 'chaotic'" in result.stderr
    result = runner.invoke(
        app, ["run", "--resume", "run-20250101-000000-abcd", "--mode", "agentic"]
    )
    assert result.exit_code == 2
    assert "give no REQUEST, --team, --plan, --budget, --mode or --review" in result.stderr
    assert client.list_runs() == []


async def test_a_failed_agentic_run_resumes_with_a_fresh_lead_that_sees_earlier_work(
    backend: ScriptedLead, client: Client, workdir: Path
) -> None:
    team = plain_team(workdir)
    attempts: list[int] = []

    async def script(tools: PodiumTools) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await call(tools, "spawn_agent", name="early")
            await call(tools, "ask_agent", agent="early", prompt="first pass", timeout=30)
            raise RuntimeError("the model fell over")
        return "second time lucky"

    backend.script = script
    failed = agentic(client, team)
    assert failed.state.value == "failed"
    assert "the orchestrator's request" in (failed.error or "")
    assert [t.state.value for t in failed.tasks] == ["complete"]

    resumed = client.wait_run(client.resume_run(failed.id).id, timeout=60)

    assert resumed.state.value == "complete", resumed.error
    assert resumed.resumed == 1
    assert resumed.plan_attempts == 2
    assert [t.state.value for t in resumed.tasks] == ["complete"]
    earlier = "early-1 (early): complete, result in results/early/early-1.json"
    assert earlier in backend.lead_prompts[-1]
    assert (client.run_report(resumed.id) or "").startswith(f"# Run {resumed.id}\n\nsecond")
