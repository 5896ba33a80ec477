"""The dashboard's approval inbox in a real headless Chromium, against a real daemon
whose agents are the real Claude Code CLI (the model is podium's fake API).

An ask-mode agent's scripted Write waits in the panel; Allow lets it run, Deny with
a reason refuses it and the model reads the reason. Leaves a screenshot of the
panel with a pending approval in ``build/dashboard-inbox.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from podium.testing import FakeAnthropic, Rule, ToolCall
from tests._threaded_daemon import ThreadedDaemon

from .conftest import REPO, open_dashboard

pytestmark = pytest.mark.cli

SCREENSHOT = REPO / "build" / "dashboard-inbox.png"


def tool_results(fake: FakeAnthropic) -> list[dict[str, Any]]:
    return [
        dict(block)
        for call in fake.message_requests()
        if call.messages and call.messages[-1]["role"] == "user"
        for block in call.messages[-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def test_allow_and_deny_from_the_dashboard(
    cli_daemon: ThreadedDaemon, fake: FakeAnthropic, page: Page, page_errors: list[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    for name in ("first", "second"):
        write = ToolCall("Write", {"file_path": f"{name}.txt", "content": f"{name}\n"})
        fake.add_rule(Rule(content=f"write {name}", tool_result=False, tool_calls=[write]))
    fake.add_rule(Rule(tool_result=True, text="done"))
    project = tmp_path / "project"
    project.mkdir()
    client = cli_daemon.client()
    client.spawn("w", cwd=project, options={"permission_mode": "ask"})
    open_dashboard(page, cli_daemon)
    expect(page.locator("#approvals-empty")).to_be_visible()

    first = client.ask("w", "write first")
    row = page.locator(".approval[data-tool=Write]")
    expect(row).to_have_count(1)
    expect(row.locator(".approval-input")).to_contain_text("first.txt")
    expect(page.locator("#inbox-panel")).to_have_attribute("data-pending", "1")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.locator("#inbox-panel").screenshot(path=str(SCREENSHOT))
    assert not (project / "first.txt").exists()
    row.locator(".approval-allow").click()
    assert client.wait(first.id, timeout=120).state.value == "complete"
    assert (project / "first.txt").read_text() == "first\n"
    expect(page.locator("#approvals-empty")).to_be_visible()

    second = client.ask("w", "write second")
    row = page.locator(".approval[data-tool=Write]")
    expect(row).to_have_count(1)
    row.locator(".approval-reason").fill("not this one")
    row.locator(".approval-deny").click()
    assert client.wait(second.id, timeout=120).state.value == "complete"
    assert not (project / "second.txt").exists()
    denied = tool_results(fake)[-1]
    assert denied.get("is_error") is True
    assert "not this one" in str(denied["content"])
    expect(page.locator("#approvals-status")).to_contain_text("denied")
    [record] = [a for a in client.approvals(pending_only=False) if a.request_id == second.id]
    assert (record.state.value, record.reason) == ("denied", "not this one")
    assert page_errors == []
