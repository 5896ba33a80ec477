"""Orchestrated runs through the installed `podium` command and a real daemon process.

Only the model is fake. The daemon is SIGKILLed mid-run and restarted, and
``podium run --resume`` must re-run only what had not finished. These tests
kill real processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from podium import Client
from podium.testing import FakeAnthropic, Rule
from tests.e2e._helpers import alive, no_processes_left, podium, show, wait_until
from tests.orchestration._run_helpers import (
    LEAD,
    example_team,
    lead_rules,
    plan_json,
    requests_for_task,
    review_result,
    task,
    task_rule,
)

pytestmark = pytest.mark.cli

SYNTHESIS = (
    "# Review\n\nSecurity: see results/marie/a.json. Performance: see results/anga/b.json. "
    "Tests: see results/fabien/c.json."
)


def task_states(run: dict[str, Any]) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in run["tasks"]}


def sent_to_fake(fake: FakeAnthropic, task_id: str) -> int:
    """How many model turns carried task ``task_id``'s prompt (its first line is the marker)."""
    return len(requests_for_task(fake, task_id))


def snapshot(path: Path) -> tuple[bytes, int, int]:
    stat = path.stat()
    return path.read_bytes(), stat.st_mtime_ns, stat.st_ino


def three_tasks_c_slow_once(
    fake: FakeAnthropic, workdir: Path, tmp_path: Path
) -> tuple[Path, Path]:
    """The example team and a plan: a, b, then c after a; c's first turn takes 30 s."""
    team = example_team(workdir, limits={"budget_usd": 5.0, "max_parallel": 3})
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        plan_json(task("a", "marie"), task("b", "anga"), task("c", "fabien", ("a",)))
    )
    fake.add_rule(task_rule("a", review_result("HIGH", "app/db.py:88", "SQL injection.", "Bind.")))
    fake.add_rule(
        task_rule("b", review_result("MEDIUM", "app/api.py:12", "N+1 queries.", "Batch."))
    )
    # c's first turn is still at the model when the daemon stops; its re-run answers at once.
    fake.add_rule(task_rule("c", "never delivered", delay=30, times=1))
    fake.add_rule(task_rule("c", review_result("LOW", "tests/test_db.py:1", "No test.", "Add.")))
    for rule in lead_rules("", SYNTHESIS):
        fake.add_rule(rule)
    return team, plan_file


def start_detached(env: dict[str, str], team: Path, plan_file: Path, cwd: Path) -> str:
    started = json.loads(
        podium(
            env,
            "run",
            "Review this code base",
            "--team",
            str(team),
            "--plan",
            str(plan_file),
            "--detach",
            "--json",
            cwd=cwd,
        ).stdout
    )
    assert started["plan_source"] == "file"
    assert started["state"] == "running"
    run_id: str = started["id"]
    return run_id


def wait_for_c_at_the_model(home: Path, fake: FakeAnthropic, run_id: str) -> None:
    """Until a and b are complete and c's first turn has reached the (slow) model."""
    with Client.from_home(home, autostart=False) as client:

        def a_and_b_complete() -> bool:
            states = task_states(client.run_info(run_id))
            return states["a"] == states["b"] == "complete"

        wait_until(a_and_b_complete, timeout=60)
        wait_until(lambda: sent_to_fake(fake, "c") == 1, timeout=60)
        assert task_states(client.run_info(run_id))["c"] == "running"


# --- resume after a crash -------------------------------------------------------------------


