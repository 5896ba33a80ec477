"""The anthropic-api and openai backends through the runtime, against the fake APIs.

What a user relies on: the request that reaches the API carries the system
prompt and the whole conversation podium keeps, the history survives a restart,
every turn is priced from the price table (or marked unknown, never free), and
a failed turn leaves the history as it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium import _errors as errors
from podium._records import AgentStatus, EventKind, RequestState
from podium._records import Usage as Tokens
from podium.backends._api_backend import ProviderContext
from podium.backends._api_types import Completion, CompletionRequest, Route
from podium.backends.anthropic_api import AnthropicAPIBackend
from podium.backends.anthropic_api._provider import AnthropicProvider
from podium.backends.openai_compat import OpenAIBackend
from podium.pricing import default_price_table
from podium.runtime import Runtime, RuntimeConfig
from podium.testing import ChatUsage, FakeAnthropic, FakeOpenAI, Rule, Usage
from tests.backends.conftest import (
    ANTHROPIC,
    BIG_SYSTEM,
    FLAVORS,
    OPENAI,
    Flavor,
    api_env,
    ask_done,
    dialogue,
    history_lines,
    open_runtime,
    served_by,
)

PRICES = default_price_table()


# ---------------------------------------------------------------- spawn, ask, history, cost


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_answers_carry_system_prompt_and_history_and_are_priced(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(content="capital of France", text="Paris", usage=Usage(1000, 200)))
    api.add_rule(Rule(content="And of Italy", text="Rome", usage=Usage(2500, 40)))
    agent = await rt.spawn(
        "geo",
        backend=flavor.backend,
        model=flavor.model,
        system_prompt="You are GEO-BOT.",
        cwd=workdir,
    )
    assert agent.status is AgentStatus.IDLE
    assert agent.pid is None  # no process: the conversation is podium's

    q1, q2 = "What is the capital of France?", "And of Italy?"
    r1 = await ask_done(rt, "geo", q1)
    assert r1.state is RequestState.COMPLETE, r1.error
    assert r1.result == "Paris"
    assert r1.model == flavor.model_id
    assert (r1.usage.input_tokens, r1.usage.output_tokens) == (1000, 200)
    assert r1.cost_known
    assert r1.cost_usd == pytest.approx(PRICES.cost(flavor.model_id, r1.usage))
    assert r1.cost_usd > 0

    [first] = api.message_requests()
    assert first.model == flavor.model_id
    assert "You are GEO-BOT." in first.system_text
    assert dialogue(first) == [("user", q1)]

    r2 = await ask_done(rt, "geo", q2)
    assert r2.state is RequestState.COMPLETE, r2.error
    assert r2.result == "Rome"
    second = api.message_requests()[1]
    # The API is stateless: podium sends the first exchange again.
    assert dialogue(second) == [("user", q1), ("assistant", "Paris"), ("user", q2)]
    assert "You are GEO-BOT." in second.system_text
    assert r2.cost_usd == pytest.approx(
        PRICES.cost(flavor.model_id, Tokens(input_tokens=2500, output_tokens=40))
    )

    assert await history_lines(rt, "geo") == [
        {"role": "user", "content": q1},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": q2},
        {"role": "assistant", "content": "Rome"},
    ]
    agent = await rt.get_agent("geo")
    assert agent.request_count == 2
    assert agent.cost_usd == pytest.approx(r1.cost_usd + r2.cost_usd)
    assert agent.unpriced_requests == 0
    assert (agent.usage.input_tokens, agent.usage.output_tokens) == (3500, 240)
    assert agent.resolved_model == flavor.model_id
    assert agent.has_session


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("flavor", FLAVORS)
async def test_streamed_and_plain_answers_arrive_whole(
    rt: Runtime,
    fake: FakeAnthropic,
    fake_openai: FakeOpenAI,
    workdir: Path,
    flavor: Flavor,
    stream: bool,
) -> None:
    api = served_by(flavor, fake, fake_openai)
    # Longer than one streamed chunk, so a stream must be put back together.
    long_answer = "".join(f"line {i}: all figures reconciled. " for i in range(12))
    api.add_rule(Rule(text=long_answer, usage=Usage(100, 80)))
    await rt.spawn(
        "s",
        backend=flavor.backend,
        model=flavor.model,
        cwd=workdir,
        options={"stream": stream, "max_tokens": 321},
    )
    done = await ask_done(rt, "s", "report please")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == long_answer
    assert (done.usage.input_tokens, done.usage.output_tokens) == (100, 80)
    [sent] = api.message_requests()
    assert sent.stream is stream
    assert sent.body["max_tokens"] == 321


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_append_system_prompt_follows_the_system_prompt(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    api = served_by(flavor, fake, fake_openai)
    await rt.spawn(
        "sys",
        backend=flavor.backend,
        model=flavor.model,
        system_prompt="BASE-PROMPT",
        cwd=workdir,
        options={"append_system_prompt": "APPENDED-RULES"},
    )
    assert (await ask_done(rt, "sys", "hi")).state is RequestState.COMPLETE
    [sent] = api.message_requests()
    system = sent.system_text
    assert "BASE-PROMPT" in system
    assert "APPENDED-RULES" in system
    assert system.index("BASE-PROMPT") < system.index("APPENDED-RULES")


# ---------------------------------------------------------------- prompt caching


@pytest.fixture
def caching_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(auto_cache=True) as server:
        yield server


def _uncached(usage: Tokens) -> Tokens:
    """The same prompt priced as if nothing had been cached."""
    whole = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    return Tokens(input_tokens=whole, output_tokens=usage.output_tokens)


async def test_anthropic_prompt_cache_is_written_then_read_and_priced_lower(
    home: Path, caching_fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    async with open_runtime(home, api_env(caching_fake, fake_openai)) as rt:
        await rt.spawn(
            "ledger", backend="anthropic-api", model="sonnet", system_prompt=BIG_SYSTEM, cwd=workdir
        )
        r1 = await ask_done(rt, "ledger", "Check the March ledger.")
        r2 = await ask_done(rt, "ledger", "Now the April ledger.")
    assert r1.state is r2.state is RequestState.COMPLETE
    model = ANTHROPIC.model_id

    assert r1.usage.cache_creation_input_tokens > 0
    assert r1.usage.cache_read_input_tokens == 0
    assert r2.usage.cache_read_input_tokens > 0
    # Cache reads cost a tenth of input: the turn is cheaper than the same tokens uncached.
    assert r2.cost_usd == pytest.approx(PRICES.cost(model, r2.usage))
    uncached = PRICES.cost(model, _uncached(r2.usage))
    assert uncached is not None
    assert r2.cost_usd < uncached
    # Writing the cache costs more than plain input, and is priced as such.
    assert r1.cost_usd == pytest.approx(PRICES.cost(model, r1.usage))

    for sent in caching_fake.message_requests():
        body = sent.body
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        last = body["messages"][-1]
        assert last["role"] == "user"
        assert last["content"][-1]["cache_control"] == {"type": "ephemeral"}
        # The API refuses more than four breakpoints in one request.
        assert json.dumps(body).count('"cache_control"') <= 4


async def test_cache_false_sends_no_cache_marks(
    home: Path, caching_fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    async with open_runtime(home, api_env(caching_fake, fake_openai)) as rt:
        await rt.spawn(
            "nocache",
            backend="anthropic-api",
            model="sonnet",
            system_prompt=BIG_SYSTEM,
            cwd=workdir,
            options={"cache": False},
        )
        r1 = await ask_done(rt, "nocache", "first")
        r2 = await ask_done(rt, "nocache", "second")
    assert r1.state is r2.state is RequestState.COMPLETE
    sent = caching_fake.message_requests()
    assert len(sent) == 2
    for record in sent:
        assert "cache_control" not in json.dumps(record.body)
    assert r2.usage.cache_read_input_tokens == 0
    assert r2.usage.cache_creation_input_tokens == 0


async def test_openai_cached_tokens_are_split_out_of_the_prompt(
    rt: Runtime, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    fake_openai.add_rule(
        Rule(usage=ChatUsage(prompt_tokens=2000, completion_tokens=50, cached_tokens=1500))
    )
    await rt.spawn("chat", backend="openai", model="gpt-4o-mini", cwd=workdir)
    done = await ask_done(rt, "chat", "hello")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.usage.cache_read_input_tokens == 1500
    assert done.usage.input_tokens == 500  # prompt minus cached: never billed twice
    assert done.usage.output_tokens == 50
    expected = PRICES.cost(
        "gpt-4o-mini", Tokens(input_tokens=500, output_tokens=50, cache_read_input_tokens=1500)
    )
    assert done.cost_usd == pytest.approx(expected)
    assert done.cost_usd < PRICES.cost("gpt-4o-mini", Tokens(input_tokens=2000, output_tokens=50))  # type: ignore[operator]


async def test_openai_automatic_prefix_cache_is_priced_as_cache_reads(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    with FakeOpenAI(auto_cache=True) as caching_openai:
        async with open_runtime(home, api_env(fake, caching_openai)) as rt:
            await rt.spawn(
                "chat", backend="openai", model="gpt-4o-mini", system_prompt=BIG_SYSTEM, cwd=workdir
            )
            r1 = await ask_done(rt, "chat", "Check the March ledger.")
            r2 = await ask_done(rt, "chat", "Now the April ledger.")
    assert r1.state is r2.state is RequestState.COMPLETE
    assert r1.usage.cache_read_input_tokens == 0
    assert r2.usage.cache_read_input_tokens > 0
    assert r2.usage.cache_creation_input_tokens == 0  # OpenAI reports reads only
    assert r2.cost_usd == pytest.approx(PRICES.cost("gpt-4o-mini", r2.usage))
    assert r2.cost_usd < PRICES.cost("gpt-4o-mini", _uncached(r2.usage))  # type: ignore[operator]
    # Chat servers cache on their own: podium sends no markers there.
    for sent in caching_openai.message_requests():
        assert "cache_control" not in json.dumps(sent.body)


# ---------------------------------------------------------------- unknown cost


async def test_unpriced_local_model_has_unknown_cost_never_zero(
    rt: Runtime, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    fake_openai.add_rule(Rule(text="local answer", usage=Usage(300, 30)))
    await rt.spawn("local", backend="openai", model="llama3.2", cwd=workdir)
    done = await ask_done(rt, "local", "hi")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "local answer"
    assert done.model == "llama3.2"
    assert not done.cost_known
    assert done.to_dict()["cost_usd"] is None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (300, 30)
    agent = await rt.get_agent("local")
    assert agent.unpriced_requests == 1
    assert agent.request_count == 1
    [finished] = [e for e in await rt.events(agent="local") if e.kind is EventKind.REQUEST_FINISHED]
    assert finished.data["cost_usd"] is None


# ---------------------------------------------------------------- restart, relay


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_history_survives_a_runtime_restart(
    home: Path,
    fake: FakeAnthropic,
    fake_openai: FakeOpenAI,
    workdir: Path,
    flavor: Flavor,
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(content="remember", text="Noted: the code is 7431."))
    env = api_env(fake, fake_openai)
    async with open_runtime(home, env) as rt:
        await rt.spawn("mem", backend=flavor.backend, model=flavor.model, cwd=workdir)
        first = await ask_done(rt, "mem", "Please remember the code 7431.")
        assert first.state is RequestState.COMPLETE, first.error

    async with open_runtime(home, env) as rt:
        assert (await rt.get_agent("mem")).status is AgentStatus.HIBERNATED
        again = await ask_done(rt, "mem", "What was the code?")
        assert again.state is RequestState.COMPLETE, again.error
        assert len(await history_lines(rt, "mem")) == 4
    last = api.message_requests()[-1]
    assert dialogue(last) == [
        ("user", "Please remember the code 7431."),
        ("assistant", "Noted: the code is 7431."),
        ("user", "What was the code?"),
    ]


@pytest.mark.parametrize(
    ("source", "target"),
    [(ANTHROPIC, OPENAI), (OPENAI, ANTHROPIC)],
    ids=["to-openai", "to-anthropic"],
)
async def test_relay_between_api_backends_forwards_the_answer_verbatim(
    rt: Runtime,
    fake: FakeAnthropic,
    fake_openai: FakeOpenAI,
    workdir: Path,
    source: Flavor,
    target: Flavor,
) -> None:
    served_by(source, fake, fake_openai).add_rule(Rule(text="SOURCE-FINDING: 42 widgets"))
    await rt.spawn("src", backend=source.backend, model=source.model, cwd=workdir)
    await rt.spawn("dst", backend=target.backend, model=target.model, cwd=workdir)
    answer = await ask_done(rt, "src", "Count the widgets.")
    assert answer.state is RequestState.COMPLETE, answer.error

    relayed = await rt.relay("src", "dst", "Check this count.")
    done = await rt.wait(relayed.id, timeout=30)
    assert done.state is RequestState.COMPLETE, done.error
    assert done.relay_from == answer.id
    sent = served_by(target, fake, fake_openai).message_requests()[-1]
    assert sent.model == target.model_id
    assert "Check this count." in sent.last_user_text
    assert "SOURCE-FINDING: 42 widgets" in sent.last_user_text


# ---------------------------------------------------------------- bad input


async def test_anthropic_api_without_a_key_is_refused_and_not_kept(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    async with open_runtime(home, {"ANTHROPIC_BASE_URL": fake.base_url}) as rt:
        with pytest.raises(errors.BackendError, match="ANTHROPIC_API_KEY"):
            await rt.spawn("nokey", backend="anthropic-api", model="sonnet", cwd=workdir)
        assert await rt.list_agents() == []
        assert fake.message_requests() == []
        # The name is free again: with a key the same spawn works.
        await rt.spawn(
            "nokey",
            backend="anthropic-api",
            model="sonnet",
            cwd=workdir,
            options={"env": {"ANTHROPIC_API_KEY": "sk-ant-fake-key"}},
        )
        done = await ask_done(rt, "nokey", "hi")
        assert done.state is RequestState.COMPLETE, done.error


async def test_openai_without_key_or_base_url_names_both(home: Path, workdir: Path) -> None:
    async with open_runtime(home, {}) as rt:
        with pytest.raises(errors.BackendError) as caught:
            await rt.spawn("nowhere", backend="openai", model="gpt-4o-mini", cwd=workdir)
        assert "OPENAI_API_KEY" in caught.value.message
        assert "base URL" in caught.value.message
        assert await rt.list_agents() == []


async def test_openai_without_model_names_the_flag_and_openai_model_env_fills_in(
    home: Path, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    async with open_runtime(home, {"OPENAI_BASE_URL": fake_openai.base_url}) as rt:
        with pytest.raises(errors.BackendError, match="--model"):
            await rt.spawn("nomodel", backend="openai", cwd=workdir)
        assert await rt.list_agents() == []
        await rt.spawn(
            "envmodel", backend="openai", cwd=workdir, options={"env": {"OPENAI_MODEL": "llama3.2"}}
        )
        done = await ask_done(rt, "envmodel", "hi")
        assert done.state is RequestState.COMPLETE, done.error
        assert done.model == "llama3.2"
        assert fake_openai.message_requests()[-1].model == "llama3.2"


async def test_model_names_are_checked_for_the_backend_they_go_to(
    rt: Runtime, workdir: Path
) -> None:
    with pytest.raises(errors.InvalidModel, match="bad model!"):
        await rt.spawn("o1", backend="openai", model="bad model!", cwd=workdir)
    # Claude's names stay checked on the anthropic-api backend.
    with pytest.raises(errors.InvalidModel, match="gpt-4o"):
        await rt.spawn("a1", backend="anthropic-api", model="gpt-4o", cwd=workdir)
    # A server's own model naming is fine on the openai backend.
    await rt.spawn(
        "o2", backend="openai", model="meta-llama/Llama-3.1-8B-Instruct", cwd=workdir, start=False
    )
    assert [a.name for a in await rt.list_agents()] == ["o2"]


async def test_api_key_env_option_chooses_the_variable_holding_the_key(
    rt: Runtime, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    await rt.spawn(
        "keyed",
        backend="openai",
        model="gpt-4o-mini",
        cwd=workdir,
        options={"api_key_env": "LOCAL_LLM_KEY", "env": {"LOCAL_LLM_KEY": "sk-local-123"}},
    )
    assert (await ask_done(rt, "keyed", "hi")).state is RequestState.COMPLETE
    [sent] = fake_openai.message_requests()
    assert sent.headers["authorization"] == "Bearer sk-local-123"


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_api_error_fails_the_request_and_leaves_the_history_alone(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(content="explode", status=400, error_message="the prompt is malformed"))
    api.add_rule(Rule(content="first", text="first answer"))
    await rt.spawn("err", backend=flavor.backend, model=flavor.model, cwd=workdir)
    ok = await ask_done(rt, "err", "first question")
    assert ok.state is RequestState.COMPLETE, ok.error
    before = await history_lines(rt, "err")

    failed = await ask_done(rt, "err", "please explode")
    assert failed.state is RequestState.FAILED
    assert failed.error is not None
    assert "400" in failed.error
    assert "the prompt is malformed" in failed.error
    assert failed.api_retries == 0  # a 400 is not worth another try
    assert failed.cost_usd == 0.0
    assert len(api.message_requests()) == 2
    assert await history_lines(rt, "err") == before

    # The failed prompt is not part of the conversation the API sees next.
    after = await ask_done(rt, "err", "third question")
    assert after.state is RequestState.COMPLETE, after.error
    assert dialogue(api.message_requests()[-1]) == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "third question"),
    ]
    assert (await rt.get_agent("err")).status is AgentStatus.IDLE


# ---------------------------------------------------------------- cancel, timeout, idle


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_cancelling_a_running_turn_leaves_the_history_alone(
    rt: Runtime, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path, flavor: Flavor
) -> None:
    api = served_by(flavor, fake, fake_openai)
    api.add_rule(Rule(content="slow", text="too late", delay=30))
    await rt.spawn("c", backend=flavor.backend, model=flavor.model, cwd=workdir)
    running = await rt.ask("c", "a slow question")
    await api.wait_for_requests_async(1)
    await rt.cancel(running.id)
    done = await rt.wait(running.id, timeout=30)
    assert done.state is RequestState.CANCELLED
    info = await rt.info("c")
    assert not (Path(info["state_dir"]) / "conversation.jsonl").exists()

    after = await ask_done(rt, "c", "a quick one")
    assert after.state is RequestState.COMPLETE, after.error
    assert dialogue(api.message_requests()[-1]) == [("user", "a quick one")]


async def test_a_turn_past_its_timeout_fails_and_the_agent_answers_the_next(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="slow", text="too late", delay=30))
    await rt.spawn("t", backend="anthropic-api", model="sonnet", cwd=workdir)
    slow = await rt.ask("t", "a slow question", timeout=0.3)
    done = await rt.wait(slow.id, timeout=30)
    assert done.state is RequestState.FAILED
    assert done.error is not None
    assert "timed out" in done.error
    after = await ask_done(rt, "t", "a quick one")
    assert after.state is RequestState.COMPLETE, after.error


async def test_an_idle_agent_hibernates_and_resumes_its_history(
    home: Path, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    env = api_env(fake, fake_openai)
    async with open_runtime(home, env, idle_timeout=0.1) as rt:
        await rt.spawn("nap", backend="anthropic-api", model="sonnet", cwd=workdir)
        assert (await ask_done(rt, "nap", "before the nap")).state is RequestState.COMPLETE
        async with asyncio.timeout(10):
            while (await rt.get_agent("nap")).status is not AgentStatus.HIBERNATED:
                await asyncio.sleep(0.02)
        again = await ask_done(rt, "nap", "after the nap")
        assert again.state is RequestState.COMPLETE, again.error
    assert dialogue(fake.message_requests()[-1]) == [
        ("user", "before the nap"),
        ("assistant", "OK"),
        ("user", "after the nap"),
    ]


async def test_an_agent_spawned_cold_without_a_key_fails_its_first_request_naming_it(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    async with open_runtime(home, {"ANTHROPIC_BASE_URL": fake.base_url}) as rt:
        await rt.spawn("cold", backend="anthropic-api", model="sonnet", cwd=workdir, start=False)
        done = await ask_done(rt, "cold", "hi")
        assert done.state is RequestState.FAILED
        assert done.error is not None
        assert "ANTHROPIC_API_KEY" in done.error
    assert fake.message_requests() == []


# ---------------------------------------------------------------- unexpected failures


class _FailsOnce(AnthropicAPIBackend):
    """Its client raises, once, something that is no SDK error: a bug in a library,
    a warning turned into an error by the user's warning filters."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def build_provider(self, route: Route, context: ProviderContext) -> AnthropicProvider:
        provider = super().build_provider(route, context)
        complete = provider.complete

        async def failing(request: CompletionRequest, *, batch: bool) -> Completion:
            if not self.failed:
                self.failed = True
                raise RuntimeError("unexpected failure inside the client")
            return await complete(request, batch=batch)

        provider.complete = failing  # type: ignore[method-assign]
        return provider


