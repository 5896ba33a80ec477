"""Adaptive concurrency: a 429/529 storm narrows a run's width for that model, successes
widen it again, and no finished result is thrown away.

The run test drives real CLIs against the fake API, which answers the first calls
with 429s (the CLI retries them itself and reports each retry on its stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium._records import (
    Event,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
)
from podium.orchestration import RunEngine, RunState, TaskState
from podium.orchestration._adaptive import AdaptiveWidth
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule

from ._run_helpers import example_team, lead_rules, review_result, task

pytestmark = pytest.mark.cli


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[RunEngine]:
    runs = RunEngine(runtime)
    await runs.start()
    try:
        yield runs
    finally:
        await runs.close()


async def test_a_429_storm_narrows_then_widens_the_run_and_every_task_completes(
    engine: RunEngine, fake: FakeAnthropic, workdir: Path
) -> None:
    team = example_team(workdir, limits={"budget_usd": 5.0, "max_parallel": 4})
    answer = review_result("LOW", "a.py:1", "x", "y")
    # The first calls of the storm are refused; the CLI retries them after 0.2 s.
    fake.add_rule(Rule(content="PODIUM TASK", status=429, retry_after=0.2, times=3))
    fake.add_rule(Rule(content="PODIUM TASK", text=answer))
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    plan = {"tasks": [task(f"t{i}", "anga") for i in range(10)]}

    run = await engine.wait((await engine.submit("r", team=team, plan=plan)).id, 300)

    assert run.state is RunState.COMPLETE, run.error
    assert [t.state for t in run.tasks] == [TaskState.COMPLETE] * 10
    retries = [e for e in await engine.runtime.events(limit=10_000) if e.kind.value == "api_retry"]
    assert retries, "the fake's 429s never reached the CLI"
    (model,) = run.concurrency
    width = run.concurrency[model]
    assert width["ceiling"] == 4
    assert width["decreases"] >= 1
    assert width["min_width"] < 4
    assert width["increases"] >= 1
    assert width["width"] > width["min_width"]
    # `podium show RUN --json` prints the record: the figures are in it.
    assert run.to_dict()["concurrency"][model]["decreases"] == width["decreases"]


def _request(state: RequestState, status: int | None = None) -> RequestRecord:
    meta = {} if status is None else {"api_error_status": status}
    return RequestRecord(
        id="w-000001-00000000",
        agent="w",
        seq=1,
        prompt="p",
        state=state,
        submitted_at=0.0,
        source=RequestSource.TASK,
        meta=meta,
    )


def _retry(agent: str, status: int) -> Event:
    return Event(id=1, ts=0.0, kind=EventKind.API_RETRY, agent=agent, data={"error_status": status})


async def test_aimd_halves_once_per_storm_floors_at_one_and_grows_by_one() -> None:
    seen: list[dict[str, dict[str, int]]] = []
    width = AdaptiveWidth(8, increase_after=2, on_change=seen.append)
    tickets = [await width.acquire("m", f"a{i}") for i in range(8)]
    # Every in-flight turn hits the same 529 storm: one decrease, not eight.
    for i in range(8):
        width.on_event(_retry(f"a{i}", 529))
    assert width.snapshot()["m"]["width"] == 4
    assert width.snapshot()["m"]["decreases"] == 1
    # A ninth turn waits: 8 are in flight, the width is 4.
    ninth = asyncio.ensure_future(width.acquire("m", "late"))
    await asyncio.sleep(0)
    assert not ninth.done()
    for ticket in tickets:
        width.release(ticket, _request(RequestState.COMPLETE))  # their results are kept
    late = await ninth
    # A later storm (a turn started after the decrease) halves again, down to 1.
    width.on_event(_retry("late", 429))
    width.release(late, _request(RequestState.FAILED, 429))
    for round_ in range(3):
        ticket = await width.acquire("m", f"r{round_}")
        width.on_event(_retry(f"r{round_}", 429))
        width.release(ticket, _request(RequestState.COMPLETE))
    assert width.snapshot()["m"]["width"] == 1
    assert width.snapshot()["m"]["min_width"] == 1
    for i in range(4):
        ticket = await width.acquire("m", f"ok{i}")
        width.release(ticket, _request(RequestState.COMPLETE))
    assert width.snapshot()["m"]["width"] == 3  # +1 per 2 successes
    assert width.snapshot()["m"]["increases"] == 2
    assert seen[-1] == width.snapshot()
    assert width.snapshot()["m"]["in_flight"] == 0