def test_sigkill_mid_run_then_resume_reruns_only_unfinished_tasks(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path, tmp_path: Path
) -> None:
    team, plan_file = three_tasks_c_slow_once(fake, workdir, tmp_path)
    client: Client | None = None
    try:
        run_id = start_detached(env, team, plan_file, workdir)
        client = Client.from_home(home, autostart=False)
        run_dir = Path(client.run_info(run_id)["dir"])
        wait_for_c_at_the_model(home, fake, run_id)
        assert client.run_info(run_id)["state"] == "running"
        c_agent = client.get_agent(f"{run_id}-c")
        assert c_agent.pid is not None
        assert alive(c_agent.pid)
        a_result = run_dir / "results" / "marie" / "a.json"
        b_result = run_dir / "results" / "anga" / "b.json"
        before = {"a": snapshot(a_result), "b": snapshot(b_result)}
        assert not (run_dir / "results" / "fabien" / "c.json").exists()

        daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
        client.close()
        client = None
        os.kill(daemon_pid, signal.SIGKILL)
        wait_until(lambda: not alive(daemon_pid))

        # Any command brings a daemon back; it marks the run interrupted and reaps c's CLI.
        podium(env, "up")
        c_pid = c_agent.pid
        wait_until(lambda: not alive(c_pid), timeout=10)
        interrupted = show(env, run_id)
        assert interrupted["state"] == "interrupted", interrupted
        assert "--resume" in (interrupted["error"] or "")
        assert task_states(interrupted) == {"a": "complete", "b": "complete", "c": "interrupted"}
        assert interrupted["resumed"] == 0
        assert not (run_dir / "report.md").exists()

        out = podium(env, "run", "--resume", run_id, "--json", cwd=tmp_path)
        final = json.loads(out.stdout)
        assert final["id"] == run_id
        assert final["state"] == "complete", final
        assert final["error"] is None
        assert final["resumed"] == 1
        assert task_states(final) == {"a": "complete", "b": "complete", "c": "complete"}

        # Only the unfinished task went to the model again.
        assert sent_to_fake(fake, "a") == 1
        assert sent_to_fake(fake, "b") == 1
        assert sent_to_fake(fake, "c") == 2
        assert len(fake.requests_matching(content="PODIUM SYNTHESIS")) == 1
        # The finished tasks' results were not rewritten.
        assert snapshot(a_result) == before["a"]
        assert snapshot(b_result) == before["b"]
        c_result = json.loads((run_dir / "results" / "fabien" / "c.json").read_text())
        assert c_result["status"] == "complete"
        assert c_result["attempts"] == 1
        # c started over on a fresh agent: its new turn carries no trace of the cut one.
        first_c, second_c = requests_for_task(fake, "c")
        users = [m for m in second_c.messages if m.get("role") == "user"]
        assert len(users) == 1, second_c.messages
        assert not first_c.completed
        # The dead agent was retired before the re-run; its name stays with its
        # request records, so the fresh agent gets a name of its own.
        assert c_result["agent"] == f"{c_agent.name}_2"
        assert c_result["agents"] == [f"{c_agent.name}_2"]
        client = Client.from_home(home, autostart=False)
        (cut,) = client.list_requests(agent=c_agent.name)
        assert cut.state.value == "interrupted"

        report = (run_dir / "report.md").read_text()
        assert final["report"] == report
        for cited in ("results/marie/a.json", "results/anga/b.json", "results/fabien/c.json"):
            assert cited in report
        (synthesis,) = fake.requests_matching(content="PODIUM SYNTHESIS")
        for cited in ("results/marie/a.json", "results/anga/b.json", "results/fabien/c.json"):
            assert cited in synthesis.user_prompt

        # The cost is every request of the run, before and after the crash. The turn
        # cut off by the crash never got an answer to the CLI, so nothing was billed
        # for it: it is recorded as interrupted at $0.
        client = Client.from_home(home, autostart=False)
        requests = [r for r in client.requests(limit=1000) if r.meta.get("run_id") == run_id]
        by_task: dict[str, list[Any]] = {}
        for request in requests:
            by_task.setdefault(str(request.meta.get("task_id", "lead")), []).append(request)
        assert sorted(len(v) for v in by_task.values()) == [1, 1, 1, 2]
        cut, rerun = sorted(by_task["c"], key=lambda r: r.submitted_at)
        assert cut.state.value == "interrupted"
        assert cut.cost_usd == 0.0
        assert rerun.state.value == "complete"
        assert rerun.cost_usd > 0
        total = sum(r.cost_usd for r in requests)
        assert total > 0
        assert final["cost_usd"] == pytest.approx(total)
        assert final["cost_by_worker"]["marie"] == pytest.approx(by_task["a"][0].cost_usd)
        assert final["cost_by_worker"]["anga"] == pytest.approx(by_task["b"][0].cost_usd)
        assert final["cost_by_worker"]["fabien"] == pytest.approx(rerun.cost_usd)
        assert final["synthesis_cost_usd"] == pytest.approx(by_task["lead"][0].cost_usd)
        # Every agent of the run is retired once it ends, the crashed one's included.
        assert [a.name for a in client.list_agents() if a.name.startswith(run_id)] == []
    finally:
        if client is not None:
            client.close()
        podium(env, "down", expect=None)
    no_processes_left(home)


