"""Plan review (``--review``): a run stops after planning until its plan is approved or
rejected. The real Claude Code CLI for every agent, the fake API as the model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium._errors import UsageError
from podium.orchestration import PlanError, RunEngine, RunState, TaskState, TeamError
from podium.runtime import Runtime
from podium.testing import FakeAnthropic
from tests.conftest import make_config

from ._run_helpers import (
    example_team,
    lead_rules,
    plan_json,
    requests_for_task,
    review_result,
    task,
    task_rule,
)

pytestmark = pytest.mark.cli

PROPOSED = plan_json(task("security", "marie"), task("tests", "fabien", ("security",)))


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[RunEngine]:
    runs = RunEngine(runtime)
    await runs.start()
    try:
        yield runs
    finally:
        await runs.close()


@pytest.fixture
def team(workdir: Path, fake: FakeAnthropic) -> Path:
    for rule in lead_rules(PROPOSED, "# Synthesis"):
        fake.add_rule(rule)
    for task_id in ("security", "tests", "perf"):
        fake.add_rule(task_rule(task_id, review_result("LOW", "a.py:1", task_id, "none")))
    return example_team(workdir, limits={"budget_usd": 5.0, "max_parallel": 2})


def worker_requests(fake: FakeAnthropic) -> list[object]:
    return list(fake.requests_matching(content="PODIUM TASK"))


async def awaiting(engine: RunEngine, team: Path, **kwargs: object) -> str:
    run = await engine.submit("Review this code", team=team, review=True, **kwargs)  # type: ignore[arg-type]
    run = await engine.wait(run.id, timeout=120)
    assert run.state is RunState.AWAITING_APPROVAL, run.error
    return run.id


async def test_review_stops_after_planning_then_approve_runs_the_plan(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    run_id = await awaiting(engine, team)

    run = await engine.get(run_id)
    assert run.review
    assert run.approved_at is None
    assert [(t.task_id, t.worker, t.dependencies) for t in run.tasks] == [
        ("security", "marie", ()),
        ("tests", "fabien", ("security",)),
    ]
    assert all(t.state is TaskState.PENDING for t in run.tasks)
    assert worker_requests(fake) == []  # planned, nothing run

    await engine.approve(run_id)
    run = await engine.wait(run_id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert run.approved_at is not None
    assert [t.state for t in run.tasks] == [TaskState.COMPLETE] * 2
    assert len(requests_for_task(fake, "security")) == 1
    assert len(fake.requests_matching(content="PODIUM PLAN REQUEST")) == 1  # planned once
    assert fake.requests_matching(content="PODIUM SYNTHESIS")


async def test_approve_with_an_edited_plan_runs_the_edited_tasks(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    run_id = await awaiting(engine, team)

    edited = {"tasks": [task("perf", "anga")]}
    await engine.approve(run_id, plan=edited)
    run = await engine.wait(run_id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert [(t.task_id, t.worker, t.state) for t in run.tasks] == [
        ("perf", "anga", TaskState.COMPLETE)
    ]
    assert len(requests_for_task(fake, "perf")) == 1
    assert requests_for_task(fake, "security") == []
    assert requests_for_task(fake, "tests") == []
    run_dir = engine.run_dir(run_id)
    assert [t["task_id"] for t in json.loads((run_dir / "plan.json").read_text())["tasks"]] == [
        "perf"
    ]
    proposed = json.loads((run_dir / "plan.proposed.json").read_text())
    assert [t["task_id"] for t in proposed["tasks"]] == ["security", "tests"]


async def test_reject_ends_the_run_and_no_worker_is_asked(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    run_id = await awaiting(engine, team)
    lead = (await engine.get(run_id)).orchestrator_agent

    run = await engine.reject(run_id, reason="too broad, split it")

    assert run.state is RunState.REJECTED
    assert run.done
    assert run.rejection == "too broad, split it"
    assert all(t.state is TaskState.CANCELLED for t in run.tasks)
    assert (await engine.get(run_id)).state is RunState.REJECTED  # on disk
    assert worker_requests(fake) == []
    assert not fake.requests_matching(content="PODIUM SYNTHESIS")
    assert lead is not None
    assert lead not in {a.name for a in await engine.runtime.list_agents()}  # retired
    with pytest.raises(UsageError, match="rejected, not awaiting approval"):
        await engine.approve(run_id)


async def test_a_bad_edited_plan_is_refused_and_the_run_keeps_waiting(
    engine: RunEngine, fake: FakeAnthropic, team: Path, tmp_path: Path
) -> None:
    run_id = await awaiting(engine, team)
    before = (engine.run_dir(run_id) / "plan.json").read_text()

    with pytest.raises(PlanError) as caught:
        await engine.approve(run_id, plan={"tasks": [task("x", "nobody"), task("y", "marie")]})
    assert "'nobody' is not a worker of this team" in str(caught.value)
    bad_file = tmp_path / "edited.json"
    bad_file.write_text('{"tasks": [')
    with pytest.raises(PlanError, match=r"edited\.json"):
        await engine.approve(run_id, plan_file=bad_file)

    run = await engine.get(run_id)
    assert run.state is RunState.AWAITING_APPROVAL
    assert run.approved_at is None
    assert (engine.run_dir(run_id) / "plan.json").read_text() == before
    assert worker_requests(fake) == []


async def test_a_daemon_restart_keeps_the_run_awaiting_approval(
    home: Path, fake: FakeAnthropic, team: Path
) -> None:
    runtime = Runtime(make_config(home, fake))
    await runtime.start()
    engine = RunEngine(runtime)
    await engine.start()
    run_id = await awaiting(engine, team)
    await engine.close()
    await runtime.close()

    runtime = Runtime(make_config(home, fake))
    await runtime.start()
    engine = RunEngine(runtime)
    await engine.start()
    try:
        assert (await engine.get(run_id)).state is RunState.AWAITING_APPROVAL
        await engine.approve(run_id)
        run = await engine.wait(run_id, timeout=120)
        assert run.state is RunState.COMPLETE, run.error
        assert len(fake.requests_matching(content="PODIUM PLAN REQUEST")) == 1
    finally:
        await engine.close()
        await runtime.close()


async def test_the_team_setting_turns_review_on_and_is_validated(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    for rule in lead_rules(PROPOSED, "# Synthesis"):
        fake.add_rule(rule)
    for task_id in ("security", "tests"):
        fake.add_rule(task_rule(task_id, review_result("LOW", "a.py:1", task_id, "none")))
    team = example_team(workdir, extra_toml="\n[runs]\nreview = true\n")
    run = await engine.wait((await engine.submit("Review", team=team)).id, timeout=120)
    assert run.state is RunState.AWAITING_APPROVAL
    # Asked for explicitly, a run of that team goes straight on.
    other = await engine.submit("Review", team=team, review=False, plan=json.loads(PROPOSED))
    other = await engine.wait(other.id, timeout=120)
    assert not other.review
    assert other.state is RunState.COMPLETE, other.error

    team.write_text(team.read_text().replace("review = true", 'review = "yes"'))
    with pytest.raises(TeamError, match=r"runs\.review: must be true or false"):
        await engine.submit("Review", team=team)
    team.write_text(team.read_text().replace('review = "yes"', "reveiw = true"))
    with pytest.raises(TeamError, match=r"runs\.reveiw: is not a recognised key"):
        await engine.submit("Review", team=team)
    with pytest.raises(UsageError, match="agentic run has no plan to review"):
        await engine.submit("Review", team=team, review=True, mode="agentic")


async def test_cancel_of_a_run_awaiting_approval_ends_it(
    engine: RunEngine, fake: FakeAnthropic, team: Path
) -> None:
    run_id = await awaiting(engine, team)
    run = await engine.cancel(run_id)
    assert run.state is RunState.CANCELLED
    assert worker_requests(fake) == []
