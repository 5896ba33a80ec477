"""A run cancelled (or its daemon stopped) the moment it was resumed still ends on
record: its driver task had not taken a step yet, and a task cancelled then never runs
its body. The real Claude Code CLI for every agent, the fake API as the model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from podium.orchestration import RunEngine, RunState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic

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

PLAN = plan_json(task("security", "marie"))


@pytest.fixture
def team(workdir: Path, fake: FakeAnthropic) -> Path:
    for rule in lead_rules(PLAN, "# Synthesis"):
        fake.add_rule(rule)
    # The task's first turn hangs at the model until the run is cancelled.
    answer = review_result("LOW", "a.py:1", "security", "none")
    fake.add_rule(task_rule("security", answer, delay=120, times=1))
    fake.add_rule(task_rule("security", answer))
    return example_team(workdir, limits={"budget_usd": 5.0})


async def cancelled_mid_task(engine: RunEngine, fake: FakeAnthropic, team: Path) -> str:
    run = await engine.submit("Review this code", team=team)
    for _ in range(1200):
        if requests_for_task(fake, "security"):
            break
        await asyncio.sleep(0.05)
    assert (await asyncio.wait_for(engine.cancel(run.id), 60)).state is RunState.CANCELLED
    return run.id


async def test_a_run_cancelled_as_soon_as_it_is_resumed_ends_cancelled(
    runtime: Runtime, fake: FakeAnthropic, team: Path
) -> None:
    engine = RunEngine(runtime)
    await engine.start()
    try:
        run_id = await cancelled_mid_task(engine, fake, team)
        await engine.resume(run_id)
        # No await between the resume and the cancel: the driver has not started.
        cancelled = await asyncio.wait_for(engine.cancel(run_id), 60)
        assert cancelled.state is RunState.CANCELLED
    finally:
        await engine.close()


async def test_a_daemon_stopping_as_soon_as_a_run_is_resumed_leaves_it_resumable(
    runtime: Runtime, fake: FakeAnthropic, team: Path
) -> None:
    engine = RunEngine(runtime)
    await engine.start()
    run_id = await cancelled_mid_task(engine, fake, team)
    await engine.resume(run_id)
    await asyncio.wait_for(engine.close(), 60)

    again = RunEngine(runtime)
    await again.start()
    try:
        assert (await again.get(run_id)).state is RunState.INTERRUPTED
        await again.resume(run_id)
        finished = await again.wait(run_id, timeout=120)
        assert finished.state is RunState.COMPLETE, finished.error
    finally:
        await again.close()
