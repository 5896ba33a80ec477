"""Code flows through a run: stacked bases, the integration branch, conflicts, checks.

Through the installed ``podium`` command, a real daemon process, real git and the
real Claude Code CLI. Only the model is fake: it scripts ``Read`` / ``Write`` tool
calls, and the CLI really runs them in each task's git worktree.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import Client
from podium.testing import FakeAnthropic, Rule, ToolCall
from tests.e2e._helpers import alive, no_processes_left, podium, show, wait_until

pytestmark = pytest.mark.cli

LEAD = r"You lead a small team"
IDENT = ["-c", "user.name=dev", "-c", "user.email=dev@localhost", "-c", "commit.gpgsign=false"]

TEAM = """\
[team]
name = "coders"
orchestrator = "lead.md"

[workers]
alice = "alice.md"
bob = "bob.md"

[defaults]
isolation = "worktree"
retries = 0

[limits]
max_parallel = 3
retries = 0
"""

WORKER = """\
---
description: writes code
permission_mode: acceptEdits
---
You are {name}, a careful programmer.
"""


@pytest.fixture
def env(env: dict[str, str], home: Path) -> Iterator[dict[str, str]]:
    """Every e2e test's, git without the machine's config; the daemon stopped after."""
    values = {**env, "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        yield values
    finally:
        podium(values, "down", expect=None)
        no_processes_left(home)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *IDENT, *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def make_project(root: Path, *, extra_toml: str = "") -> Path:
    """A git repository holding the team (committed), on branch main."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "podium.toml").write_text(TEAM + extra_toml)
    (root / "lead.md").write_text("You lead a small team of programmers.\n")
    for name in ("alice", "bob"):
        (root / f"{name}.md").write_text(WORKER.format(name=name))
    (root / "README.md").write_text("# app\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def plan_file(tmp_path: Path, *tasks: tuple[str, str, tuple[str, ...]]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps(
            {
                "tasks": [
                    {
                        "task_id": tid,
                        "worker": worker,
                        "description": f"Do {tid}.",
                        "dependencies": list(deps),
                    }
                    for tid, worker, deps in tasks
                ]
            }
        )
    )
    return path


def writes(fake: FakeAnthropic, marker: str, path: str, content: str, **kw: Any) -> None:
    """The turn whose prompt starts with ``marker`` writes ``path``, then says done."""
    line = rf"(?m)^{marker}$"
    write = ToolCall("Write", {"file_path": path, "content": content})
    fake.add_rule(Rule(content=line, tool_result=False, tool_calls=[write], **kw))
    fake.add_rule(Rule(any_content=line, tool_result=True, text=f"done: {marker}"))


def synthesis(fake: FakeAnthropic) -> None:
    fake.add_rule(Rule(system=LEAD, content="PODIUM SYNTHESIS", text="# Report\n\nAll done."))


def start(env: dict[str, str], project: Path, plan: Path, *, detach: bool = False) -> Any:
    args = ["run", "Build the feature", "--plan", str(plan), "--json"]
    result = podium(env, *args, *(["--detach"] if detach else []), cwd=project, expect=None)
    assert result.returncode in (0, 1), (result.stdout, result.stderr)
    return json.loads(result.stdout)


def at(project: Path, ref: str, path: str) -> str | None:
    found = subprocess.run(
        ["git", "-C", str(project), "show", f"{ref}:{path}"], capture_output=True, text=True
    )
    return found.stdout if found.returncode == 0 else None