async def test_an_unexpected_client_error_fails_the_request_instead_of_leaving_it_running(
    home: Path, fake: FakeAnthropic, fake_openai: FakeOpenAI, workdir: Path
) -> None:
    backends = {"anthropic-api": _FailsOnce(), "openai": OpenAIBackend()}
    config = RuntimeConfig(home=home, env=api_env(fake, fake_openai))
    async with Runtime(config, backends=backends) as rt:  # type: ignore[arg-type]
        await rt.spawn("fragile", backend="anthropic-api", model="sonnet", cwd=workdir)
        broken = await rt.ask("fragile", "first")
        done = await rt.wait(broken.id, timeout=5)
        assert done.state is RequestState.FAILED
        assert done.error is not None
        assert "unexpected failure inside the client" in done.error
        after = await ask_done(rt, "fragile", "second")
        assert after.state is RequestState.COMPLETE, after.error


async def test_a_plain_request_too_long_for_the_sdk_ends_instead_of_hanging(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    # The anthropic SDK refuses (with a ValueError, before sending anything) a
    # non-streaming request whose max_tokens could take over ten minutes.
    await rt.spawn(
        "long",
        backend="anthropic-api",
        model="sonnet",
        cwd=workdir,
        options={"stream": False, "max_tokens": 32_000},
    )
    asked = await rt.ask("long", "write the whole report")
    done = await rt.wait(asked.id, timeout=5)
    if done.state is RequestState.FAILED:
        assert done.error is not None
        assert "stream" in done.error.lower()
    else:  # or podium streams such a request itself
        assert done.state is RequestState.COMPLETE, done.error
    assert (await rt.get_agent("long")).status is AgentStatus.IDLE
