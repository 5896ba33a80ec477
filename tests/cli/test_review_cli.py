"""podium run --review, podium approve / reject, and the Client's and HTTP API's review
methods, against a real daemon in a thread. Only the model is replaced (an echo
backend); plans are given as files, so a run under review awaits approval at once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from podium.cli import EXIT_USAGE
from podium.orchestration import PlanError
from tests._cli_helpers import Run, failed, ok
from tests._run_team import PLAN, SlowEcho, write_project
from tests._threaded_daemon import ThreadedDaemon


@pytest.fixture
def echo() -> SlowEcho:
    return SlowEcho()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    edited = {"tasks": [{"task_id": "only", "worker": "bob", "description": "Just this."}]}
    bad = {"tasks": [{"task_id": "x", "worker": "carol", "description": "Who?"}]}
    plans = {"plan.json": PLAN, "edited.json": edited, "bad.json": bad}
    root = write_project(tmp_path / "project", plans)
    monkeypatch.chdir(root)
    return root


def awaiting(run: Run) -> str:
    data = json.loads(ok(run("run", "Do it.", "--plan", "plan.json", "--review", "--json")).stdout)
    assert data["state"] == "awaiting_approval"
    assert data["review"] is True
    assert [(t["task_id"], t["state"]) for t in data["tasks"]] == [
        ("scan", "pending"),
        ("sum-up", "pending"),
    ]
    return str(data["id"])


def test_run_review_waits_then_approve_runs_it(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    run_id = awaiting(run)
    (listed,) = json.loads(ok(run("runs", "--json")).stdout)
    assert listed["state"] == "awaiting_approval"
    shown = ok(run("show", run_id)).stdout
    assert "awaiting_approval" in shown
    assert "awaiting approval" in shown  # the review row
    assert "scan" in shown
    assert "sum-up" in shown

    data = json.loads(ok(run("approve", run_id, "--json")).stdout)

    assert data["state"] == "complete"
    assert [t["state"] for t in data["tasks"]] == ["complete", "complete"]
    assert data["approved_at"] is not None


def test_the_live_view_stops_at_the_plan_and_says_what_to_do(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    result = ok(run("run", "Do it.", "--plan", "plan.json", "--review"))
    assert "awaiting_approval" in result.stdout
    assert "podium approve" in result.stderr


def test_approve_with_an_edited_plan_runs_its_tasks(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    run_id = awaiting(run)
    data = json.loads(ok(run("approve", run_id, "--plan", "edited.json", "--json")).stdout)
    assert data["state"] == "complete"
    assert [(t["task_id"], t["worker"], t["state"]) for t in data["tasks"]] == [
        ("only", "bob", "complete")
    ]


def test_a_bad_edited_plan_is_refused_and_the_run_keeps_waiting(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    run_id = awaiting(run)
    # Exactly as `podium run --plan bad.json` says it: every problem, one line each.
    result = run("approve", run_id, "--plan", "bad.json")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith(f"error: {project / 'bad.json'}: plan is invalid:\n")
    assert "- tasks[0].worker: 'carol' is not a worker of this team" in result.stderr
    assert "Traceback" not in result.output
    result = run("approve", run_id, "--plan", "missing.json")
    assert result.exit_code == EXIT_USAGE
    assert "missing.json: plan is invalid:\n- file does not exist" in result.stderr
    with daemon.client() as client:
        run_ = client.get_run(run_id)
        assert run_.state.value == "awaiting_approval"
        assert run_.approved_at is None
        with pytest.raises(PlanError, match="carol"):
            client.approve_run(run_id, plan={"tasks": [{"task_id": "x", "worker": "carol"}]})
        assert client.get_run(run_id).state.value == "awaiting_approval"


def test_reject_ends_the_run_and_later_decisions_are_refused(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    run_id = awaiting(run)
    assert ok(run("reject", run_id, "--reason", "not now")).stdout.strip() == (
        f"run {run_id} rejected: not now"
    )
    data = json.loads(ok(run("show", run_id, "--json")).stdout)
    assert data["state"] == "rejected"
    assert data["rejection"] == "not now"
    assert [t["state"] for t in data["tasks"]] == ["cancelled", "cancelled"]
    failed(run("approve", run_id), EXIT_USAGE, "rejected, not awaiting approval")
    failed(run("reject", run_id), EXIT_USAGE, "rejected, not awaiting approval")
    assert "rejected" in ok(run("show", run_id)).stdout


def test_client_and_http_routes(daemon: ThreadedDaemon, project: Path) -> None:
    with daemon.client() as client:
        started = client.submit_run(
            "Do it.", team=project / "podium.toml", plan_file=project / "plan.json", review=True
        )
        run_ = client.wait_run(started.id, timeout=60)
        assert run_.state.value == "awaiting_approval"
        client.approve_run(run_.id)
        assert client.wait_run(run_.id, timeout=60).state.value == "complete"

        other = client.submit_run(
            "Do it.", team=project / "podium.toml", plan_file=project / "plan.json", review=True
        )
        assert client.wait_run(other.id, timeout=60).state.value == "awaiting_approval"
        assert client.reject_run(other.id, reason="no").state.value == "rejected"

    headers = {"Authorization": f"Bearer {daemon.token}"}
    with httpx.Client(base_url=daemon.url, trust_env=False, headers=headers) as http:
        answer = http.post(f"/v1/runs/{other.id}/approve")
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "usage_error"
        assert "not awaiting approval" in answer.json()["error"]["message"]
        answer = http.post(f"/v1/runs/{other.id}/reject", json={"reason": "", "extra": 1})
        assert answer.status_code in (400, 422)
