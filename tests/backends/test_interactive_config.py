"""What podium attach changes in a Claude Code configuration before the TUI starts:
real files, no CLI (the tmux test drives the TUI itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium._errors import BackendError
from podium._options import AgentOptions
from podium.backends import SessionSpec, StartMode
from podium.backends.claude_code._interactive import (
    interactive_argv,
    launch_env,
    prepare_config,
)

KEY = "sk-ant-test-0123456789abcdefghijKLMNOP"


def spec(tmp_path: Path, config_dir: str | None) -> SessionSpec:
    cwd = tmp_path / "project"
    cwd.mkdir(exist_ok=True)
    return SessionSpec(
        agent="bob",
        session_id="11111111-2222-3333-4444-555555555555",
        mode=StartMode.RESUME,
        cwd=cwd,
        state_dir=tmp_path / "state",
        options=AgentOptions(config_dir=config_dir),
        env={"ANTHROPIC_API_KEY": KEY},
    )


def test_an_isolated_configuration_gets_onboarding_key_and_trust(tmp_path: Path) -> None:
    s = spec(tmp_path, "isolated")
    env, unset = launch_env(s, {"HOME": str(tmp_path / "home"), "PATH": "/bin"})
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "state" / "claude")
    assert "PATH" not in env  # the caller's own PATH is used
    assert unset == []
    assert prepare_config(s, env) == []
    state = json.loads((tmp_path / "state" / "claude" / ".claude.json").read_text())
    assert state["hasCompletedOnboarding"] is True
    assert state["customApiKeyResponses"]["approved"] == [KEY[-20:]]
    assert state["projects"][str(s.cwd)]["hasTrustDialogAccepted"] is True
    assert prepare_config(s, env) == []  # idempotent: the key is approved once
    state = json.loads((tmp_path / "state" / "claude" / ".claude.json").read_text())
    assert state["customApiKeyResponses"]["approved"] == [KEY[-20:]]


def test_the_users_own_configuration_only_gets_the_trust_and_is_told(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    own = {"theme": "dark", "hasCompletedOnboarding": False, "projects": {"/x": {"a": 1}}}
    (home / ".claude.json").write_text(json.dumps(own))
    s = spec(tmp_path, None)
    env, unset = launch_env(s, {"HOME": str(home)})
    assert unset == ["CLAUDE_CONFIG_DIR"]

    notes = prepare_config(s, env)

    assert notes == [
        f"marked {s.cwd} as trusted in your Claude Code configuration ({home / '.claude.json'})"
    ]
    state = json.loads((home / ".claude.json").read_text())
    assert state == {
        "theme": "dark",
        "hasCompletedOnboarding": False,
        "projects": {"/x": {"a": 1}, str(s.cwd): {"hasTrustDialogAccepted": True}},
    }
    assert prepare_config(s, env) == []  # already trusted: nothing written, nothing said


def test_an_unreadable_user_configuration_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text("{not json")
    s = spec(tmp_path, None)
    env, _ = launch_env(s, {"HOME": str(home)})
    (note,) = prepare_config(s, env)
    assert "is not valid JSON" in note
    assert (home / ".claude.json").read_text() == "{not json"
    # A configuration podium prepares itself must be readable: a clear error.
    iso = spec(tmp_path, "isolated")
    env, _ = launch_env(iso, {"HOME": str(home)})
    path = tmp_path / "state" / "claude" / ".claude.json"
    path.parent.mkdir(parents=True)
    path.write_text("[1]")
    with pytest.raises(BackendError, match="does not hold a JSON object"):
        prepare_config(iso, env)


def test_the_tui_gets_the_headless_flags_minus_the_print_only_ones() -> None:
    headless = [
        "claude", "--input-format", "stream-json", "--output-format", "stream-json",
        "--verbose", "--resume", "S", "--model", "sonnet", "--max-budget-usd", "1.0",
        "--system-prompt", "You are bob.", "--tools", "Read,Bash",
    ]  # fmt: skip
    assert interactive_argv(headless) == [
        "claude", "--resume", "S", "--model", "sonnet", "--system-prompt", "You are bob.",
        "--tools", "Read,Bash",
    ]  # fmt: skip


def test_an_ask_mode_agents_tui_keeps_its_mode_but_answers_prompts_itself(
    tmp_path: Path,
) -> None:
    # The headless line of an ask-mode agent carries the stream echo (podium tell) and
    # the stdio permission tool (the inbox); the TUI refuses the one and must show
    # the person the other's prompts, so neither reaches it.
    from dataclasses import replace

    from podium.backends.claude_code._backend import build_argv

    ask = replace(spec(tmp_path, None), options=AgentOptions(permission_mode="ask"))
    headless = build_argv("claude", ask)
    assert "--replay-user-messages" in headless
    assert "--permission-prompt-tool" in headless
    tui = interactive_argv(headless)
    assert "--replay-user-messages" not in tui
    assert "--permission-prompt-tool" not in tui
    assert "stdio" not in tui
    at = tui.index("--permission-mode")
    assert tui[at + 1] == "default"
    assert tui[tui.index("--resume") + 1] == ask.session_id
