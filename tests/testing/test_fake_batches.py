"""FakeAnthropic's Message Batches API, prompt-cache usage and scripted overload.

Everything goes through the official ``anthropic`` SDK, so the shapes are the
ones a backend built on it will see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from podium._errors import UsageError
from podium.testing import FakeAnthropic, Rule, ToolCall, Usage

MODEL = "claude-sonnet-5-5"
# About 6,000 characters: comfortably over the 1,024-token minimum for caching.
BIG = "The quick brown fox jumps over the lazy dog. " * 130


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


def client_for(fake: FakeAnthropic, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=retries)


@pytest.fixture
def client(api: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with client_for(api) as c:
        yield c


def item(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }
    body.update(params)
    return {"custom_id": custom_id, "params": body}


def results_by_id(client: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result for r in client.messages.batches.results(batch_id)}


def text_of(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# ---------------------------------------------------------------- batches


def test_batch_is_answered_by_the_rules(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.add_rule(Rule(content="capital", text="Paris"))
    api.add_rule(Rule(content="fail me", status=500, error_message="boom"))
    api.add_rule(Rule(content="tool", tool_calls=[ToolCall("lookup", {"q": 1})]))
    created = client.messages.batches.create(
        requests=[
            item("a-1", "capital of France?"),  # type: ignore[list-item]
            item("b_2", "fail me"),  # type: ignore[list-item]
            item("c", "use a tool"),  # type: ignore[list-item]
            item("d", "anything"),  # type: ignore[list-item]
        ]
    )
    assert created.id.startswith("msgbatch_")
    assert created.type == "message_batch"
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 4
    assert created.results_url is None
    assert created.ended_at is None
    assert created.expires_at > created.created_at

    batch = client.messages.batches.retrieve(created.id)
    assert batch.processing_status == "ended"
    assert batch.ended_at is not None
    counts = batch.request_counts
    assert (counts.processing, counts.succeeded, counts.errored) == (0, 3, 1)
    assert (counts.canceled, counts.expired) == (0, 0)
    assert batch.results_url == f"{api.base_url}/v1/messages/batches/{created.id}/results"

    results = results_by_id(client, created.id)
    assert set(results) == {"a-1", "b_2", "c", "d"}
    assert results["a-1"].type == "succeeded"
    assert text_of(results["a-1"].message) == "Paris"
    assert results["a-1"].message.model == MODEL
    assert results["a-1"].message.usage.input_tokens > 0
    assert results["b_2"].type == "errored"
    assert results["b_2"].error.error.type == "api_error"
    assert results["b_2"].error.error.message == "boom"
    tool_use = results["c"].message.content[0]
    assert tool_use.type == "tool_use"
    assert (tool_use.name, tool_use.input) == ("lookup", {"q": 1})
    assert results["c"].message.stop_reason == "tool_use"
    assert text_of(results["d"].message) == "OK"

    [record] = api.batches()
    assert record.id == created.id
    assert record.ended
    assert [r.custom_id for r in record.requests] == ["a-1", "b_2", "c", "d"]
    assert [r.rule_index for r in record.requests] == [0, 1, 2, None]
    assert [r.result_type for r in record.requests] == ["succeeded", "errored"] + ["succeeded"] * 2
    assert record.requests[0].response_text == "Paris"
    assert record.requests[0].params["messages"][0]["content"] == "capital of France?"
    # Batch items are not model turns of their own; the HTTP calls are recorded.
    assert api.message_requests() == []
    paths = [(r.method, r.path) for r in api.requests]
    assert paths[0] == ("POST", "/v1/messages/batches")
    assert ("GET", f"/v1/messages/batches/{created.id}/results") in paths


def test_times_are_counted_across_batch_requests(
    api: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    api.add_rule(Rule(text="first", times=1))
    batch = client.messages.batches.create(
        requests=[item("one", "x"), item("two", "x")]  # type: ignore[list-item]
    )
    results = results_by_id(client, batch.id)
    assert text_of(results["one"].message) == "first"
    assert text_of(results["two"].message) == "OK"


def test_raw_results_file_is_jsonl(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[item("x", "hi")])  # type: ignore[list-item]
    url = client.messages.batches.retrieve(batch.id).results_url
    assert url is not None
    resp = httpx.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-jsonl"
    [line] = [json.loads(raw) for raw in resp.text.splitlines()]
    assert line["custom_id"] == "x"
    assert line["result"]["type"] == "succeeded"
    assert line["result"]["message"]["content"] == [{"type": "text", "text": "OK"}]


def test_manual_batches_stay_in_progress_until_ended() -> None:
    with FakeAnthropic(batch_delay=None) as fake, client_for(fake) as client:
        batch = client.messages.batches.create(requests=[item("a", "hi")])  # type: ignore[list-item]
        again = client.messages.batches.retrieve(batch.id)
        assert again.processing_status == "in_progress"
        assert again.request_counts.processing == 1
        with pytest.raises(anthropic.AnthropicError, match="results_url"):
            client.messages.batches.results(batch.id)
        direct = httpx.get(f"{fake.base_url}/v1/messages/batches/{batch.id}/results")
        assert direct.status_code == 400
        assert fake.batches()[0].requests[0].result_type is None

        [ended] = fake.end_batches()
        assert ended.ended
        assert client.messages.batches.retrieve(batch.id).request_counts.succeeded == 1
        assert results_by_id(client, batch.id)["a"].type == "succeeded"


def test_batch_delay_keeps_a_batch_in_progress_for_a_while() -> None:
    with FakeAnthropic(batch_delay=30) as fake, client_for(fake) as client:
        slow = client.messages.batches.create(requests=[item("a", "hi")])  # type: ignore[list-item]
        assert client.messages.batches.retrieve(slow.id).processing_status == "in_progress"
        fake.batch_delay = 0.2
        assert fake.batch_delay == 0.2
        quick = client.messages.batches.create(requests=[item("b", "hi")])  # type: ignore[list-item]
        deadline = time.monotonic() + 10
        while client.messages.batches.retrieve(quick.id).processing_status != "ended":
            assert time.monotonic() < deadline, "the batch never ended"
            time.sleep(0.05)
        # The first batch keeps the delay it was created with.
        assert client.messages.batches.retrieve(slow.id).processing_status == "in_progress"


def test_cancel_ends_a_batch_with_canceled_requests() -> None:
    with FakeAnthropic(batch_delay=None) as fake, client_for(fake) as client:
        batch = client.messages.batches.create(
            requests=[item("a", "x"), item("b", "y")]  # type: ignore[list-item]
        )
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at is not None
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert ended.request_counts.canceled == 2
        assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}
        with pytest.raises(anthropic.BadRequestError, match="already ended"):
            client.messages.batches.cancel(batch.id)
        assert fake.batches()[0].count("canceled") == 2


def test_expired_batches() -> None:
    with FakeAnthropic(batch_delay=None) as fake, client_for(fake) as client:
        batch = client.messages.batches.create(requests=[item("a", "x")])  # type: ignore[list-item]
        fake.expire_batches()
        assert client.messages.batches.retrieve(batch.id).request_counts.expired == 1
        assert results_by_id(client, batch.id)["a"].type == "expired"


def test_list_is_newest_first_and_paginates(
    api: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    ids = [
        client.messages.batches.create(requests=[item(f"r{i}", "x")]).id  # type: ignore[list-item]
        for i in range(3)
    ]
    newest_first = ids[::-1]
    assert [b.id for b in client.messages.batches.list(limit=2)] == newest_first  # auto-paging
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2]
    assert page.has_more is True
    assert (page.first_id, page.last_id) == (newest_first[0], newest_first[1])
    rest = client.messages.batches.list(limit=2, after_id=newest_first[1])
    assert [b.id for b in rest.data] == newest_first[2:]
    assert rest.has_more is False
    before = client.messages.batches.list(limit=5, before_id=newest_first[2])
    assert [b.id for b in before.data] == newest_first[:2]
    assert all(b.processing_status == "ended" for b in page.data)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.list(limit=0)


def test_delete_only_after_the_batch_ended() -> None:
    with FakeAnthropic(batch_delay=None) as fake, client_for(fake) as client:
        batch = client.messages.batches.create(requests=[item("a", "x")])  # type: ignore[list-item]
        with pytest.raises(anthropic.BadRequestError, match="still processing"):
            client.messages.batches.delete(batch.id)
        fake.end_batches()
        deleted = client.messages.batches.delete(batch.id)
        assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
        assert fake.batches() == []


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "non-empty"),
        ([item("same", "x"), item("same", "y")], "duplicate"),
        ([item("bad id!", "x")], "custom_id"),
        ([item("s", "x", stream=True)], "stream"),
        ([{"custom_id": "p", "params": {"model": MODEL}}], "messages"),
    ],
)
def test_bad_batches_are_rejected(
    client: anthropic.Anthropic, requests: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message) as info:
        client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert info.value.response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_batch_is_not_found(client: anthropic.Anthropic, api: FakeAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_nope")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.cancel("msgbatch_nope")
    assert httpx.put(f"{api.base_url}/v1/messages/batches/x").status_code == 404


async def test_async_client_batches(api: FakeAnthropic) -> None:
    api.add_rule(Rule(text="async batch"))
    async with anthropic.AsyncAnthropic(base_url=api.base_url, api_key="k", max_retries=0) as c:
        batch = await c.messages.batches.create(requests=[item("a", "x")])  # type: ignore[list-item]
        assert (await c.messages.batches.retrieve(batch.id)).processing_status == "ended"
        results = [r async for r in await c.messages.batches.results(batch.id)]
        listed = [b.id async for b in c.messages.batches.list()]
    assert results[0].result.type == "succeeded"
    assert text_of(results[0].result.message) == "async batch"
    assert listed == [batch.id]


# ---------------------------------------------------------------- prompt-cache usage


def cached_system(text: str = BIG) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def ask(client: anthropic.Anthropic, **params: Any) -> anthropic.types.Message:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello"}],
    }
    body.update(params)
    return client.messages.create(**body)  # type: ignore[no-any-return]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def cache_fields(message: anthropic.types.Message) -> tuple[int, int]:
    usage = message.usage
    return usage.cache_creation_input_tokens or 0, usage.cache_read_input_tokens or 0


def prompt_size(message: anthropic.types.Message) -> int:
    written, read = cache_fields(message)
    return message.usage.input_tokens + written + read


def test_cache_fields_are_off_by_default(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    assert api.auto_cache is False
    first = ask(client, system=cached_system())
    second = ask(client, system=cached_system())
    assert cache_fields(first) == cache_fields(second) == (0, 0)
    assert first.usage.input_tokens == second.usage.input_tokens > 1024


def test_first_request_writes_the_prefix_and_later_ones_read_it() -> None:
    with FakeAnthropic(auto_cache=True) as fake, client_for(fake) as client:
        first = ask(client, system=cached_system())
        written, read = cache_fields(first)
        assert read == 0
        assert written >= 1024
        assert first.usage.input_tokens < 20  # only the user turn after the breakpoint

        second = ask(client, system=cached_system(), messages=[{"role": "user", "content": "bye"}])
        assert cache_fields(second) == (0, written)

        # A longer conversation with its breakpoint on the last turn reads the
        # system prefix and writes only what is new.
        turn = [{"type": "text", "text": BIG[:800], "cache_control": {"type": "ephemeral"}}]
        third = ask(client, system=cached_system(), messages=[{"role": "user", "content": turn}])
        third_written, third_read = cache_fields(third)
        assert third_read == written
        assert 0 < third_written < written
        # Same request again: all of it is now read.
        fourth = ask(client, system=cached_system(), messages=[{"role": "user", "content": turn}])
        assert cache_fields(fourth) == (0, third_written + third_read)
        assert prompt_size(third) == prompt_size(fourth)


def test_cache_is_per_model_and_can_be_cleared() -> None:
    with FakeAnthropic(auto_cache=True) as fake, client_for(fake) as client:
        written, _ = cache_fields(ask(client, system=cached_system()))
        assert cache_fields(ask(client, system=cached_system(), model="claude-haiku-5-5")) == (
            written,
            0,
        )
        fake.clear_cache()
        assert cache_fields(ask(client, system=cached_system())) == (written, 0)


def test_short_prefixes_and_unmarked_prompts_are_not_cached() -> None:
    with FakeAnthropic(auto_cache=True) as fake, client_for(fake) as client:
        short = ask(client, system=cached_system("short system prompt"))
        assert cache_fields(short) == (0, 0)
        unmarked = ask(client, system=BIG)
        assert cache_fields(ask(client, system=BIG)) == cache_fields(unmarked) == (0, 0)
        # Without cache fields the estimate is the usual one.
        with FakeAnthropic() as plain, client_for(plain) as plain_client:
            assert ask(plain_client, system=BIG).usage.input_tokens == unmarked.usage.input_tokens


def test_tools_and_moved_breakpoints_count() -> None:
    tools = [
        {"name": f"tool_{i}", "description": BIG[:2000], "input_schema": {"type": "object"}}
        for i in range(3)
    ]
    marked = [*tools[:-1], {**tools[-1], "cache_control": {"type": "ephemeral"}}]
    with FakeAnthropic(auto_cache=True) as fake, client_for(fake) as client:
        written, _ = cache_fields(ask(client, tools=marked))
        assert written >= 1024
        # The same tools with the breakpoint moved on to the system prompt: the
        # tools are read back, the system prompt written.
        moved = ask(client, tools=tools, system=cached_system())
        moved_written, moved_read = cache_fields(moved)
        assert moved_read == written
        assert moved_written > 0


def test_scripted_usage_wins_and_errors_do_not_write() -> None:
    rules = [
        Rule(content="scripted", usage=Usage(5, 6, 7, 8)),
        Rule(content="fail", status=500, times=1),
    ]
    failing = {"system": cached_system("x" * 6000), "messages": [user("fail")]}
    with FakeAnthropic(rules, auto_cache=True) as fake, client_for(fake) as client:
        msg = ask(client, system=cached_system(), messages=[user("scripted")])
        assert (msg.usage.input_tokens, msg.usage.output_tokens) == (5, 6)
        assert cache_fields(msg) == (7, 8)
        with pytest.raises(anthropic.InternalServerError):
            ask(client, **failing)
        again = ask(client, **failing)
        written, read = cache_fields(again)
        assert (read, written > 0) == (0, True)  # the failed call wrote nothing
        # A scripted usage is only what is reported: the prefix was still written.
        assert cache_fields(ask(client, system=cached_system()))[1] > 0


def test_streamed_usage_carries_cache_fields() -> None:
    with FakeAnthropic(auto_cache=True) as fake, client_for(fake) as client:
        ask(client, system=cached_system())
        with client.messages.stream(
            model=MODEL,
            max_tokens=5,
            system=cached_system(),  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "hello"}],
        ) as stream:
            final = stream.get_final_message()
        assert cache_fields(final)[1] >= 1024


def test_batch_requests_use_the_cache_too() -> None:
    with FakeAnthropic(auto_cache=True) as fake, client_for(fake) as client:
        requests = [item(f"r{i}", "x", system=cached_system()) for i in range(2)]
        batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        results = results_by_id(client, batch.id)
        first, second = results["r0"].message, results["r1"].message
        assert cache_fields(first)[0] >= 1024
        assert cache_fields(second) == (0, cache_fields(first)[0])


# ---------------------------------------------------------------- overload


def test_overloaded_with_retry_after_is_retried_by_the_sdk(api: FakeAnthropic) -> None:
    api.add_rule(Rule(status=529, retry_after=0.05, times=1))
    with client_for(api, retries=2) as client:
        assert text_of(ask(client)) == "OK"
    first, second = api.message_requests()
    assert first.status == 529
    assert second.status == 200


def test_overloaded_error_shape(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.add_rule(Rule(status=529, retry_after=3))
    for stream in (False, True):
        with pytest.raises(anthropic.InternalServerError) as info:
            ask(client, stream=stream)
        assert info.value.status_code == 529
        assert type(info.value).__name__ == "OverloadedError"
        assert info.value.response.headers["retry-after"] == "3"
        assert info.value.response.json()["error"]["type"] == "overloaded_error"


def test_usage_errors_from_batch_parsing_are_usage_errors() -> None:
    from podium.testing._batches import parse_batch_requests

    with pytest.raises(UsageError) as info:
        parse_batch_requests({"requests": [item("ok", "x"), "nope"]})
    assert info.value.context == {"index": 1}
