"""Bad input at the runtime: a clear error naming what was wrong, and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium import _errors as errors
from podium.backends.claude_code import ClaudeCodeBackend
from podium.runtime import Runtime
from podium.testing import FakeAnthropic
from tests.conftest import make_config


@pytest.fixture
async def lazy_runtime(home: Path, fake: FakeAnthropic) -> Runtime:
    rt = Runtime(make_config(home, fake))
    await rt.start()
    yield rt  # type: ignore[misc]
    await rt.close()


@pytest.mark.parametrize("name", ["../x", "a b", "", "x" * 200, "Upper", "-dash", "semi;colon"])
async def test_unsafe_names_are_refused_and_nothing_is_written(
    lazy_runtime: Runtime, workdir: Path, name: str
) -> None:
    with pytest.raises(errors.InvalidName):
        await lazy_runtime.spawn(name, cwd=workdir, start=False)
    assert await lazy_runtime.list_agents() == []
    assert not (lazy_runtime.config.home / "agents").exists()


async def test_unknown_model_duplicate_name_and_missing_cwd(
    lazy_runtime: Runtime, workdir: Path
) -> None:
    with pytest.raises(errors.InvalidModel, match="gpt-4"):
        await lazy_runtime.spawn("m", model="gpt-4", cwd=workdir, start=False)
    await lazy_runtime.spawn("dup", cwd=workdir, start=False)
    with pytest.raises(errors.AgentExists, match="dup"):
        await lazy_runtime.spawn("dup", cwd=workdir, start=False)
    with pytest.raises(errors.UsageError, match="does not exist"):
        await lazy_runtime.spawn("nowhere", cwd=workdir / "missing", start=False)
    with pytest.raises(errors.InvalidModel):
        await lazy_runtime.fork("dup", "dup2", "gpt-4")
    assert [a.name for a in await lazy_runtime.list_agents()] == ["dup"]


async def test_unknown_agent_request_and_empty_prompt(lazy_runtime: Runtime, workdir: Path) -> None:
    with pytest.raises(errors.AgentNotFound, match="ghost"):
        await lazy_runtime.ask("ghost", "hello")
    with pytest.raises(errors.AgentNotFound):
        await lazy_runtime.fork("ghost", "child")
    with pytest.raises(errors.AgentNotFound):
        await lazy_runtime.kill("ghost")
    await lazy_runtime.spawn("real", cwd=workdir, start=False)
    for empty in ["", "   ", "\n\t"]:
        with pytest.raises(errors.InvalidPrompt):
            await lazy_runtime.ask("real", empty)
    with pytest.raises(errors.RequestNotFound):
        await lazy_runtime.poll("real-000099-deadbeef")
    with pytest.raises(errors.InvalidName, match="not a request id"):
        await lazy_runtime.poll("nonsense")
    with pytest.raises(errors.UsageError, match="timeout"):
        await lazy_runtime.ask("real", "hi", timeout=-1)
    assert await lazy_runtime.list_requests() == []


async def test_missing_cli_binary_is_reported_and_no_agent_is_kept(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    missing = workdir / "no-such-claude"
    backends = {"claude-code": ClaudeCodeBackend(cli_path=missing)}
    async with Runtime(make_config(home, fake), backends=backends) as rt:  # type: ignore[arg-type]
        with pytest.raises(errors.CLINotFound, match="no-such-claude"):
            await rt.spawn("orphan", cwd=workdir)
        assert await rt.list_agents() == []


# --- options: checked once, at the edge, before anything is written -------------------------

BAD_OPTIONS = [
    ({"max_turns": "lots"}, "max_turns"),
    ({"max_turns": 0}, "max_turns"),
    ({"max_turns": True}, "max_turns"),
    ({"max_budget_usd": "free"}, "max_budget_usd"),
    ({"max_budget_usd": float("nan")}, "max_budget_usd"),
    ({"permission_mode": "yolo"}, "permission_mode"),
    ({"tools": 7}, "tools"),
    ({"allowed_tools": ["Read", ""]}, "allowed_tools"),
    ({"env": {"A": 1}}, "env"),
    ({"env": {"bad name": "x"}}, "env"),
    ({"api_key_env": "sk-ant-123"}, "api_key_env"),
    ({"mcp_config": "{not json"}, "mcp_config"),
    ({"settings": "{not json"}, "settings"),
    ({"settings": 5}, "settings"),
    # A path: absolute (the agent starts elsewhere), existing, a file.
    ({"settings": "settings.json"}, "settings"),
    ({"settings": "/no/such/settings.json"}, "settings"),
    ({"settings": "/"}, "settings"),
    ({"agents": "[1]"}, "agents"),
    ({"setting_sources": ["everywhere"]}, "setting_sources"),
    ({"isolation": "chroot"}, "isolation"),
    ({"append_system_prompt": "x" * (128 * 1024)}, "append_system_prompt"),
    # An arbitrary command to start the CLI under: podium's own, never a caller's.
    ({"launcher": ["sh", "-c", "touch /tmp/owned"]}, "launcher"),
    ({"workspace": {}}, "workspace"),
    ({"profile": "marie"}, "profile"),
    ({"turns": 3}, "turns"),
    # API-backend options on a Claude Code agent.
    ({"base_url": "http://127.0.0.1:1"}, "base_url"),
    ({"batch": True}, "batch"),
]


@pytest.mark.cli
@pytest.mark.parametrize(("options", "key"), BAD_OPTIONS, ids=[k for _, k in BAD_OPTIONS])
async def test_bad_options_are_refused_before_anything_exists(
    lazy_runtime: Runtime, workdir: Path, options: dict[str, object], key: str
) -> None:
    with pytest.raises(errors.InvalidOptions) as raised:
        await lazy_runtime.spawn("half", cwd=workdir, options=options)
    assert key in raised.value.message
    assert str(raised.value.context.get("option")).startswith(key)
    # No half-made agent: nothing listed, nothing on disk, and the rest still works.
    assert await lazy_runtime.store.find_agent("half") is None
    assert await lazy_runtime.list_agents() == []
    assert not (lazy_runtime.config.home / "agents").exists()
    assert await lazy_runtime.kill_all() == []
    await lazy_runtime.spawn("half", cwd=workdir, options={"max_turns": 3}, start=False)
    assert (await lazy_runtime.get_agent("half")).options.max_turns == 3
