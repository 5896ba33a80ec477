"""Retries honour retry-after and are recorded; overload walks the fallback chain.

Retry pauses come from the fakes' ``retry-after`` (0-0.1 s here), so these
tests go through the real waiting code without being slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium._records import EventKind, RequestState
from podium.pricing import default_price_table
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, FakeOpenAI, Rule
from tests.backends.conftest import (
    ANTHROPIC,
    FLAVORS,
    HAIKU_ID,
    OPENAI,
    Flavor,
    ask_done,
    dialogue,
    history_lines,
    served_by,
)

PRICES = default_price_table()


async def _events(rt: Runtime, agent: str, kind: EventKind) -> list[dict[str, Any]]:
    return [e.data for e in await rt.events(agent=agent) if e.kind is kind]


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_rate_limit_is_retried_after_the_servers_pause_and_recorded(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(status=429, retry_after=0.1, times=1))
    api.add_rule(Rule(text="after the pause"))
    await rt.spawn("rl", backend=flavor.backend, model=flavor.model, cwd=workdir)
    done = await ask_done(rt, "rl", "count the invoices")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "after the pause"
    assert done.api_retries == 1

    [retry] = await _events(rt, "rl", EventKind.API_RETRY)
    assert retry["error_status"] == 429
    assert retry["attempt"] == 1
    assert retry["retry_delay_ms"] == 100  # the server's retry-after, not a guess
    assert retry["model"] == flavor.model_id

    first, second = api.message_requests()
    assert first.status == 429
    assert second.status == 200
    # The retry is the same turn sent again.
    assert dialogue(first) == dialogue(second) == [("user", "count the invoices")]
    assert len(await history_lines(rt, "rl")) == 2


FALLBACKS = [
    pytest.param(ANTHROPIC, {"model": "haiku"}, HAIKU_ID, id="anthropic-mapping"),
    pytest.param(ANTHROPIC, "haiku", HAIKU_ID, id="anthropic-string"),
    pytest.param(OPENAI, {"model": "gpt-4o"}, "gpt-4o", id="openai-mapping"),
]


@pytest.mark.parametrize(("flavor", "entry", "fallback_id"), FALLBACKS)
async def test_overloaded_model_falls_back_to_the_next_one(
    rt: Runtime,
    fake: FakeAnthropic,
    fake_openai: FakeOpenAI,
    workdir: Path,
    flavor: Flavor,
    entry: Any,
    fallback_id: str,
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(model=f"^{flavor.model_id}$", status=529, retry_after=0))
    api.add_rule(Rule(model=f"^{fallback_id}$", text="answered by the fallback"))
    await rt.spawn(
        "fb",
        backend=flavor.backend,
        model=flavor.model,
        system_prompt="FALLBACK-SYS",
        cwd=workdir,
        options={"fallback": [entry]},
    )
    done = await ask_done(rt, "fb", "summarise the quarter")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "answered by the fallback"
    assert done.model == fallback_id
    assert done.cost_usd == pytest.approx(PRICES.cost(fallback_id, done.usage))

    [taken] = done.meta["fallbacks"]
    assert taken["from"] == f"{flavor.backend}:{flavor.model}"
    assert taken["to"].startswith(f"{flavor.backend}:")
    assert taken["status"] == 529
    [event] = await _events(rt, "fb", EventKind.MODEL_FALLBACK)
    assert (event["from"], event["to"]) == (taken["from"], taken["to"])
    retries = await _events(rt, "fb", EventKind.API_RETRY)
    assert done.api_retries == len(retries)
    assert all(r["error_status"] == 529 for r in retries)

    sent = api.message_requests()
    primary = [r for r in sent if r.model == flavor.model_id]
    [fallback] = [r for r in sent if r.model == fallback_id]
    assert len(primary) == 1 + len(retries)
    assert all(r.status == 529 for r in primary)
    # The fallback model gets the very same turn: system prompt and conversation.
    assert "FALLBACK-SYS" in fallback.system_text
    assert dialogue(fallback) == [("user", "summarise the quarter")]
    assert await history_lines(rt, "fb") == [
        {"role": "user", "content": "summarise the quarter"},
        {"role": "assistant", "content": "answered by the fallback"},
    ]


async def test_fallback_to_another_backend_carries_the_conversation(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    fake.add_rule(Rule(content="first question", text="FIRST-ANSWER", times=1))
    fake.add_rule(Rule(status=529, retry_after=0))  # Anthropic is overloaded from now on
    fake_openai.add_rule(Rule(text="FROM-OPENAI"))
    await rt.spawn(
        "cross",
        backend="anthropic-api",
        model="sonnet",
        system_prompt="CROSS-SYS",
        cwd=workdir,
        options={"fallback": [{"backend": "openai", "model": "gpt-4o-mini"}]},
    )
    first = await ask_done(rt, "cross", "first question")
    assert first.state is RequestState.COMPLETE, first.error
    assert first.meta["backend"] == "anthropic-api"
    assert fake_openai.message_requests() == []

    second = await ask_done(rt, "cross", "second question")
    assert second.state is RequestState.COMPLETE, second.error
    assert second.result == "FROM-OPENAI"
    assert second.model == "gpt-4o-mini"
    assert second.meta["backend"] == "openai"
    assert second.cost_usd == pytest.approx(PRICES.cost("gpt-4o-mini", second.usage))
    [taken] = second.meta["fallbacks"]
    assert taken["from"] == "anthropic-api:sonnet"
    assert taken["to"] == "openai:gpt-4o-mini"

    [sent] = fake_openai.message_requests()
    assert sent.model == "gpt-4o-mini"
    assert "CROSS-SYS" in sent.system_text
    assert dialogue(sent) == [
        ("user", "first question"),
        ("assistant", "FIRST-ANSWER"),
        ("user", "second question"),
    ]

    # Anthropic is back: the agent's own model sees the fallback's answer as history.
    fake.clear_rules()
    fake.add_rule(Rule(text="BACK-ON-ANTHROPIC"))
    third = await ask_done(rt, "cross", "third question")
    assert third.state is RequestState.COMPLETE, third.error
    assert third.result == "BACK-ON-ANTHROPIC"
    assert third.model == ANTHROPIC.model_id
    assert dialogue(fake.message_requests()[-1]) == [
        ("user", "first question"),
        ("assistant", "FIRST-ANSWER"),
        ("user", "second question"),
        ("assistant", "FROM-OPENAI"),
        ("user", "third question"),
    ]


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_persistent_overload_without_fallback_fails_after_max_retries(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(status=529, retry_after=0))
    await rt.spawn(
        "busy",
        backend=flavor.backend,
        model=flavor.model,
        cwd=workdir,
        options={"max_retries": 1},
    )
    done = await ask_done(rt, "busy", "anyone there?")
    assert done.state is RequestState.FAILED
    assert done.error is not None
    assert "529" in done.error
    assert done.api_retries == 1
    assert len(api.message_requests()) == 2  # the first try and one retry
    [retry] = await _events(rt, "busy", EventKind.API_RETRY)
    assert retry["error_status"] == 529
    assert retry["max_retries"] == 1
    assert "fallbacks" not in done.meta
    info = await rt.info("busy")
    assert not (Path(info["state_dir"]) / "conversation.jsonl").exists()


async def test_every_route_overloaded_fails_naming_the_last_one(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(status=529, retry_after=0))
    await rt.spawn(
        "doomed",
        backend="anthropic-api",
        model="sonnet",
        cwd=workdir,
        options={"fallback": ["haiku"], "max_retries": 0},
    )
    done = await ask_done(rt, "doomed", "hello?")
    assert done.state is RequestState.FAILED
    assert done.error is not None
    assert "anthropic-api:haiku" in done.error
    assert "529" in done.error
    [taken] = done.meta["fallbacks"]
    assert (taken["from"], taken["to"]) == ("anthropic-api:sonnet", "anthropic-api:haiku")
    assert [r.model for r in fake.message_requests()] == [ANTHROPIC.model_id, HAIKU_ID]


async def test_a_bad_request_does_not_fall_back(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    # Only overload moves a turn elsewhere: a request the API refuses would be
    # refused by the next model too, and must not be paid for twice.
    fake.add_rule(Rule(status=400, error_message="prompt is too long"))
    await rt.spawn(
        "strict",
        backend="anthropic-api",
        model="sonnet",
        cwd=workdir,
        options={"fallback": ["haiku"]},
    )
    done = await ask_done(rt, "strict", "hello")
    assert done.state is RequestState.FAILED
    assert done.error is not None
    assert "prompt is too long" in done.error
    assert "fallbacks" not in done.meta
    assert [r.model for r in fake.message_requests()] == [ANTHROPIC.model_id]


async def test_openai_overload_503_falls_back_like_anthropics_529(
    rt: Runtime, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    # OpenAI-compatible servers (OpenAI, vLLM) say "overloaded" with 503, as the
    # fake does when it stops; a fallback chain must be walked for it as for 529.
    fake_openai.add_rule(
        Rule(model="^gpt-4o-mini$", status=503, error_message="engine overloaded", retry_after=0)
    )
    fake_openai.add_rule(Rule(model="^gpt-4o$", text="answered by the fallback"))
    await rt.spawn(
        "oai",
        backend="openai",
        model="gpt-4o-mini",
        cwd=workdir,
        options={"fallback": ["gpt-4o"]},
    )
    done = await ask_done(rt, "oai", "summarise the quarter")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.model == "gpt-4o"
    [taken] = done.meta["fallbacks"]
    assert (taken["from"], taken["to"], taken["status"]) == (
        "openai:gpt-4o-mini",
        "openai:gpt-4o",
        503,
    )
