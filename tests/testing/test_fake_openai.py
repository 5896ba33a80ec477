"""FakeOpenAI, checked through the official ``openai`` SDK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from podium._errors import UsageError
from podium.testing import (
    ChatUsage,
    FakeAnthropic,
    FakeOpenAI,
    Rule,
    ToolCall,
    Usage,
    load_rules,
    rules_from_data,
)

SRC = Path(__file__).resolve().parents[2] / "src"
MODEL = "local-chat-model"
BIG = "The quick brown fox jumps over the lazy dog. " * 130  # > 1024 tokens


@pytest.fixture
def chat_api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def client_for(fake: FakeOpenAI, retries: int = 0, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=retries, **kwargs)


@pytest.fixture
def client(chat_api: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with client_for(chat_api) as c:
        yield c


def chat(client: openai.OpenAI, text: str = "hi", **params: Any) -> Any:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    body.update(params)
    return client.chat.completions.create(**body)


def reply(completion: Any) -> str:
    content = completion.choices[0].message.content
    assert isinstance(content, str)
    return content


# ---------------------------------------------------------------- basics


def test_default_answer(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    assert chat_api.base_url.endswith("/v1")
    done = chat(client, "hello there")
    assert reply(done) == "OK"
    assert done.id.startswith("chatcmpl-")
    assert done.object == "chat.completion"
    assert done.model == MODEL
    [choice] = done.choices
    assert (choice.index, choice.finish_reason, choice.message.role) == (0, "stop", "assistant")
    assert choice.message.tool_calls is None
    assert done.usage is not None
    assert done.usage.prompt_tokens > 0
    assert done.usage.completion_tokens >= 1
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 0
    [rec] = chat_api.wait_for_requests(1, timeout=5, finished=True)
    assert (rec.method, rec.path, rec.status, rec.completed) == (
        "POST",
        "/v1/chat/completions",
        200,
        True,
    )
    assert rec.is_message
    assert rec.model == MODEL
    assert rec.stream is False
    assert rec.last_user_text == "hello there"
    assert rec.messages == [{"role": "user", "content": "hello there"}]
    assert rec.response_text == "OK"
    assert rec.rule_index is None
    assert rec.headers["authorization"] == "Bearer test"
    assert chat_api.message_requests() == [rec]


def test_rules_match_model_system_content(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(model="^big-", text="by model"))
    chat_api.add_rule(Rule(system=r"You are agent (\w+)-7", text="by system"))
    chat_api.add_rule(Rule(content="(?i)PING", text="by content: {last_user}"))
    chat_api.add_rule(Rule(any_content="earlier secret", text="by conversation"))
    assert reply(chat(client, model="big-model")) == "by model"
    system = [
        {"role": "system", "content": "You are agent bob-7."},
        {"role": "user", "content": "x"},
    ]
    assert reply(chat(client, messages=system)) == "by system"
    developer = [
        {"role": "developer", "content": [{"type": "text", "text": "You are agent a-7"}]},
        {"role": "user", "content": "x"},
    ]
    assert reply(chat(client, messages=developer)) == "by system"
    assert reply(chat(client, "please ping")) == "by content: please ping"
    parts = [{"type": "text", "text": "ping"}, {"type": "text", "text": "in parts"}]
    assert reply(chat(client, messages=[{"role": "user", "content": parts}])) == (
        "by content: ping\nin parts"
    )
    history = [
        {"role": "user", "content": "the earlier secret"},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "now what"},
    ]
    assert reply(chat(client, messages=history)) == "by conversation"
    assert reply(chat(client, "nothing special")) == "OK"
    assert [r.rule_index for r in chat_api.requests] == [0, 1, 1, 2, 2, 3, None]
    assert "bob-7" in chat_api.requests[1].system_text
    assert [r.last_user_text for r in chat_api.requests_matching(system="a-7")] == ["x"]


def test_one_rule_list_scripts_both_fakes() -> None:
    rules = [Rule(content="ping", text="pong", usage=ChatUsage(50, 5, 20))]
    with (
        FakeOpenAI(rules) as chat_fake,
        FakeAnthropic(rules) as messages_fake,
        client_for(chat_fake) as chat_client,
        anthropic.Anthropic(base_url=messages_fake.base_url, api_key="k", max_retries=0) as ac,
    ):
        done = chat(chat_client, "ping")
        msg = ac.messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "ping"}]
        )
    assert reply(done) == "pong"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "pong"
    # Anthropic counts the cached part apart; OpenAI counts it inside prompt_tokens.
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (30, 20)
    assert done.usage.prompt_tokens == 50


# ---------------------------------------------------------------- streaming


def test_streaming_text(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    long_text = "streamed words " * 10
    chat_api.add_rule(Rule(text=long_text))
    chunks = list(chat(client, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == long_text
    assert len(chunks) > 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].object == "chat.completion.chunk"
    assert chat_api.requests[0].stream is True


def test_streaming_usage_chunk(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(text="counted", usage=ChatUsage(100, 7, cached_tokens=64)))
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (100, 7)
    assert last.usage.total_tokens == 107
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 64
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_raw_stream_ends_with_done(chat_api: FakeOpenAI) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a"}]}
    resp = httpx.post(f"{chat_api.base_url}/chat/completions", json=body)
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-request-id"].startswith("req_")
    data = [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert all(json.loads(d)["object"] == "chat.completion.chunk" for d in data[:-1])


def test_chunk_delay_spreads_the_stream(chat_api: FakeOpenAI) -> None:
    chat_api.add_rule(Rule(text="z" * 100, chunk_delay=0.05))
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a"}]}
    arrivals: list[float] = []
    with httpx.stream("POST", f"{chat_api.base_url}/chat/completions", json=body) as resp:
        for line in resp.iter_lines():
            if '"content": "z' in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 4
    assert arrivals[-1] - arrivals[0] >= 0.15


async def test_async_streaming(chat_api: FakeOpenAI) -> None:
    chat_api.add_rule(Rule(text="from the loop", delay=0.05))
    async with openai.AsyncOpenAI(base_url=chat_api.base_url, api_key="k", max_retries=0) as c:
        stream = await c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
        )
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert text == "from the loop"
    assert len(await chat_api.wait_for_requests_async(1, timeout=2, finished=True)) == 1


# ---------------------------------------------------------------- tools


def test_tool_calls_and_tool_results(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(
        Rule(
            tool_result=False,
            tool_calls=[
                ToolCall("read_file", {"path": "/a", "n": [1, 2]}, id="call_fixed"),
                ToolCall("run", {"command": "ls"}),
            ],
        )
    )
    chat_api.add_rule(Rule(tool_result=True, content="file body 42", text="done"))
    tools = [
        {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "run", "parameters": {"type": "object"}}},
    ]
    first = chat(client, "read /a", tools=tools)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    read, run = message.tool_calls
    assert (read.id, read.function.name) == ("call_fixed", "read_file")
    assert json.loads(read.function.arguments) == {"path": "/a", "n": [1, 2]}
    assert run.id.startswith("call_")
    assert run.type == "function"

    follow_up = [
        {"role": "user", "content": "read /a"},
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "call_fixed", "content": "file body 42"},
        {"role": "tool", "tool_call_id": run.id, "content": [{"type": "text", "text": "a.txt"}]},
    ]
    assert reply(chat(client, messages=follow_up, tools=tools)) == "done"
    first_rec, second_rec = chat_api.message_requests()
    assert first_rec.tool_names == ("read_file", "run")
    assert [c.name for c in first_rec.tool_calls] == ["read_file", "run"]
    assert not first_rec.has_tool_result
    assert second_rec.has_tool_result
    assert second_rec.last_user_text == "file body 42\na.txt"
    assert chat_api.requests_matching(any_content='read_file {"n": \\[1, 2\\]')


def test_streamed_tool_calls(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(text="calling", tool_calls=[ToolCall("lookup", {"q": "x"})]))
    chunks = list(chat(client, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "calling"
    calls = [call for d in deltas for call in d.tool_calls or []]
    assert calls[0].function.name == "lookup"
    assert calls[0].id.startswith("call_")
    assert "".join(c.function.arguments or "" for c in calls) == '{"q": "x"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_stop_reasons_map_to_finish_reasons(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(content="long", text="cut", stop_reason="max_tokens"))
    chat_api.add_rule(Rule(content="filter", text="", stop_reason="content_filter"))
    assert chat(client, "long").choices[0].finish_reason == "length"
    assert chat(client, "filter").choices[0].finish_reason == "content_filter"


# ---------------------------------------------------------------- usage


def test_usage_from_rules(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(content="chat", usage=ChatUsage(1000, 200, cached_tokens=600)))
    chat_api.add_rule(Rule(content="anthropic", usage=Usage(10, 20, 3, 4)))
    chat_api.add_rule(Rule(content="estimate", text="x" * 400))
    done = chat(client, "chat")
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (1000, 200)
    assert done.usage.prompt_tokens_details.cached_tokens == 600
    converted = chat(client, "anthropic")
    assert (converted.usage.prompt_tokens, converted.usage.completion_tokens) == (17, 20)
    assert converted.usage.prompt_tokens_details.cached_tokens == 4
    estimated = chat(client, "estimate " + "y" * 4000)
    assert estimated.usage.completion_tokens == 100
    assert 1000 <= estimated.usage.prompt_tokens <= 1100


def test_auto_cache_reads_earlier_prefixes() -> None:
    system = {"role": "system", "content": BIG}
    with FakeOpenAI(auto_cache=True) as fake, client_for(fake) as client:
        first = chat(client, messages=[system, {"role": "user", "content": "one"}])
        assert first.usage.prompt_tokens_details.cached_tokens == 0
        second = chat(client, messages=[system, {"role": "user", "content": "two"}])
        cached = second.usage.prompt_tokens_details.cached_tokens
        assert 1024 <= cached < second.usage.prompt_tokens
        other_model = chat(client, messages=[system, {"role": "user", "content": "two"}], model="x")
        assert other_model.usage.prompt_tokens_details.cached_tokens == 0
        fake.clear_cache()
        cleared = chat(client, messages=[system, {"role": "user", "content": "three"}])
        assert cleared.usage.prompt_tokens_details.cached_tokens == 0
        short = [{"role": "system", "content": "short"}, {"role": "user", "content": "x"}]
        chat(client, messages=short)
        assert chat(client, messages=short).usage.prompt_tokens_details.cached_tokens == 0


def test_rules_file_with_chat_usage(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            [
                {"usage": {"prompt_tokens": 9, "completion_tokens": 2}},
                {
                    "usage": {
                        "prompt_tokens": 9,
                        "completion_tokens": 2,
                        "prompt_tokens_details": {"cached_tokens": 4},
                    }
                },
                {"usage": {"prompt_tokens": 9, "completion_tokens": 2, "cached_tokens": 3}},
            ]
        )
    )
    assert [r.usage for r in load_rules(path)] == [
        ChatUsage(9, 2),
        ChatUsage(9, 2, 4),
        ChatUsage(9, 2, 3),
    ]


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 1},
        {"prompt_tokens": 1, "completion_tokens": 1, "cached_tokens": 2},
        {"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": {"audio": 1}},
        {"prompt_tokens": 1, "completion_tokens": -1},
        {"prompt_tokens": 1, "input_tokens": 1, "completion_tokens": 1},
    ],
)
def test_bad_chat_usage_is_a_usage_error(usage: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="usage"):
        rules_from_data([{"usage": usage}], "r.json")


# ---------------------------------------------------------------- errors


def test_rate_limit_error_with_retry_after(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(status=429, retry_after=7, error_message="slow down", times=1))
    with pytest.raises(openai.RateLimitError) as info:
        chat(client)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["x-request-id"].startswith("req_")
    assert info.value.body == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert info.value.code == "rate_limit_exceeded"
    assert chat_api.requests[0].status == 429
    assert reply(chat(client)) == "OK"  # times=1


def test_sdk_retries_after_retry_after(chat_api: FakeOpenAI) -> None:
    chat_api.add_rule(Rule(status=429, retry_after=0.05, times=1))
    with client_for(chat_api, retries=2) as client:
        assert reply(chat(client)) == "OK"
    assert [r.status for r in chat_api.message_requests()] == [429, 200]


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (401, openai.AuthenticationError, "authentication_error"),
        (404, openai.NotFoundError, "not_found_error"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_types_follow_status(
    chat_api: FakeOpenAI,
    client: openai.OpenAI,
    status: int,
    error_class: type[openai.APIStatusError],
    error_type: str,
    stream: bool,
) -> None:
    chat_api.add_rule(Rule(status=status))
    with pytest.raises(error_class) as info:
        chat(client, stream=stream)
    assert info.value.status_code == status
    assert info.value.type == error_type
    assert "retry-after" not in info.value.response.headers


def test_custom_error_type(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(status=429, error_type="insufficient_quota", error_message="no money"))
    with pytest.raises(openai.RateLimitError, match="no money") as info:
        chat(client)
    assert info.value.type == "insufficient_quota"


def test_delay_and_client_timeout(chat_api: FakeOpenAI) -> None:
    chat_api.add_rule(Rule(text="never read", delay=30))
    with client_for(chat_api, timeout=0.5) as client, pytest.raises(openai.APITimeoutError):
        chat(client)
    [rec] = chat_api.wait_for_requests(1, timeout=5, finished=True)
    assert rec.completed is False


def test_delayed_answers_overlap(chat_api: FakeOpenAI, client: openai.OpenAI) -> None:
    chat_api.add_rule(Rule(content="slow", text="late", delay=0.3))
    threads = [threading.Thread(target=chat, args=(client, f"slow {i}")) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = chat_api.wait_for_requests(2, timeout=5, finished=True)
    assert a.overlaps(b)


def test_stop_ends_pending_answers_with_503(chat_api: FakeOpenAI) -> None:
    chat_api.add_rule(Rule(text="never sent", delay=30))
    body = {"model": "m", "messages": [{"role": "user", "content": "a"}]}
    answers: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{chat_api.base_url}/chat/completions", json=body, timeout=20)
        )
    )
    worker.start()
    chat_api.wait_for_requests(1, timeout=5)
    chat_api.stop()
    worker.join(timeout=10)
    [resp] = answers
    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "server_error"
    [rec] = chat_api.requests
    assert (rec.status, rec.completed) == (503, False)


def test_stop_mid_stream_sends_an_error_chunk(chat_api: FakeOpenAI) -> None:
    chat_api.add_rule(Rule(text="z" * 200, chunk_delay=30))
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a"}]}
    lines: list[str] = []
    streaming = threading.Event()

    def read() -> None:
        url = f"{chat_api.base_url}/chat/completions"
        with httpx.stream("POST", url, json=body, timeout=20) as resp:
            for line in resp.iter_lines():
                lines.append(line)
                streaming.set()

    worker = threading.Thread(target=read)
    worker.start()
    assert streaming.wait(timeout=5)
    chat_api.stop()
    worker.join(timeout=10)
    data = [line for line in lines if line.startswith("data: ")]
    assert json.loads(data[-1][6:])["error"]["type"] == "server_error"
    assert "data: [DONE]" not in lines
    [rec] = chat_api.requests
    assert rec.completed is False


# ---------------------------------------------------------------- other endpoints


def test_models() -> None:
    with FakeOpenAI(models=["alpha", "beta"]) as fake, client_for(fake) as client:
        assert [m.id for m in client.models.list()] == ["alpha", "beta"]
        assert client.models.retrieve("beta").owned_by == "podium"
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve("gamma")
        assert info.value.code == "model_not_found"
        fake.models.append("gamma")
        assert client.models.retrieve("gamma").id == "gamma"
        assert fake.message_requests() == []


def test_bad_bodies_and_unknown_paths(chat_api: FakeOpenAI) -> None:
    base = chat_api.base_url
    bad = httpx.post(f"{base}/chat/completions", content=b"{not json")
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    missing = httpx.post(f"{base}/chat/completions", json={"model": "m"})
    assert missing.status_code == 400
    assert "messages" in missing.json()["error"]["message"]
    assert httpx.get(f"{base}/nothing").status_code == 404
    assert httpx.post(f"{base}/messages", json={"messages": []}).status_code == 404
    assert httpx.get(base).status_code == 200
    # Each record is marked finished just after its answer went out: wait for the last.
    sent = len(chat_api.requests)
    records = chat_api.wait_for_requests(sent, messages_only=False, finished=True)
    assert sent == 5
    assert all(r.completed for r in records)


def test_restart_keeps_rules_and_records() -> None:
    fake = FakeOpenAI([Rule(text="kept")])
    url = fake.start()
    with client_for(fake) as client:
        assert reply(chat(client)) == "kept"
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    with pytest.raises(RuntimeError, match="FakeOpenAI has not been started"):
        _ = FakeOpenAI().base_url
    fake.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            fake.start()
        with client_for(fake) as client:
            assert reply(chat(client)) == "kept"
        assert len(fake.requests) == 2
    finally:
        fake.stop()


# ---------------------------------------------------------------- command line


def test_command_line_serves_both_fakes(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"content": "ping", "text": "pong"}]))
    record = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "podium.testing", "--rules", str(rules), "--openai"]
    cmd += ["--auto-cache", "--batch-delay", "0", "--record", str(record)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        anthropic_url = proc.stdout.readline().strip()
        openai_url = proc.stdout.readline().strip()
        assert anthropic_url.startswith("http://127.0.0.1:")
        assert openai_url.startswith("http://127.0.0.1:")
        assert openai_url.endswith("/v1")
        with openai.OpenAI(base_url=openai_url, api_key="k", max_retries=0) as client:
            assert reply(chat(client, "ping")) == "pong"
        with anthropic.Anthropic(base_url=anthropic_url, api_key="k", max_retries=0) as ac:
            msg = ac.messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "ping"}]
            )
            assert msg.content[0].type == "text"
            assert msg.content[0].text == "pong"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["path"] for line in lines] == ["/v1/chat/completions", "/v1/messages"]
    assert [line["rule_index"] for line in lines] == [0, 0]
