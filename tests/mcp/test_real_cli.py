"""The real Claude Code CLI as orchestrator, calling podium's MCP tools.

Only the model is fake: the fake API's scripted ``tool_use`` blocks make the
orchestrator's CLI call ``mcp__podium__*`` tools on the ``podium mcp`` server
it started itself (stdio, from ``--mcp-config``), which drives a real daemon
(``podium up``) whose workers are real CLIs too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Client
from podium.mcp import McpSettings, attach_options, tool_name
from podium.testing import FakeAnthropic, Rule, ToolCall, fake_api_env, message_text

from ._mcp_helpers import lead_meta

pytestmark = pytest.mark.cli

# The text of a tool result as the CLI hands it back, whichever way it lays out JSON.
SPAWNED = r'"max_budget_usd"'
QUEUED = r'"state": ?"queued"'
LISTED = r'(?s)^\s*\{\s*"caller"'
WAITED = r'"pending": ?\[\]'
GOT = r'(?s)^\s*\{\s*"request_id".*"state": ?"complete"'


def call(tool: str, **arguments: Any) -> ToolCall:
    return ToolCall(name=tool_name(tool), input=arguments)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "podium-home"


@pytest.fixture
def env(tmp_path: Path, fake: FakeAnthropic, state: Path) -> dict[str, str]:
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLAUDECODE", "ANTHROPIC_", "PODIUM_"))
    }
    return {
        **base,
        **fake_api_env(fake.base_url),
        "PODIUM_HOME": str(state),
        "HOME": str(user_home),
    }


def podium(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    return done


def _processes_under(state: Path) -> list[int]:
    """Live processes whose command line or environment names this state directory."""
    found = []
    marker = str(state).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            status = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in blob and status != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def client(env: dict[str, str], state: Path) -> Iterator[Client]:
    podium(env, "up")
    try:
        with Client.from_home(state, autostart=False) as c:
            yield c
    finally:
        podium(env, "down", check=False)
    # Every CLI and every `podium mcp` it started is gone with the daemon.
    deadline = time.monotonic() + 20
    while _processes_under(state) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_under(state) == []


def _spawn_boss(client: Client, state: Path, tmp_path: Path, **limits: Any) -> None:
    """The lead "boss" of scope "crew" in a fresh project, its CLI attached to podium's MCP."""
    workdir = tmp_path / "project"
    workdir.mkdir()
    boss = McpSettings(home=state, agent="boss", scope="crew", autostart=False, **limits)
    client.spawn("boss", cwd=workdir, options=attach_options(lead_meta("boss", "crew"), boss))


def test_orchestrator_cli_spawns_assigns_waits_and_reads_a_worker(
    client: Client, fake: FakeAnthropic, state: Path, tmp_path: Path
) -> None:
    _spawn_boss(client, state, tmp_path)

    # The worker: a plain answer to its task.
    fake.add_rule(Rule(content=r"CALC TASK: what is", tool_result=False, text="The answer is 42."))
    # Turn 1 of the orchestrator: spawn, then assign; it reports the request id.
    fake.add_rule(
        Rule(
            content="ORCHESTRATE ROUND 1",
            tool_result=False,
            tool_calls=[call("spawn_agent", name="calc", system_prompt="You are a calculator.")],
        )
    )
    fake.add_rule(
        Rule(
            content=SPAWNED,
            tool_result=True,
            tool_calls=[call("assign_task", agent="calc", prompt="CALC TASK: what is 6 x 7?")],
        )
    )
    fake.add_rule(Rule(content=QUEUED, tool_result=True, text="ASSIGNED {last_user}"))

    first = client.ask("boss", "ORCHESTRATE ROUND 1", wait=True, wait_timeout=180)
    assert first.state.value == "complete", first.error
    assigned = json.loads((first.result or "").removeprefix("ASSIGNED "))
    request_id = assigned["request_id"]
    assert assigned["agent"] == "calc"

    # Turn 2: fan-in on the id it was given, read the result, answer with it.
    fake.add_rule(
        Rule(
            content="ORCHESTRATE ROUND 2",
            tool_result=False,
            tool_calls=[call("wait_for", request_ids=[request_id], timeout=120)],
        )
    )
    fake.add_rule(
        Rule(
            content=WAITED, tool_result=True, tool_calls=[call("get_result", request_id=request_id)]
        )
    )
    fake.add_rule(Rule(content=GOT, tool_result=True, text="FINAL {last_user}"))

    final = client.ask("boss", "ORCHESTRATE ROUND 2", wait=True, wait_timeout=180)

    assert final.state.value == "complete", final.error
    got = json.loads((final.result or "").removeprefix("FINAL "))
    assert got["request_id"] == request_id
    assert got["result"] == "The answer is 42."
    # The worker's request reached the model with the assigned prompt, as a separate
    # agent with its own system prompt.
    (worker_call,) = fake.requests_matching(content=r"CALC TASK: what is 6 x 7\?")
    assert "You are a calculator." in worker_call.system_text
    history = "\n".join(message_text(m) for m in worker_call.messages)
    assert "ORCHESTRATE" not in history
    # The orchestrator's calls went through the real CLI: each scripted tool_use was
    # run by it and came back as the next request's tool_result.
    used = [c.name for r in fake.message_requests() for c in r.tool_calls]
    assert used == [tool_name(t) for t in ("spawn_agent", "assign_task", "wait_for", "get_result")]
    assert sum(r.has_tool_result for r in fake.message_requests()) == 4
    calc = client.get_agent("calc")
    assert calc.options.mcp.spawned_by == "boss"
    assert calc.options.mcp.depth == 1
    assert calc.request_count == 1


