"""Batch mode on anthropic-api: turns of several agents go out as one Message Batch,
each answer goes back to the turn that asked, at the Batch API's half price."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from podium._records import RequestState
from podium.pricing import default_price_table
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, FakeOpenAI, Rule, Usage, message_text
from tests.backends.conftest import (
    ANTHROPIC,
    api_env,
    ask_done,
    history_lines,
    open_runtime,
)

PRICES = default_price_table()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.02)


async def _spawn_batched(rt: Runtime, name: str, workdir: Path) -> None:
    await rt.spawn(
        name,
        backend="anthropic-api",
        model="sonnet",
        system_prompt=f"You are {name.upper()}.",
        cwd=workdir,
        options={"batch": True},
    )


async def test_concurrent_turns_share_one_batch_and_cost_half(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="alpha", text="ALPHA-ANSWER", usage=Usage(1000, 100)))
    fake.add_rule(Rule(content="beta", text="BETA-ANSWER", usage=Usage(2000, 300)))
    await _spawn_batched(rt, "b1", workdir)
    await _spawn_batched(rt, "b2", workdir)

    asked = [await rt.ask("b1", "alpha task"), await rt.ask("b2", "beta task")]
    r1, r2 = await asyncio.gather(*(rt.wait(r.id, timeout=30) for r in asked))
    assert r1.state is RequestState.COMPLETE, r1.error
    assert r2.state is RequestState.COMPLETE, r2.error
    assert r1.result == "ALPHA-ANSWER"
    assert r2.result == "BETA-ANSWER"

    [batch] = fake.batches()
    assert len(batch.requests) == 2
    assert batch.count("succeeded") == 2
    by_prompt = {message_text(r.params["messages"][-1]): r for r in batch.requests}
    assert set(by_prompt) == {"alpha task", "beta task"}
    assert "You are B1." in str(by_prompt["alpha task"].params["system"])
    assert "You are B2." in str(by_prompt["beta task"].params["system"])
    # Nothing went through the live Messages endpoint.
    assert fake.message_requests() == []

    for done, usage in ((r1, Usage(1000, 100)), (r2, Usage(2000, 300))):
        assert done.meta["batch_id"] == batch.id
        assert done.model == ANTHROPIC.model_id
        assert (done.usage.input_tokens, done.usage.output_tokens) == (
            usage.input_tokens,
            usage.output_tokens,
        )
        full = PRICES.cost(ANTHROPIC.model_id, done.usage)
        assert full is not None
        assert done.cost_usd == pytest.approx(
            PRICES.cost(ANTHROPIC.model_id, done.usage, batch=True)
        )
        assert done.cost_usd == pytest.approx(full / 2)
    assert len(await history_lines(rt, "b1")) == 2


async def test_a_batched_turn_carries_the_history_and_waits_for_the_batch_to_end(
    home: Path, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    with FakeAnthropic(batch_delay=None) as slow:
        slow.add_rule(Rule(content="first", text="FIRST-BATCHED"))
        async with open_runtime(home, api_env(slow, fake_openai)) as rt:
            await _spawn_batched(rt, "patient", workdir)
            first = await rt.ask("patient", "first job")
            await _until(lambda: bool(slow.batches()))
            # The batch is in progress: the turn is still running, not failed or guessed.
            assert (await rt.poll(first.id)).state is RequestState.RUNNING
            slow.end_batches()
            done = await rt.wait(first.id, timeout=30)
            assert done.state is RequestState.COMPLETE, done.error
            assert done.result == "FIRST-BATCHED"

            slow.batch_delay = 0.0
            second = await ask_done(rt, "patient", "second job")
            assert second.state is RequestState.COMPLETE, second.error
        first_batch, second_batch = slow.batches()
        assert second.meta["batch_id"] == second_batch.id != first_batch.id
        [entry] = second_batch.requests
        assert [(m["role"], message_text(m)) for m in entry.params["messages"]] == [
            ("user", "first job"),
            ("assistant", "FIRST-BATCHED"),
            ("user", "second job"),
        ]


async def test_an_errored_batch_entry_fails_only_its_own_request(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="beta", status=400, error_message="beta is malformed"))
    fake.add_rule(Rule(content="alpha", text="ALPHA-ANSWER"))
    await _spawn_batched(rt, "ok", workdir)
    await _spawn_batched(rt, "bad", workdir)

    asked = [await rt.ask("ok", "alpha task"), await rt.ask("bad", "beta task")]
    good, failed = await asyncio.gather(*(rt.wait(r.id, timeout=30) for r in asked))
    [batch] = fake.batches()
    assert batch.count("succeeded") == 1
    assert batch.count("errored") == 1

    assert good.state is RequestState.COMPLETE, good.error
    assert good.result == "ALPHA-ANSWER"
    assert failed.state is RequestState.FAILED
    assert failed.error is not None
    assert "beta is malformed" in failed.error
    assert batch.id in failed.error
    assert failed.cost_usd == 0.0
    info = await rt.info("bad")
    assert not (Path(info["state_dir"]) / "conversation.jsonl").exists()


async def test_cancelling_the_only_waiting_turn_cancels_its_batch(
    home: Path, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    # A batch nobody waits for any more is not left to run (and be billed).
    with FakeAnthropic(batch_delay=None) as slow:
        async with open_runtime(home, api_env(slow, fake_openai)) as rt:
            await _spawn_batched(rt, "quitter", workdir)
            asked = await rt.ask("quitter", "long job")
            await _until(lambda: bool(slow.batches()))
            await rt.cancel(asked.id)
            done = await rt.wait(asked.id, timeout=30)
            assert done.state is RequestState.CANCELLED
            await _until(lambda: slow.batches()[0].processing_status != "in_progress")
            info = await rt.info("quitter")
            assert not (Path(info["state_dir"]) / "conversation.jsonl").exists()
        [batch] = slow.batches()
        assert batch.cancel_initiated_at is not None
