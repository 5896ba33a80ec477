"""``permission_mode: ask``: each tool use that needs permission waits in podium's
approval inbox until it is allowed, denied, times out or its request ends.

The real CLI against the fake API: only the model is scripted (it asks for one
``Write``); the CLI really sends its ``can_use_tool`` control request, really runs
(or refuses) the tool, and sends the outcome back to the fake as a tool_result.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from podium._approvals import ApprovalDecided, ApprovalRecord, ApprovalState
from podium._records import EventKind, RequestState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, ToolCall

pytestmark = pytest.mark.cli

NOTE = "written after approval\n"


@pytest.fixture
def scripted_write(fake: FakeAnthropic) -> FakeAnthropic:
    write = ToolCall("Write", {"file_path": "notes.txt", "content": NOTE})
    fake.add_rule(Rule(content="write the notes", tool_result=False, tool_calls=[write]))
    fake.add_rule(Rule(tool_result=True, text="done"))
    return fake


def tool_results(fake: FakeAnthropic) -> list[dict[str, Any]]:
    """The tool_result blocks the CLI sent back to the fake, in order."""
    return [
        dict(block)
        for call in fake.message_requests()
        if call.messages and call.messages[-1]["role"] == "user"
        for block in call.messages[-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


async def pending_approval(runtime: Runtime, agent: str) -> ApprovalRecord:
    for _ in range(600):
        found = await runtime.approvals.list(agent=agent)
        if found:
            assert len(found) == 1, found
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no approval of {agent} appeared")


async def spawn_asking(runtime: Runtime, workdir: Path, **options: Any) -> None:
    await runtime.spawn("w", cwd=workdir, options={"permission_mode": "ask", **options})


async def test_an_allowed_write_runs_and_the_model_gets_its_result(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    await spawn_asking(runtime, workdir)
    request = await runtime.ask("w", "write the notes")
    approval = await pending_approval(runtime, "w")
    assert approval.tool == "Write"
    assert approval.request_id == request.id
    assert approval.input["content"] == NOTE
    assert approval.input["file_path"].endswith("notes.txt")
    # The request waits on the decision: nothing is written yet.
    assert (await runtime.poll(request.id)).state is RequestState.RUNNING
    assert not (workdir / "notes.txt").exists()

    decided = await runtime.approvals.allow(approval.id)
    assert decided.state is ApprovalState.ALLOWED
    done = await runtime.wait(request.id, timeout=120)
    assert done.state is RequestState.COMPLETE, done.error
    assert (workdir / "notes.txt").read_text() == NOTE
    [result] = tool_results(scripted_write)
    assert not result.get("is_error"), result
    stored = await runtime.approvals.get(approval.id)
    assert stored.state is ApprovalState.ALLOWED
    assert stored.decided_by == "user"
    kinds = [e.kind for e in await runtime.events(agent="w")]
    assert EventKind.APPROVAL_REQUESTED in kinds
    assert EventKind.APPROVAL_DECIDED in kinds
    # Decided once: a second decision is refused, naming the state.
    with pytest.raises(ApprovalDecided, match="already allowed"):
        await runtime.approvals.deny(approval.id, "too late")


async def test_a_denied_write_is_not_run_and_the_model_reads_the_reason(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    await spawn_asking(runtime, workdir)
    request = await runtime.ask("w", "write the notes")
    approval = await pending_approval(runtime, "w")
    await runtime.approvals.deny(approval.id, "notes belong in the wiki")
    done = await runtime.wait(request.id, timeout=120)
    assert done.state is RequestState.COMPLETE, done.error
    assert not (workdir / "notes.txt").exists()
    [result] = tool_results(scripted_write)
    assert result.get("is_error") is True, result
    assert "notes belong in the wiki" in str(result["content"])
    stored = await runtime.approvals.get(approval.id)
    assert stored.state is ApprovalState.DENIED
    assert stored.reason == "notes belong in the wiki"
    decided = [e for e in await runtime.events(agent="w") if e.kind is EventKind.APPROVAL_DECIDED]
    assert decided[-1].data["state"] == "denied"
    assert decided[-1].data["reason"] == "notes belong in the wiki"


async def test_an_approval_nobody_decides_is_denied_when_it_times_out(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    await spawn_asking(runtime, workdir, approval_timeout=1)
    request = await runtime.ask("w", "write the notes")
    done = await runtime.wait(request.id, timeout=120)
    assert done.state is RequestState.COMPLETE, done.error
    assert not (workdir / "notes.txt").exists()
    [result] = tool_results(scripted_write)
    assert result.get("is_error") is True, result
    assert "approval_timeout" in str(result["content"])
    [approval] = await runtime.approvals.list(agent="w", pending_only=False)
    assert approval.state is ApprovalState.TIMED_OUT
    assert approval.decided_by == "timeout"
    assert "within 1 s" in (approval.reason or "")


async def test_cancelling_the_request_ends_its_pending_approval(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    await spawn_asking(runtime, workdir)
    request = await runtime.ask("w", "write the notes")
    approval = await pending_approval(runtime, "w")
    await runtime.cancel(request.id)
    done = await runtime.wait(request.id, timeout=120)
    assert done.state is RequestState.CANCELLED
    stored = await runtime.approvals.get(approval.id)
    assert stored.state is ApprovalState.CANCELLED
    assert stored.decided_by == "podium"
    assert not (workdir / "notes.txt").exists()
    assert await runtime.approvals.list(agent="w") == []
    with pytest.raises(ApprovalDecided):
        await runtime.approvals.allow(approval.id)


async def test_killing_the_agent_ends_its_pending_approval(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    await spawn_asking(runtime, workdir)
    await runtime.ask("w", "write the notes")
    approval = await pending_approval(runtime, "w")
    await runtime.kill("w")
    stored = await runtime.approvals.get(approval.id)
    assert stored.state is ApprovalState.CANCELLED
    assert not (workdir / "notes.txt").exists()


async def test_allowed_tools_never_ask(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    await spawn_asking(runtime, workdir, allowed_tools=["Write"])
    request = await runtime.ask("w", "write the notes")
    done = await runtime.wait(request.id, timeout=120)
    assert done.state is RequestState.COMPLETE, done.error
    assert (workdir / "notes.txt").read_text() == NOTE
    assert await runtime.approvals.list(agent="w", pending_only=False) == []


def test_the_inbox_shows_inputs_cut_short_with_secrets_masked() -> None:
    from podium._approvals import summarise_input

    shown = summarise_input(
        {
            "command": "curl -H 'Authorization: Bearer abcdefgh12345678' https://x",
            "env": {"API_KEY": "sk-live-0123456789", "path": "/srv"},
            "content": "x" * 5000,
        }
    )
    assert "abcdefgh12345678" not in shown["command"]
    assert "Bearer ***" in shown["command"]
    assert shown["env"] == {"API_KEY": "***", "path": "/srv"}
    assert len(shown["content"]) < 500
    assert shown["content"].endswith("(5000 characters)")


async def test_approvals_left_pending_by_a_stopped_daemon_are_closed_at_start(
    home: Path, fake: FakeAnthropic
) -> None:
    from podium._approvals import ApprovalRecord
    from tests.conftest import make_config

    async with Runtime(make_config(home, fake)) as first:
        await first.store.save_approval(
            ApprovalRecord(
                id="ap-00000000000a", agent="w", request_id=None, control_id="toolu_1",
                tool="Bash", input={"command": "ls"}, state=ApprovalState.PENDING,
                created_at=1.0, timeout=600.0,
            )
        )  # fmt: skip
    async with Runtime(make_config(home, fake)) as second:
        stored = await second.approvals.get("ap-00000000000a")
        assert stored.state is ApprovalState.CANCELLED
        assert stored.reason == "podium restarted"
        assert await second.approvals.list() == []


async def test_a_turn_waiting_on_a_person_is_not_taken_for_stalled(
    runtime: Runtime, scripted_write: FakeAnthropic, workdir: Path
) -> None:
    # While the tool use waits in the inbox the CLI writes nothing at all: without
    # regard for the inbox the stall watch would interrupt the turn after 1 s.
    await spawn_asking(runtime, workdir, stall_timeout=1, stall_policy="fail")
    request = await runtime.ask("w", "write the notes")
    approval = await pending_approval(runtime, "w")
    await asyncio.sleep(3)
    assert (await runtime.poll(request.id)).state is RequestState.RUNNING
    await runtime.approvals.allow(approval.id)
    done = await runtime.wait(request.id, timeout=120)
    assert done.state is RequestState.COMPLETE, done.error
    assert "stalls" not in done.meta
    assert (workdir / "notes.txt").read_text() == NOTE
    stalled = [e for e in await runtime.events(agent="w") if e.kind is EventKind.REQUEST_STALLED]
    assert stalled == []
