"""podium run / runs / show / cancel RUN_ID, and the Client's run methods, against a real
daemon in a thread. Only the model is replaced (an echo backend); plans are given as
files so no planning turn is needed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from podium._client import Client
from podium._errors import InvalidName, InvalidPrompt, UsageError, WaitTimeout
from podium.cli import EXIT_ERROR, EXIT_USAGE
from podium.orchestration._run_records import RunNotFound, RunState
from tests._cli_helpers import Run, failed, ok
from tests._run_team import PLAN, SLOW_PLAN, SlowEcho, write_project
from tests._threaded_daemon import ThreadedDaemon

UNKNOWN = "run-20240101-000000-abcd"
FAIL_PLAN: dict[str, Any] = {
    "tasks": [{"task_id": "doomed", "worker": "alice", "description": "FAIL-ME please"}]
}


@pytest.fixture
def echo() -> SlowEcho:
    """The daemon's model: turns can be made slow or failing."""
    return SlowEcho()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A team in a project directory, which is the current directory."""
    plans = {"plan.json": PLAN, "slow.json": SLOW_PLAN, "fail.json": FAIL_PLAN}
    root = write_project(tmp_path / "project", plans)
    monkeypatch.chdir(root)
    return root


def until_task_runs(client: Client, run_id: str) -> None:
    for _ in range(500):
        if any(t.state == "running" for t in client.get_run(run_id).tasks):
            return
        time.sleep(0.02)
    raise AssertionError(f"no task of {run_id} started")


# --- podium run ----------------------------------------------------------------------------


def test_run_json_waits_and_prints_the_run_and_report(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    data = json.loads(ok(run("run", "Review it.", "--plan", "plan.json", "--json")).stdout)
    assert data["state"] == "complete"
    assert data["request"] == "Review it."
    assert data["team_path"] == str(project / "podium.toml")  # found from the cwd
    assert data["cwd"] == str(project)
    assert [t["state"] for t in data["tasks"]] == ["complete", "complete"]
    assert data["report"].strip()
    with daemon.client() as client:
        assert data["report"] == client.run_report(data["id"])


def test_run_finds_the_team_from_a_subdirectory(
    daemon: ThreadedDaemon, project: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    result = ok(run("run", "x", "--plan", "../../plan.json", "--json"))
    data = json.loads(result.stdout)
    assert data["team_path"] == str(project / "podium.toml")
    assert data["cwd"] == str(sub)  # the workers start where the user is


def test_run_without_a_team_names_where_it_looked(
    daemon: ThreadedDaemon, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    failed(run("run", "x"), EXIT_USAGE, "podium.toml", str(empty), "--team")


def test_run_with_explicit_team_file(
    daemon: ThreadedDaemon, project: Path, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = str(project / "plan.json")
    data = json.loads(
        ok(run("run", "x", "-t", str(project / "podium.toml"), "--plan", plan, "--json")).stdout
    )
    assert data["team_name"] == "crew"
    failed(run("run", "x", "--team", str(tmp_path / "nope.toml")), EXIT_USAGE, "nope.toml")


def test_run_reads_the_request_from_stdin(daemon: ThreadedDaemon, project: Path, run: Run) -> None:
    result = ok(run("run", "-", "--plan", "plan.json", "--json", input="From stdin ✓\n"))
    assert json.loads(result.stdout)["request"] == "From stdin ✓\n"


@pytest.mark.parametrize("budget", ["0", "-2"])
def test_budget_must_be_positive(
    daemon: ThreadedDaemon, project: Path, run: Run, budget: str
) -> None:
    failed(run("run", "x", "--budget", budget), EXIT_USAGE, "budget must be greater than 0")


def test_budget_is_passed_on(daemon: ThreadedDaemon, project: Path, run: Run) -> None:
    result = ok(run("run", "x", "--plan", "plan.json", "--budget", "3.5", "--json"))
    assert json.loads(result.stdout)["budget_usd"] == 3.5


def test_argument_mistakes_are_usage_errors(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    failed(run("run"), EXIT_USAGE, "REQUEST", "--resume")
    failed(run("run", "x", "--resume", UNKNOWN), EXIT_USAGE, "--resume")
    failed(run("run", "--resume", UNKNOWN, "--budget", "2"), EXIT_USAGE, "--resume")
    failed(run("run", "   "), EXIT_USAGE, "empty")
    # A plan's problems are listed one per line under the error line.
    missing = run("run", "x", "--plan", "missing.json")
    assert missing.exit_code == EXIT_USAGE
    assert missing.stderr.startswith("error: ")
    assert str(project / "missing.json") in missing.stderr
    assert "does not exist" in missing.stderr
    failed(run("run", "--resume", UNKNOWN), EXIT_USAGE, UNKNOWN)
    failed(run("run", "--resume", "yesterday"), EXIT_USAGE, "invalid run id")
    with daemon.client() as client:
        assert client.list_runs() == []


def test_live_view_then_report_and_costs(daemon: ThreadedDaemon, project: Path, run: Run) -> None:
    out = ok(run("run", "Review it.", "--plan", "plan.json")).stdout
    with daemon.client() as client:
        [record] = client.list_runs()
        report = client.run_report(record.id)
    assert record.state is RunState.COMPLETE
    assert f"run {record.id}" in out
    for fragment in ("scan", "sum-up", "alice", "bob", "complete", "tasks 2/2"):
        assert fragment in out
    assert report is not None
    assert report.strip() in out
    costs = out[out.index("costs") :]
    for fragment in ("worker", "alice", "bob", "model", "planning", "synthesis", "total"):
        assert fragment in costs


def test_failed_run_exits_1_naming_state_and_error(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    result = run("run", "x", "--plan", "fail.json", "--json")
    data = json.loads(result.stdout)
    failed(result, EXIT_ERROR, f"run {data['id']} failed: ")
    assert data["state"] == "failed"
    assert data["tasks"][0]["state"] == "failed"
    # Without --json too: the same one line, after the view.
    failed(run("run", "x", "--plan", "fail.json"), EXIT_ERROR, "failed", "--resume")


def test_detach_prints_the_id_and_the_run_goes_on(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    run_id = ok(run("run", "x", "--plan", "slow.json", "--detach")).stdout.strip()
    with daemon.client() as client:
        assert client.get_run(run_id).state in (RunState.RUNNING, RunState.PLANNING)
        with pytest.raises(WaitTimeout) as caught:
            client.wait_run(run_id, timeout=0.1)
        assert caught.value.context["run_id"] == run_id
        until_task_runs(client, run_id)
    assert ok(run("cancel", run_id)).stdout.strip() == f"cancelled run {run_id}"
    assert ok(run("cancel", run_id)).stdout.strip() == f"cancelled run {run_id}"
    data = json.loads(ok(run("cancel", run_id, "--json")).stdout)
    assert data["state"] == "cancelled"


def test_ctrl_c_detaches_and_leaves_the_run_going(
    daemon: ThreadedDaemon, project: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Client, run_id: str, timeout: float | None = None) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "wait_run", interrupted)
    result = run("run", "x", "--plan", "slow.json")
    assert result.exit_code == 130, (result.stdout, result.stderr)
    monkeypatch.undo()
    with daemon.client() as client:
        [record] = client.list_runs()
        assert not record.done
        message = f"run {record.id} continues in the daemon: podium show {record.id}, " + (
            f"podium cancel {record.id}"
        )
        assert message in result.stderr
        until_task_runs(client, record.id)
        assert client.cancel_run(record.id).state is RunState.CANCELLED


def test_resume_continues_a_cancelled_run(daemon: ThreadedDaemon, project: Path, run: Run) -> None:
    run_id = ok(run("run", "x", "--plan", "slow.json", "--detach")).stdout.strip()
    with daemon.client() as client:
        until_task_runs(client, run_id)
        client.cancel_run(run_id)
    resumed = json.loads(ok(run("run", "--resume", run_id, "--detach", "--json")).stdout)
    assert resumed["id"] == run_id
    assert resumed["resumed"] == 1
    assert json.loads(ok(run("show", run_id, "--json")).stdout)["state"] != "cancelled"
    ok(run("cancel", run_id))


# --- podium runs / show --------------------------------------------------------------------


def test_runs_lists_newest_first(daemon: ThreadedDaemon, project: Path, run: Run) -> None:
    assert ok(run("runs")).stdout.strip() == "no runs"
    assert json.loads(ok(run("runs", "--json")).stdout) == []
    ids = [
        json.loads(ok(run("run", "x", "--plan", "plan.json", "--json")).stdout)["id"]
        for _ in range(2)
    ]
    listed = json.loads(ok(run("runs", "--json")).stdout)
    assert [r["id"] for r in listed] == sorted(ids, reverse=True)
    assert len(json.loads(ok(run("runs", "--limit", "1", "--json")).stdout)) == 1
    table = ok(run("runs")).stdout
    for fragment in ("run", "state", "team", "tasks", "cost", "created", *ids, "crew", "2/2"):
        assert fragment in table
    assert run("runs", "--limit", "0").exit_code == EXIT_USAGE


def test_show_draws_the_plan_costs_and_directory(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    run_id = json.loads(ok(run("run", "x", "--plan", "plan.json", "--json")).stdout)["id"]
    data = json.loads(ok(run("show", run_id, "--json")).stdout)
    assert data["id"] == run_id
    run_dir = Path(data["dir"])
    assert (run_dir / "run.json").is_file()
    out = ok(run("show", run_id)).stdout
    assert str(run_dir) in out
    lines = out.splitlines()
    scan = next(line for line in lines if "scan  alice" in line)
    sum_up = next(line for line in lines if "sum-up  bob" in line)
    assert sum_up.index("sum-up") > scan.index("scan")  # under its dependency
    for fragment in ("costs", "planning", "synthesis", "timings", "total", "complete"):
        assert fragment in out
    assert f"run {run_id} had already ended: complete" in ok(run("cancel", run_id)).stdout
    report = ok(run("show", run_id, "--report")).stdout
    assert report == (run_dir / "report.md").read_text(encoding="utf-8")
    as_json = json.loads(ok(run("show", run_id, "--report", "--json")).stdout)
    assert as_json == {"run_id": run_id, "report": report}


def test_show_explains_what_did_not_complete(
    daemon: ThreadedDaemon, project: Path, run: Run
) -> None:
    result = run("run", "x", "--plan", "fail.json", "--json")
    run_id = json.loads(result.stdout)["id"]
    out = ok(run("show", run_id)).stdout
    assert "what did not complete" in out
    assert "doomed" in out
    assert "the model refused" in out


def test_show_report_before_there_is_one(daemon: ThreadedDaemon, project: Path, run: Run) -> None:
    run_id = ok(run("run", "x", "--plan", "slow.json", "--detach")).stdout.strip()
    failed(run("show", run_id, "--report"), EXIT_ERROR, "no report yet")
    assert json.loads(ok(run("show", run_id, "--report", "--json")).stdout)["report"] is None
    ok(run("cancel", run_id))


def test_unknown_and_malformed_run_ids(daemon: ThreadedDaemon, run: Run) -> None:
    failed(run("show", UNKNOWN), EXIT_USAGE, UNKNOWN)
    failed(run("cancel", UNKNOWN), EXIT_USAGE, UNKNOWN)
    failed(run("show", "latest"), EXIT_USAGE, "invalid run id")


def test_cancel_still_takes_request_ids(daemon: ThreadedDaemon, run: Run) -> None:
    # An agent named "run" has request ids starting "run-": they are not run ids.
    failed(run("cancel", "run-000001-abcdef01"), EXIT_USAGE, "run-000001-abcdef01")
    ok(run("spawn", "run"))
    request_id = ok(run("ask", "run", "sleep:30", "--async")).stdout.strip()
    assert request_id.startswith("run-")
    assert ok(run("cancel", request_id)).stdout.strip() in (
        f"cancelled {request_id}",
        f"interrupting {request_id}",
    )


# --- Client ---------------------------------------------------------------------------------


def test_client_checks_before_calling(daemon: ThreadedDaemon, project: Path) -> None:
    with daemon.client() as client:
        with pytest.raises(InvalidName, match="invalid run id"):
            client.get_run("../../etc")
        with pytest.raises(InvalidPrompt):
            client.submit_run(" ", team=project)
        with pytest.raises(UsageError, match="greater than 0"):
            client.submit_run("x", team=project, budget_usd=0)
        with pytest.raises(UsageError, match="not both"):
            client.submit_run("x", team=project, plan=PLAN, plan_file="plan.json")
        with pytest.raises(RunNotFound):
            client.get_run(UNKNOWN)
        assert client.list_runs() == []


def test_client_round_trip(daemon: ThreadedDaemon, project: Path) -> None:
    with daemon.client() as client:
        started = client.submit_run("x", team="podium.toml", plan=PLAN, cwd=".")
        assert started.team_path == str(project / "podium.toml")
        assert started.cwd == str(project)
        done = client.wait_run(started.id, timeout=60)
        assert done.state is RunState.COMPLETE
        assert client.get_run(started.id) == done
        assert client.run_info(started.id)["dir"].endswith(started.id)
        assert [r.id for r in client.list_runs(limit=5)] == [started.id]
        assert client.run_report(started.id)
        assert client.cancel_run(started.id).state is RunState.COMPLETE