def tool_results(fake: FakeAnthropic, marker: str) -> list[str]:
    """The text of every tool_result the CLI sent back in turns of ``marker``'s task."""
    out = []
    for call in fake.requests_matching(any_content=rf"(?m)^{marker}$"):
        last = call.messages[-1]
        if last.get("role") != "user" or not isinstance(last.get("content"), list):
            continue
        for block in last["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                if isinstance(content, list):
                    content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
                out.append(str(content))
    return out


def no_markers(project: Path, ref: str) -> None:
    """No file on ``ref`` holds a conflict marker line."""
    found = subprocess.run(
        ["git", "-C", str(project), "grep", "-l", "-E", "^(<<<<<<<|>>>>>>>)( |$)", ref],
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""
    assert found.returncode == 1


# --- stacked bases and the integration branch ------------------------------------------------


def test_a_dependent_task_builds_on_its_dependency_and_the_branch_holds_all_work(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "app")
    head = git(project, "rev-parse", "HEAD").strip()
    plan = plan_file(tmp_path, ("a", "alice", ()), ("b", "bob", ()), ("c", "bob", ("a",)))
    writes(fake, "PODIUM TASK a", "greet.py", "def greet():\n    return 'hi'\n")
    writes(fake, "PODIUM TASK b", "docs.md", "# docs\n")
    # c reads a's file (it is in c's worktree from the start), then writes its test.
    c_line = r"(?m)^PODIUM TASK c$"
    read = ToolCall("Read", {"file_path": "greet.py"})
    test = ToolCall("Write", {"file_path": "test_greet.py", "content": "from greet import greet\n"})
    fake.add_rule(Rule(content=c_line, tool_result=False, tool_calls=[read]))
    fake.add_rule(Rule(any_content=c_line, content="return 'hi'", tool_calls=[test]))
    fake.add_rule(Rule(any_content=c_line, tool_result=True, text="done: c"))
    synthesis(fake)

    final = start(env, project, plan)
    assert final["state"] == "complete", (final["error"], [t.get("reason") for t in final["tasks"]])
    run_id = final["id"]
    assert final["base_commit"] == head
    integration = final["integration"]
    branch = f"podium/run/{run_id}"
    assert integration["branch"] == branch
    assert integration["base"] == head
    assert sorted(integration["merged"]) == ["a", "b", "c"]
    assert integration["merged"].index("a") < integration["merged"].index("c")
    assert integration["conflicts"] == []
    assert integration["head"] == git(project, "rev-parse", branch).strip()

    # c saw a's work: the CLI's Read of greet.py returned a's content.
    assert any("return 'hi'" in text for text in tool_results(fake, "PODIUM TASK c"))
    # c's worktree started from the integration head right after a merged.
    c_result = json.loads(
        (Path(show(env, run_id)["dir"]) / "results" / "bob" / "c.json").read_text(encoding="utf-8")
    )
    assert c_result["base"] == integration["task_heads"]["a"]
    assert c_result["base"] != head

    # The integration branch holds every task's work; the user's checkout is untouched.
    assert at(project, branch, "greet.py") == "def greet():\n    return 'hi'\n"
    assert at(project, branch, "docs.md") == "# docs\n"
    assert at(project, branch, "test_greet.py") == "from greet import greet\n"
    assert git(project, "rev-parse", "HEAD").strip() == head
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(project, "status", "--porcelain") == ""
    assert not (project / "greet.py").exists()
    # Its merge commits are podium's, and its worktree is where the contract says.
    assert git(project, "log", "-1", "--format=%an <%ae>", branch).strip() == (
        "podium <podium@localhost>"
    )
    home = Path(env["PODIUM_HOME"])
    assert Path(integration["worktree"]) == home / "worktrees" / f"{run_id}.integration"
    # Task branches stay, one per task agent.
    for task in final["tasks"]:
        assert git(project, "branch", "--list", f"podium/{task['agent']}").strip()

    # Visible: show prints it, the report carries the diff stat.
    shown = podium(env, "show", run_id).stdout
    assert branch in shown
    assert "merged" in shown
    report = final["report"]
    assert branch in report
    assert "greet.py" in report
    assert "test_greet.py" in report
    assert "3 files changed" in report


# --- conflicts ------------------------------------------------------------------------------


def two_writers_of_one_file(fake: FakeAnthropic) -> None:
    """a and b (independent) both create app.py: whichever merges second conflicts."""
    writes(fake, "PODIUM TASK a", "app.py", "NAME = 'a'\n")
    writes(fake, "PODIUM TASK b", "app.py", "NAME = 'b'\n")


def test_a_conflict_between_independent_tasks_is_resolved_by_a_rerun_on_the_integration(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "app")
    plan = plan_file(tmp_path, ("a", "alice", ()), ("b", "bob", ()))
    # The re-run reads the integrated app.py and writes a version holding both.
    line = r"(?m)^PODIUM INTEGRATION [ab]$"
    read = ToolCall("Read", {"file_path": "app.py"})
    both = ToolCall("Write", {"file_path": "app.py", "content": "NAME = 'a'\nOTHER = 'b'\n"})
    fake.add_rule(Rule(content=line, tool_result=False, tool_calls=[read]))
    fake.add_rule(Rule(any_content=line, content="NAME = ", tool_calls=[both]))
    fake.add_rule(Rule(any_content=line, tool_result=True, text="resolved"))
    two_writers_of_one_file(fake)
    synthesis(fake)

    final = start(env, project, plan)
    assert final["state"] == "complete", (final["error"], [t.get("reason") for t in final["tasks"]])
    integration = final["integration"]
    assert sorted(integration["merged"]) == ["a", "b"]
    (conflict,) = integration["conflicts"]
    assert conflict["kind"] == "merge"
    assert conflict["files"] == ["app.py"]
    second, first = integration["merged"][1], integration["merged"][0]
    assert conflict["tasks"] == [second, first]
    assert conflict["resolution"].startswith("re-run on podium/")
    # The re-run was told which file conflicted.
    (rerun,) = fake.requests_matching(content=line)
    assert "app.py" in rerun.user_prompt
    branch = integration["branch"]
    assert at(project, branch, "app.py") == "NAME = 'a'\nOTHER = 'b'\n"
    no_markers(project, branch)


def test_an_unresolvable_conflict_is_reported_with_its_files_never_committed_as_markers(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "app")
    plan = plan_file(tmp_path, ("a", "alice", ()), ("b", "bob", ()))
    # The re-run "resolves" by writing conflict markers: podium must not commit them.
    marked = "<<<<<<< ours\nNAME = 'a'\n=======\nNAME = 'b'\n>>>>>>> theirs\n"
    writes(fake, "PODIUM INTEGRATION [ab]", "notes.txt", marked)
    two_writers_of_one_file(fake)
    synthesis(fake)

    final = start(env, project, plan)
    assert final["state"] == "failed", final
    integration = final["integration"]
    (merged,) = integration["merged"]
    loser = "b" if merged == "a" else "a"
    first, second = integration["conflicts"]
    assert (first["kind"], first["files"], first["tasks"]) == ("merge", ["app.py"], [loser, merged])
    assert first["resolution"].startswith("re-run on ")
    assert second["files"] == ["notes.txt"]  # the markers the re-run left
    assert second["resolution"] == "unresolved"
    assert "not integrated" in final["error"]
    assert loser in final["error"]
    task = next(t for t in final["tasks"] if t["task_id"] == loser)
    assert "not integrated" in (task["reason"] or "")
    branch = integration["branch"]
    assert at(project, branch, "notes.txt") is None
    assert at(project, branch, "app.py") == f"NAME = '{merged}'\n"
    no_markers(project, branch)
    shown = podium(env, "show", final["id"]).stdout
    assert "unresolved" in shown
    assert "app.py" in shown
    assert "app.py" in final["report"]


# --- the integration check ----------------------------------------------------------------------


CHECK = """\
import pathlib, sys
value = pathlib.Path("value.txt").read_text().strip()
print(f"value is {value}")
sys.exit(0 if value == "good" else 1)
"""


def test_an_integration_check_fails_then_the_rerun_passes_it(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    (tmp_path / "check.py").write_text(CHECK)
    extra = f'\n[integration]\ncheck = ["python3", "{tmp_path / "check.py"}"]\nattempts = 1\n'
    project = make_project(tmp_path / "app", extra_toml=extra)
    plan = plan_file(tmp_path, ("a", "alice", ()))
    writes(fake, "PODIUM TASK a", "value.txt", "bad\n")
    writes(fake, "PODIUM INTEGRATION a", "value.txt", "good\n")
    synthesis(fake)

    final = start(env, project, plan)
    assert final["state"] == "complete", (final["error"], [t.get("reason") for t in final["tasks"]])
    integration = final["integration"]
    assert integration["merged"] == ["a"]
    (failed,) = integration["conflicts"]
    assert failed["kind"] == "check"
    assert "value is bad" in failed["detail"]
    assert failed["resolution"].startswith("re-run on ")
    check = integration["check"]
    assert check["argv"] == ["python3", str(tmp_path / "check.py")]
    assert check["status"] == "passed"
    # The re-run was given the check's output.
    (rerun,) = fake.requests_matching(content=r"(?m)^PODIUM INTEGRATION a$")
    assert "value is bad" in rerun.user_prompt
    branch = integration["branch"]
    assert at(project, branch, "value.txt") == "good\n"
    # The failed merge was undone: the branch has one merge, the re-run's.
    merges = git(project, "rev-list", "--merges", f"{final['base_commit']}..{branch}").split()
    assert len(merges) == 1


def test_an_integration_check_setting_that_is_a_shell_string_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = make_project(tmp_path / "app", extra_toml='\n[integration]\ncheck = "pytest -q"\n')
    plan = plan_file(tmp_path, ("a", "alice", ()))
    args = ["run", "Build", "--plan", str(plan)]
    result = podium(env, *args, cwd=project, expect=2)
    assert "integration.check" in result.stderr
    assert "not a shell string" in result.stderr


# --- checks run with the user's PATH -------------------------------------------------------------


PROBE = """\
#!/bin/sh
echo "$(pwd) ${{VIRTUAL_ENV:-none}}" >> {log}
exit 0
"""


def test_checks_run_with_the_submitters_path_not_the_daemons(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    # A tool only the user's PATH has; the daemon runs from a "virtualenv" without it.
    user_bin = tmp_path / "user-bin"
    user_bin.mkdir()
    log = tmp_path / "probe.log"
    probe = user_bin / "project-probe"
    probe.write_text(PROBE.format(log=log))
    probe.chmod(0o755)
    daemon_venv = tmp_path / "daemon-venv"
    (daemon_venv / "bin").mkdir(parents=True)
    daemon_env = {
        **env,
        "VIRTUAL_ENV": str(daemon_venv),
        "PATH": f"{daemon_venv / 'bin'}:{env['PATH']}",
    }
    podium(daemon_env, "up")
    extra = '\n[checks]\nalice = ["project-probe"]\n\n[integration]\ncheck = ["project-probe"]\n'
    project = make_project(tmp_path / "app", extra_toml=extra)
    plan = plan_file(tmp_path, ("a", "alice", ()))
    writes(fake, "PODIUM TASK a", "a.txt", "a\n")
    synthesis(fake)

    user_env = {**env, "PATH": f"{user_bin}:{env['PATH']}"}
    user_env.pop("VIRTUAL_ENV", None)
    final = start(user_env, project, plan)
    assert final["state"] == "complete", (final["error"], [t.get("reason") for t in final["tasks"]])
    assert final["user_env"]["PATH"].startswith(str(user_bin))
    assert final["integration"]["check"]["status"] == "passed"
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines  # the gate in the task's worktree, then the integration check
    gate_dir, integration_dir = (line.rsplit(" ", 1)[0] for line in lines)
    assert Path(gate_dir).name == f"{final['id']}-a"
    assert Path(integration_dir) == Path(final["integration"]["worktree"])
    # The daemon's VIRTUAL_ENV did not leak into either.
    assert all(line.endswith(" none") for line in lines), lines


# --- resume after a crash ------------------------------------------------------------------------


def test_resume_after_a_daemon_sigkill_keeps_the_runs_base(
    env: dict[str, str], fake: FakeAnthropic, tmp_path: Path
) -> None:
    home = Path(env["PODIUM_HOME"])
    project = make_project(tmp_path / "app")
    base = git(project, "rev-parse", "HEAD").strip()
    plan = plan_file(tmp_path, ("a", "alice", ()), ("b", "bob", ()), ("c", "bob", ("a", "b")))
    writes(fake, "PODIUM TASK a", "a.txt", "a\n")
    # b's first turn is still at the model when the daemon dies; its re-run writes.
    fake.add_rule(Rule(content=r"(?m)^PODIUM TASK b$", text="never delivered", delay=30, times=1))
    writes(fake, "PODIUM TASK b", "b.txt", "b\n")
    c_line = r"(?m)^PODIUM TASK c$"
    reads = [ToolCall("Read", {"file_path": f}) for f in ("a.txt", "b.txt", "later.txt")]
    fake.add_rule(Rule(content=c_line, tool_result=False, tool_calls=reads))
    fake.add_rule(Rule(any_content=c_line, tool_result=True, text="done: c"))
    synthesis(fake)

    run_id = start(env, project, plan, detach=True)["id"]
    with Client.from_home(home, autostart=False) as client:

        def a_merged_b_at_model() -> bool:
            info = client.run_info(run_id)
            merged = (info.get("integration") or {}).get("merged") or []
            b_turns = fake.requests_matching(content=r"(?m)^PODIUM TASK b$")
            return merged == ["a"] and len(b_turns) == 1

        wait_until(a_merged_b_at_model, timeout=90)
    daemon_pid = json.loads((home / "daemon.json").read_text())["pid"]
    os.kill(daemon_pid, signal.SIGKILL)
    wait_until(lambda: not alive(daemon_pid))

    # Meanwhile the user commits on main: a resumed run must not pick it up.
    (project / "later.txt").write_text("later\n")
    git(project, "add", "later.txt")
    git(project, "commit", "-qm", "later work")
    assert git(project, "rev-parse", "HEAD").strip() != base

    podium(env, "up")
    assert show(env, run_id)["state"] == "interrupted"
    final = json.loads(podium(env, "run", "--resume", run_id, "--json", cwd=project).stdout)
    assert final["state"] == "complete", (final["error"], [t.get("reason") for t in final["tasks"]])
    assert final["base_commit"] == base
    integration = final["integration"]
    assert integration["base"] == base
    assert integration["merged"] == ["a", "b", "c"]
    results = Path(show(env, run_id)["dir"]) / "results" / "bob"
    b_result = json.loads((results / "b.json").read_text())
    assert b_result["base"] == base  # the re-run branched from the run's base, not HEAD
    c_result = json.loads((results / "c.json").read_text())
    assert c_result["base"] == integration["task_heads"]["b"]
    # c saw a's and b's work, and not the user's later commit.
    # The CLI may run the reads in any order: each result is looked for by what it says.
    reads = tool_results(fake, "PODIUM TASK c")
    assert len(reads) == 3, reads
    assert any("1\ta" in r for r in reads), reads
    assert any("1\tb" in r for r in reads), reads
    assert any("does not exist" in r.lower() for r in reads), reads
    branch = integration["branch"]
    assert at(project, branch, "later.txt") is None
    assert at(project, branch, "a.txt") == "a\n"
    assert at(project, branch, "b.txt") == "b\n"
