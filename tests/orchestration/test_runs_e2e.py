"""Orchestrated runs end to end: the real Claude Code CLI for every agent, the fake API as model.

Only the model is scripted (rules keyed on podium's prompt markers); the
CLI processes, the run directory, SQLite and the scheduler are real.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from podium._errors import InvalidPrompt, UsageError
from podium.orchestration import (
    PlanError,
    RateLimiter,
    RunEngine,
    RunState,
    TaskState,
    TeamError,
)
from podium.orchestration._artifacts import ArtifactError, RunDir
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule

from ._run_helpers import (
    LEAD,
    costly,
    example_team,
    lead_rules,
    plan_json,
    requests_for_task,
    review_result,
    task,
    task_rule,
)

pytestmark = pytest.mark.cli

SYNTHESIS = (
    "# Review\n\nSecurity: see results/marie/security.json. Performance: see "
    "results/anga/perf.json. Tests: see results/fabien/tests.json."
)


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[RunEngine]:
    runs = RunEngine(runtime)
    await runs.start()
    try:
        yield runs
    finally:
        await runs.close()


@pytest.fixture
def team(workdir: Path) -> Path:
    return example_team(workdir, limits={"budget_usd": 5.0, "max_parallel": 3})


async def test_seed_review_runs_end_to_end(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    plan = plan_json(
        task("security", "marie"),
        task("perf", "anga"),
        task("tests", "fabien", ("security",)),
    )
    for rule in lead_rules(plan, SYNTHESIS):
        fake.add_rule(rule)
    marie = review_result("HIGH", "app/db.py:88", "SQL built by string formatting.", "BIND-PARAMS")
    fake.add_rule(task_rule("security", marie, delay=1.5))
    fake.add_rule(
        task_rule(
            "perf", review_result("MEDIUM", "app/api.py:12", "N+1 queries.", "Batch."), delay=1.5
        )
    )
    fake.add_rule(
        task_rule("tests", review_result("LOW", "tests/test_db.py:1", "No injection test.", "Add."))
    )

    run = await engine.submit("Review this code base for security, speed and tests", team=team)
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert [t.state for t in run.tasks] == [TaskState.COMPLETE] * 3
    run_dir = engine.run_dir(run.id)
    saved_plan = json.loads((run_dir / "plan.json").read_text())
    assert [t["task_id"] for t in saved_plan["tasks"]] == ["security", "perf", "tests"]

    # Independent tasks overlapped at the model; the dependent started after its dependency.
    (sec,) = requests_for_task(fake, "security")
    (perf,) = requests_for_task(fake, "perf")
    (tests,) = requests_for_task(fake, "tests")
    assert sec.overlaps(perf)
    assert sec.finished_at is not None
    assert tests.received_at >= sec.finished_at
    # The dependent got its dependency's artifact path and summary, not its whole output.
    assert str(run_dir / "results" / "marie" / "security.json") in tests.user_prompt
    assert "SQL built by string formatting." in tests.user_prompt
    assert "BIND-PARAMS" not in tests.user_prompt

    # Artifacts: task inputs and structured results, for every task.
    for worker, task_id in (("marie", "security"), ("anga", "perf"), ("fabien", "tests")):
        task_input = json.loads((run_dir / "tasks" / worker / f"{task_id}.json").read_text())
        assert task_input["task_id"] == task_id
        assert task_input["worker"] == worker
        result = json.loads((run_dir / "results" / worker / f"{task_id}.json").read_text())
        assert result["status"] == "complete"
        assert result["attempts"] == 1
        assert result["findings"]
        assert result["findings"][0]["location"]
        assert set(result) >= {"output", "artifacts", "usage", "cost_usd", "timings"}
    tests_input = json.loads((run_dir / "tasks" / "fabien" / "tests.json").read_text())
    assert tests_input["dependencies"][0]["task_id"] == "security"

    # Synthesis saw every artifact and the report holds its answer plus podium's summary.
    (synth,) = fake.requests_matching(content="PODIUM SYNTHESIS")
    for path in (
        "results/marie/security.json",
        "results/anga/perf.json",
        "results/fabien/tests.json",
    ):
        assert path in synth.user_prompt
        assert path in (run_dir / "report.md").read_text()
    report = await engine.report(run.id)
    assert report is not None
    assert report.startswith(f"# Run {run.id}\n\n# Review")

    # Every cent adds up: the run's cost is the sum of its agents' requests.
    requests = await engine.runtime.list_requests(limit=1000)
    total = sum(r.cost_usd for r in requests if (r.meta or {}).get("run_id") == run.id)
    assert total > 0
    assert run.cost_usd == pytest.approx(total)
    assert sum(run.cost_by_worker.values()) + run.planning_cost_usd + run.synthesis_cost_usd == (
        pytest.approx(run.cost_usd)
    )
    # Worker processes are gone once the run ends.
    for agent in await engine.runtime.list_agents():
        if agent.name.startswith(run.id):
            assert agent.pid is None


async def test_invalid_plan_is_sent_back_with_its_errors_and_repaired(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    bad = plan_json(task("a", "marie", ("b",)), task("b", "bob", ("a",)))
    good = plan_json(task("a", "marie"))
    fake.add_rule(Rule(system=LEAD, content="PODIUM PLAN REQUEST", text=bad))
    fake.add_rule(Rule(system=LEAD, content="PODIUM PLAN REPAIR", text=good))
    fake.add_rule(Rule(system=LEAD, content="PODIUM SYNTHESIS", text="done"))
    fake.add_rule(task_rule("a", review_result("LOW", "x.py:1", "ok", "none")))

    run = await engine.wait((await engine.submit("review", team=team)).id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert run.plan_attempts == 2
    (repair,) = fake.requests_matching(content="PODIUM PLAN REPAIR")
    assert "tasks[1].worker: 'bob' is not a worker of this team" in repair.user_prompt
    assert "cycle: a -> b -> a" in repair.user_prompt


async def test_plan_that_stays_invalid_fails_the_run_with_the_errors(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    fake.add_rule(Rule(system=LEAD, text="I think we should start with security."))

    run = await engine.wait((await engine.submit("review", team=team)).id, timeout=120)

    assert run.state is RunState.FAILED
    assert run.plan_attempts == 3  # 1 + limits.max_plan_repairs (2)
    assert "answer is not JSON" in (run.error or "")
    assert run.tasks == ()
    assert not fake.requests_matching(content="PODIUM TASK")


async def test_quality_gate_retries_with_the_reasons_then_succeeds(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    fake.add_rule(task_rule("scan", "Looks fine to me!", times=1))
    fake.add_rule(
        Rule(content="PODIUM CHECK FAILED", text=review_result("LOW", "a.py:3", "minor", "fix"))
    )
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)

    run = await engine.submit("review", team=team, plan={"tasks": [task("scan", "marie")]})
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert run.tasks[0].attempts == 2
    (retry,) = fake.requests_matching(content="PODIUM CHECK FAILED")
    assert "the answer is not JSON" in retry.user_prompt
    result = json.loads((engine.run_dir(run.id) / "results/marie/scan.json").read_text())
    assert result["attempts"] == 2
    assert result["findings"][0]["location"] == "a.py:3"


async def test_worker_returning_garbage_fails_and_dependents_are_skipped(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    fake.add_rule(Rule(content="PODIUM TASK scan|PODIUM CHECK FAILED", text="garbage {{{"))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    plan = {"tasks": [task("scan", "marie"), task("tests", "fabien", ("scan",))]}

    run = await engine.wait((await engine.submit("review", team=team, plan=plan)).id, timeout=120)

    assert run.state is RunState.FAILED
    scan, tests = run.tasks
    assert scan.state is TaskState.FAILED
    assert scan.attempts == 2
    assert "quality gate" in (scan.reason or "")
    assert "not JSON" in (scan.reason or "")
    assert tests.state is TaskState.SKIPPED
    assert tests.reason == "dependency scan failed"
    assert not requests_for_task(fake, "tests")
    report = (engine.run_dir(run.id) / "report.md").read_text()
    assert "dependency scan failed" in report
    assert "quality gate" in report


async def test_budget_stops_dispatch_before_the_next_task_would_cross_it(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    budget = 0.5
    team = example_team(
        workdir,
        limits={
            "budget_usd": budget,
            "max_parallel": 1,
            "per_worker_budget_usd": budget,
            "per_task_budget_usd": budget,
            # The example team's Sonnet token limits would hold these costly turns back.
            "input_tokens_per_minute": 10**9,
            "output_tokens_per_minute": 10**9,
        },
    )
    # Each task costs ~$0.20-0.30 (20k output tokens of sonnet); the synthesis is cheap.
    answer = review_result("LOW", "a.py:1", "x", "y")
    fake.add_rule(Rule(content="PODIUM TASK", text=answer, usage=costly(20_000)))
    fake.add_rule(Rule(system=LEAD, content="PODIUM SYNTHESIS", text="final", usage=costly(100)))
    plan = {"tasks": [task(f"t{i}", "marie") for i in range(4)]}

    run = await engine.wait((await engine.submit("review", team=team, plan=plan)).id, timeout=120)

    assert run.state is RunState.FAILED
    ran = [t for t in run.tasks if t.state is TaskState.COMPLETE]
    skipped = [t for t in run.tasks if t.state is TaskState.SKIPPED]
    assert ran
    assert skipped
    assert ran + skipped == list(run.tasks)  # one at a time, in plan order
    # The rule, task by task: a task starts only if what is spent plus its estimate
    # (the mean cost of the finished tasks) stays within the budget...
    spent = 0.0
    for done, started in enumerate(ran):
        estimate = spent / done if done else 0.0
        assert spent + estimate <= budget
        spent += started.cost_usd
    # ...so dispatch stopped BEFORE the budget was crossed, not once it was: the
    # budget is not reached yet, but the next task's reservation would cross it.
    estimate = spent / len(ran)
    assert spent < budget
    assert spent + estimate > budget
    for task_ in skipped:
        assert task_.reason == (
            f"run budget $0.50: ${spent:.2f} spent, next task estimated ${estimate:.2f}"
        )
        assert not requests_for_task(fake, task_.task_id)
    assert sum(run.cost_by_worker.values()) == pytest.approx(spent)
    assert run.cost_usd <= budget  # synthesis included
    report = (engine.run_dir(run.id) / "report.md").read_text()
    for task_ in skipped:
        assert f"- **{task_.task_id}** (marie): skipped - {task_.reason}" in report


async def test_worker_process_dying_mid_task_is_retried_in_a_resumed_session(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    fake.add_rule(task_rule("scan", "never sent", delay=60, times=1))
    fake.add_rule(Rule(content="PODIUM TASK scan", text=review_result("LOW", "a.py:1", "x", "y")))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)

    run = await engine.submit("review", team=team, plan={"tasks": [task("scan", "marie")]})
    await fake.wait_for_requests_async(1, timeout=60)
    agent = await engine.runtime.get_agent(f"{run.id}-scan")
    assert agent.pid is not None
    os.killpg(agent.pid, signal.SIGKILL)
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert run.tasks[0].attempts == 2
    requests = await engine.runtime.list_requests(agent=agent.name)
    (died,) = [r for r in requests if r.state.value == "failed"]
    assert "exited" in (died.error or "")
    result = json.loads((engine.run_dir(run.id) / "results/marie/scan.json").read_text())
    assert result["attempts"] == 2
    assert result["status"] == "complete"


async def test_plan_file_runs_without_a_planning_call(
    engine: RunEngine, fake: FakeAnthropic, team: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_json(task("scan", "anga")))
    fake.add_rule(task_rule("scan", review_result("LOW", "a.py:1", "x", "y")))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)

    run = await engine.wait((await engine.submit("r", team=team, plan_file=plan_file)).id, 120)

    assert run.state is RunState.COMPLETE, run.error
    assert run.plan_source == "file"
    assert not fake.requests_matching(content="PODIUM PLAN REQUEST")


async def test_rate_limiter_keeps_requests_per_window_within_the_limit(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    # The limiter's window is scaled from 60 s to 3 s so the test is short; the
    # code path is the one the daemon uses.
    team = example_team(
        workdir,
        limits={"max_parallel": 4},
        extra_toml="\n[rate_limits.haiku]\nrequests_per_minute = 2\n",
    )
    fake.add_rule(Rule(content="PODIUM TASK", text=review_result("LOW", "a.py:1", "x", "y")))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    engine = RunEngine(runtime, limiter=RateLimiter(period=3.0))
    await engine.start()
    try:
        plan = {"tasks": [task(f"p{i}", "anga") for i in range(5)]}
        run = await engine.wait((await engine.submit("r", team=team, plan=plan)).id, 120)
    finally:
        await engine.close()

    assert run.state is RunState.COMPLETE, run.error
    starts = sorted(r.received_at for r in fake.requests_matching(content="PODIUM TASK"))
    assert len(starts) == 5
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 3.0]
        assert len(in_window) <= 2, starts


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"request": "   "}, InvalidPrompt, "request"),
        ({"budget_usd": 0}, UsageError, "budget must be greater than 0"),
        ({"plan": {"tasks": [task("a", "bob")]}}, PlanError, "'bob' is not a worker"),
        (
            {"plan": {"tasks": [task("a", "marie", ("b",)), task("b", "marie", ("a",))]}},
            PlanError,
            "cycle: a -> b -> a",
        ),
    ],
)
async def test_bad_input_is_refused_before_anything_is_written(
    engine: RunEngine, team: Path, kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    args: dict[str, object] = {"request": "review", "team": team, **kwargs}
    with pytest.raises(error, match=words):
        await engine.submit(**args)  # type: ignore[arg-type]
    assert await engine.list_runs() == []
    # Not even an empty or half-written run directory is left behind.
    assert list(engine.runs_root.iterdir()) == []


async def test_missing_team_file_is_named(engine: RunEngine, tmp_path: Path) -> None:
    with pytest.raises(TeamError, match=r"podium\.toml"):
        await engine.submit("review", team=tmp_path / "podium.toml")
    assert await engine.list_runs() == []
    assert list(engine.runs_root.iterdir()) == []


def _break_toml(root: Path) -> None:
    (root / "podium.toml").write_text("[team\nname = 'x'\n")


def _missing_profile(root: Path) -> None:
    (root / ".claude/ANGA.md").unlink()


def _unknown_profile_key(root: Path) -> None:
    profile = root / ".claude/DANCE.md"
    profile.write_text(profile.read_text().replace("color: red", "colour: red", 1))


@pytest.mark.parametrize(
    ("spoil", "words"),
    [
        (_break_toml, r"podium\.toml: invalid TOML"),
        (_missing_profile, r"workers\.anga: profile file \.claude/ANGA\.md does not exist"),
        (_unknown_profile_key, r"DANCE\.md.*colour"),
    ],
)
async def test_a_bad_team_is_refused_before_anything_is_written(
    engine: RunEngine, workdir: Path, spoil: Callable[[Path], None], words: str
) -> None:
    team = example_team(workdir)
    spoil(workdir)
    with pytest.raises(TeamError, match=words):
        await engine.submit("review", team=team)
    assert list(engine.runs_root.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"plan": {"tasks": [task("a", "marie")]}, "plan_file": "plan.json"}, "not both"),
        ({"mode": "agentic", "plan": {"tasks": [task("a", "marie")]}}, "agentic run has no plan"),
        ({"mode": "sideways"}, "mode"),
        ({"cwd": "no-such-directory"}, "does not exist"),
    ],
)
async def test_bad_options_are_refused_before_anything_is_written(
    engine: RunEngine, team: Path, kwargs: dict[str, object], words: str
) -> None:
    with pytest.raises(UsageError, match=words):
        await engine.submit("review", team=team, **kwargs)  # type: ignore[arg-type]
    assert list(engine.runs_root.iterdir()) == []


async def test_a_run_directory_that_cannot_be_completed_is_removed(
    engine: RunEngine, team: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills up between the request and run.json: no half-written run remains.
    def disk_full(self: RunDir, data: object) -> None:
        raise ArtifactError(f"{self.run_file}: cannot write: No space left on device")

    monkeypatch.setattr(RunDir, "write_run", disk_full)
    with pytest.raises(ArtifactError, match="No space left"):
        await engine.submit("review", team=team, plan={"tasks": [task("a", "marie")]})
    assert list(engine.runs_root.iterdir()) == []


async def test_a_429_backs_off_every_worker_of_that_model_for_its_retry_after(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    answer = review_result("LOW", "a.py:1", "x", "y")
    fake.add_rule(task_rule("p0", "", status=429, retry_after=4, times=1))
    fake.add_rule(task_rule("p1", answer, delay=2.5))
    fake.add_rule(Rule(content="PODIUM TASK", text=answer))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    # p2 becomes ready while p0's CLI is waiting out the 429: it must wait too.
    plan = {"tasks": [task("p0", "anga"), task("p1", "anga"), task("p2", "anga", ("p1",))]}

    run = await engine.wait((await engine.submit("r", team=team, plan=plan)).id, 120)

    assert run.state is RunState.COMPLETE, run.error
    retries = [e for e in await engine.runtime.events(limit=1000) if e.kind.value == "api_retry"]
    assert len(retries) == 1
    assert retries[0].data["error_status"] == 429
    began = retries[0].ts
    blocked_until = began + retries[0].data["retry_delay_ms"] / 1000
    tasks = {t.task_id: t for t in run.tasks}
    # When each of p1 and p2 was asked: p1 may have been asked before the 429 (its
    # request then in flight, p2 ready once it ends) or, when its agent took longer to
    # start than p0's turn took to meet the 429, after it.
    asked = {
        task_id: min(r.submitted_at for r in await engine.runtime.list_requests(agent=agent))
        for task_id in ("p1", "p2")
        if (agent := tasks[task_id].agent) is not None
    }
    held = [
        task_id
        for task_id, at in asked.items()
        if (tasks[task_id].started_at or 0) < blocked_until and at > began
    ]
    assert held, f"no task became ready while the back-off held: {asked}, {began}, {blocked_until}"
    for task_id in held:  # ready while it held, asked only once it ended
        assert asked[task_id] >= blocked_until - 0.05, (task_id, asked, blocked_until)
        (sent,) = requests_for_task(fake, task_id)
        assert sent.received_at >= blocked_until - 0.05
