"""The fake Anthropic API, checked through the official SDK and the real Claude Code CLI."""

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

import anthropic
import httpx
import pytest

from podium._errors import UsageError
from podium.testing import (
    FakeAnthropic,
    Rule,
    ToolCall,
    Usage,
    bundled_cli,
    cli_env,
    fake_api_main,
    load_rules,
    message_text,
)

SRC = Path(__file__).resolve().parents[2] / "src"
CLI_TIMEOUT = 60


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0) as c:
        yield c


def ask(client: anthropic.Anthropic, text: str, **kwargs: object) -> anthropic.types.Message:
    params: dict[str, object] = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }
    params.update(kwargs)
    return client.messages.create(**params)  # type: ignore[call-overload, no-any-return]


def text_of(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# ---------------------------------------------------------------- basics


def test_default_answer_non_streaming(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    msg = ask(client, "hi")
    assert text_of(msg) == "OK"
    assert msg.role == "assistant"
    assert msg.model == "claude-sonnet-5-5"
    assert msg.stop_reason == "end_turn"
    assert msg.id.startswith("msg_")
    [rec] = fake.requests
    assert rec.rule_index is None
    assert rec.stream is False
    assert rec.status == 200
    assert rec.response_text == "OK"
    assert rec.last_user_text == "hi"
    assert rec.query == {}


def test_default_text_is_configurable() -> None:
    with (
        FakeAnthropic(default_text="fallback!") as fake,
        anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0) as client,
    ):
        assert text_of(ask(client, "x")) == "fallback!"


def test_streaming_event_sequence(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    long_text = "streamed words " * 10
    fake.add_rule(Rule(text=long_text))
    with client.messages.stream(
        model="claude-haiku-5-5", max_tokens=10, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert text_of(final) == long_text
    assert final.model == "claude-haiku-5-5"
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds.count("content_block_start") == 1
    assert kinds.count("text") > 1  # the text arrives in several deltas
    assert fake.requests[0].stream is True


def test_streaming_raw_sse_shape(fake: FakeAnthropic) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "a"}],
    }
    resp = httpx.post(f"{fake.base_url}/v1/messages?beta=true", json=body)
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["request-id"].startswith("req_")
    events = [json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
    start = events[0]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["model"] == "m"
    assert set(start["usage"]) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] >= 1
    assert fake.requests[0].query == {"beta": "true"}


def test_count_tokens(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    result = client.messages.count_tokens(
        model="claude-sonnet-5-5", messages=[{"role": "user", "content": "count me " * 40}]
    )
    assert result.input_tokens > 10
    [rec] = fake.requests
    assert rec.path == "/v1/messages/count_tokens"
    assert fake.message_requests() == []


async def test_async_client_in_event_loop(fake: FakeAnthropic) -> None:
    fake.add_rule(Rule(content="async", text="from the loop", delay=0.1))
    async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0) as c:
        msg = await c.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "async please"}]
        )
    assert text_of(msg) == "from the loop"
    assert len(await fake.wait_for_requests_async(1, timeout=2, finished=True)) == 1


# ---------------------------------------------------------------- matching


def test_rules_match_model_system_content(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.add_rule(Rule(model="haiku", text="by model substring"))
    fake.add_rule(Rule(model=r"^claude-opus-\d", text="by model regex"))
    fake.add_rule(Rule(system=r"You are agent (\w+)-7", text="by system"))
    fake.add_rule(Rule(content=r"(?i)PING", text="by content"))
    fake.add_rule(Rule(any_content="earlier secret", text="by conversation"))

    assert text_of(ask(client, "x", model="claude-haiku-5-5")) == "by model substring"
    assert text_of(ask(client, "x", model="claude-opus-5-5")) == "by model regex"
    assert text_of(ask(client, "x", system="You are agent bob-7.")) == "by system"
    system_blocks = [
        {"type": "text", "text": "intro"},
        {"type": "text", "text": "You are agent a-7"},
    ]
    assert text_of(ask(client, "x", system=system_blocks)) == "by system"
    assert text_of(ask(client, "please ping")) == "by content"
    history = [
        {"role": "user", "content": "the earlier secret"},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "now what"},
    ]
    assert text_of(ask(client, "", messages=history)) == "by conversation"
    assert text_of(ask(client, "nothing special")) == "OK"
    assert [r.rule_index for r in fake.requests] == [0, 1, 2, 2, 3, 4, None]


