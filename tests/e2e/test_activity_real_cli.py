"""Activity events and tell through the daemon and the `podium` command, real CLI + fake API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium import Client, TellMode
from podium.testing import FakeAnthropic, Rule, ToolCall, message_text
from tests._following import Following

from ._helpers import no_processes_left, podium, wait_until

pytestmark = pytest.mark.cli

# The CLI refuses a plain long `sleep`; this is as slow without being one.
SLOW = "python3 -c 'import time; time.sleep(4)'"
LONG = "python3 -c 'import time; time.sleep(60)'"
BASH = {"tools": ["Bash"], "allowed_tools": ["Bash"]}


def test_a_slow_tool_is_seen_over_sse_and_in_watch_while_its_request_runs(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    # Long enough that the request is certainly still running when it is checked;
    # the test cancels it once seen.
    fake.add_rule(
        Rule(
            content="run the build",
            tool_calls=[ToolCall(name="Bash", input={"command": LONG, "timeout": 120000})],
        )
    )
    podium(env, "up")
    client = Client.from_home(home, autostart=False)
    watcher: Following | None = None
    try:
        client.spawn("builder", cwd=workdir, options=BASH)
        start = client.activity()["last_event_id"]
        running = client.ask("builder", "run the build")
        # Over SSE: tool_started arrives while the request is still running.
        for event in client.follow_events(after=start, agent="builder"):
            if event.kind.value == "tool_started":
                break
        assert event.request_id == running.id
        assert event.data["tool"] == "Bash"
        assert "time.sleep(60)" in event.data["input"]
        assert client.poll(running.id).state.value == "running"
        step = client.activity()["agents"]["builder"]
        assert step["request_id"] == running.id
        assert step["step"].startswith("Bash: ")
        # Through the CLI: watch replays the running request from its start, as JSON lines.
        watcher = Following("watch", "builder", "--json", env=env)
        watched = watcher.seen
        wait_until(lambda: any('"tool_started"' in line for line in watched), timeout=60)
        seen = json.loads(next(line for line in watched if '"tool_started"' in line))
        assert seen["request_id"] == running.id
        logs = podium(env, "logs", "builder").stdout
        assert "tool_started" in logs
        assert "Bash: python3 -c" in logs
        assert client.poll(running.id).state.value == "running"
        client.cancel(running.id)
        assert client.wait(running.id, 60).state.value == "cancelled"
        wait_until(lambda: any('"request_finished"' in line for line in watched), timeout=30)
        kinds = [json.loads(line)["kind"] for line in watched]
        assert kinds[0] == "request_started"
        assert "api_call" in kinds
    finally:
        try:
            code = None if watcher is None else watcher.interrupt(timeout=30)
        finally:
            if watcher is not None:
                watcher.close()
            client.close()
            podium(env, "down", expect=None)
    assert code == 0
    no_processes_left(home)


def test_tell_reaches_the_same_turns_next_call_and_the_turn_ends_with_one_answer(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    fake.add_rule(Rule(content="BLUE-42", tool_result=True, text="answer with the hint"))
    fake.add_rule(
        Rule(content="fix the bug", tool_calls=[ToolCall(name="Bash", input={"command": SLOW})])
    )
    fake.add_rule(Rule(tool_result=True, text="answer without the hint"))
    fake.add_rule(Rule(content="idle now", text="plain answer"))
    podium(env, "up")
    client = Client.from_home(home, autostart=False)
    try:
        client.spawn("fixer", cwd=workdir, options=BASH)
        start = client.activity()["last_event_id"]
        running = client.ask("fixer", "fix the bug")
        for event in client.follow_events(after=start, agent="fixer"):
            if event.kind.value == "tool_started":
                break
        told = podium(env, "tell", "fixer", "BLUE-42: the bug is in parse()", "--json")
        result = json.loads(told.stdout)
        assert result["mode"] == "steered"
        assert result["request"]["id"] == running.id
        done = client.wait(running.id, 60)
        assert done.state.value == "complete"
        assert done.result == "answer with the hint"
        assert [s["text"] for s in done.meta["steering"]] == ["BLUE-42: the bug is in parse()"]
        # The fake received it in the same turn's next call, beside the tool's result.
        last = fake.requests[-1].messages[-1]
        assert "BLUE-42: the bug is in parse()" in message_text(last)
        assert "tool_result" in json.dumps(last)
        assert [r.id for r in client.requests(agent="fixer")] == [running.id]
        finished = [e for e in client.events(agent="fixer") if e.kind.value == "request_finished"]
        assert len(finished) == 1
        # Idle: an ordinary ask.
        idle = client.tell("fixer", "idle now")
        assert idle.mode is TellMode.ASKED
        assert client.wait(idle.request.id, 60).result == "plain answer"
    finally:
        client.close()
        podium(env, "down", expect=None)
    no_processes_left(home)
