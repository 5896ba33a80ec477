"""Fixtures for daemon tests: the model is replaced by EchoBackend, nothing else is faked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from podium.runtime import Runtime, RuntimeConfig
from tests._asgi_api import api_client
from tests._echo_backend import EchoBackend
from tests._threaded_daemon import ThreadedDaemon


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def echo() -> EchoBackend:
    return EchoBackend()


@pytest.fixture
async def runtime(home: Path, echo: EchoBackend) -> AsyncIterator[Runtime]:
    runtime = Runtime(RuntimeConfig(home=home), backends={"claude-code": echo})
    await runtime.start()
    yield runtime
    await runtime.close()


@pytest.fixture
def shutdown_calls() -> list[int]:
    return []


@pytest.fixture
async def api(runtime: Runtime, shutdown_calls: list[int]) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process over httpx's ASGI transport, authorised, from the right Host."""
    async with api_client(runtime, on_shutdown=lambda: shutdown_calls.append(1)) as client:
        yield client


@pytest.fixture
def daemon(home: Path) -> Iterator[ThreadedDaemon]:
    """A real daemon (uvicorn on a free port) in a thread of this process."""
    running = ThreadedDaemon(home).start()
    try:
        yield running
    finally:
        running.stop()
