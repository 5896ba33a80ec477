"""``podium spawn``'s Claude Code flags, through the installed command, a real daemon
process and the real CLI against the fake API.

Only the model is fake: it scripts a ``Write`` tool call, and the CLI really runs it
(or refuses it) in the agent's git worktree. What each flag did is read from what
the CLI process was started with (``/proc/<pid>/cmdline``), the file on disk, and
the ``tool_result`` the CLI sent back to the fake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.testing import FakeAnthropic, Rule, ToolCall, fake_api_env

pytestmark = pytest.mark.cli

NOTE = "written by the agent\n"


@pytest.fixture
def env(home: Path, fake: FakeAnthropic, tmp_path: Path) -> Iterator[dict[str, str]]:
    values = {**os.environ, **fake_api_env(fake.base_url), "PODIUM_HOME": str(home)}
    values["GIT_CONFIG_NOSYSTEM"] = "1"
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


def make_repo(path: Path) -> Path:
    path.mkdir()
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@localhost"]
    (path / "README.md").write_text("# project\n")
    for args in (["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-qm", "start"]):
        subprocess.run(["git", "-C", str(path), *ident, *args], check=True, capture_output=True)
    return path


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def flag_value(argv: list[str], flag: str) -> str:
    assert flag in argv, (flag, argv)
    return argv[argv.index(flag) + 1]


def tool_result(fake: FakeAnthropic) -> dict[str, Any]:
    """The one tool_result block the CLI sent back after running the scripted Write."""
    found = [
        block
        for call in fake.message_requests()
        if call.messages and call.messages[-1]["role"] == "user"
        for block in call.messages[-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert len(found) == 1, found
    return dict(found[0])


@pytest.fixture
def scripted_write(fake: FakeAnthropic) -> FakeAnthropic:
    write = ToolCall("Write", {"file_path": "notes.txt", "content": NOTE})
    fake.add_rule(Rule(content="write the notes", tool_result=False, tool_calls=[write]))
    fake.add_rule(Rule(tool_result=True, text="done"))
    return fake


@pytest.mark.parametrize(
    ("flags", "sent"),
    [
        (["--permission-mode", "acceptEdits"], ("--permission-mode", "acceptEdits")),
        (["--allowed-tools", "Write"], ("--allowedTools", "Write")),
    ],
    ids=["accept-edits", "allowed-tools"],
)
def test_a_worktree_agent_spawned_with_a_permission_flag_writes_its_file(
    env: dict[str, str], scripted_write: FakeAnthropic, tmp_path: Path,
    flags: list[str], sent: tuple[str, str],
) -> None:  # fmt: skip
    project = make_repo(tmp_path / "project")
    spawned = podium(
        env, "spawn", "w", "--cwd", str(project), "--isolation", "worktree", *flags, "--json"
    )
    agent = json.loads(spawned.stdout)
    worktree = Path(agent["cwd"])
    assert worktree != project
    assert agent["options"].get("permission_mode") == sent[1] or agent["options"].get(
        "allowed_tools"
    ) == [sent[1]]
    pid = json.loads(podium(env, "info", "w", "--json").stdout)["pid"]
    argv = cmdline(pid)
    assert flag_value(argv, sent[0]) == sent[1]

    answer = json.loads(podium(env, "ask", "w", "write the notes", "--json").stdout)
    assert answer["status"] == "complete", answer
    assert answer["result"] == "done"
    block = tool_result(scripted_write)
    assert not block.get("is_error"), block
    assert (worktree / "notes.txt").read_text() == NOTE
    assert not (project / "notes.txt").exists()  # in its worktree, not the project


def test_without_a_permission_flag_the_write_is_refused(
    env: dict[str, str], scripted_write: FakeAnthropic, tmp_path: Path
) -> None:
    # Why the flags exist: a headless CLI has nobody to ask, so Write is refused.
    project = make_repo(tmp_path / "project")
    agent = json.loads(
        podium(env, "spawn", "w", "--cwd", str(project), "--isolation", "worktree", "--json").stdout
    )
    podium(env, "ask", "w", "write the notes", "--json")
    block = tool_result(scripted_write)
    assert block.get("is_error") is True, block
    assert not (Path(agent["cwd"]) / "notes.txt").exists()


def test_every_flag_reaches_the_cli_process(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    project = make_repo(tmp_path / "project")
    settings = tmp_path / "team-settings.json"
    settings.write_text('{"cleanupPeriodDays": 3}\n')
    mcp = tmp_path / "mcp.json"
    mcp.write_text('{"mcpServers": {}}\n')
    # Relative paths are the caller's: made absolute before the agent starts elsewhere.
    spawned = subprocess.run(
        [
            sys.executable, "-m", "podium", "spawn", "all", "--cwd", str(project),
            "--isolation", "worktree",
            "--tools", "Read", "--tools", "Grep,Write",
            "--allowed-tools", "Write,Bash(git diff:*)",
            "--disallowed-tools", "WebFetch", "--disallowed-tools", "WebSearch",
            "--permission-mode", "plan", "--max-turns", "7",
            "--append-system-prompt", "Answer in French.",
            "--mcp-config", "mcp.json", "--setting", "team-settings.json", "--json",
        ],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert spawned.returncode == 0, spawned.stderr
    pid = json.loads(podium(env, "info", "all", "--json").stdout)["pid"]
    argv = cmdline(pid)
    assert flag_value(argv, "--tools") == "Read,Grep,Write"
    assert flag_value(argv, "--allowedTools") == "Write,Bash(git diff:*)"
    assert flag_value(argv, "--disallowedTools") == "WebFetch,WebSearch"
    assert flag_value(argv, "--permission-mode") == "plan"
    assert flag_value(argv, "--max-turns") == "7"
    assert flag_value(argv, "--append-system-prompt") == "Answer in French."
    assert flag_value(argv, "--mcp-config") == str(mcp)
    assert flag_value(argv, "--settings") == str(settings)

    # And as JSON text: the object goes to the CLI as given.
    podium(env, "spawn", "inline", "--cwd", str(project), "--setting", '{"model": "haiku"}')
    inline = json.loads(podium(env, "info", "inline", "--json").stdout)
    assert flag_value(cmdline(inline["pid"]), "--settings") == '{"model": "haiku"}'
