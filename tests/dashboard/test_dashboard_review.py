"""The dashboard's plan review: a run awaiting approval shows its plan with Approve and
Reject buttons, which decide it through the API. Headless Chromium, a real daemon;
the model is EchoBackend and the plan is given, so the run awaits approval at once."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests._run_team import PLAN, write_team
from tests._threaded_daemon import ThreadedDaemon

from .conftest import open_dashboard


def test_approve_and_reject_from_the_dashboard(
    echo_daemon: ThreadedDaemon, page: Page, page_errors: list[str], tmp_path: Path
) -> None:
    team = write_team(tmp_path / "project")
    open_dashboard(page, echo_daemon)
    expect(page.locator("#main")).to_be_visible()
    with echo_daemon.client() as client:
        first = client.submit_run("Do it.", team=team, plan=PLAN, review=True)
        assert client.wait_run(first.id, timeout=30).state.value == "awaiting_approval"

        page.locator(f"#runs tr[data-run='{first.id}']").click()
        box = page.locator("#run-review")
        expect(box).to_be_visible()
        expect(box.locator("#review-plan tr[data-task='scan'] td").nth(1)).to_have_text("alice")
        expect(box.locator("#review-plan tr[data-task='sum-up'] td").nth(2)).to_have_text("scan")
        page.locator("#review-approve").click()
        expect(page.locator("#run-state")).to_have_text("complete")
        expect(box).to_be_hidden()
        assert client.get_run(first.id).state.value == "complete"

        second = client.submit_run("Do it.", team=team, plan=PLAN, review=True)
        assert client.wait_run(second.id, timeout=30).state.value == "awaiting_approval"
        page.locator(f"#runs tr[data-run='{second.id}']").click()
        expect(box).to_be_visible()
        page.locator("#review-reason").fill("not this week")
        page.locator("#review-reject").click()
        expect(page.locator("#run-state")).to_have_text("rejected")
        rejected = client.get_run(second.id)
        assert rejected.state.value == "rejected"
        assert rejected.rejection == "not this week"
    assert page_errors == []
