"""Agents run with the user's own Claude Code: their login, settings and memory.

Real CLI against the fake API. The "user" is a temporary HOME holding a fake
``~/.claude/.credentials.json`` (what ``claude /login`` leaves on Linux); what
counts is what the CLI actually sent: the Authorization header, the CLAUDE.md text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from podium._errors import InvalidOptions, NotLoggedIn
from podium._records import RequestState
from podium.runtime import Runtime, RuntimeConfig
from podium.testing import FakeAnthropic, Rule

pytestmark = pytest.mark.cli

ACCESS = "sk-ant-oat01-FAKE-LOGIN-ACCESS-0123456789abcdef"
SETUP_TOKEN = "sk-ant-oat01-FAKE-SETUP-TOKEN-fedcba9876543210"
MEMORY = "Always answer like a pirate: MEMORY-MARKER-7731."


def no_key_env(fake: FakeAnthropic) -> dict[str, str]:
    """The fake's address and quiet flags, but no key: only a login can authenticate."""
    return {
        "ANTHROPIC_BASE_URL": fake.base_url,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
    }


@pytest.fixture
def user_home(home: Path) -> Path:
    import os

    return Path(os.environ["HOME"])


def log_in(user_home: Path) -> Path:
    """What `claude /login` leaves behind on Linux (with a made-up token)."""
    config = user_home / ".claude"
    config.mkdir(parents=True, exist_ok=True)
    creds = config / ".credentials.json"
    creds.write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": ACCESS,
                    "refreshToken": "sk-ant-ort01-FAKE-REFRESH",
                    "expiresAt": 4102444800000,
                    "scopes": ["user:inference", "user:profile"],
                    "subscriptionType": "max",
                }
            }
        )
    )
    creds.chmod(0o600)
    (config / "CLAUDE.md").write_text(MEMORY + "\n")
    return creds


def bearer(fake: FakeAnthropic) -> set[str]:
    return {r.headers.get("authorization", "") for r in fake.message_requests()}


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes()
    ]


