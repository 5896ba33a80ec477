"""Budgets inside real runs: crossing while tasks run, and the caps the CLI is given.

Real Claude Code CLI processes against the fake API. Costs are the CLI's own
(its price table, applied to the usage the fake reports), so the tests derive
every expected amount from what the run recorded rather than from prices.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.orchestration import RunEngine, RunState, TaskState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule

from ._run_helpers import (
    LEAD,
    cli_argv,
    costly,
    example_team,
    flag_value,
    lead_rules,
    requests_for_task,
    review_result,
    started_engine,
    task,
    task_rule,
    wait_for_task_request,
)

pytestmark = pytest.mark.cli

ANSWER = review_result("LOW", "a.py:1", "x", "y")
# The example team's Sonnet token limits would hold these costly turns back a minute.
NO_TOKEN_LIMITS = {"input_tokens_per_minute": 10**9, "output_tokens_per_minute": 10**9}
# Run, worker and task budgets of $1: the run's own budget is the one that binds.
ONE_DOLLAR_EVERYWHERE = {
    "budget_usd": 1.0,
    "per_worker_budget_usd": 1.0,
    "per_task_budget_usd": 1.0,
    **NO_TOKEN_LIMITS,
}


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[RunEngine]:
    async with started_engine(runtime) as runs:
        yield runs


async def _cap_reaching_the_cli(engine: RunEngine, run_id: str, task_id: str) -> float:
    """The task's --max-budget-usd as its live CLI process got it, checked against what
    the runtime was asked to pass."""
    name = (await engine.get(run_id)).task(task_id).agent
    assert name is not None
    agent = await engine.runtime.get_agent(name)
    assert agent.pid is not None
    value = flag_value(cli_argv(agent.pid), "--max-budget-usd")
    assert value is not None, "the CLI was started without --max-budget-usd"
    assert float(value) == pytest.approx(agent.options.max_budget_usd, abs=1e-6)
    return float(value)


async def test_crossing_the_run_budget_while_tasks_run_cancels_them(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    team = example_team(
        workdir,
        limits={**ONE_DOLLAR_EVERYWHERE, "max_parallel": 4},
    )
    # Four tasks start together (nothing has finished, so each is estimated at $0).
    # cheap fits the budget; pricey's first turn crosses it while the two slow
    # tasks still wait for their answers. That turn's answer fails the quality
    # gate, but the budget is spent: no retry is sent.
    fake.add_rule(task_rule("cheap", ANSWER, delay=0.5, usage=costly(50_000)))
    fake.add_rule(task_rule("pricey", "Looks fine to me!", delay=5.0, usage=costly(60_000)))
    fake.add_rule(task_rule("slow1", ANSWER, delay=120))
    fake.add_rule(task_rule("slow2", ANSWER, delay=120))
    fake.add_rule(Rule(content="PODIUM CHECK FAILED", text=ANSWER))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    plan = {
        "tasks": [
            task("cheap", "marie"),
            task("pricey", "fabien"),
            task("slow1", "anga"),
            task("slow2", "marie"),
            task("after", "anga", ("pricey",)),
        ]
    }

    run = await engine.wait((await engine.submit("r", team=team, plan=plan)).id, timeout=120)

    assert run.state is RunState.FAILED
    by_id = {t.task_id: t for t in run.tasks}
    assert by_id["cheap"].state is TaskState.COMPLETE
    assert run.cost_usd > 1.0  # crossed by turns that were already under way
    spent = by_id["cheap"].cost_usd + by_id["pricey"].cost_usd
    stop = f"run budget $1.00 reached (${spent:.4f} spent)"
    # The turn that crossed is charged at once, so its own task stops there too.
    pricey = by_id["pricey"]
    assert pricey.state is TaskState.CANCELLED
    assert pricey.reason == stop
    assert pricey.attempts == 1
    assert len(requests_for_task(fake, "pricey")) == 1
    assert not fake.requests_matching(content="PODIUM CHECK FAILED")
    # The running tasks were interrupted: their requests cancelled, not waited for.
    for task_id, worker in (("slow1", "anga"), ("slow2", "marie")):
        slow = by_id[task_id]
        assert slow.state is TaskState.CANCELLED
        assert slow.reason == stop
        assert slow.agent is not None
        (request,) = await engine.runtime.list_requests(agent=slow.agent)
        assert request.state.value == "cancelled"
        (seen,) = requests_for_task(fake, task_id)
        assert not seen.completed  # the CLI hung up before the fake's answer
        result_file = engine.run_dir(run.id) / f"results/{worker}/{task_id}.json"
        result = json.loads(result_file.read_text())
        assert result["status"] == "cancelled"
        assert result["reason"] == slow.reason
    # What had not started never starts.
    assert by_id["after"].state is TaskState.SKIPPED
    assert by_id["after"].reason == stop
    assert not requests_for_task(fake, "after")
    # No synthesis past the budget; the report says what did not run and why.
    assert not fake.requests_matching(content="PODIUM SYNTHESIS")
    report = (engine.run_dir(run.id) / "report.md").read_text()
    assert f"no synthesis: {stop}" in report
    for task_id, worker, state in (
        ("pricey", "fabien", "cancelled"),
        ("slow1", "anga", "cancelled"),
        ("slow2", "marie", "cancelled"),
        ("after", "anga", "skipped"),
    ):
        assert f"- **{task_id}** ({worker}): {state} - {stop}" in report
    # Every cent is accounted for, the interrupted turns included.
    requests = await engine.runtime.list_requests(limit=1000)
    total = sum(r.cost_usd for r in requests if (r.meta or {}).get("run_id") == run.id)
    assert run.cost_usd == pytest.approx(total)


async def test_the_per_task_cap_reaches_the_cli_and_stops_the_task(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    team = example_team(workdir, limits={"per_task_budget_usd": 0.15, **NO_TOKEN_LIMITS})
    # One call of 20k output tokens costs more than $0.15 at any Sonnet price.
    fake.add_rule(task_rule("big", ANSWER, delay=2.0, usage=costly(20_000)))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)

    run = await engine.submit("r", team=team, plan={"tasks": [task("big", "marie")]})
    await wait_for_task_request(fake, "big")
    assert await _cap_reaching_the_cli(engine, run.id, "big") == pytest.approx(0.15)
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.FAILED
    (big,) = run.tasks
    assert big.state is TaskState.FAILED
    assert big.attempts == 1  # a budget stop is final: no retry
    assert len(requests_for_task(fake, "big")) == 1
    assert (big.reason or "").startswith(
        "task budget reached: the agent's spending cap $0.15 (set by the per-task budget $0.15)"
    ), big.reason
    assert "error_max_budget_usd" in (big.reason or "")
    assert big.cost_usd > 0.15  # what the one call cost is still charged


async def test_the_per_worker_cap_limits_each_task_and_then_the_worker(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    team = example_team(
        workdir,
        limits={
            "per_worker_budget_usd": 0.5,
            "per_task_budget_usd": 0.5,
            "max_parallel": 1,
            **NO_TOKEN_LIMITS,
        },
    )
    # w1 takes a while, so w2's CLI process is pre-started before w1's cost is known.
    fake.add_rule(task_rule("w1", ANSWER, delay=3.0, usage=costly(10_000)))
    fake.add_rule(task_rule("w2", ANSWER, delay=2.0, usage=costly(60_000)))
    fake.add_rule(Rule(content="PODIUM TASK", text=ANSWER))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    # One at a time: w1, then w2, w3 (plan order), then anga's a1 (lower priority).
    plan = {
        "tasks": [
            task("w1", "marie"),
            task("w2", "marie", ("w1",)),
            task("w3", "marie", ("w1",)),
            task("a1", "anga", ("w1",), priority=-5),
        ]
    }

    run = await engine.submit("r", team=team, plan=plan)
    await wait_for_task_request(fake, "w2")
    w1_cost = (await engine.get(run.id)).task("w1").cost_usd
    # w2's process was pre-started while w1 ran; it must still get what the worker
    # has left once w1 is paid, not the cap of that moment (so it was started again).
    cap = await _cap_reaching_the_cli(engine, run.id, "w2")
    assert cap == pytest.approx(0.5 - w1_cost, abs=1e-6)
    run = await engine.wait(run.id, timeout=120)

    by_id = {t.task_id: t for t in run.tasks}
    assert by_id["w1"].state is TaskState.COMPLETE
    w2 = by_id["w2"]
    assert w2.state is TaskState.FAILED
    assert (w2.reason or "").startswith(
        f"task budget reached: the agent's spending cap ${cap:.2f} "
        "(set by the worker marie budget $0.50)"
    ), w2.reason
    # The worker is now over its cap: its next task is refused before it starts...
    spent = w1_cost + w2.cost_usd
    estimate = spent / 2
    w3 = by_id["w3"]
    assert w3.state is TaskState.SKIPPED
    assert w3.reason == (
        f"worker marie budget $0.50: ${spent:.2f} spent, next task estimated ${estimate:.2f}"
    )
    assert not requests_for_task(fake, "w3")
    # ...while another worker goes on.
    assert by_id["a1"].state is TaskState.COMPLETE
    assert run.cost_by_worker["marie"] == pytest.approx(spent)


async def test_synthesis_that_would_cross_the_run_budget_is_not_started(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    team = example_team(
        workdir,
        limits=ONE_DOLLAR_EVERYWHERE,
    )
    plan = {"tasks": [task("one", "marie")]}
    # A costly planning turn: one fits the budget, a second turn like it does not.
    fake.add_rule(
        Rule(
            system=LEAD, content="PODIUM PLAN REQUEST", text=json.dumps(plan), usage=costly(32_000)
        )
    )
    fake.add_rule(Rule(system=LEAD, content="PODIUM SYNTHESIS", text="final"))
    fake.add_rule(task_rule("one", ANSWER))

    run = await engine.wait((await engine.submit("r", team=team)).id, timeout=120)

    planning = run.planning_cost_usd
    left = 1.0 - run.cost_usd
    assert left < planning < 1.0, (planning, run.cost_usd)  # the scenario holds
    (one,) = run.tasks
    assert one.state is TaskState.COMPLETE
    assert not fake.requests_matching(content="PODIUM SYNTHESIS")
    assert run.synthesis_cost_usd == 0.0
    report = (engine.run_dir(run.id) / "report.md").read_text()
    assert (
        f"no synthesis: its estimate ${planning:.4f} (the cost of a planning turn) is more "
        f"than the ${left:.4f} left of the run budget"
    ) in report
    # The task's work is not lost: the report still names its result.
    assert "results/marie/one.json" in report
