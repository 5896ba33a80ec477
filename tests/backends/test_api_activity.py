"""The API backends report each API call as an ``api_call`` event; tell queues behind a turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from podium import TellMode
from podium._records import EventKind, RequestState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, FakeOpenAI, Rule, Usage
from tests.backends.conftest import ANTHROPIC, FLAVORS, Flavor, ask_done, served_by


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_each_api_call_is_an_event_with_model_and_usage(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    served_by(flavor, fake, fake_openai).add_rule(Rule(text="hi", usage=Usage(120, 7)))
    await rt.spawn("caller", backend=flavor.backend, model=flavor.model, cwd=workdir)
    done = await ask_done(rt, "caller", "hello")
    assert done.state is RequestState.COMPLETE, done.error
    [call] = [e for e in await rt.events(agent="caller") if e.kind is EventKind.API_CALL]
    assert call.request_id == done.id
    assert call.data["model"] == flavor.model_id
    assert call.data["backend"] == flavor.backend
    assert (call.data["usage"]["input_tokens"], call.data["usage"]["output_tokens"]) == (120, 7)


async def test_tell_to_a_busy_api_agent_is_queued_and_says_why(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    flavor = ANTHROPIC
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(content="slow", text="first", delay=2))
    api.add_rule(Rule(content="later", text="second"))
    await rt.spawn("busy", backend=flavor.backend, model=flavor.model, cwd=workdir)
    running = await rt.ask("busy", "slow")
    while (await rt.poll(running.id)).state is not RequestState.RUNNING:
        await asyncio.sleep(0.05)
    told = await rt.tell("busy", "later")
    assert told.mode is TellMode.ASKED
    assert told.reason is not None
    assert "cannot take a message mid-turn" in told.reason
    assert told.request.id != running.id
    assert (await rt.wait(running.id, 30)).result == "first"
    assert (await rt.wait(told.request.id, 30)).result == "second"
