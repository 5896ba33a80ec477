"""AgentOptions: checked once where it enters, serialised once, read back whatever was stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium._errors import InvalidOptions
from podium._options import INTERNAL_OPTIONS, AgentOptions, Fallback, McpPlacement
from podium.isolation import IsolationMode, IsolationSpec, Workspace


def full(tmp_path: Path) -> AgentOptions:
    return AgentOptions(
        append_system_prompt="Be brief.",
        permission_mode="acceptEdits",
        tools=("Read", "Bash"),
        allowed_tools=("Read", "Bash(git diff:*)"),
        disallowed_tools=("Write",),
        agents='{"x":{"description":"d","prompt":"p"}}',
        max_turns=3,
        max_budget_usd=0.25,
        fallback_model="haiku",
        setting_sources=("project",),
        mcp_config='{"mcpServers":{}}',
        # Stored: read back without looking for the file (the CLI reports one gone).
        settings=str(tmp_path / "removed-since.json"),
        api_key_env="MY_KEY",
        env={"LANG": "C.UTF-8"},
        isolation=IsolationSpec(mode=IsolationMode.WORKTREE, base="dev"),
        workspace=Workspace(
            mode=IsolationMode.WORKTREE,
            cwd=tmp_path / "wt",
            project=tmp_path,
            results_dir=tmp_path / "results",
            branch="podium/x",
        ),
        profile="marie",
        mcp=McpPlacement(agent="x", scope="run-1", depth=1, worker="marie"),
        carried_conversation=True,
    )


def test_what_is_stored_reads_back_the_same(tmp_path: Path) -> None:
    options = full(tmp_path)
    assert AgentOptions.from_stored(options.to_dict()) == options
    api = AgentOptions(
        base_url="http://127.0.0.1:11434/v1",
        fallback=(Fallback(model="gpt-4o-mini", backend=None),),
        batch=True,
        cache=False,
        stream=False,
        max_tokens=300,
        max_retries=0,
    )
    assert AgentOptions.from_stored(api.to_dict()) == api
    assert AgentOptions().to_dict() == {}  # only what is set


def test_a_caller_may_not_set_what_podium_sets(tmp_path: Path) -> None:
    stored = full(tmp_path).to_dict()
    for key in sorted(INTERNAL_OPTIONS | {"launcher"}):
        with pytest.raises(InvalidOptions, match="set by podium itself") as raised:
            AgentOptions.from_dict({key: stored.get(key, "x")}, backend="claude-code")
        assert raised.value.context["option"] == key


def test_an_old_record_with_a_bad_value_stays_readable(caplog: pytest.LogCaptureFixture) -> None:
    # An older podium stored whatever it was given: the record must still list and
    # kill; the value that no longer passes is dropped with a log line.
    old = {"max_turns": "lots", "tools": ["Read"], "launcher": ["bwrap", "--"], "limits": 3}
    options = AgentOptions.from_stored(old)
    assert options == AgentOptions(tools=("Read",))
    assert "max_turns" in caplog.text


def test_settings_are_a_json_object_or_an_existing_file(tmp_path: Path) -> None:
    as_mapping = AgentOptions.from_dict({"settings": {"model": "haiku"}}, backend="claude-code")
    assert as_mapping.settings == '{"model":"haiku"}'
    text = '{"permissions": {"allow": ["Write"]}}'
    assert AgentOptions.from_dict({"settings": text}, backend="claude-code").settings == text
    path = tmp_path / "settings.json"
    path.write_text("{}")
    from_file = AgentOptions.from_dict({"settings": str(path)}, backend="claude-code")
    assert from_file.settings == str(path)
    assert from_file.to_dict() == {"settings": str(path)}
