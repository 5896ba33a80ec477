"""``spawn_agent``'s Claude Code options: tools, permissions, turns, appended prompt.

They reach the new agent's session; the limits (budget cap, leave to spawn) stay
podium's; what could widen an agent past them is refused with nothing started.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from podium import Client
from podium._errors import InvalidOptions
from podium._options import PERMISSION_MODES
from podium.mcp import McpSettings
from podium.mcp._attach import TOOL_PATTERN
from podium.mcp._spawn_options import McpPermissionMode
from tests._threaded_daemon import ThreadedDaemon

from ._mcp_helpers import lead_meta, open_tools, refused_unchanged


async def test_the_options_reach_the_new_agents_session(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    settings = McpSettings(home=home, call_budget_usd=0.5)
    async with open_tools(daemon, settings) as tools:
        await tools.ok(
            "spawn_agent",
            name="writer",
            system_prompt="You write files.",
            tools=["Read", "Write"],
            allowed_tools="Write,Bash(git diff:*)",
            disallowed_tools=["WebFetch"],
            permission_mode="acceptEdits",
            max_turns=5,
            append_system_prompt="Be brief.",
        )
    session = daemon.echo.started[-1].options
    assert session.tools == ("Read", "Write")
    assert session.allowed_tools == ("Write", "Bash(git diff:*)")
    assert session.disallowed_tools == ("WebFetch",)
    assert session.permission_mode == "acceptEdits"
    assert session.max_turns == 5
    assert session.append_system_prompt == "Be brief."
    # The limits are still podium's: the spend cap and the placement.
    assert session.max_budget_usd == 0.5
    assert session.mcp is not None
    assert session.mcp.agent == "writer"
    assert client.get_agent("writer").options == session


async def test_leave_to_spawn_keeps_podiums_tools_allowed(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    client.spawn("lead", cwd=workdir, options=lead_meta("lead", "crew"))
    lead = McpSettings(home=home, agent="lead", scope="crew", max_depth=3)
    async with open_tools(daemon, lead) as tools:
        await tools.ok("spawn_agent", name="sub", allow_spawn=True, allowed_tools=["Write"])
    options = client.get_agent("sub").options
    assert options.allowed_tools == ("Write", TOOL_PATTERN)
    assert options.mcp_config is not None
    assert '"PODIUM_AGENT":"sub"' in options.mcp_config


async def test_bypass_permissions_is_not_an_mcp_callers_to_give(
    daemon: ThreadedDaemon, client: Client, home: Path
) -> None:
    assert set(typing.get_args(McpPermissionMode)) == set(PERMISSION_MODES) - {"bypassPermissions"}
    async with open_tools(daemon, McpSettings(home=home)) as tools:
        error = await refused_unchanged(
            tools, client, "spawn_agent", "invalid_arguments", name="x",
            permission_mode="bypassPermissions",
        )  # fmt: skip
        assert "permission_mode" in error["message"]
    # Nor through the tool's method, should anything call it directly.
    from podium.mcp import PodiumTools

    impl = PodiumTools(McpSettings(home=home), daemon.client())
    try:
        with pytest.raises(InvalidOptions, match=r"^permission_mode 'bypassPermissions' cannot"):
            impl.spawn_agent("x", options={"permission_mode": "bypassPermissions"})
    finally:
        impl.close()
    assert client.list_agents() == []


async def test_bad_values_and_options_a_worker_or_fork_cannot_take_are_refused(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    from tests.orchestration._run_helpers import example_team

    client.spawn("lead", cwd=workdir, options=lead_meta("lead", "team1"))
    lead = McpSettings(home=home, agent="lead", scope="team1", max_depth=3,
                       team=example_team(workdir))  # fmt: skip
    async with open_tools(daemon, lead) as tools:
        error = await refused_unchanged(
            tools, client, "spawn_agent", "usage_error", name="w", worker="marie",
            allowed_tools=["Bash"],
        )  # fmt: skip
        assert error["message"] == (
            "worker 'marie' takes its tools and permissions from its team profile: "
            "give no allowed_tools"
        )
        error = await refused_unchanged(
            tools, client, "spawn_agent", "usage_error", name="twin", fork=True, max_turns=3
        )
        assert error["message"] == "a fork inherits the caller's settings: give no max_turns"
        error = await refused_unchanged(
            tools, client, "spawn_agent", "invalid_options", name="x",
            disallowed_tools=["Read", ""],
        )  # fmt: skip
        assert "option 'disallowed_tools'" in error["message"]
        await refused_unchanged(
            tools, client, "spawn_agent", "invalid_arguments", name="x", max_turns=0
        )
