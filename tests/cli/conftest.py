"""Fixtures for CLI tests. The model is replaced by EchoBackend; nothing else is faked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from podium.cli import app
from podium.server import stop_daemon
from tests._cli_helpers import Run
from tests._echo_backend import EchoBackend
from tests._threaded_daemon import ThreadedDaemon

# The repository root, so a daemon process can import tests._echo_backend.
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    monkeypatch.delenv("PODIUM_NO_AUTOSTART", raising=False)
    return home


@pytest.fixture
def run() -> Run:
    """Invoke the CLI in-process; stdout and stderr are kept apart."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def echo() -> EchoBackend:
    """The daemon's model; a module overrides it for another (runs: :class:`SlowEcho`)."""
    return EchoBackend()


@pytest.fixture
def daemon(
    home: Path, monkeypatch: pytest.MonkeyPatch, echo: EchoBackend
) -> Iterator[ThreadedDaemon]:
    """A real daemon in a thread of this process; autostart is off so nothing else starts."""
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    running = ThreadedDaemon(home)
    running.echo = echo
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def subprocess_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Env for daemons started as real processes by `podium up` / autostart, with the echo
    backend loaded through the PODIUM_BACKEND_FACTORY testing hook. Always stopped after."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), path) if p))
    monkeypatch.setenv("PODIUM_BACKEND_FACTORY", "tests._echo_backend:backends")
    try:
        yield home
    finally:
        stop_daemon(home, timeout=10)
