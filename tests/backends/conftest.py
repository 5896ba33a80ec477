"""Fixtures for the API backends: both fake APIs and a runtime whose agents talk to them.

Nothing here starts a CLI process: an anthropic-api or openai agent is a history
file plus an HTTP client, so these tests stay fast. Every assertion about what
an agent "knows" is made on the HTTP requests the fakes received.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podium._records import RequestRecord
from podium.backends import Backend
from podium.backends.anthropic_api import AnthropicAPIBackend
from podium.backends.claude_code import ClaudeCodeBackend
from podium.backends.openai_compat import OpenAIBackend
from podium.pricing import default_price_table
from podium.runtime import Runtime, RuntimeConfig
from podium.testing import FakeAnthropic, FakeOpenAI, FakeServer, RecordedRequest, fake_api_env
from podium.testing import message_text as _message_text

__all__ = [
    "ANTHROPIC",
    "BIG_SYSTEM",
    "FLAVORS",
    "HAIKU_ID",
    "OPENAI",
    "Flavor",
    "api_backends",
    "api_env",
    "ask_done",
    "dialogue",
    "history_lines",
    "open_runtime",
    "served_by",
]

# Over 1,024 tokens at the fakes' four characters a token: long enough to be cached.
BIG_SYSTEM = "You are a meticulous reviewer of ledgers. Keep every figure exact. " * 90


@dataclass(frozen=True)
class Flavor:
    """One API backend as a test drives it: the model asked for and the id it prices under."""

    backend: str
    model: str
    model_id: str

    def __str__(self) -> str:
        return self.backend


# The id an alias stands for comes from the shipped price table, as the backend resolves it.
ANTHROPIC = Flavor("anthropic-api", "sonnet", default_price_table().resolve("sonnet"))
HAIKU_ID = default_price_table().resolve("haiku")
OPENAI = Flavor("openai", "gpt-4o-mini", "gpt-4o-mini")

FLAVORS = [pytest.param(ANTHROPIC, id="anthropic-api"), pytest.param(OPENAI, id="openai")]


@pytest.fixture(autouse=True)
def _builtin_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    # Costs are checked against the shipped table; a user's price file must not interfere.
    monkeypatch.delenv("PODIUM_PRICES", raising=False)
    monkeypatch.delenv("PODIUM_BATCH_WINDOW", raising=False)
    monkeypatch.delenv("PODIUM_BATCH_POLL", raising=False)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def api_env(fake: FakeAnthropic, fake_openai: FakeOpenAI) -> dict[str, str]:
    """What every agent's environment holds: both fakes' endpoints and a dummy key.
    (FakeOpenAI.base_url already ends in /v1.)"""
    return {**fake_api_env(fake.base_url), "OPENAI_BASE_URL": fake_openai.base_url}


def api_backends() -> dict[str, Backend]:
    """Fresh backends; batches close after 0.2 s and are polled every 0.05 s."""
    return {
        "claude-code": ClaudeCodeBackend(),
        "anthropic-api": AnthropicAPIBackend(batch_window=0.2, batch_poll=0.05),
        "openai": OpenAIBackend(),
    }


@contextlib.asynccontextmanager
async def open_runtime(home: Path, env: Mapping[str, str], **config: Any) -> AsyncIterator[Runtime]:
    rt = Runtime(RuntimeConfig(home=home, env=dict(env), **config), backends=api_backends())
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def rt(home: Path, fake: FakeAnthropic, fake_openai: FakeOpenAI) -> AsyncIterator[Runtime]:
    async with open_runtime(home, api_env(fake, fake_openai)) as runtime:
        yield runtime


def served_by(flavor: Flavor, fake: FakeAnthropic, fake_openai: FakeOpenAI) -> FakeServer:
    return fake if flavor.backend == "anthropic-api" else fake_openai


async def ask_done(rt: Runtime, name: str, prompt: str, timeout: float = 30) -> RequestRecord:
    """Ask and wait for the request to end."""
    request = await rt.ask(name, prompt)
    return await rt.wait(request.id, timeout=timeout)


def dialogue(record: RecordedRequest) -> list[tuple[str, str]]:
    """The user/assistant messages a fake received, as (role, text), in either wire format."""
    return [
        (str(m["role"]), _message_text(m))
        for m in record.messages
        if isinstance(m, Mapping) and m.get("role") in ("user", "assistant")
    ]


async def history_lines(rt: Runtime, name: str) -> list[dict[str, Any]]:
    """The agent's conversation.jsonl, one decoded message per line."""
    info = await rt.info(name)
    path = Path(info["state_dir"]) / "conversation.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]
