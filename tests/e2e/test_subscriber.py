"""A logged-in Claude Code subscriber, no API key: the `podium` command as they would use it.

Real daemon, real CLI, fake API; the login is a made-up ``~/.claude/.credentials.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.testing import FakeAnthropic, Rule
from tests.runtime.test_user_config import ACCESS, log_in, no_key_env

pytestmark = pytest.mark.cli


def podium(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(home: Path, fake: FakeAnthropic) -> dict[str, str]:
    return {**os.environ, **no_key_env(fake), "PODIUM_HOME": str(home)}


def test_spawn_and_ask_on_a_subscription_then_see_the_billing(
    env: dict[str, str], home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    log_in(Path(env["HOME"]))
    fake.add_rule(Rule(content="hi", text="hello from your own login"))
    try:
        spawned = podium(env, "spawn", "alice", "--cwd", str(workdir))
        assert spawned.returncode == 0, spawned.stderr
        assert "billed to subscription max (Agent SDK credit)" in spawned.stdout
        asked = podium(env, "ask", "alice", "hi")
        assert asked.returncode == 0, asked.stderr
        assert "hello from your own login" in asked.stdout
        [entry] = json.loads(podium(env, "list", "--json").stdout)
        assert entry["billing"] == "subscription max (Agent SDK credit)"
        assert "sub" in podium(env, "list").stdout
        info = podium(env, "info", "alice").stdout
        assert "subscription max (Agent SDK credit)" in info
    finally:
        podium(env, "down")
    assert {r.headers.get("authorization") for r in fake.message_requests()} == {f"Bearer {ACCESS}"}


def test_nobody_logged_in_is_one_clear_error(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path
) -> None:
    try:
        refused = podium(env, "spawn", "alice", "--cwd", str(workdir))
        assert refused.returncode == 2
        # (The first command also says it started the daemon.)
        [line] = [x for x in refused.stderr.splitlines() if not x.startswith("started podium")]
        assert line.startswith("error: ")
        assert "claude /login" in line
        assert "claude setup-token" in line
        assert "subtype" not in line
        isolated = podium(env, "spawn", "bob", "--config-dir", "isolated", "--cwd", str(workdir))
        assert isolated.returncode == 2
        assert "isolated configuration" in isolated.stderr
        assert json.loads(podium(env, "list", "--json").stdout) == []
    finally:
        podium(env, "down")
    assert fake.message_requests() == []
