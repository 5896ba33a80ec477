"""The approval inbox through the installed command, a real daemon process and the
real CLI against the fake API: ``podium spawn --permission-mode ask``, ``podium
inbox``, ``podium allow`` / ``podium deny``, and the same over HTTP (``podium.Client``).

Only the model is fake: it scripts a ``Write`` (or ``Bash``) tool call; the CLI asks
podium, and really runs (or refuses) the tool once decided.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Client
from podium.testing import FakeAnthropic, Rule, ToolCall, fake_api_env

pytestmark = pytest.mark.cli

NOTE = "written after approval\n"


@pytest.fixture
def env(home: Path, fake: FakeAnthropic) -> Iterator[dict[str, str]]:
    values = {**os.environ, **fake_api_env(fake.base_url), "PODIUM_HOME": str(home)}
    values.pop("PODIUM_NO_AUTOSTART", None)
    try:
        yield values
    finally:
        podium(values, "down", check=False)


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


def tool_results(fake: FakeAnthropic) -> list[dict[str, Any]]:
    return [
        dict(block)
        for call in fake.message_requests()
        if call.messages and call.messages[-1]["role"] == "user"
        for block in call.messages[-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def waiting(env: dict[str, str]) -> dict[str, Any]:
    """The one pending approval, once `podium inbox --json` shows it."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = json.loads(podium(env, "inbox", "--json").stdout)
        if found:
            assert len(found) == 1, found
            return dict(found[0])
        time.sleep(0.2)
    raise AssertionError("no approval appeared in the inbox")


def spawn_and_ask(env: dict[str, str], project: Path, *flags: str) -> str:
    podium(env, "spawn", "w", "--cwd", str(project), "--permission-mode", "ask", *flags)
    return podium(env, "ask", "w", "write the notes", "--async").stdout.strip()


@pytest.fixture
def scripted_write(fake: FakeAnthropic) -> FakeAnthropic:
    write = ToolCall("Write", {"file_path": "notes.txt", "content": NOTE})
    fake.add_rule(Rule(content="write the notes", tool_result=False, tool_calls=[write]))
    fake.add_rule(Rule(tool_result=True, text="done"))
    return fake


def test_podium_allow_lets_the_write_run(
    env: dict[str, str], scripted_write: FakeAnthropic, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    request_id = spawn_and_ask(env, project)
    approval = waiting(env)
    assert (approval["agent"], approval["tool"], approval["request_id"]) == (
        "w", "Write", request_id,
    )  # fmt: skip
    assert approval["state"] == "pending"
    assert json.loads(podium(env, "poll", request_id, "--json").stdout)["status"] == "running"
    shown = podium(env, "inbox").stdout
    assert approval["id"] in shown
    assert "Write" in shown

    allowed = json.loads(podium(env, "allow", approval["id"], "--json").stdout)
    assert allowed["state"] == "allowed"
    done = json.loads(podium(env, "wait", request_id, "--json").stdout)
    assert done["status"] == "complete", done
    assert (project / "notes.txt").read_text() == NOTE
    [result] = tool_results(scripted_write)
    assert not result.get("is_error"), result
    assert json.loads(podium(env, "inbox", "--json").stdout) == []
    # Deciding again is a usage error naming the state; nothing changes.
    again = podium(env, "deny", approval["id"], "--reason", "late", check=False)
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: approval {approval['id']} is already allowed"


def test_podium_deny_with_a_reason_reaches_the_model(
    env: dict[str, str], scripted_write: FakeAnthropic, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    request_id = spawn_and_ask(env, project)
    approval = waiting(env)
    denied = podium(env, "deny", approval["id"], "--reason", "use the wiki instead").stdout
    assert f"{approval['id']} denied" in denied
    done = json.loads(podium(env, "wait", request_id, "--json").stdout)
    assert done["status"] == "complete", done
    assert not (project / "notes.txt").exists()
    [result] = tool_results(scripted_write)
    assert result.get("is_error") is True, result
    assert "use the wiki instead" in str(result["content"])
    [record] = json.loads(podium(env, "inbox", "--all", "--json").stdout)
    assert (record["state"], record["reason"], record["decided_by"]) == (
        "denied", "use the wiki instead", "user",
    )  # fmt: skip


def test_a_timed_out_approval_is_denied_and_recorded(
    env: dict[str, str], scripted_write: FakeAnthropic, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    request_id = spawn_and_ask(env, project, "--approval-timeout", "1")
    done = json.loads(podium(env, "wait", request_id, "--json").stdout)
    assert done["status"] == "complete", done
    assert not (project / "notes.txt").exists()
    [result] = tool_results(scripted_write)
    assert result.get("is_error") is True
    assert "approval_timeout" in str(result["content"])
    [record] = json.loads(podium(env, "inbox", "--all", "--json").stdout)
    assert (record["state"], record["decided_by"]) == ("timed_out", "timeout")
    lines = podium(env, "logs", "w", "--json").stdout.splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    assert "approval_requested" in kinds
    assert "approval_decided" in kinds


def test_the_http_api_and_client_decide_a_bash_call(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    bash = ToolCall("Bash", {"command": "echo ran > ran.txt", "description": "mark it"})
    fake.add_rule(Rule(content="run it", tool_result=False, tool_calls=[bash]))
    fake.add_rule(Rule(tool_result=True, text="ran"))
    podium(env, "spawn", "w", "--cwd", str(project), "--permission-mode", "ask")
    monkeypatch.setenv("PODIUM_HOME", env["PODIUM_HOME"])
    with Client.from_home(env["PODIUM_HOME"]) as client:
        request = client.ask("w", "run it")
        deadline = time.monotonic() + 90
        while not (pending := client.approvals()) and time.monotonic() < deadline:
            time.sleep(0.2)
        [approval] = pending
        assert approval.tool == "Bash"
        assert approval.input["command"] == "echo ran > ran.txt"
        assert client.get_approval(approval.id) == approval
        client.allow(approval.id)
        done = client.wait(request.id, timeout=120)
        assert done.state.value == "complete", done.error
        assert (project / "ran.txt").read_text().strip() == "ran"
        kinds = [e.kind.value for e in client.events(agent="w")]
        assert kinds.count("approval_requested") == 1
        assert kinds.count("approval_decided") == 1
