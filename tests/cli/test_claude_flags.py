"""``podium spawn``'s Claude Code flags: what reaches the agent's session, and what is
refused by flag before the daemon is asked.

The model is EchoBackend (only the model); the daemon, its checks and its records
are real. ``tests/e2e/test_spawn_flags_real_cli.py`` reads the same flags from a
real CLI process's argv.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium._options import AgentOptions
from podium.backends.claude_code._backend import build_argv
from tests._cli_helpers import Run, failed, ok
from tests._threaded_daemon import ThreadedDaemon


def started(daemon: ThreadedDaemon) -> AgentOptions:
    """The options of the session the daemon last started."""
    return daemon.echo.started[-1].options


def argv_of(daemon: ThreadedDaemon) -> list[str]:
    """The command line the claude-code backend builds for that session."""
    return build_argv("claude", daemon.echo.started[-1])


@pytest.mark.parametrize(
    ("flags", "option", "value", "sent"),
    [
        (["--tools", "Read", "--tools", "Grep"], "tools", ("Read", "Grep"),
         ["--tools", "Read,Grep"]),
        (["--tools", "Read,Grep"], "tools", ("Read", "Grep"), ["--tools", "Read,Grep"]),
        (["--tools", ""], "tools", (), ["--tools", ""]),
        (
            ["--allowed-tools", "Write", "--allowed-tools", "Bash(git diff:*),Edit"],
            "allowed_tools",
            ("Write", "Bash(git diff:*)", "Edit"),
            ["--allowedTools", "Write,Bash(git diff:*),Edit"],
        ),
        (
            ["--disallowed-tools", "WebFetch,WebSearch"],
            "disallowed_tools",
            ("WebFetch", "WebSearch"),
            ["--disallowedTools", "WebFetch,WebSearch"],
        ),
        (
            ["--permission-mode", "acceptEdits"],
            "permission_mode",
            "acceptEdits",
            ["--permission-mode", "acceptEdits"],
        ),
        (["--max-turns", "4"], "max_turns", 4, ["--max-turns", "4"]),
        (
            ["--append-system-prompt", "Be brief."],
            "append_system_prompt",
            "Be brief.",
            ["--append-system-prompt", "Be brief."],
        ),
        (
            ["--mcp-config", '{"mcpServers": {}}'],
            "mcp_config",
            '{"mcpServers": {}}',
            ["--mcp-config", '{"mcpServers": {}}'],
        ),
        (
            ["--setting", '{"model": "haiku"}'],
            "settings",
            '{"model": "haiku"}',
            ["--settings", '{"model": "haiku"}'],
        ),
    ],
    ids=[
        "tools-repeated", "tools-comma", "tools-none", "allowed-tools", "disallowed-tools",
        "permission-mode", "max-turns", "append-system-prompt", "mcp-config", "setting",
    ],
)  # fmt: skip
def test_each_flag_reaches_the_session_and_its_argv(
    run: Run, daemon: ThreadedDaemon, tmp_path: Path,
    flags: list[str], option: str, value: object, sent: list[str],
) -> None:  # fmt: skip
    agent = json.loads(ok(run("spawn", "a", "--cwd", str(tmp_path), *flags, "--json")).stdout)
    assert agent["name"] == "a"  # --json output as before
    assert getattr(started(daemon), option) == value
    argv = argv_of(daemon)
    at = argv.index(sent[0])
    assert argv[at : at + 2] == sent
    # Recorded as given, under the option's own key.
    stored = agent["options"][option]
    assert stored == (list(value) if isinstance(value, tuple) else value)


def test_files_are_found_from_the_callers_directory(
    run: Run, daemon: ThreadedDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "settings.json").write_text("{}")
    (tmp_path / "conf" / "mcp.json").write_text('{"mcpServers": {}}')
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(tmp_path)
    ok(
        run(
            "spawn", "a", "--cwd", str(project), "--setting", "conf/settings.json",
            "--mcp-config", "conf/mcp.json",
        )
    )  # fmt: skip
    options = started(daemon)
    assert options.settings == str(tmp_path / "conf" / "settings.json")
    assert options.mcp_config == str(tmp_path / "conf" / "mcp.json")


def test_plain_output_still_reads_the_same(
    run: Run, daemon: ThreadedDaemon, tmp_path: Path
) -> None:
    out = ok(run("spawn", "a", "--cwd", str(tmp_path), "--permission-mode", "plan")).stdout
    assert out.startswith("spawned a (model ")


# --- refused before the daemon is asked (none runs in these) ---------------------------------


@pytest.fixture
def offline(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    return home


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--permission-mode", "yolo"], "--permission-mode: must be one of default, acceptEdits"),
        (["--max-turns", "lots"], "--max-turns: must be a whole number >= 1, got 'lots'"),
        (["--max-turns", "0"], "--max-turns: must be at least 1, got 0"),
        (["--tools", "Read,,Grep"], "--tools: 'Read,,Grep' must list at least one tool"),
        (["--tools", "Read", "--tools", ""], "--tools: '' must list at least one tool"),
        (["--allowed-tools", ","], "--allowed-tools: ',' must list"),
        (["--disallowed-tools", "Bash,"], "--disallowed-tools: 'Bash,' must list"),
        (["--append-system-prompt", "x" * (128 * 1024)], "--append-system-prompt: is 131072"),
        (["--mcp-config", "{nope"], "--mcp-config: is not valid JSON"),
        (["--mcp-config", '{"servers": {}}'], '--mcp-config: must be a JSON object with "mcpS'),
        (["--mcp-config", "missing.json"], "--mcp-config: file 'missing.json' does not exist"),
        (["--setting", "{nope"], "--setting: is not valid JSON"),
        (["--setting", "[1, 2]"], "--setting: file '[1, 2]' does not exist"),
        (["--setting", "missing.json"], "--setting: file 'missing.json' does not exist"),
        (["--setting", "."], "--setting: '.' is not a file"),
        (
            ["--backend", "openai", "--model", "gpt-4o-mini", "--tools", "Read",
             "--permission-mode", "plan"],
            "--tools, --permission-mode: only for the claude-code backend, not openai",
        ),
    ],
)  # fmt: skip
def test_bad_values_are_refused_by_flag(
    run: Run, offline: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = failed(run("spawn", "a", "--cwd", str(tmp_path), *args), 2, f"error: {message}")
    assert "daemon" not in result.stderr  # refused here, not after trying to connect
    assert not offline.exists()


def test_an_api_agent_takes_the_appended_prompt(run: Run, offline: Path, tmp_path: Path) -> None:
    # It becomes a second system block there; only the daemon is missing.
    result = run(
        "spawn", "a", "--backend", "openai", "--model", "gpt-4o-mini",
        "--append-system-prompt", "Be brief.",
    )  # fmt: skip
    failed(result, 1, "error: daemon not reachable")


def test_help_lists_the_flags(run: Run) -> None:
    text = ok(run("spawn", "--help")).stdout
    for flag in (
        "--tools", "--allowed-tools", "--disallowed-tools", "--permission-mode", "--max-turns",
        "--append-system-prompt", "--mcp-config", "--setting",
    ):  # fmt: skip
        assert flag in text
