"""The quality gate inside real runs: reassign, fail, and a ``[checks]`` command.

Real Claude Code CLI processes against the fake API; only the model is scripted.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.orchestration import RunEngine, RunState, TaskState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, ToolCall

from ._run_helpers import (
    example_team,
    lead_rules,
    requests_for_task,
    review_result,
    started_engine,
    task,
    task_rule,
)

pytestmark = pytest.mark.cli


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[RunEngine]:
    async with started_engine(runtime) as runs:
        yield runs


async def test_reassign_starts_the_task_over_on_a_fresh_agent_of_the_same_worker(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    # on_check_failure = "reassign": the task goes to a new agent of its own worker
    # (same profile, fresh session), given the task again plus the gate's reasons.
    team = example_team(workdir, limits={"on_check_failure": "reassign"})
    fake.add_rule(task_rule("scan", "Looks fine to me!", times=1))
    fake.add_rule(
        Rule(content="PODIUM CHECK FAILED", text=review_result("LOW", "a.py:3", "minor", "fix"))
    )
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)

    run = await engine.submit("review", team=team, plan={"tasks": [task("scan", "marie")]})
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    first_agent, second_agent = f"{run.id}-scan", f"{run.id}-scan_2"
    (scan,) = run.tasks
    assert scan.attempts == 2
    assert scan.agent == second_agent

    first, second = requests_for_task(fake, "scan")
    # The second agent has no memory of the first: its conversation starts with the
    # task prompt, which now carries the reasons the first answer was refused.
    assert "assistant" not in [m["role"] for m in first.messages]
    assert "assistant" not in [m["role"] for m in second.messages]
    assert "PODIUM CHECK FAILED" in second.user_prompt
    assert "the answer is not JSON" in second.user_prompt
    agents = {a.name: a for a in await engine.runtime.store.list_agents(include_killed=True)}
    for name in (first_agent, second_agent):
        (request,) = await engine.runtime.list_requests(agent=name)
        assert request.meta["task_id"] == "scan"
        assert agents[name].options.profile == "marie"
    assert agents[first_agent].session_id != agents[second_agent].session_id

    result = json.loads((engine.run_dir(run.id) / "results/marie/scan.json").read_text())
    assert result["status"] == "complete"
    assert result["worker"] == "marie"
    assert result["agent"] == second_agent  # the agent that finally did it
    assert result["agents"] == [first_agent, second_agent]
    assert result["attempts"] == 2
    assert result["findings"][0]["location"] == "a.py:3"


async def test_fail_policy_fails_the_task_with_the_gate_reasons_and_skips_dependents(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    team = example_team(workdir, limits={"on_check_failure": "fail"})
    fake.add_rule(task_rule("scan", "Looks fine to me!"))
    fake.add_rule(task_rule("perf", review_result("LOW", "b.py:1", "ok", "none")))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    plan = {
        "tasks": [
            task("scan", "marie"),
            task("tests", "fabien", ("scan",)),
            task("perf", "anga"),
        ]
    }

    run = await engine.wait((await engine.submit("review", team=team, plan=plan)).id, 120)

    assert run.state is RunState.FAILED
    scan, tests, perf = run.tasks
    assert scan.state is TaskState.FAILED
    assert scan.attempts == 1  # not retried, although the worker has retries left
    assert len(requests_for_task(fake, "scan")) == 1
    assert not fake.requests_matching(content="PODIUM CHECK FAILED")
    assert (scan.reason or "").startswith("quality gate: the answer is not JSON")
    assert tests.state is TaskState.SKIPPED
    assert tests.reason == "dependency scan failed"
    assert not requests_for_task(fake, "tests")
    assert perf.state is TaskState.COMPLETE  # an independent task is not held back

    run_dir = engine.run_dir(run.id)
    result = json.loads((run_dir / "results/marie/scan.json").read_text())
    assert result["status"] == "failed"
    assert result["reason"] == scan.reason
    assert result["summary"] == scan.reason
    assert result["output"] == "Looks fine to me!"
    assert result["attempts"] == 1
    assert not (run_dir / "results/fabien/tests.json").exists()
    report = (run_dir / "report.md").read_text()
    assert f"- **scan** (marie): failed - {scan.reason}" in report
    assert "- **tests** (fabien): skipped - dependency scan failed" in report
    assert run.error == "2 task(s) did not complete: scan, tests"


_CHECK = """\
import pathlib
import sys

notes = pathlib.Path("coverage.txt")
if not notes.is_file():
    print("coverage.txt is missing: write the coverage summary to it")
    sys.exit(1)
print("coverage.txt:", notes.read_text().strip())
"""


async def test_a_check_command_that_fails_sends_its_output_back_then_passes(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    (workdir / "check_coverage.py").write_text(_CHECK)
    argv = [sys.executable, "check_coverage.py"]
    team = example_team(workdir, extra_toml=f"\n[checks]\nfabien = {json.dumps(argv)}\n")
    answer = review_result("MEDIUM", "app/db.py:5", "find_user has no test.", "Add one.")
    # First attempt: a valid answer, but no coverage.txt, so the check fails.
    fake.add_rule(task_rule("tests", answer, times=1))
    # The retry writes the file with the Write tool, then answers.
    coverage = workdir / "coverage.txt"
    write = ToolCall(
        name="Write", input={"file_path": str(coverage), "content": "app/db.py: 0 of 3 lines\n"}
    )
    fake.add_rule(Rule(content="PODIUM CHECK FAILED", tool_result=False, tool_calls=[write]))
    fake.add_rule(Rule(any_content="PODIUM CHECK FAILED", tool_result=True, text=answer))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)

    run = await engine.submit("review", team=team, plan={"tasks": [task("tests", "fabien")]})
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert run.tasks[0].attempts == 2
    # The model saw the check's own words: the command, its exit status, its output.
    (retry,) = fake.requests_matching(content="PODIUM CHECK FAILED")
    command = f"check `{shlex.join(argv)}` exited 1"
    assert command in retry.user_prompt
    assert "coverage.txt is missing: write the coverage summary to it" in retry.user_prompt
    assert coverage.read_text() == "app/db.py: 0 of 3 lines\n"  # written by the CLI's tool
    result = json.loads((engine.run_dir(run.id) / "results/fabien/tests.json").read_text())
    assert result["status"] == "complete"
    assert result["attempts"] == 2
    assert result["findings"][0]["location"] == "app/db.py:5"