async def test_a_logged_in_subscriber_needs_no_key(
    home: Path, user_home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    log_in(user_home)
    fake.add_rule(Rule(content="hello", text="ahoy"))
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        agent = await rt.spawn("alice", cwd=workdir)
        assert agent.options.billing == "subscription max (Agent SDK credit)"
        done = await rt.wait((await rt.ask("alice", "hello")).id, timeout=90)
        assert done.state is RequestState.COMPLETE, done.error
        assert done.result == "ahoy"
    # What the CLI sent: the login's own token, and the user's CLAUDE.md memory.
    assert bearer(fake) == {f"Bearer {ACCESS}"}
    [call] = fake.requests_matching("hello")
    assert MEMORY in json.dumps(call.body)
    # podium never copied, stored or logged the token.
    assert files_holding(home, ACCESS.encode()) == []


async def test_isolated_mode_has_its_own_config_without_the_users_memory(
    home: Path, user_home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    log_in(user_home)
    fake.add_rule(Rule(content="hello", text="plain"))
    env = {**no_key_env(fake), "ANTHROPIC_API_KEY": "sk-ant-api03-FAKE-KEY"}
    async with Runtime(RuntimeConfig(home=home, env=env)) as rt:
        agent = await rt.spawn("iso", cwd=workdir, options={"config_dir": "isolated"})
        assert agent.options.billing == "api-key"
        done = await rt.wait((await rt.ask("iso", "hello")).id, timeout=90)
        assert done.state is RequestState.COMPLETE, done.error
        own = rt.config.agent_dir("iso", agent.session_id) / "claude"
        assert list(own.glob("projects/*/*.jsonl"))  # its transcript is its own
    [call] = fake.requests_matching("hello")
    assert MEMORY not in json.dumps(call.body)
    assert call.headers.get("x-api-key") == "sk-ant-api03-FAKE-KEY"
    assert not list((user_home / ".claude").glob("projects/*/*.jsonl"))


async def test_isolated_mode_with_nothing_to_log_in_with_is_refused(
    home: Path, user_home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    log_in(user_home)  # the user's login does not reach an isolated config
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        with pytest.raises(NotLoggedIn) as refused:
            await rt.spawn("iso", cwd=workdir, options={"config_dir": "isolated"})
        assert await rt.list_agents() == []
    message = refused.value.message
    for way in ("claude /login", "claude setup-token", "ANTHROPIC_API_KEY"):
        assert way in message
    assert "subtype" not in message
    assert fake.requests == []


async def test_a_setup_token_authenticates_an_isolated_agent(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="hello", text="token ok"))
    env = {**no_key_env(fake), "CLAUDE_CODE_OAUTH_TOKEN": SETUP_TOKEN}
    async with Runtime(RuntimeConfig(home=home, env=env)) as rt:
        agent = await rt.spawn("tok", cwd=workdir, options={"config_dir": "isolated"})
        assert agent.options.billing == "subscription (Agent SDK credit)"
        done = await rt.wait((await rt.ask("tok", "hello")).id, timeout=90)
        assert done.result == "token ok"
    assert bearer(fake) == {f"Bearer {SETUP_TOKEN}"}
    assert files_holding(home, SETUP_TOKEN.encode()) == []


async def test_nobody_logged_in_is_refused_before_any_request(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        with pytest.raises(NotLoggedIn, match="claude /login"):
            await rt.spawn("alice", cwd=workdir)
        assert await rt.list_agents() == []
        assert not (home / "agents").exists() or not any((home / "agents").iterdir())
    assert fake.requests == []


async def test_a_prepared_config_dir_is_used_as_given(
    home: Path, tmp_path: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    second = tmp_path / "second-account"
    log_in(second)  # leaves second/.claude
    fake.add_rule(Rule(content="hello", text="second"))
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        await rt.spawn("bob", cwd=workdir, options={"config_dir": str(second / ".claude")})
        done = await rt.wait((await rt.ask("bob", "hello")).id, timeout=90)
        assert done.result == "second"
        with pytest.raises(InvalidOptions, match="config_dir"):
            await rt.spawn("nope", cwd=workdir, options={"config_dir": "relative/dir"})
    assert bearer(fake) == {f"Bearer {ACCESS}"}


async def test_eight_agents_at_once_leave_the_users_config_intact(
    home: Path, user_home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    creds = log_in(user_home)
    before = hashlib.sha256(creds.read_bytes()).hexdigest()
    fake.add_rule(Rule(content="count", text="counted"))
    names = [f"a{i}" for i in range(8)]
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        await asyncio.gather(*(rt.spawn(n, cwd=workdir) for n in names))
        for _ in range(2):
            asked = await asyncio.gather(*(rt.ask(n, f"count for {n}") for n in names))
            done = await asyncio.gather(*(rt.wait(r.id, timeout=120) for r in asked))
            assert [d.state for d in done] == [RequestState.COMPLETE] * 8
        # Fork and resume in the user's config: the fork carries its parent's answer.
        child = await rt.fork("a0", "a0-child")
        fake.add_rule(Rule(content="again", text="again ok"))
        again = await rt.wait((await rt.ask(child.name, "again")).id, timeout=90)
        assert again.state is RequestState.COMPLETE
        [call] = fake.requests_matching("again")
        assert "count for a0" in json.dumps(call.messages)
        total = sum(r.cost_usd for r in await rt.list_requests(agent="a0"))
        assert (await rt.get_agent("a0")).cost_usd == pytest.approx(total)
    assert hashlib.sha256(creds.read_bytes()).hexdigest() == before
    json.loads((user_home / ".claude.json").read_text())  # still valid JSON


async def test_a_run_nobody_can_log_in_for_is_refused_before_it_starts(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    from podium.orchestration import RunEngine
    from tests.mcp._mcp_helpers import plain_team

    team = plain_team(workdir)
    plan = {"tasks": [{"task_id": "t1", "worker": "helper", "description": "Say hi."}]}
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        engine = RunEngine(rt)
        await engine.start()
        try:
            with pytest.raises(NotLoggedIn, match="team plain: its lead cannot start") as no:
                await engine.submit("Say hi.", team=team, cwd=workdir, plan=plan)
            assert "claude /login" in no.value.message
            assert await rt.list_agents() == []
            assert not (home / "runs").exists() or not any((home / "runs").iterdir())
        finally:
            await engine.close()
    assert fake.requests == []
