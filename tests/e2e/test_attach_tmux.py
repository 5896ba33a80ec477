"""podium attach: Claude Code's own TUI on an agent's conversation, driven through tmux.

The installed `podium` command, a real daemon and the real CLI (headless and
interactive) against the fake API; only the model is fake. tmux gives the TUI
a terminal; keys are typed into it with send-keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium._errors import UsageError
from podium.testing import FakeAnthropic, Rule, message_text
from tests.e2e._helpers import podium, wait_until

pytestmark = [
    pytest.mark.cli,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]

TUI_WAIT = 60.0  # seconds: the TUI starting, drawing and exiting on a loaded machine


class Tmux:
    """One tmux server of its own (a private socket), one session in it."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "attach", check=False).stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", "attach", check=False).returncode == 0

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "attach", *keys)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    mux = Tmux(f"podium-test-{uuid.uuid4().hex[:8]}")
    try:
        yield mux
    finally:
        mux.run("kill-server", check=False)


def texts(request: object) -> str:
    return "\n".join(message_text(m) for m in request.messages)  # type: ignore[attr-defined]


def attach_in_tmux(tmux: Tmux, env: dict[str, str], name: str, log: Path) -> None:
    # The command's stderr (notes, release) goes to a file; the TUI has the terminal.
    script = f'exec "$0" -m podium attach {name} 2>>{log}'
    argv = ["env", *(f"{k}={v}" for k, v in env.items()), "sh", "-c", script, sys.executable]
    tmux.run("new-session", "-d", "-s", "attach", "-x", "120", "-y", "40", *argv)
    tmux.run("set-option", "-t", "attach", "remain-on-exit", "off", check=False)


@pytest.mark.parametrize("config", ["isolated", "user"])
def test_attach_types_into_the_tui_then_the_agent_goes_on_headless(
    env: dict[str, str],
    fake: FakeAnthropic,
    workdir: Path,
    home: Path,
    tmux: Tmux,
    tmp_path: Path,
    config: str,
) -> None:
    fake.add_rule(Rule(content="remember ZEBRA", text="remembered"))
    fake.add_rule(Rule(content="interactive PURPLE", text="purple noted"))
    fake.add_rule(Rule(content="after the TUI", text="both seen"))
    user_state = Path(env["HOME"]) / ".claude.json"
    if config == "user":
        # A user who has used Claude Code: onboarding done and this key approved.
        user_state.write_text(
            json.dumps(
                {
                    "hasCompletedOnboarding": True,
                    "customApiKeyResponses": {
                        "approved": [env["ANTHROPIC_API_KEY"][-20:]],
                        "rejected": [],
                    },
                }
            )
        )
    log = tmp_path / "attach.log"
    try:
        podium(env, "spawn", "bob", "--cwd", str(workdir), "--config-dir", config)
        assert podium(env, "ask", "bob", "remember ZEBRA").stdout.strip() == "remembered"

        attach_in_tmux(tmux, env, "bob", log)
        wait_until(lambda: "remembered" in tmux.screen(), TUI_WAIT)  # the history is shown
        tmux.keys("interactive PURPLE")
        time.sleep(0.5)
        tmux.keys("Enter")
        wait_until(lambda: fake.requests_matching(content="interactive PURPLE"), TUI_WAIT)
        interactive = fake.requests_matching(content="interactive PURPLE")[-1]
        assert "remember ZEBRA" in texts(interactive)  # the TUI sent the conversation
        wait_until(lambda: "purple noted" in tmux.screen(), TUI_WAIT)

        # Held: an ask queues and is not sent while the TUI has the session.
        queued = podium(env, "ask", "bob", "after the TUI", "--async").stdout.strip()
        time.sleep(1.0)
        assert not fake.requests_matching(content="after the TUI")

        tmux.keys("/exit")
        time.sleep(0.5)
        tmux.keys("Enter")
        wait_until(lambda: not tmux.alive(), TUI_WAIT)
        assert "released bob" in log.read_text()

        done = json.loads(podium(env, "wait", queued, "--json").stdout)
        assert done["status"] == "complete", done
        assert done["result"] == "both seen"
        (after,) = fake.requests_matching(content="after the TUI")
        seen = texts(after)
        assert "remember ZEBRA" in seen
        assert "interactive PURPLE" in seen
        assert "purple noted" in seen
        if config == "user":
            state = json.loads(user_state.read_text())
            assert state["projects"][str(workdir)]["hasTrustDialogAccepted"] is True
            assert "marked" in log.read_text()
    finally:
        podium(env, "down", expect=None)


def test_attach_refuses_an_agent_without_a_session_and_an_api_agent(
    env: dict[str, str], workdir: Path
) -> None:
    try:
        podium(env, "spawn", "fresh", "--cwd", str(workdir))
        result = podium(env, "attach", "fresh", expect=2)
        assert "has not had a turn yet" in result.stderr
        podium(env, "spawn", "api", "--backend", "anthropic-api", "--cwd", str(workdir))
        result = podium(env, "attach", "api", expect=2)
        assert "anthropic-api backend" in result.stderr
        podium(env, "attach", "nobody", expect=2)
    finally:
        podium(env, "down", expect=None)


def test_a_hold_whose_holder_died_is_released_and_queued_asks_run(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    from podium import Client

    fake.add_rule(Rule(content="first", text="one"))
    fake.add_rule(Rule(content="queued while held", text="two"))
    podium(env, "up")
    holder = subprocess.Popen(["sleep", "300"])
    try:
        with Client.from_home(home, autostart=False) as client:
            client.spawn("carol", cwd=workdir, options={"config_dir": "isolated"})
            assert client.ask("carol", "first", wait=True).result == "one"
            launch = client.hold_agent("carol", holder.pid)
            assert launch["argv"][1:3] == ["--resume", launch["session_id"]]
            assert launch["cwd"] == str(workdir)
            assert client.list_agents()[0].pid is None  # its headless process is stopped
            with pytest.raises(UsageError, match="already attached"):
                client.hold_agent("carol", os.getpid())
            queued = client.ask("carol", "queued while held")
            time.sleep(1.5)
            assert not fake.requests_matching(content="queued while held")

            holder.kill()  # the attach command crashed: nobody releases it but the daemon
            holder.wait()
            done = client.wait(queued.id, timeout=60)
            assert done.result == "two"
            seen = texts(fake.requests_matching(content="queued while held")[-1])
            assert "first" in seen  # the same session, resumed
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        podium(env, "down", expect=None)