def test_podium_down_mid_run_leaves_it_interrupted_then_resume_finishes_it(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path, tmp_path: Path
) -> None:
    team, plan_file = three_tasks_c_slow_once(fake, workdir, tmp_path)
    try:
        run_id = start_detached(env, team, plan_file, workdir)
        wait_for_c_at_the_model(home, fake, run_id)

        podium(env, "down")
        no_processes_left(home)  # c's CLI went with the daemon

        # Nobody cancelled anything: c was interrupted, as after a crash.
        stopped = show(env, run_id)
        assert stopped["state"] == "interrupted", stopped
        assert task_states(stopped) == {"a": "complete", "b": "complete", "c": "interrupted"}
        c_task = next(t for t in stopped["tasks"] if t["task_id"] == "c")
        assert "daemon stopped" in c_task["reason"], c_task

        final = json.loads(podium(env, "run", "--resume", run_id, "--json").stdout)
        assert final["state"] == "complete", final
        assert final["resumed"] == 1
        assert [sent_to_fake(fake, t) for t in ("a", "b", "c")] == [1, 1, 2]
    finally:
        podium(env, "down", expect=None)
    no_processes_left(home)


def test_sigkill_while_planning_then_resume_plans_again_with_the_same_lead(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path
) -> None:
    example_team(workdir)
    plan = plan_json(task("a", "marie"), task("b", "anga"))
    fake.add_rule(Rule(system=LEAD, content="PODIUM PLAN REQUEST", text=plan, delay=30, times=1))
    for rule in lead_rules(plan, SYNTHESIS):
        fake.add_rule(rule)
    for task_id in ("a", "b"):
        fake.add_rule(task_rule(task_id, review_result("LOW", "a.py:1", task_id, "fix")))
    try:
        run_id = podium(env, "run", "Review this code base", "--detach", cwd=workdir).stdout.strip()
        wait_until(lambda: bool(fake.requests_matching(content="PODIUM PLAN REQUEST")), 60)
        lead = show(env, run_id)["orchestrator_agent"]
        assert lead

        daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
        os.kill(daemon_pid, signal.SIGKILL)
        wait_until(lambda: not alive(daemon_pid))
        podium(env, "up")
        interrupted = show(env, run_id)
        assert interrupted["state"] == "interrupted", interrupted
        assert interrupted["tasks"] == []
        assert not (Path(interrupted["dir"]) / "plan.json").exists()

        final = json.loads(podium(env, "run", "--resume", run_id, "--json").stdout)

        assert final["state"] == "complete", final
        assert final["resumed"] == 1
        assert final["orchestrator_agent"] == lead  # the hibernated lead, not a new one
        assert task_states(final) == {"a": "complete", "b": "complete"}
        first, second = fake.requests_matching(content="PODIUM PLAN REQUEST")
        assert not first.completed
        assert second.completed
        assert [sent_to_fake(fake, t) for t in ("a", "b")] == [1, 1]
        with Client.from_home(home, autostart=False) as client:
            mine = [r for r in client.requests(limit=1000) if r.meta.get("run_id") == run_id]
        lead_requests = sorted((r for r in mine if r.agent == lead), key=lambda r: r.submitted_at)
        assert [(r.meta.get("phase"), r.state.value) for r in lead_requests] == [
            ("plan", "interrupted"),
            ("plan", "complete"),
            ("synthesis", "complete"),
        ]
        assert lead_requests[0].cost_usd == 0.0
        assert final["planning_cost_usd"] == pytest.approx(lead_requests[1].cost_usd)
        assert final["cost_usd"] == pytest.approx(sum(r.cost_usd for r in mine))
    finally:
        podium(env, "down", expect=None)
    no_processes_left(home)


