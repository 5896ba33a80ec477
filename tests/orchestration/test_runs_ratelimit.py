"""Rate limits count every API call a turn makes, not one per turn.

A Claude Code turn with tool use is several model calls (call, tool, call).
Real CLI processes against the fake API; the limiter's window is scaled from
60 s down to a few seconds where a test waits on it (the code path is the
one the daemon uses).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.orchestration import ModelLimits, RateLimiter, RunState, TaskState
from podium.orchestration._turns import Turns
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, ToolCall, Usage

from ._run_helpers import (
    example_team,
    lead_rules,
    review_result,
    started_engine,
    task,
)

pytestmark = pytest.mark.cli


def _look_then_answer(marker: str, answer: str, **usage: Usage) -> list[Rule]:
    """Two model calls per turn: a Glob tool call, then the answer after its result."""
    glob = ToolCall(name="Glob", input={"pattern": "*.py"})
    return [
        Rule(content=marker, tool_result=False, tool_calls=[glob], usage=usage.get("first")),
        Rule(any_content=marker, tool_result=True, text=answer, usage=usage.get("second")),
    ]


async def test_a_turn_with_tool_use_counts_every_call_and_its_tokens(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    limiter = RateLimiter(period=600.0)  # nothing expires during the test
    limiter.configure("haiku", ModelLimits(requests_per_minute=100))
    turns = Turns(runtime, limiter)
    try:
        await runtime.spawn("probe", model="haiku", cwd=str(workdir), options={"tools": ["Glob"]})
        turns.bind("probe", "haiku")
        for rule in _look_then_answer(
            "COUNT ME",
            "done",
            first=Usage(input_tokens=1000, output_tokens=30),
            second=Usage(input_tokens=1200, output_tokens=40),
        ):
            fake.add_rule(rule)
        assert turns.expected_calls("haiku") == 1  # nothing known yet

        request, _ = await turns.ask("probe", "COUNT ME", timeout=120, meta={})

        assert request.state.value == "complete", request.error
        assert len(fake.requests_matching(any_content="COUNT ME")) == 2
        # The backend counted both calls from the CLI's stream, in the request's record.
        assert request.meta["api_calls"] == 2
        used = limiter.snapshot()["haiku"]
        assert used["requests_used"] == 2
        assert used["input_tokens_used"] == 2200
        assert used["output_tokens_used"] == 70
        # The next turn of the model is leased for as many calls up front.
        assert turns.expected_calls("haiku") == 2

        fake.add_rule(Rule(content="ONE CALL", text="short", usage=Usage(10, 5)))
        request, _ = await turns.ask("probe", "ONE CALL", timeout=120, meta={})
        assert request.state.value == "complete", request.error
        used = limiter.snapshot()["haiku"]
        # Leased for 2, made 1: the spare unit is not handed back early (it expires).
        assert used["requests_used"] == 4
        assert used["output_tokens_used"] == 75
        assert turns.expected_calls("haiku") == 2  # ceil(mean(2, 1))
    finally:
        turns.close()


async def test_requests_per_window_hold_when_every_turn_makes_two_calls(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    period = 3.0
    team = example_team(
        workdir,
        limits={"max_parallel": 4},
        extra_toml="\n[rate_limits.haiku]\nrequests_per_minute = 2\n",
    )
    answer = review_result("LOW", "a.py:1", "x", "y")
    for rule in _look_then_answer(r"PODIUM TASK p\d", answer):
        fake.add_rule(rule)
    for rule in lead_rules("", "final"):
        fake.add_rule(rule)
    # p0 first (its turn teaches the limiter that a turn is two calls), then four
    # tasks that could all run at once: each needs a whole window of two calls.
    plan = {"tasks": [task("p0", "anga"), *(task(f"p{i}", "anga", ("p0",)) for i in range(1, 5))]}

    async with started_engine(runtime, limiter=RateLimiter(period=period)) as engine:
        run = await engine.wait((await engine.submit("r", team=team, plan=plan)).id, 180)

    assert run.state is RunState.COMPLETE, run.error
    assert all(t.state is TaskState.COMPLETE for t in run.tasks)
    for t in run.tasks:
        calls = fake.requests_matching(any_content=rf"(?m)^PODIUM TASK {t.task_id}$")
        assert len(calls) == 2, t.task_id
    # Every model call anga's tasks made, as the API saw them: never more than
    # 2 in any window of the period.
    stamps = sorted(r.received_at for r in fake.requests_matching(any_content=r"PODIUM TASK p\d"))
    assert len(stamps) == 10
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + period]
        assert len(in_window) <= 2, stamps
