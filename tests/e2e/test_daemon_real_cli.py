"""The installed `podium` command and a real daemon, with the real CLI against the fake API.

Only the model is fake. These tests kill real processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium import Client
from podium.testing import FakeAnthropic, Rule, fake_api_env, message_text

pytestmark = pytest.mark.cli


@pytest.fixture
def env(home: Path, fake: FakeAnthropic) -> dict[str, str]:
    return {**os.environ, **fake_api_env(fake.base_url), "PODIUM_HOME": str(home)}


def podium(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    return result


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_under(home: Path) -> list[int]:
    """Every live process whose command line or environment mentions this state dir."""
    found = []
    marker = str(home).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in blob and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_seed_session_through_the_cli(env: dict[str, str], fake: FakeAnthropic, workdir: Path,
                                      home: Path) -> None:
    fake.add_rule(Rule(content="portfolio analyst", text="READY"))
    fake.add_rule(Rule(content="What is your role", any_content="portfolio analyst",
                       text="I analyse portfolios."))
    fake.add_rule(Rule(content="compact JSON", text='{"supply": 42}'))
    fake.add_rule(Rule(content="(?s)Analyze.*supply", text="Supply is 42."))
    try:
        podium(env, "spawn", "orchestrator", "--model", "sonnet", "--cwd", str(workdir))
        out = podium(env, "ask", "orchestrator", "You are a portfolio analyst. Say READY.")
        assert out.stdout.strip() == "READY"
        podium(env, "fork", "orchestrator", "fetcher", "haiku")
        assert podium(env, "ask", "fetcher", "What is your role?").stdout.strip() == (
            "I analyse portfolios."
        )
        podium(env, "ask", "fetcher", "compact JSON please")
        request_id = podium(env, "relay", "fetcher", "orchestrator", "Analyze it.").stdout.strip()
        waited = json.loads(podium(env, "wait", request_id, "--json").stdout)
        assert waited["status"] == "complete"
        assert waited["result"] == "Supply is 42."
        assert set(waited) >= {"id", "agent", "status", "result", "error", "usage", "cost_usd",
                               "submitted_at", "started_at", "completed_at"}

        listed = json.loads(podium(env, "list", "--json").stdout)
        by_name = {a["name"]: a for a in listed}
        assert set(by_name) == {"orchestrator", "fetcher"}
        assert by_name["fetcher"]["forked_from"] == "orchestrator"
        assert "haiku" in by_name["fetcher"]["model"]
        assert by_name["orchestrator"]["request_count"] == 2
        assert by_name["orchestrator"]["cost_usd"] > 0
        assert by_name["orchestrator"]["session_id"] != by_name["fetcher"]["session_id"]
    finally:
        podium(env, "down", check=False)
    wait_until(lambda: processes_under(home) == [])


def test_daemon_sigkill_then_restart_keeps_agents_sessions_and_leaves_no_orphans(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    fake.add_rule(Rule(content="remember ZEBRA-9", text="remembered"))
    fake.add_rule(Rule(content="long job", text="never seen", delay=60))
    podium(env, "up")
    client = Client.from_home(home, autostart=False)
    try:
        before = client.spawn("keeper", cwd=workdir)
        done = client.ask("keeper", "remember ZEBRA-9", wait=True)
        assert done.result == "remembered"
        running = client.ask("keeper", "long job")
        wait_until(lambda: bool(fake.requests_matching("long job")))

        daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
        agent_pid = client.get_agent("keeper").pid
        assert agent_pid is not None
        assert alive(agent_pid)
        client.close()
        os.kill(daemon_pid, signal.SIGKILL)
        wait_until(lambda: not alive(daemon_pid))
        # Mid-turn, the CLI is waiting on the (60 s) model call and has not noticed
        # its stdin closing yet...
        assert alive(agent_pid)

        podium(env, "up")
        # ...so the new daemon reaps it (its process group) before anything else.
        wait_until(lambda: not alive(agent_pid), timeout=5)
        client = Client.from_home(home, autostart=False)
        after = client.get_agent("keeper")
        assert after.session_id == before.session_id
        assert after.pid is None  # hibernated until asked
        interrupted = client.poll(running.id)
        assert interrupted.state.value == "interrupted"

        again = client.ask("keeper", "what should you remember?", wait=True)
        assert again.state.value == "complete", again.error
        [call] = fake.requests_matching("what should you remember")
        history = "\n".join(message_text(m) for m in call.messages)
        assert "remember ZEBRA-9" in history
        assert "remembered" in history
    finally:
        client.close()
        podium(env, "down", check=False)
    wait_until(lambda: processes_under(home) == [])