def test_resume_of_a_complete_run_is_refused(
    env: dict[str, str], fake: FakeAnthropic, workdir: Path, home: Path, tmp_path: Path
) -> None:
    team = example_team(workdir)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_json(task("a", "anga")))
    fake.add_rule(task_rule("a", review_result("LOW", "a.py:1", "x", "y")))
    for rule in lead_rules("", "done"):
        fake.add_rule(rule)
    try:
        done = json.loads(
            podium(
                env,
                "run",
                "review",
                "-t",
                str(team),
                "--plan",
                str(plan_file),
                "--json",
                cwd=workdir,
            ).stdout
        )
        assert done["state"] == "complete", done
        before = len(fake.message_requests())

        refused = podium(env, "run", "--resume", done["id"], expect=2)

        assert f"run {done['id']} is complete" in refused.stderr
        assert "only interrupted, failed or cancelled runs can be resumed" in refused.stderr
        assert len(fake.message_requests()) == before
        again = show(env, done["id"])
        assert again["state"] == "complete"
        assert again["resumed"] == 0
    finally:
        podium(env, "down", expect=None)
    no_processes_left(home)


def test_resume_unknown_run(env: dict[str, str], home: Path) -> None:
    missing = "run-20000101-000000-abcd"
    try:
        result = podium(env, "run", "--resume", missing, expect=2)
        assert missing in result.stderr
        assert "no run" in result.stderr
        malformed = podium(env, "run", "--resume", "../etc", expect=2)
        assert "../etc" in malformed.stderr
    finally:
        podium(env, "down", expect=None)
    no_processes_left(home)


# --- the live view --------------------------------------------------------------------------


def test_podium_run_follows_live_and_prints_report(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path, home: Path
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    plan = plan_json(
        task("security", "marie"),
        task("perf", "anga"),
        task("tests", "fabien", ("security",)),
    )
    report_text = "# Shop review\n\nTHE-SYNTHESISED-ANSWER: parameterise the queries."
    fake.add_rule(Rule(system=LEAD, content=r"PODIUM PLAN REQUEST", text=plan))
    fake.add_rule(Rule(system=LEAD, content=r"PODIUM SYNTHESIS", text=report_text))
    for task_id in ("security", "perf", "tests"):
        fake.add_rule(task_rule(task_id, review_result("LOW", "shop.py:1", task_id, "fix")))
    try:
        podium(env, "init", cwd=project)
        assert (project / "podium.toml").is_file()

        out = podium(env, "run", "Review this project", cwd=project)

        listed = json.loads(podium(env, "runs", "--json").stdout)
        (run,) = listed
        run_id = run["id"]
        assert run["state"] == "complete", run
        assert run["request"] == "Review this project"
        assert run["plan_source"] == "orchestrator"
        assert run["cwd"] == str(project.resolve())
        # The live view's last frame, then the report, then the cost table.
        text = out.stdout
        assert re.search(rf"(?m)^run {run_id}\s+complete", text), text
        for task_id in ("security", "perf", "tests"):
            assert re.search(rf"(?m)^{task_id}\s+\w+\s+complete\s+1\b", text), text
        report = (home / "runs" / run_id / "report.md").read_text()
        assert report.startswith(f"# Run {run_id}\n\n# Shop review\n")
        assert report.strip() in text
        assert "THE-SYNTHESISED-ANSWER: parameterise the queries." in text
        total = f"${run['cost_usd']:.4f}"
        assert re.search(rf"(?m)^total\s+run\s+{re.escape(total)}", text), text
        assert text.index("THE-SYNTHESISED-ANSWER") < text.rindex("cost of")
        (plan_request,) = fake.requests_matching(content="PODIUM PLAN REQUEST")
        assert "Review this project" in plan_request.user_prompt
        assert len(fake.requests_matching(content="PODIUM TASK")) == 3

        table = podium(env, "runs").stdout
        assert re.search(rf"(?m)^{run_id}\s+complete\s+review\s+3/3", table), table

        shown = podium(env, "show", run_id).stdout
        for task_id, worker in (("security", "marie"), ("perf", "anga"), ("tests", "fabien")):
            row = rf"(?m)^{task_id}\s+{worker}\s+complete\s+1\s"
            assert re.search(row, shown), shown
        assert task_states(show(env, run_id)) == {
            "security": "complete",
            "perf": "complete",
            "tests": "complete",
        }
    finally:
        podium(env, "down", expect=None)
    no_processes_left(home)
