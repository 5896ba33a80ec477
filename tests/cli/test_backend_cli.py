"""The API backends from the command line: spawn and fork options, honest costs, prices.

A real daemon runs in a thread with the real anthropic-api and openai backends,
pointed at FakeAnthropic / FakeOpenAI; claude-code is EchoBackend. The keys and
endpoints come from the daemon's environment, as they would in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.backends.anthropic_api import AnthropicAPIBackend
from podium.backends.openai_compat import OpenAIBackend
from podium.cli import EXIT_USAGE
from podium.cli._agents import agent_cost, request_cost
from podium.server import serve_async
from podium.testing import FakeAnthropic, FakeOpenAI, conversation_text, fake_api_env
from tests._cli_helpers import Run, failed, ok
from tests._threaded_daemon import ThreadedDaemon

LOCAL_ANSWER = "hello from the local model"
CLAUDE_ANSWER = "hello from claude"


class _APIDaemon(ThreadedDaemon):
    """ThreadedDaemon offering the API backends too, with ``env`` as their environment."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        super().__init__(home)
        self.env = env

    def _run(self) -> None:
        backends: dict[str, Any] = {
            "claude-code": self.echo,
            "anthropic-api": AnthropicAPIBackend(env=self.env),
            "openai": OpenAIBackend(env=self.env),
        }
        try:
            asyncio.run(serve_async(home=self.home, backends=backends, install_signals=False))
        except BaseException as exc:  # reported by start()/stop(); a thread cannot raise
            self.failure = exc


@pytest.fixture
def local_api() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default_text=LOCAL_ANSWER) as server:
        yield server


@pytest.fixture
def claude_api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(default_text=CLAUDE_ANSWER) as server:
        yield server