def test_first_matching_rule_wins_and_all_matchers_must_hold(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.add_rule(Rule(model="sonnet", content="both", text="A"))
    fake.add_rule(Rule(content="both", text="B"))
    fake.add_rule(Rule(content="both", text="C"))
    assert text_of(ask(client, "both")) == "A"
    assert text_of(ask(client, "both", model="claude-haiku-5-5")) == "B"


def test_system_role_messages_count_as_system(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    # Claude Code sends its working directory in a role "system" message.
    fake.add_rule(Rule(system="Primary working directory: /tmp/agent-x", text="agent x"))
    body = {
        "model": "m",
        "max_tokens": 5,
        "system": "base prompt",
        "messages": [
            {"role": "user", "content": "hello"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "Primary working directory: /tmp/agent-x"}],
            },
        ],
    }
    resp = httpx.post(f"{fake.base_url}/v1/messages", json=body)
    assert resp.json()["content"][0]["text"] == "agent x"
    assert "base prompt" in fake.requests[0].system_text


def test_times_limits_a_rule(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.add_rule(Rule(text="first two", times=2))
    fake.add_rule(Rule(text="never", times=0))
    assert [text_of(ask(client, "q")) for _ in range(3)] == ["first two", "first two", "OK"]


def test_last_user_placeholder_ignores_system_reminders(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.add_rule(Rule(text="you said: {last_user}"))
    content = [
        {"type": "text", "text": "<system-reminder>\nnoise\n</system-reminder>\n"},
        {"type": "text", "text": "banana"},
    ]
    assert text_of(ask(client, "", messages=[{"role": "user", "content": content}])) == (
        "you said: banana"
    )
    rec = fake.requests[0]
    assert "noise" in rec.last_user_text
    assert rec.user_prompt == "banana"


def test_tool_use_stream_and_tool_result_follow_up(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.add_rule(
        Rule(
            tool_result=False,
            text="let me look",
            tool_calls=[
                ToolCall("mcp__files__read", {"path": "/a", "n": [1, 2]}, id="toolu_fixed"),
                ToolCall("Bash", {"command": "ls"}),
            ],
        )
    )
    fake.add_rule(Rule(tool_result=True, content="file body 42", text="done"))
    with client.messages.stream(
        model="m", max_tokens=50, messages=[{"role": "user", "content": "read /a"}]
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["text", "tool_use", "tool_use"]
    read, bash = first.content[1], first.content[2]
    assert read.type == "tool_use"
    assert bash.type == "tool_use"
    assert (read.id, read.name, read.input) == (
        "toolu_fixed",
        "mcp__files__read",
        {"path": "/a", "n": [1, 2]},
    )
    assert bash.id.startswith("toolu_")
    assert bash.input == {"command": "ls"}

    follow_up = [
        {"role": "user", "content": "read /a"},
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_fixed",
                    "content": [{"type": "text", "text": "file body 42"}],
                },
                {"type": "tool_result", "tool_use_id": bash.id, "content": "a.txt"},
            ],
        },
    ]
    assert text_of(ask(client, "", messages=follow_up)) == "done"
    first_rec, second_rec = fake.message_requests()
    assert first_rec.tool_calls[0].name == "mcp__files__read"
    assert not first_rec.has_tool_result
    assert second_rec.has_tool_result
    assert "file body 42" in second_rec.last_user_text
    assert "mcp__files__read" in message_text(follow_up[1])


# ---------------------------------------------------------------- errors, usage, timing


def test_rate_limit_error_with_retry_after(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.add_rule(Rule(status=429, retry_after=7, error_message="slow down", times=1))
    with pytest.raises(anthropic.RateLimitError) as info:
        ask(client, "x")
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["request-id"].startswith("req_")
    assert info.value.response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }
    assert fake.requests[0].status == 429
    assert text_of(ask(client, "x")) == "OK"  # times=1: the next call succeeds


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (529, anthropic.InternalServerError, "overloaded_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
def test_error_types_follow_status(
    fake: FakeAnthropic,
    client: anthropic.Anthropic,
    status: int,
    error_class: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake.add_rule(Rule(status=status))
    with pytest.raises(error_class) as info:
        ask(client, "x", stream=True)
    assert info.value.status_code == status
    assert info.value.response.json()["error"]["type"] == error_type
    assert "retry-after" not in info.value.response.headers


def test_explicit_and_estimated_usage(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.add_rule(Rule(content="explicit", text="t", usage=Usage(10, 20, 3, 4)))
    msg = ask(client, "explicit")
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (10, 20)
    assert (msg.usage.cache_creation_input_tokens, msg.usage.cache_read_input_tokens) == (3, 4)
    with client.messages.stream(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "explicit"}]
    ) as stream:
        streamed = stream.get_final_message()
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (10, 20)

    fake.add_rule(Rule(text="x" * 400))
    estimated = ask(client, "y" * 4000)
    assert estimated.usage.output_tokens == 100
    assert 1000 <= estimated.usage.input_tokens <= 1100


def test_delay_and_overlap_timestamps(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.add_rule(Rule(content="slow", text="late", delay=0.4))
    threads = [threading.Thread(target=ask, args=(client, f"slow {i}")) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = fake.wait_for_requests(2, timeout=5, finished=True)
    assert a.finished_at is not None
    assert b.finished_at is not None
    assert a.finished_at - a.received_at >= 0.4
    assert a.received_at < b.finished_at
    assert b.received_at < a.finished_at
    assert a.overlaps(b)

    fake.reset()
    ask(client, "slow one")
    ask(client, "slow two")
    c, d = fake.requests
    assert c.finished_at is not None
    assert c.finished_at <= d.received_at
    assert not c.overlaps(d)
    assert [r.seq for r in (c, d)] == [3, 4]


def test_chunk_delay_spreads_the_stream(fake: FakeAnthropic) -> None:
    fake.add_rule(Rule(text="z" * 100, chunk_delay=0.05))
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "a"}],
    }
    arrivals: list[float] = []
    with httpx.stream("POST", f"{fake.base_url}/v1/messages", json=body) as resp:
        for line in resp.iter_lines():
            if '"text_delta"' in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 4
    assert arrivals[-1] - arrivals[0] >= 0.15


def test_in_flight_and_disconnected_requests_are_recorded(fake: FakeAnthropic) -> None:
    fake.add_rule(Rule(text="never read", delay=30))
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake.base_url}/v1/messages", json=body, timeout=0.5)
    [rec] = fake.wait_for_requests(1, timeout=5, finished=True)
    assert rec.completed is False
    assert rec.finished_at is not None
    assert rec.finished_at - rec.received_at < 5


