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
