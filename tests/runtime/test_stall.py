"""Stuck turns: no stream line and no transcript growth for ``stall_timeout`` seconds.

The fake API hangs a call (a rule with a long ``delay`` sends no byte at all), so
the real CLI sits waiting exactly as it would on a wedged connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podium._errors import InvalidOptions
from podium._records import EventKind, RequestState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule


async def _stalled_events(rt: Runtime, request_id: str) -> list[dict[str, object]]:
    return [
        e.data
        for e in await rt.events(limit=10_000)
        if e.kind is EventKind.REQUEST_STALLED and e.request_id == request_id
    ]


async def test_a_stalled_turn_is_flagged_interrupted_and_retried_once(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="slow question", text="never sent", delay=3600, times=1))
    fake.add_rule(Rule(content="slow question", text="the answer after all"))
    await runtime.spawn(
        "patient", cwd=workdir, options={"stall_timeout": 2, "stall_policy": "retry"}
    )
    request = await runtime.ask("patient", "slow question")
    done = await runtime.wait(request.id, timeout=120)

    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "the answer after all"
    stalls = done.meta["stalls"]
    assert len(stalls) == 1
    assert stalls[0]["action"] == "retried"
    assert stalls[0]["stalled_s"] >= 2
    assert stalls[0]["stall_timeout"] == 2
    # The last thing the CLI said before going quiet: the turn's init.
    assert stalls[0]["last_event"] == "system/init"
    events = await _stalled_events(runtime, request.id)
    assert [e["action"] for e in events] == ["retried"]
    assert len(fake.requests_matching("slow question")) == 2


async def test_a_stalled_turn_fails_with_the_evidence_under_the_fail_policy(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="stuck question", text="never sent", delay=3600, times=1))
    fake.add_rule(Rule(text="fine"))
    await runtime.spawn("strict", cwd=workdir, options={"stall_timeout": 2, "stall_policy": "fail"})
    request = await runtime.ask("strict", "stuck question")
    done = await runtime.wait(request.id, timeout=120)

    assert done.state is RequestState.FAILED
    assert done.error is not None
    assert done.error.startswith("stalled: no progress for")
    assert "last stream event: system/init" in done.error
    assert "stall_policy fail" in done.error
    assert done.meta["stalls"][0]["action"] == "failed"
    assert [e["action"] for e in await _stalled_events(runtime, request.id)] == ["failed"]
    assert len(fake.requests_matching("stuck question")) == 1

    # The agent serves its next request as usual.
    after = await runtime.wait((await runtime.ask("strict", "next one")).id, timeout=60)
    assert after.state is RequestState.COMPLETE, after.error


async def test_a_turn_stalled_twice_fails_after_its_one_retry(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="hopeless", text="never sent", delay=3600))
    await runtime.spawn("unlucky", cwd=workdir, options={"stall_timeout": 2})
    request = await runtime.ask("unlucky", "hopeless")
    done = await runtime.wait(request.id, timeout=120)

    assert done.state is RequestState.FAILED
    assert done.error is not None
    assert "it had been retried once" in done.error
    assert [s["action"] for s in done.meta["stalls"]] == ["retried", "failed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stall_timeout": -1}, "option 'stall_timeout' must be a finite number >= 0"),
        ({"stall_timeout": "soon"}, "option 'stall_timeout' must be a number >= 0"),
        ({"stall_policy": "shrug"}, "option 'stall_policy' must be 'retry' or 'fail'"),
    ],
)
async def test_stall_options_are_checked_before_anything_is_written(
    runtime: Runtime, workdir: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOptions, match=message):
        await runtime.spawn("picky", cwd=workdir, options=options)
    assert await runtime.list_agents() == []