def test_stop_ends_pending_answers_with_overloaded(fake: FakeAnthropic) -> None:
    fake.add_rule(Rule(text="never sent", delay=30))
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a"}]}
    answers: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(httpx.post(f"{fake.base_url}/v1/messages", json=body))
    )
    worker.start()
    fake.wait_for_requests(1, timeout=5)
    started = time.monotonic()
    fake.stop()
    worker.join(timeout=10)
    assert time.monotonic() - started < 5
    assert answers[0].status_code == 529
    assert answers[0].json()["error"]["type"] == "overloaded_error"
    [rec] = fake.requests
    assert rec.completed is False
    assert rec.status == 529


def test_wait_for_requests_times_out(fake: FakeAnthropic) -> None:
    with pytest.raises(TimeoutError):
        fake.wait_for_requests(1, timeout=0.1)


def test_requests_matching(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    ask(client, "alpha one")
    ask(client, "beta two", model="claude-haiku-5-5")
    assert [r.last_user_text for r in fake.requests_matching(content="alpha")] == ["alpha one"]
    assert [r.last_user_text for r in fake.requests_matching(model="haiku")] == ["beta two"]
    assert len(fake.requests_matching(any_content="one|two")) == 2


def test_other_paths_and_bad_bodies(fake: FakeAnthropic) -> None:
    base = fake.base_url
    missing = httpx.get(f"{base}/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    assert httpx.get(f"{base}/v1/models").status_code == 200
    assert httpx.head(f"{base}/").status_code == 200
    bad = httpx.post(f"{base}/v1/messages", content=b"{not json")
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    # Each record is marked finished just after its answer went out: wait for the last.
    records = fake.wait_for_requests(4, messages_only=False, finished=True)
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/v1/nothing", 404),
        ("GET", "/v1/models", 200),
        ("HEAD", "/", 200),
        ("POST", "/v1/messages", 400),
    ]
    assert all(r.completed for r in records)


def test_rules_can_be_replaced_while_running(
    fake: FakeAnthropic, client: anthropic.Anthropic
) -> None:
    fake.add_rule(Rule(text="one"))
    assert text_of(ask(client, "x")) == "one"
    fake.clear_rules()
    fake.add_rule(Rule(text="two"))
    assert text_of(ask(client, "x")) == "two"


def test_stop_and_restart() -> None:
    fake = FakeAnthropic()
    url = fake.start()
    assert fake.base_url == url
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/")
    fake.start()
    assert httpx.get(f"{fake.base_url}/").status_code == 200
    fake.stop()


def test_invalid_rules_in_code_raise_usage_error() -> None:
    with pytest.raises(UsageError, match="content"):
        Rule(content="(unclosed")
    with pytest.raises(UsageError, match="status"):
        Rule(status=200)


# ---------------------------------------------------------------- rules files


def test_load_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(
        json.dumps(
            [
                {"content": "hi", "text": "hello", "times": 1},
                {
                    "tool_result": False,
                    "tool_calls": [{"name": "Write", "input": {"file_path": "f"}}],
                    "usage": {"input_tokens": 1, "output_tokens": 2},
                },
                {"status": 529, "retry_after": 0.5},
            ]
        )
    )
    rules = load_rules(path)
    assert rules[0] == Rule(content="hi", text="hello", times=1)
    assert rules[1].tool_calls == (ToolCall("Write", {"file_path": "f"}),)
    assert rules[1].usage == Usage(1, 2)
    assert rules[2].status == 529


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([{"contnet": "typo"}], "contnet"),
        ([{"times": "2"}], "times"),
        ([{"delay": True}], "delay"),
        ([{"tool_result": "yes"}], "tool_result"),
        ([{"tool_calls": [{"input": {}}]}], "tool_calls"),
        ([{"usage": {"input_tokens": 1}}], "usage"),
        ([{"content": "("}], "content"),
        ([{"status": 200}], "status"),
    ],
)
def test_bad_rules_file_names_file_and_field(tmp_path: Path, data: object, field: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError) as info:
        load_rules(path)
    assert str(path) in str(info.value)
    assert field in str(info.value)


