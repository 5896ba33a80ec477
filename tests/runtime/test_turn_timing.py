"""A request records how long the Claude Code process took for its turn
(``meta["process_ms"]``: its prompt written to its result line read), so that what
podium adds around a turn can be told apart from the turn itself."""

from __future__ import annotations

from pathlib import Path

from podium import RequestState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule


async def test_process_time_holds_the_model_call_and_fits_in_the_request(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(text="slow answer", delay=0.4, content="take your time"))
    await runtime.spawn("timed", cwd=workdir)
    done = await runtime.wait((await runtime.ask("timed", "take your time")).id, timeout=60)
    assert done.state is RequestState.COMPLETE, done.error
    process_ms = done.meta["process_ms"]
    # The fake held its answer back 0.4 s: the process's turn holds that wait...
    assert process_ms >= 400
    # ...and fits in the request's own time, from queued to finished.
    assert done.completed_at is not None
    assert process_ms <= (done.completed_at - done.submitted_at) * 1000
    # Each turn is timed on its own.
    fake.add_rule(Rule(text="quick answer"))
    again = await runtime.wait((await runtime.ask("timed", "now quickly")).id, timeout=60)
    assert again.result == "quick answer"
    assert again.meta["process_ms"] < process_ms