def test_a_fork_of_the_orchestrator_is_known_by_its_process_and_cannot_spawn(
    client: Client, fake: FakeAnthropic, state: Path, tmp_path: Path
) -> None:
    _spawn_boss(client, state, tmp_path, max_depth=2)
    fake.add_rule(
        Rule(
            content="FORK YOURSELF",
            tool_result=False,
            tool_calls=[call("spawn_agent", name="twin", fork=True)],
        )
    )
    fake.add_rule(Rule(content=r'"forked_from": ?"boss"', tool_result=True, text="FORKED"))
    fake.add_rule(
        Rule(
            content="NOW SPAWN",
            tool_result=False,
            tool_calls=[call("spawn_agent", name="nephew")],
        )
    )
    fake.add_rule(Rule(content='"error"', tool_result=True, text="REFUSED {last_user}"))

    forked = client.ask("boss", "FORK YOURSELF", wait=True, wait_timeout=180)
    assert forked.result == "FORKED", forked.error
    twin = client.get_agent("twin")
    # The fork's CLI starts the same server configuration (PODIUM_AGENT=boss)...
    assert '"PODIUM_AGENT":"boss"' in twin.options.mcp_config
    refused = client.ask("twin", "NOW SPAWN", wait=True, wait_timeout=180)
    # ...yet the server finds the caller by its parent process: the twin, one level
    # below the boss and without leave to spawn.
    # (The CLI may append its own hint after a tool error: read the JSON object only.)
    body, _ = json.JSONDecoder().raw_decode((refused.result or "").removeprefix("REFUSED "))
    error = body["error"]
    assert error["code"] == "limit_exceeded"
    assert error["context"] == {"limit": "leave", "agent": "twin"}
    assert {a.name for a in client.list_agents()} == {"boss", "twin"}


def test_a_worker_spawned_through_mcp_runs_its_cli_under_the_per_call_cap(
    client: Client, fake: FakeAnthropic, state: Path, tmp_path: Path
) -> None:
    _spawn_boss(client, state, tmp_path, call_budget_usd=0.5)
    fake.add_rule(
        Rule(
            content="SPAWN TWO WORKERS",
            tool_result=False,
            tool_calls=[
                call("spawn_agent", name="capped", system_prompt="You help.", max_budget_usd=0.25),
                call("spawn_agent", name="defaulted", system_prompt="You help."),
            ],
        )
    )
    fake.add_rule(Rule(content=SPAWNED, tool_result=True, text="SPAWNED BOTH"))

    done = client.ask("boss", "SPAWN TWO WORKERS", wait=True, wait_timeout=180)

    assert done.result == "SPAWNED BOTH", done.error
    # Each worker's own CLI process runs under its cap: what it asked for, else the
    # server's per-call cap. The CLI stops a turn itself once the cap is spent.
    for name, cap in (("capped", 0.25), ("defaulted", 0.5)):
        agent = client.get_agent(name)
        assert agent.options.max_budget_usd == cap
        assert agent.pid is not None, name
        argv = [a.decode() for a in Path(f"/proc/{agent.pid}/cmdline").read_bytes().split(b"\0")]
        assert "--max-budget-usd" in argv, argv
        assert float(argv[argv.index("--max-budget-usd") + 1]) == cap


def test_a_fork_spawned_through_mcp_carries_the_leads_conversation(
    client: Client, fake: FakeAnthropic, state: Path, tmp_path: Path
) -> None:
    _spawn_boss(client, state, tmp_path)
    fake.add_rule(Rule(content="REMEMBER THE FRUIT", tool_result=False, text="Noted: PLUM."))
    # The fork's own turn (whatever the CLI puts around the question).
    fake.add_rule(Rule(content="WHICH FRUIT", text="It was PLUM."))
    fake.add_rule(
        Rule(
            content="FORK AND ASK",
            tool_result=False,
            tool_calls=[call("spawn_agent", name="twin", fork=True)],
        )
    )
    fake.add_rule(
        Rule(
            content=r'"forked_from": ?"boss"',
            tool_result=True,
            tool_calls=[call("ask_agent", agent="twin", prompt="WHICH FRUIT did I name?")],
        )
    )
    fake.add_rule(Rule(content=GOT, tool_result=True, text="ASKED {last_user}"))

    told = client.ask("boss", "REMEMBER THE FRUIT: the secret word is PLUM", wait=True)
    assert told.result == "Noted: PLUM.", told.error
    asked = client.ask("boss", "FORK AND ASK", wait=True, wait_timeout=180)

    assert asked.state.value == "complete", asked.error
    answer, _ = json.JSONDecoder().raw_decode((asked.result or "").removeprefix("ASKED "))
    assert answer["agent"] == "twin"
    assert answer["result"] == "It was PLUM."
    assert client.get_agent("twin").forked_from == "boss"
    # At the fake API, the fork's request carries the lead's earlier exchange.
    (fork_call,) = fake.requests_matching(content="WHICH FRUIT did I name")
    history = "\n".join(message_text(m) for m in fork_call.messages)
    assert "REMEMBER THE FRUIT: the secret word is PLUM" in history
    assert "Noted: PLUM." in history