def test_rules_file_must_be_a_json_list(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="invalid JSON"):
        load_rules(path)
    path.write_text('{"content": "x"}')
    with pytest.raises(UsageError, match="list"):
        load_rules(path)
    with pytest.raises(UsageError, match="cannot read"):
        load_rules(tmp_path / "missing.json")


# ---------------------------------------------------------------- command line


def test_command_line_serves_and_records(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"content": "ping", "text": "pong"}]))
    record = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "podium.testing", "--port", "0", "--rules", str(rules)]
    cmd += ["--default-text", "dflt", "--record", str(record)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with anthropic.Anthropic(base_url=url, api_key="k", max_retries=0) as client:
            assert text_of(ask(client, "ping")) == "pong"
            assert text_of(ask(client, "other")) == "dflt"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["last_user_text"] for line in lines] == ["ping", "other"]
    assert [line["rule_index"] for line in lines] == [0, None]


def test_command_line_rejects_bad_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"bogus": 1}]))
    assert fake_api_main(["--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert str(rules) in err
    assert "bogus" in err


# ---------------------------------------------------------------- the real Claude Code CLI


def run_cli(fake: FakeAnthropic, cwd: Path, *args: str) -> dict[str, object]:
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    proc = subprocess.run(
        [str(bundled_cli()), *args, "--output-format", "json", "--model", "sonnet"],
        cwd=cwd,
        env=cli_env(fake.base_url, home),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert proc.stdout.strip(), proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.mark.cli
def test_real_cli_answers_from_fake(fake: FakeAnthropic, tmp_path: Path) -> None:
    fake.add_rule(Rule(content="hello", text="PONG-123", usage=Usage(1234, 56)))
    result = run_cli(fake, tmp_path, "-p", "hello")
    assert result["result"] == "PONG-123"
    assert result["is_error"] is False
    usage = result["usage"]
    assert isinstance(usage, dict)
    assert (usage["input_tokens"], usage["output_tokens"]) == (1234, 56)
    [rec] = fake.message_requests()
    assert "hello" in rec.last_user_text
    assert rec.user_prompt == "hello"
    assert rec.rule_index == 0
    assert rec.stream is True
    assert rec.model is not None
    assert "sonnet" in rec.model
    assert str(tmp_path) in rec.system_text  # the working directory is in the system prompt


@pytest.mark.cli
def test_real_cli_runs_a_tool(fake: FakeAnthropic, tmp_path: Path) -> None:
    target = tmp_path / "made.txt"
    write = ToolCall("Write", {"file_path": str(target), "content": "x"})
    fake.add_rule(Rule(tool_result=False, tool_calls=[write]))
    fake.add_rule(Rule(tool_result=True, text="WROTE"))
    result = run_cli(fake, tmp_path, "-p", "write the file", "--allowedTools", "Write")
    assert result["result"] == "WROTE"
    assert result["is_error"] is False
    assert target.read_text() == "x"
    first, second = fake.message_requests()
    assert "Write" in first.tool_names
    assert second.has_tool_result
    assert second.rule_index == 1