@pytest.fixture
def api_daemon(
    home: Path, claude_api: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> Iterator[_APIDaemon]:
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    # No OpenAI key or URL: a local server needs neither, and --base-url names it.
    running = _APIDaemon(home, fake_api_env(claude_api.base_url))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def spawn_local(run: Run, name: str, fake: FakeOpenAI, *extra: str) -> None:
    args = ("--backend", "openai", "--model", "llama3.2", "--base-url", fake.base_url)
    ok(run("spawn", name, *args, *extra))


def info(run: Run, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(run("info", name, "--json")).stdout)
    return data


def test_spawn_help_names_every_backend(run: Run) -> None:
    text = ok(run("spawn", "--help")).stdout
    for backend in ("claude-code", "anthropic-api", "openai"):
        assert backend in text
    for flag in ("--base-url", "--fallback", "--batch", "--no-cache", "--max-tokens"):
        assert flag in text


def test_local_model_answers_and_its_cost_is_unknown_not_zero(
    run: Run, api_daemon: _APIDaemon, local_api: FakeOpenAI
) -> None:
    spawn_local(run, "x", local_api)
    answer = json.loads(ok(run("ask", "x", "hi", "--json")).stdout)
    assert answer["status"] == "complete"
    assert answer["result"] == LOCAL_ANSWER
    assert answer["cost_usd"] is None
    assert answer["usage"]["output_tokens"] > 0  # the tokens are known, their price is not
    [sent] = local_api.message_requests()
    assert sent.model == "llama3.2"

    listed = ok(run("list")).stdout
    assert "unpriced" in listed
    assert "$0.0000" not in listed
    shown = ok(run("info", "x")).stdout
    assert "unpriced" in shown
    assert "unknown" in shown  # the request row
    data = info(run, "x")
    assert data["unpriced_requests"] == 1
    assert data["recent_requests"][0]["cost_usd"] is None


def test_a_priced_local_model_costs_money(
    run: Run, home: Path, api_daemon: _APIDaemon, local_api: FakeOpenAI
) -> None:
    # The daemon reads <home>/prices.toml on its first priced turn.
    (home / "prices.toml").write_text('[models."llama3.2"]\ninput = 1.0\noutput = 2.0\n')
    spawn_local(run, "x", local_api)
    answer = json.loads(ok(run("ask", "x", "hi", "--json")).stdout)
    assert answer["cost_usd"] > 0
    listed = ok(run("list")).stdout
    assert "unpriced" not in listed
    assert "$0.0" in listed


def test_anthropic_api_agent_keeps_its_options_and_fallback_chain(
    run: Run, api_daemon: _APIDaemon, claude_api: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-ant-my-key-0123456789")  # the daemon's environment
    ok(
        run(
            "spawn", "y", "--backend", "anthropic-api", "--model", "haiku",
            "--fallback", "openai=gpt-4o-mini", "--fallback", "sonnet",
            "--no-cache", "--max-tokens", "300", "--api-key-env", "MY_KEY",
        )
    )  # fmt: skip
    data = info(run, "y")
    assert data["backend"] == "anthropic-api"
    options = data["options"]
    assert options["fallback"] == [
        {"backend": "openai", "model": "gpt-4o-mini"},
        {"model": "sonnet"},
    ]
    assert options["cache"] is False
    assert options["max_tokens"] == 300
    assert options["api_key_env"] == "MY_KEY"
    assert "batch" not in options  # only the options given are stored
    assert "sk-ant-my-key" not in json.dumps(data)  # the variable's name, never its value


def test_a_key_variable_not_set_in_the_daemon_is_refused_at_spawn(
    run: Run, api_daemon: _APIDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    result = run(
        "spawn", "k", "--backend", "anthropic-api", "--model", "haiku",
        "--api-key-env", "NOT_SET_KEY",
    )  # fmt: skip
    failed(result, EXIT_USAGE, "NOT_SET_KEY", "not set in the daemon's environment")
    assert json.loads(ok(run("list", "--json")).stdout) == []


def test_options_not_given_are_not_stored(run: Run, api_daemon: _APIDaemon) -> None:
    ok(run("spawn", "y", "--backend", "anthropic-api", "--model", "haiku"))
    assert info(run, "y")["options"] == {}


def test_batch_on_anthropic_api_is_stored(run: Run, api_daemon: _APIDaemon) -> None:
    ok(run("spawn", "b", "--backend", "anthropic-api", "--model", "haiku", "--batch"))
    assert info(run, "b")["options"]["batch"] is True


def test_bad_options_are_usage_errors_naming_the_option(
    run: Run, api_daemon: _APIDaemon, local_api: FakeOpenAI
) -> None:
    openai = ("--backend", "openai", "--model", "llama3.2")
    failed(run("spawn", "x", *openai, "--base-url", "ftp://x"), EXIT_USAGE, "base_url", "ftp://x")
    failed(
        run("spawn", "x", *openai, "--base-url", local_api.base_url, "--batch"),
        EXIT_USAGE,
        "batch",
    )
    failed(run("spawn", "x", "--base-url", local_api.base_url), EXIT_USAGE, "base_url")
    failed(
        run("spawn", "x", "--backend", "anthropic-api", "--fallback", "nowhere=m"),
        EXIT_USAGE,
        "nowhere",
    )
    failed(run("spawn", "x", "--backend", "carrier-pigeon"), EXIT_USAGE, "carrier-pigeon")
    # Nothing was created by the refused spawns.
    assert json.loads(ok(run("list", "--json")).stdout) == []


def test_fork_to_another_backend_carries_the_conversation(
    run: Run, api_daemon: _APIDaemon, local_api: FakeOpenAI, claude_api: FakeAnthropic
) -> None:
    spawn_local(run, "x", local_api)
    ok(run("ask", "x", "remember the word tangerine"))
    out = ok(run("fork", "x", "z", "--backend", "anthropic-api", "haiku")).stdout
    assert "forked z from x" in out
    assert "anthropic-api" in out
    data = info(run, "z")
    assert data["backend"] == "anthropic-api"
    assert data["forked_from"] == "x"
    assert data["requested_model"] == "haiku"
    assert "base_url" not in data["options"]  # the local endpoint stays with x

    assert ok(run("ask", "z", "which word?")).stdout == CLAUDE_ANSWER + "\n"
    [sent] = claude_api.message_requests()
    conversation = conversation_text(sent.body.get("system"), sent.messages)
    assert "remember the word tangerine" in conversation
    assert LOCAL_ANSWER in conversation
    # The source is untouched and still talks to its own server.
    assert info(run, "x")["backend"] == "openai"


def test_fork_takes_a_base_url(run: Run, api_daemon: _APIDaemon, local_api: FakeOpenAI) -> None:
    spawn_local(run, "x", local_api)
    with FakeOpenAI(default_text="from the other server") as other:
        ok(run("fork", "x", "w", "--base-url", other.base_url))
        assert info(run, "w")["options"]["base_url"] == other.base_url
        assert ok(run("ask", "w", "hi")).stdout == "from the other server\n"
    failed(run("fork", "x", "v", "--base-url", "ftp://x"), EXIT_USAGE, "base_url")


def test_prices_json_lists_the_table(run: Run, home: Path) -> None:
    data = json.loads(ok(run("prices", "--json")).stdout)
    assert data["source"] == "built-in"
    models = {row["model"]: row for row in data["models"]}
    sonnet = models["claude-sonnet-4-6"]
    assert sonnet["input"] == 3.0
    assert sonnet["output"] == 15.0
    assert sonnet["batch_discount"] == 0.5
    assert "sonnet" in sonnet["aliases"]


def test_prices_text_says_where_the_table_comes_from_and_how_to_change_it(
    run: Run, home: Path
) -> None:
    text = ok(run("prices")).stdout
    assert "built-in" in text
    assert "prices.toml" in text
    assert "PODIUM_PRICES" in text
    assert "claude-sonnet-4-5" in text


def test_prices_merges_a_user_file(run: Run, home: Path, tmp_path: Path) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[aliases]\nlocal = "llama3.2"\n\n[models."llama3.2"]\ninput = 0.1\noutput = 0.2\n'
    )
    data = json.loads(ok(run("prices", "--json", "--file", str(extra))).stdout)
    assert data["source"] == f"built-in + {extra}"
    models = {row["model"]: row for row in data["models"]}
    assert models["llama3.2"]["cache_read"] == 0.1  # defaults to input
    assert models["llama3.2"]["aliases"] == ["local"]
    assert "claude-sonnet-4-5" in models
    assert str(extra) in ok(run("prices", "--file", str(extra))).stdout


def test_prices_with_a_bad_file_names_it(run: Run, home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[models."m"]\ninput = "cheap"\noutput = 1\n')
    failed(run("prices", "--file", str(bad)), EXIT_USAGE, str(bad), "input")
    failed(run("prices", "--file", str(tmp_path / "missing.toml")), EXIT_USAGE, "missing.toml")


def test_cost_formatting_is_honest_about_unpriced_requests() -> None:
    assert agent_cost(0.0123, 0, 3) == "$0.0123"
    assert agent_cost(0.0123, 2, 5) == "≥$0.0123 (2 unpriced)"
    assert agent_cost(0.0, 2, 2) == "unpriced"
    assert agent_cost(0.0, 0, 0) == "$0.0000"
    assert request_cost(None) == "unknown"
    assert request_cost(0.5) == "$0.5000"