def _add_when_assigned(
    fake: FakeAnthropic, client: Client, agent: str, done: threading.Event
) -> threading.Thread:
    """Script wait_for / get_result on the request id once the lead has assigned it."""

    def watch() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not done.is_set():
            found = [r for r in client.requests(agent=agent, limit=10)]
            if found:
                request_id = found[0].id
                fake.add_rule(
                    Rule(
                        content=LISTED,
                        tool_result=True,
                        tool_calls=[call("wait_for", request_ids=[request_id], timeout=120)],
                    )
                )
                fake.add_rule(
                    Rule(
                        content=WAITED,
                        tool_result=True,
                        tool_calls=[call("get_result", request_id=request_id)],
                    )
                )
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_agentic_run_records_the_workers_the_orchestrator_spawns(
    client: Client, fake: FakeAnthropic, env: dict[str, str], tmp_path: Path
) -> None:
    from tests.orchestration._run_helpers import example_team

    project = tmp_path / "project"
    project.mkdir()
    example_team(project)
    fake.add_rule(
        Rule(content=r"AUDIT TASK: check", tool_result=False, text="FOUND: SQL injection")
    )
    fake.add_rule(
        Rule(
            content="PODIUM AGENTIC RUN",
            tool_result=False,
            tool_calls=[call("spawn_agent", name="sec", worker="marie")],
        )
    )
    fake.add_rule(
        Rule(
            content=SPAWNED,
            tool_result=True,
            tool_calls=[call("assign_task", agent="sec", prompt="AUDIT TASK: check app/db.py")],
        )
    )
    # The id is only known once assigned: list_agents gives the test time to script
    # wait_for and get_result with it (see _add_when_assigned).
    fake.add_rule(
        Rule(content=QUEUED, tool_result=True, delay=2.0, tool_calls=[call("list_agents")])
    )
    fake.add_rule(Rule(content=GOT, tool_result=True, text="AGENTIC REPORT\n\n{last_user}"))
    done = threading.Event()
    watcher = _add_when_assigned(fake, client, "sec", done)
    try:
        ran = podium(
            {**env, "PWD": str(project)},
            "run",
            "--mode",
            "agentic",
            "--team",
            str(project / "podium.toml"),
            "--json",
            "Review app/db.py for security problems.",
        )
    finally:
        done.set()
        watcher.join(5)
    run = json.loads(ran.stdout)

    assert run["state"] == "complete", run["error"]
    assert run["plan_source"] == "agentic"
    (task,) = run["tasks"]
    assert task["worker"] == "marie"
    assert task["agent"] == "sec"
    assert task["state"] == "complete"
    assert task["cost_usd"] > 0
    # Costs add up as in a planned run: the lead's turn plus the worker's task.
    assert run["cost_by_worker"] == {"marie": pytest.approx(task["cost_usd"])}
    assert run["cost_usd"] == pytest.approx(run["planning_cost_usd"] + task["cost_usd"])
    assert run["planning_cost_usd"] > 0
    # The worker got the assigned prompt, with marie's profile as its system prompt.
    (audit,) = fake.requests_matching(content=r"AUDIT TASK: check app/db\.py")
    assert "security" in audit.system_text.lower()
    # Task and result files, like a planned run's; the report is the lead's answer
    # followed by podium's summary.
    info = client.run_info(run["id"])
    run_dir = Path(info["dir"])
    result = json.loads((run_dir / task["result_path"]).read_text())
    assert result["output"] == "FOUND: SQL injection"
    assert result["agent"] == "sec"
    task_file = json.loads((run_dir / "tasks" / "marie" / f"{task['task_id']}.json").read_text())
    assert task_file["prompt"] == "AUDIT TASK: check app/db.py"
    report = run["report"]
    assert report.startswith(f"# Run {run['id']}\n\nAGENTIC REPORT")
    assert "FOUND: SQL injection" in report
    assert "## Run summary (written by podium)" in report
    assert f"| {task['task_id']} | marie | complete |" in report
    # The run's agents are retired when it ends; the events tell the story.
    assert [a.name for a in client.list_agents()] == []
    kinds = [e.kind.value for e in client.events(limit=10_000)]
    assert kinds.count("task_started") == kinds.count("task_finished") == 1
    shown = podium(env, "show", run["id"])
    assert "marie" in shown.stdout
