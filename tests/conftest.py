"""Shared fixtures: the real bundled Claude Code CLI against podium's fake Anthropic API.

Only the model is fake (there is no API key here); the CLI, its processes,
SQLite and the file system are real.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from podium.runtime import Runtime, RuntimeConfig
from podium.testing import FakeAnthropic, fake_api_env
from tests._redis_server import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    # Tests press Ctrl-C on commands they start (`logs --follow`, `watch`) as a user at a
    # terminal would. A run launched as a background job of a non-interactive shell
    # inherits SIGINT ignored, and every child would too (Python then installs no
    # KeyboardInterrupt handler): give SIGINT the handler Python gives it by default, which
    # exec resets to the default disposition in each child, as in a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Likewise a blocked SIGINT, which children inherit too (and would never receive).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state directory and HOME, so nothing leaks between tests."""
    state = tmp_path / "podium-home"
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.setenv("PODIUM_HOME", str(state))
    for key in list(os.environ):
        if key.startswith(("CLAUDECODE", "ANTHROPIC_", "OPENAI_")):
            monkeypatch.delenv(key)
    return state


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def make_config(home: Path, fake: FakeAnthropic, **overrides: object) -> RuntimeConfig:
    values: dict[str, object] = {
        "home": home,
        "idle_timeout": 600.0,
        "env": fake_api_env(fake.base_url),
    }
    values.update(overrides)
    return RuntimeConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def runtime(home: Path, fake: FakeAnthropic) -> AsyncIterator[Runtime]:
    rt = Runtime(make_config(home, fake))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server (AOF on) on a unix socket, shared by one test module:
    tests keep apart by a key prefix of their own."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()
