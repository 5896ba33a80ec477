"""The installed `podium` command and a real daemon, with the real CLI against the fake API.

Only the model is fake. These tests kill real processes.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from podium import Client
from podium.pricing import default_price_table
from podium.testing import FakeAnthropic, Rule, ToolCall, message_text
from tests._request_shape import REQUEST_KEYS
from tests.e2e._helpers import alive, no_processes_left, podium, wait_until

pytestmark = pytest.mark.cli

# A model podium's price table knows, so a cost read back from a transcript is checked.
PRICED_MODEL = "claude-sonnet-4-6"


def test_seed_session_through_the_cli(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    fake.add_rule(Rule(content="portfolio analyst", text="READY"))
    fake.add_rule(
        Rule(
            content="What is your role",
            any_content="portfolio analyst",
            text="I analyse portfolios.",
        )
    )
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
        assert set(waited) >= REQUEST_KEYS

        listed = json.loads(podium(env, "list", "--json").stdout)
        by_name = {a["name"]: a for a in listed}
        assert set(by_name) == {"orchestrator", "fetcher"}
        assert by_name["fetcher"]["forked_from"] == "orchestrator"
        assert "haiku" in by_name["fetcher"]["model"]
        assert by_name["orchestrator"]["request_count"] == 2
        assert by_name["orchestrator"]["cost_usd"] > 0
        assert by_name["orchestrator"]["session_id"] != by_name["fetcher"]["session_id"]
    finally:
        podium(env, "down", expect=None)
    no_processes_left(home)


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
        podium(env, "down", expect=None)
    no_processes_left(home)


def _kill_daemon_mid_turn(home: Path, client: Client, fake: FakeAnthropic, prompt: str) -> int:
    """SIGKILL the daemon once the agent's CLI has sent ``prompt`` to the model;
    return the CLI's pid (an orphan from then on)."""
    wait_until(lambda: bool(fake.requests_matching(prompt)))
    daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
    agent_pid = client.get_agent("payer").pid
    assert agent_pid is not None
    client.close()
    os.kill(daemon_pid, signal.SIGKILL)
    wait_until(lambda: not alive(daemon_pid))
    return agent_pid


def test_turn_finished_by_an_orphan_after_a_daemon_kill_is_recovered_with_its_answer_and_cost(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    fake.add_rule(Rule(content="warm up", text="warm"))
    fake.add_rule(Rule(content="slow question", text="the late answer", delay=3))
    podium(env, "up")
    client = Client.from_home(home, autostart=False)
    try:
        client.spawn("payer", model=PRICED_MODEL, cwd=workdir)
        warm = client.ask("payer", "warm up", wait=True)
        running = client.ask("payer", "slow question")
        orphan = _kill_daemon_mid_turn(home, client, fake, "slow question")
        # Nobody listens any more, but the model answers and the turn is paid for:
        # the CLI writes it to its transcript and exits when it sees its stdin gone.
        wait_until(lambda: not alive(orphan), timeout=60)

        podium(env, "up")
        client = Client.from_home(home, autostart=False)
        recovered = client.poll(running.id)
        assert recovered.state.value == "complete", recovered.error
        assert recovered.result == "the late answer"
        assert recovered.usage.output_tokens > 0
        price = default_price_table().cost(PRICED_MODEL, recovered.usage)
        assert price is not None
        assert price > 0
        assert recovered.cost_usd == pytest.approx(price)
        agent = client.get_agent("payer")
        assert agent.cost_usd == pytest.approx(warm.cost_usd + price)
        assert agent.last_request_id == running.id

        # The session goes on from the recovered turn.
        again = client.ask("payer", "and now?", wait=True)
        assert again.state.value == "complete", again.error
        [call] = fake.requests_matching("and now")
        assert "the late answer" in "\n".join(message_text(m) for m in call.messages)
    finally:
        client.close()
        podium(env, "down", expect=None)
    no_processes_left(home)


# The CLI refuses a plain long `sleep`; this runs as long without being one.
LONG_COMMAND = "python3 -c 'import time; time.sleep(60)'"


def test_turn_cut_by_a_daemon_kill_shows_it_may_have_completed_with_the_cost_recorded(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    # The model's first call asks for a long tool run; the daemon dies meanwhile,
    # and the restart reaps the CLI before the turn ends.
    fake.add_rule(
        Rule(
            content="long chore",
            tool_calls=[ToolCall(name="Bash", input={"command": LONG_COMMAND, "timeout": 120000})],
        )
    )
    podium(env, "up")
    client = Client.from_home(home, autostart=False)
    try:
        client.spawn(
            "payer",
            model=PRICED_MODEL,
            cwd=workdir,
            options={"tools": ["Bash"], "allowed_tools": ["Bash"]},
        )
        running = client.ask("payer", "long chore")
        orphan = _kill_daemon_mid_turn(home, client, fake, "long chore")
        # The user's own Claude Code configuration (the default): HOME is the test's.
        projects = Path(env["HOME"]) / ".claude" / "projects"
        wait_until(lambda: bool(list(projects.glob("*/*.jsonl"))))
        [transcript] = projects.glob("*/*.jsonl")
        # The first call's answer (the tool use) is in the transcript.
        wait_until(lambda: '"tool_use"' in transcript.read_text(), timeout=30)
        assert alive(orphan)

        podium(env, "up")
        wait_until(lambda: not alive(orphan), timeout=5)
        client = Client.from_home(home, autostart=False)
        cut = client.poll(running.id)
        assert cut.state.value == "interrupted"
        assert cut.error is not None
        assert "may have completed" in cut.error
        assert cut.usage.input_tokens > 0
        price = default_price_table().cost(PRICED_MODEL, cut.usage)
        assert price is not None
        assert price > 0
        assert cut.cost_usd == pytest.approx(price)
        assert client.get_agent("payer").cost_usd == pytest.approx(price)
    finally:
        client.close()
        podium(env, "down", expect=None)
    no_processes_left(home)
