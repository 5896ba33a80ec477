"""Fixtures for MCP tool tests: a real daemon in a thread, the model replaced by EchoBackend.

Tools are called through the MCP SDK's own client, connected to the server in
process (``async with open_tools(daemon, settings) as tools``: an MCP session
must be opened and closed by the same task, so it is not a fixture); the
daemon, HTTP API, runtime and store are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium import Client
from podium.mcp import McpSettings
from tests._threaded_daemon import ThreadedDaemon


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def daemon(home: Path) -> Iterator[ThreadedDaemon]:
    running = ThreadedDaemon(home).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(daemon: ThreadedDaemon) -> Iterator[Client]:
    with daemon.client() as c:
        yield c


@pytest.fixture
def settings(home: Path) -> McpSettings:
    """An outside MCP client (no calling agent) in the default scope, default limits."""
    return McpSettings(home=home)
