"""A run task's activity in a real headless Chromium: its current step and its timeline.

The task's agent is the real Claude Code CLI (the model is podium's fake API), which
runs a slow scripted Bash command. While the command runs, the agents table names it
as the busy agent's step and the task's timeline shows the tool started and running;
once it ends, the timeline shows it finished with the seconds the events API reports.
All without a reload. Leaves a screenshot taken while the tool runs in
``build/dashboard-activity.png``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from podium.testing import FakeAnthropic, Rule, ToolCall
from tests._threaded_daemon import ThreadedDaemon

from .conftest import REPO, open_dashboard
from .test_dashboard_browser import mark_document, same_document

pytestmark = pytest.mark.cli

SCREENSHOT = REPO / "build" / "dashboard-activity.png"
# The CLI refuses a plain long `sleep`; this is as slow without being one. Long enough
# that the page is certainly checked while it runs, on a slow machine too.
SLOW = "python3 -c 'import time; time.sleep(6)'"
LEAD = "You lead a small team"
MARKER = r"(?m)^PODIUM TASK build$"
# What the timeline lists: the turns and their activity (timeline.js SHOWN_KINDS).
SHOWN = {
    "request_started",
    "request_finished",
    "tool_started",
    "tool_finished",
    "subagent_started",
    "subagent_finished",
    "api_call",
    "api_retry",
    "text",
    "told",
}

TEAM = """\
[team]
name = "builders"
orchestrator = "lead.md"

[workers]
builder = "builder.md"

[limits]
retries = 0
"""

BUILDER = """\
---
description: runs the build
tools: Bash
---
You are the builder.
"""


def make_team(root: Path) -> Path:
    (root / "podium.toml").write_text(TEAM)
    (root / "lead.md").write_text(f"{LEAD} of builders.\n")
    (root / "builder.md").write_text(BUILDER)
    return root / "podium.toml"


def shown_seconds(seconds: float) -> str:
    """format.js formatDuration under ten seconds: toFixed(1), which rounds half up."""
    return f"{Decimal(seconds).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}s"


def test_a_running_tool_shows_as_the_step_and_in_the_tasks_timeline(
    cli_daemon: ThreadedDaemon,
    fake: FakeAnthropic,
    page: Page,
    page_errors: list[str],
    workdir: Path,
) -> None:
    bash = ToolCall("Bash", {"command": SLOW, "timeout": 120000})
    fake.add_rule(Rule(content=MARKER, tool_result=False, tool_calls=[bash]))
    fake.add_rule(Rule(any_content=MARKER, tool_result=True, text="built"))
    fake.add_rule(Rule(system=LEAD, content="PODIUM SYNTHESIS", text="# Report\n\nBuilt."))
    team = make_team(workdir)
    plan = {"tasks": [{"task_id": "build", "worker": "builder", "description": "Build it."}]}
    open_dashboard(page, cli_daemon)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    mark_document(page)

    with cli_daemon.client() as client:
        run = client.submit_run("Build the app", team=team, cwd=workdir, plan=plan)
        node = page.locator("#task-graph [data-task='build']")
        expect(node).to_have_attribute("data-agent", re.compile(r".+"))
        agent = node.get_attribute("data-agent")
        assert agent
        node.click()
        panel = page.locator("#timeline-panel")
        expect(panel).to_have_attribute("data-task", "build")
        expect(panel).to_have_attribute("data-agent", agent)
        expect(page.locator("#timeline-subject")).to_have_text(f"— task build ({agent})")

        # While the command runs: the busy agent's step names it, the timeline has it running.
        step = page.locator(f"#agents tr[data-agent='{agent}'] [data-field='step']")
        expect(step).to_contain_text("Bash: python3 -c")
        expect(step).to_contain_text("time.sleep(6)")
        started = page.locator("#timeline li[data-kind='tool_started'][data-tool='Bash']")
        expect(started).to_have_count(1)
        expect(started.locator(".what")).to_contain_text("time.sleep(6)")
        expect(started.locator(".took.running")).to_contain_text("running")
        expect(page.locator("#timeline li[data-kind='tool_finished']")).to_have_count(0)
        expect(page.locator("#agent-info [data-field='status']")).to_have_text("status busy")
        expect(page.locator("#agent-info")).not_to_contain_text("null")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        # The API agrees at this moment, and the request is indeed still running.
        [tool_event] = [e for e in client.events(agent=agent) if e.kind.value == "tool_started"]
        assert tool_event.request_id is not None
        assert client.poll(tool_event.request_id).state.value == "running"
        board = client.activity()["agents"][agent]
        assert board["request_id"] == tool_event.request_id
        assert step.text_content() == board["step"]
        assert started.get_attribute("data-event-id") == str(tool_event.id)
        assert started.get_attribute("data-tool-use-id") == tool_event.data["tool_use_id"]
        assert started.locator(".what").text_content() == f"Bash: {tool_event.data['input']}"

        final = client.wait_run(run.id, timeout=120)
        assert final.state.value == "complete", final.error

        # After it ended: finished, with the seconds the API reports, after its start.
        finished = page.locator("#timeline li[data-kind='tool_finished'][data-tool='Bash']")
        expect(finished).to_have_count(1)
        expect(page.locator("#timeline .took.running")).to_have_count(0)
        expect(page.locator("#timeline li[data-kind='request_finished']")).to_have_count(1)
        events = [e for e in client.events(agent=agent) if e.kind.value in SHOWN]
        [done] = [e for e in events if e.kind.value == "tool_finished"]
        seconds = done.data["seconds"]
        assert done.data["ok"] is True
        assert 6 <= seconds < 60
        assert finished.get_attribute("data-tool-use-id") == tool_event.data["tool_use_id"]
        assert float(finished.locator(".took").get_attribute("data-seconds") or "nan") == seconds
        expect(finished.locator(".took")).to_have_text(shown_seconds(seconds))
        expect(finished.locator(".what")).to_have_text("Bash done")
        # The whole timeline is the agent's events, in the API's order.
        rows = page.locator("#timeline li[data-event-id]")
        expect(rows).to_have_count(len(events))
        shown = [
            (int(i), k)
            for i, k in rows.evaluate_all(
                "(rows) => rows.map((row) => [row.dataset.eventId, row.dataset.kind])"
            )
        ]
        assert shown == [(e.id, e.kind.value) for e in events]
        kinds = [kind for _, kind in shown]
        assert kinds[0] == "request_started"
        assert kinds.index("tool_started") < kinds.index("tool_finished")
        assert kinds[-1] == "request_finished"
        # The step is gone with the busy agent.
        expect(step).to_have_count(0)

    assert same_document(page)
    assert page_errors == []
