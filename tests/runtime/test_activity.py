"""Activity events and tell, in-process: the real CLI against the fake API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from podium import TellMode
from podium._records import EventKind, RequestState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, ToolCall, message_text

# The CLI refuses a plain long `sleep`; this is as slow without being one.
SLOW = "python3 -c 'import time; time.sleep(3)'"
BASH = {"tools": ["Bash"], "allowed_tools": ["Bash"]}


async def _wait_for(runtime: Runtime, kind: EventKind, agent: str) -> None:
    after = 0
    for _ in range(600):
        events = await runtime.events(after=after, agent=agent, wait=0.5)
        for event in events:
            if event.kind is kind:
                return
            after = event.id
    raise AssertionError(f"no {kind} event")


async def test_a_tool_turn_reports_its_activity_while_it_runs(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(
        Rule(
            content="do the chore",
            tool_calls=[
                ToolCall(name="Bash", input={"command": f"{SLOW} # API_KEY=abcd1234secret"})
            ],
        )
    )
    fake.add_rule(Rule(tool_result=True, text="chore done"))
    await runtime.spawn("worker", cwd=workdir, options=BASH)
    request = await runtime.ask("worker", "do the chore")
    await _wait_for(runtime, EventKind.TOOL_STARTED, "worker")
    assert not (await runtime.poll(request.id)).done  # seen while the tool still runs
    done = await runtime.wait(request.id, 60)
    assert done.state is RequestState.COMPLETE
    events = [e for e in await runtime.events(agent="worker") if e.request_id == request.id]
    kinds = [e.kind for e in events]
    started = next(e for e in events if e.kind is EventKind.TOOL_STARTED)
    assert started.data["tool"] == "Bash"
    assert "time.sleep(3)" in started.data["input"]
    assert "abcd1234secret" not in started.data["input"]
    finished = next(e for e in events if e.kind is EventKind.TOOL_FINISHED)
    assert finished.data["tool_use_id"] == started.data["tool_use_id"]
    assert finished.data["ok"] is True
    assert finished.data["seconds"] > 0
    calls = [e for e in events if e.kind is EventKind.API_CALL]
    assert len(calls) == 2
    assert calls[0].data["usage"]["input_tokens"] > 0
    assert kinds.index(EventKind.TOOL_STARTED) < kinds.index(EventKind.TOOL_FINISHED)


async def test_tell_joins_the_running_turn_and_it_ends_with_one_answer(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="STEER-7", tool_result=True, text="steered answer"))
    fake.add_rule(
        Rule(content="do the chore", tool_calls=[ToolCall(name="Bash", input={"command": SLOW})])
    )
    fake.add_rule(Rule(tool_result=True, text="unsteered answer"))
    await runtime.spawn("worker", cwd=workdir, options=BASH)
    request = await runtime.ask("worker", "do the chore")
    await _wait_for(runtime, EventKind.TOOL_STARTED, "worker")
    told = await runtime.tell("worker", "STEER-7: use the other file")
    assert told.mode is TellMode.STEERED
    assert told.request.id == request.id
    done = await runtime.wait(request.id, 60)
    assert done.state is RequestState.COMPLETE
    assert done.result == "steered answer"
    assert [s["text"] for s in done.meta["steering"]] == ["STEER-7: use the other file"]
    # The message went into the same turn's next call, after the tool's result.
    last = fake.requests[-1]
    assert "STEER-7: use the other file" in message_text(last.messages[-1])
    assert "tool_result" in str(last.messages[-1])
    assert len(await runtime.list_requests(agent="worker")) == 1
    kinds = [e.kind for e in await runtime.events(agent="worker") if e.request_id == request.id]
    assert kinds.count(EventKind.REQUEST_FINISHED) == 1
    assert EventKind.TOLD in kinds


async def test_tell_after_the_last_call_still_gives_one_request_and_the_next_ask_its_own(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    # Told while the turn's final call is under way: the CLI answers it in a turn of
    # its own, which podium folds into the running request.
    fake.add_rule(Rule(content="LATE-3", text="late answer"))
    fake.add_rule(Rule(content="slow final", text="first answer", delay=3))
    fake.add_rule(Rule(content="next one", text="next answer"))
    await runtime.spawn("worker", cwd=workdir)
    request = await runtime.ask("worker", "slow final")
    await _wait_for(runtime, EventKind.REQUEST_STARTED, "worker")
    await asyncio.sleep(1)
    told = await runtime.tell("worker", "LATE-3 too")
    assert told.mode is TellMode.STEERED
    done = await runtime.wait(request.id, 60)
    assert done.result == "late answer"
    following = await runtime.ask("worker", "next one")
    assert (await runtime.wait(following.id, 60)).result == "next answer"


async def test_tell_to_an_idle_agent_is_an_ordinary_ask(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="hello", text="hi"))
    await runtime.spawn("idle", cwd=workdir)
    told = await runtime.tell("idle", "hello")
    assert told.mode is TellMode.ASKED
    assert (await runtime.wait(told.request.id, 60)).result == "hi"


async def test_tell_refuses_an_empty_message(runtime: Runtime, workdir: Path) -> None:
    from podium._errors import InvalidPrompt

    await runtime.spawn("idle", cwd=workdir, start=False)
    with pytest.raises(InvalidPrompt):
        await runtime.tell("idle", "  ")
