"""``podium apply`` and ``podium clean`` on a run's branches, with real git.

The runs' leftovers are made with git directly (:mod:`._landing_helpers`), in the
layout a run with ``worktree`` tasks leaves; the commands go through the real CLI,
client and daemon (EchoBackend replaces only the model, which nothing here asks).
The user's repository has its own identity (local git config) and HOME is empty:
a commit made as podium instead of the user would show.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import pytest
from typer.testing import CliRunner, Result

from podium._client import Client
from podium.cli import app
from podium.orchestration import RunDir, RunState
from tests._cli_helpers import failed, ok
from tests._threaded_daemon import ThreadedDaemon
from tests.orchestration._landing_helpers import branches, git, make_repo, make_run, worktrees

RUN_A = "run-20261206-100000-aaaa"
RUN_B = "run-20261206-110000-bbbb"
RUN_C = "run-20261206-120000-cccc"
WORK = {"left": {"left.txt": "from left\n"}, "right": {"right.txt": "from right\n"}}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "user-home"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in list(os.environ):
        if key.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) or key == "EMAIL":
            monkeypatch.delenv(key)
    home = tmp_path / "podium-home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    return home


@pytest.fixture
def daemon(home: Path) -> Iterator[ThreadedDaemon]:
    running = ThreadedDaemon(home).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def project(tmp_path: Path, daemon: ThreadedDaemon) -> Path:
    return make_repo(tmp_path / "project")


def podium(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def head(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain")


def hook(repo: Path, body: str) -> None:
    path = repo / ".git" / "hooks" / "pre-commit"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def user_commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-qm", f"user: {name}")
    return head(repo)


# --- apply -------------------------------------------------------------------------------------


def test_apply_fast_forwards_the_checked_out_branch(home: Path, project: Path) -> None:
    make_run(home, project, RUN_A, WORK)
    before = head(project)

    done = ok(podium("apply", RUN_A, "--json"))

    result = json.loads(done.stdout)
    assert result["mode"] == "fast-forward"
    assert result["into"] == "main"
    assert result["from"] == before
    assert head(project) == result["to"] == head(project, f"podium/run/{RUN_A}")
    assert sorted(result["files"]) == ["left.txt", "right.txt"]
    assert sorted(result["tasks"]) == ["left", "right"]
    # Two task commits and two merges of the integration branch: all on main now.
    assert len(result["commits"]) == 4
    assert (project / "left.txt").read_text() == "from left\n"
    assert (project / "right.txt").read_text() == "from right\n"
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert status(project) == ""

    again = ok(podium("apply", RUN_A))
    assert "already has run" in again.stdout
    assert head(project) == result["to"]


def test_apply_merges_as_the_user_with_the_trailer_and_runs_their_hook(
    home: Path, project: Path, tmp_path: Path
) -> None:
    make_run(home, project, RUN_A, WORK)
    mine = user_commit(project, "mine.txt", "the user's own work\n")
    ran = tmp_path / "hook-ran"
    hook(project, f'echo pre-commit >> "{ran}"\n')

    done = ok(podium("apply", RUN_A))

    assert "applied run " + RUN_A + " to main (merge)" in done.stdout
    assert f"{mine[:12]}.." in done.stdout
    assert "2 file(s) changed" in done.stdout
    assert ran.read_text() == "pre-commit\n"
    parents = git(project, "log", "-1", "--format=%P").split()
    assert parents == [mine, head(project, f"podium/run/{RUN_A}")]
    author = git(project, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip()
    assert author == "Ada User <ada@example.org>|Ada User <ada@example.org>"
    trailers = git(project, "log", "-1", "--format=%(trailers:only,unfold)").strip()
    assert trailers.splitlines() == [f"Podium-Run: {RUN_A}", "Podium-Tasks: left, right"]
    assert (project / "mine.txt").exists()
    assert (project / "left.txt").exists()
    assert status(project) == ""


def test_apply_squash_is_one_commit_of_the_user_and_clean_then_loses_nothing(
    home: Path, project: Path
) -> None:
    make_run(home, project, RUN_A, WORK)
    before = head(project)

    done = ok(podium("apply", RUN_A, "--squash", "--json"))

    result = json.loads(done.stdout)
    assert result["mode"] == "squash"
    assert [c["commit"] for c in result["commits"]] == [head(project)]
    assert git(project, "log", "-1", "--format=%P").split() == [before]
    assert git(project, "log", "-1", "--format=%an").strip() == "Ada User"
    message = git(project, "log", "-1", "--format=%B")
    assert message.startswith(f"podium: squash of run {RUN_A}: Write the notes.")
    assert "- left (alice): Write left.txt." in message
    assert message.rstrip().endswith(f"Podium-Run: {RUN_A}\nPodium-Tasks: left, right")
    assert sorted(git(project, "show", "--name-only", "--format=", "HEAD").split()) == [
        "left.txt",
        "right.txt",
    ]
    # A squash holds the run's changes: nothing more to apply, nothing lost by cleaning.
    again = json.loads(ok(podium("apply", RUN_A, "--squash", "--json")).stdout)
    assert again["mode"] == "up-to-date"
    assert head(project) == result["to"]
    ok(podium("clean", RUN_A))
    assert branches(project) == {"main"}


def test_a_refusing_hook_undoes_the_apply_and_no_verify_skips_it(home: Path, project: Path) -> None:
    make_run(home, project, RUN_A, WORK)
    mine = user_commit(project, "mine.txt", "mine\n")
    hook(project, "echo 'lint says no' >&2\nexit 1\n")

    failed(podium("apply", RUN_A), 2, "a hook refused it", "lint says no", "nothing was changed")
    assert head(project) == mine
    assert status(project) == ""
    assert not (project / "left.txt").exists()

    done = json.loads(ok(podium("apply", RUN_A, "--no-verify", "--json")).stdout)
    assert done["mode"] == "merge"
    assert done["verified"] is False
    assert (project / "left.txt").exists()


def test_a_dirty_tree_is_refused_and_nothing_changes(home: Path, project: Path) -> None:
    make_run(home, project, RUN_A, WORK)
    before = head(project)
    (project / "README.md").write_text("# edited, not committed\n")

    failed(podium("apply", RUN_A), 2, "uncommitted changes in 1 file(s): README.md")

    assert head(project) == before
    assert (project / "README.md").read_text() == "# edited, not committed\n"
    assert status(project) == " M README.md\n"
    assert not (project / "left.txt").exists()


def test_a_conflict_is_undone_and_named(home: Path, project: Path) -> None:
    make_run(home, project, RUN_A, WORK)
    mine = user_commit(project, "left.txt", "the user's left\n")

    done = podium("apply", RUN_A)

    assert done.exit_code == 1, done.output
    message = (
        f"applying run {RUN_A} (podium/run/{RUN_A}) to main conflicts in 1 file(s): left.txt; "
        f"nothing was changed. Resolve by hand (git merge podium/run/{RUN_A}) or apply to "
        "another branch (--into)."
    )
    assert done.stdout == ""
    assert done.stderr == f"error: {message}\nconflict: left.txt\n"
    assert head(project) == mine
    assert status(project) == ""
    assert (project / "left.txt").read_text() == "the user's left\n"
    assert not (project / "right.txt").exists()
    as_json = podium("apply", RUN_A, "--squash", "--json")
    assert as_json.exit_code == 1
    assert as_json.stderr == ""
    assert json.loads(as_json.stdout) == {
        "applied": False,
        "error": {
            "code": "merge_conflict",
            "message": message,
            "context": {
                "run_id": RUN_A,
                "branch": f"podium/run/{RUN_A}",
                "into": "main",
                "files": ["left.txt"],
            },
        },
    }
    assert status(project) == ""


def test_apply_into_another_branch_leaves_the_checkout_alone(home: Path, project: Path) -> None:
    git(project, "branch", "release")
    make_run(home, project, RUN_A, WORK)
    user_commit(project, "mine.txt", "mine\n")
    main = head(project)

    done = json.loads(ok(podium("apply", RUN_A, "--into", "release", "--json")).stdout)

    assert done["into"] == "release"
    assert done["mode"] == "fast-forward"
    assert head(project, "release") == head(project, f"podium/run/{RUN_A}")
    assert head(project) == main
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert not (project / "left.txt").exists()
    assert status(project) == ""
    assert worktrees(project) == {
        str(home.resolve() / "worktrees" / name)
        for name in (f"{RUN_A}-left", f"{RUN_A}-right", f"{RUN_A}.integration")
    }


def test_apply_refusals_name_the_problem(home: Path, project: Path) -> None:
    failed(podium("apply", RUN_A), 2, f"no run {RUN_A!r}")
    failed(podium("apply", "nonsense"), 2, "invalid run id")
    make_run(home, project, RUN_A, WORK, integrate=False)
    failed(podium("apply", RUN_A), 2, f"has no integration branch podium/run/{RUN_A}")
    make_run(home, project, RUN_B, {"t": {"t.txt": "t\n"}}, state=RunState.RUNNING)
    failed(podium("apply", RUN_B), 2, "is still running")
    make_run(home, project, RUN_C, WORK)
    failed(podium("apply", RUN_C, "--into", "nowhere"), 2, "no local branch 'nowhere'")
    failed(podium("apply", RUN_C, "--into", f"podium/{RUN_C}-left"), 2, "podium's own branches")
    before = head(project)
    git(project, "checkout", "-q", "--detach")
    failed(podium("apply", RUN_C), 2, "detached HEAD")
    assert head(project) == before
    assert status(project) == ""


def test_show_names_each_apply_of_the_run(home: Path, project: Path) -> None:
    git(project, "branch", "release")
    make_run(home, project, RUN_A, WORK)
    before = head(project)
    assert json.loads(ok(podium("show", RUN_A, "--json")).stdout)["applied"] == []
    assert "applied:" not in ok(podium("show", RUN_A)).stdout

    first = json.loads(ok(podium("apply", RUN_A, "--json")).stdout)
    ok(podium("apply", RUN_A))  # up to date: nothing changed, nothing recorded
    squash = ok(podium("apply", RUN_A, "--into", "release", "--squash", "--json"))
    second = json.loads(squash.stdout)

    shown = json.loads(ok(podium("show", RUN_A, "--json")).stdout)
    integration = head(project, f"podium/run/{RUN_A}")
    assert shown["applied"] == [
        {"into": "main", "mode": "fast-forward", "from": before, "to": first["to"],
         "head": integration, "at": ANY},
        {"into": "release", "mode": "squash", "from": before, "to": second["to"],
         "head": integration, "at": ANY},
    ]  # fmt: skip
    assert second["to"] == head(project, "release") != first["to"]
    as_text = ok(podium("show", RUN_A)).stdout
    lines = [line for line in as_text.splitlines() if line.startswith("applied")]
    at = [date(entry["at"]) for entry in shown["applied"]]
    assert lines == [
        f"applied: {first['to'][:12]} into main (fast-forward) at {at[0]}",
        f"applied: {second['to'][:12]} into release (squash) at {at[1]}",
    ]
    # The run's JSON from the Client is the same.
    with Client.from_home(home, autostart=False) as client:
        assert client.run_info(RUN_A)["applied"] == shown["applied"]


def date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


# --- clean -------------------------------------------------------------------------------------


def test_clean_removes_exactly_the_runs_worktrees_and_branches(
    home: Path, project: Path, tmp_path: Path
) -> None:
    git(project, "branch", "feature")
    own_tree = tmp_path / "own-tree"
    git(project, "worktree", "add", "-q", "-b", "experiment", str(own_tree))
    make_run(home, project, RUN_A, WORK)
    make_run(home, project, RUN_B, {"other": {"other.txt": "other\n"}})
    ok(podium("apply", RUN_A))

    done = ok(podium("clean", RUN_A))

    assert f"run {RUN_A}: removed 3 worktree(s), 3 branch(es)" in done.stdout
    assert f"- branch podium/run/{RUN_A}" in done.stdout
    assert branches(project) == {
        "main",
        "feature",
        "experiment",
        f"podium/{RUN_B}-other",
        f"podium/run/{RUN_B}",
    }
    root = home.resolve() / "worktrees"
    assert worktrees(project) == {
        str(own_tree.resolve()),
        str(root / f"{RUN_B}-other"),
        str(root / f"{RUN_B}.integration"),
    }
    assert sorted(p.name for p in root.iterdir()) == [f"{RUN_B}-other", f"{RUN_B}.integration"]
    assert (project / "left.txt").exists()  # applied work stays on main

    assert json.loads(ok(podium("clean", RUN_A, "--json")).stdout)["removed_branches"] == []


def test_clean_copes_with_a_worktree_deleted_by_hand(home: Path, project: Path) -> None:
    make_run(home, project, RUN_A, WORK)
    ok(podium("apply", RUN_A))
    shutil.rmtree(home / "worktrees" / f"{RUN_A}-left")

    done = json.loads(ok(podium("clean", RUN_A, "--json")).stdout)

    assert len(done["removed_worktrees"]) == 3
    assert branches(project) == {"main"}
    assert worktrees(project) == set()


def test_clean_refuses_to_lose_work_without_force(home: Path, project: Path) -> None:
    make_run(home, project, RUN_A, WORK)
    tree = home / "worktrees" / f"{RUN_A}-left"
    (tree / "left.txt").write_text("changed after the commit\n")
    (tree / "scratch.txt").write_text("new\n")
    (project / ".env").write_text("SECRET=1\n")  # untracked in the project ...
    (tree / ".env").write_text("SECRET=1\n")  # ... and copied in: not work
    before = (branches(project), worktrees(project))

    refused = failed(podium("clean", RUN_A), 2, f"refusing to clean run {RUN_A}")
    message = refused.stderr
    assert "uncommitted changes in 2 file(s)" in message
    assert "left.txt, scratch.txt" in message
    assert f"1 commit(s) on podium/{RUN_A}-left in none of your branches" in message
    assert f"4 commit(s) on podium/run/{RUN_A}" in message
    assert ".env" not in message
    assert (branches(project), worktrees(project)) == before
    assert (tree / "scratch.txt").exists()

    forced = json.loads(ok(podium("clean", RUN_A, "--force", "--json")).stdout)
    assert len(forced["removed_branches"]) == 3
    assert branches(project) == {"main"}
    assert worktrees(project) == set()
    assert not tree.exists()


def test_clean_refuses_a_running_run_and_a_branch_checked_out_by_the_user(
    home: Path, project: Path
) -> None:
    make_run(home, project, RUN_A, {"t": {"t.txt": "t\n"}}, state=RunState.RUNNING)
    failed(podium("clean", RUN_A), 2, f"run {RUN_A} is still running")
    assert f"podium/{RUN_A}-t" in branches(project)
    make_run(home, project, RUN_B, WORK)
    git(project, "worktree", "remove", str(home / "worktrees" / f"{RUN_B}-left"))
    git(project, "checkout", "-q", f"podium/{RUN_B}-left")  # the user looks at a task's work
    failed(podium("clean", RUN_B, "--force"), 2, f"podium/{RUN_B}-left is checked out in")
    assert f"podium/run/{RUN_B}" in branches(project)
    failed(podium("clean"), 2, "name an agent or a run id")
    failed(podium("clean", RUN_A, "--finished"), 2, "not both")


def test_clean_finished_keeps_the_newest_runs_and_loses_no_work(home: Path, project: Path) -> None:
    for run_id, name in ((RUN_A, "a"), (RUN_B, "b"), (RUN_C, "c")):
        make_run(home, project, run_id, {name: {f"{name}.txt": f"{name}\n"}})
    ok(podium("apply", RUN_A))  # A's work is on main; B's is nowhere but its branches
    root = home.resolve() / "worktrees"

    done = json.loads(ok(podium("clean", "--finished", "--keep", "1", "--json")).stdout)

    assert done["kept_runs"] == [RUN_C]
    cleaned = {run["run_id"]: run for run in done["cleaned"]}
    assert set(cleaned) == {RUN_A, RUN_B}
    assert len(cleaned[RUN_A]["removed_branches"]) == 2
    assert cleaned[RUN_A]["kept"] == []
    assert cleaned[RUN_B]["removed_branches"] == []
    assert {k["name"] for k in cleaned[RUN_B]["kept"]} == {
        f"podium/{RUN_B}-b",
        f"podium/run/{RUN_B}",
    }
    # Every older worktree is gone; B's unmerged work stays on its branches.
    assert worktrees(project) == {str(root / f"{RUN_C}-c"), str(root / f"{RUN_C}.integration")}
    assert branches(project) == {
        "main",
        f"podium/{RUN_B}-b",
        f"podium/run/{RUN_B}",
        f"podium/{RUN_C}-c",
        f"podium/run/{RUN_C}",
    }
    assert git(project, "show", f"podium/{RUN_B}-b:b.txt") == "b\n"

    shown = ok(podium("clean", "--finished"))
    assert f"kept branch podium/{RUN_B}-b: 1 commit(s)" in shown.stdout
    assert worktrees(project) == set()
    ok(podium("clean", "--finished", "--force"))
    assert branches(project) == {"main"}
    assert RunDir(home / "runs", RUN_B).run_file.exists()  # the run's record stays


def test_clean_and_retention_remove_integration_worktrees_named_as_older_versions_did(
    home: Path, project: Path
) -> None:
    """Older versions checked a run's integration branch out at ``run-<run id>``
    (``run-run-...``): homes made then still hold such worktrees."""
    make_run(home, project, RUN_A, WORK, legacy=True)
    make_run(home, project, RUN_B, {"b": {"b.txt": "b\n"}}, legacy=True)
    make_run(home, project, RUN_C, {"c": {"c.txt": "c\n"}}, integrate=False)
    root = home.resolve() / "worktrees"
    # A directory git lost track of, left where an older version put C's worktree.
    (root / f"run-{RUN_C}").mkdir()
    ok(podium("apply", RUN_A))
    ok(podium("apply", RUN_B))  # nothing is lost by cleaning either run
    assert {str(root / f"run-{RUN_A}"), str(root / f"run-{RUN_B}")} <= worktrees(project)

    done = json.loads(ok(podium("clean", RUN_A, "--json")).stdout)

    assert str(root / f"run-{RUN_A}") in done["removed_worktrees"]
    assert f"podium/run/{RUN_A}" in done["removed_branches"]
    assert not (root / f"run-{RUN_A}").exists()
    assert str(root / f"run-{RUN_B}") in worktrees(project)

    retired = json.loads(ok(podium("clean", "--finished", "--keep", "0", "--json")).stdout)

    cleaned = {run["run_id"]: run for run in retired["cleaned"]}
    assert str(root / f"run-{RUN_B}") in cleaned[RUN_B]["removed_worktrees"]
    assert str(root / f"run-{RUN_C}") in cleaned[RUN_C]["removed_worktrees"]
    assert cleaned[RUN_B]["kept"] == []
    assert worktrees(project) == set()
    assert sorted(root.iterdir()) == []
    assert f"podium/run/{RUN_B}" not in branches(project)
