"""The integration branch's git side, with real git: merges commit or change nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from podium.isolation._integrate import (
    diff_stat,
    head_of,
    integration_branch,
    integration_worktree,
    legacy_integration_worktree,
    merge_branch,
    open_integration,
    undo_to,
)

IDENT = ["-c", "user.name=dev", "-c", "user.email=dev@localhost", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *IDENT, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    (path / "app.py").write_text("X = 0\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "base")
    return path


def branch_with(repo: Path, name: str, base: str, files: dict[str, str]) -> None:
    git(repo, "checkout", "-q", "-b", name, base)
    for rel, text in files.items():
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", name)
    git(repo, "checkout", "-q", "main")


async def test_merges_land_on_the_integration_branch_and_never_touch_the_checkout(
    repo: Path, tmp_path: Path
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    branch_with(repo, "podium/t1", base, {"one.py": "1\n"})
    wt = await open_integration(repo, tmp_path / "home", "r1", base)
    assert wt == integration_worktree(tmp_path / "home", "r1")
    assert wt == tmp_path / "home" / "worktrees" / "r1.integration"
    merged = await merge_branch(wt, "podium/t1", message="merge t1")
    assert merged.ok
    assert merged.before == base
    assert git(repo, "rev-parse", integration_branch("r1")) == merged.after
    assert git(repo, "log", "-1", "--format=%an", merged.after) == "podium"
    assert git(repo, "rev-parse", "HEAD") == base
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert "one.py" in await diff_stat(repo, base, merged.after)
    # Merging it again changes nothing.
    again = await merge_branch(wt, "podium/t1", message="merge t1")
    assert again.ok
    assert again.after == merged.after


async def test_a_conflict_leaves_the_branch_where_it_was(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    branch_with(repo, "podium/a", base, {"app.py": "X = 1\n"})
    branch_with(repo, "podium/b", base, {"app.py": "X = 2\n"})
    wt = await open_integration(repo, tmp_path / "home", "r2", base)
    first = await merge_branch(wt, "podium/a", message="merge a")
    assert first.ok
    second = await merge_branch(wt, "podium/b", message="merge b")
    assert not second.ok
    assert second.conflicts == ("app.py",)
    assert await head_of(wt) == first.after
    assert (wt / "app.py").read_text() == "X = 1\n"
    assert git(wt, "status", "--porcelain") == ""


async def test_a_merge_adding_conflict_markers_is_refused(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    marked = "<<<<<<< HEAD\nX = 1\n=======\nX = 2\n>>>>>>> other\n"
    branch_with(repo, "podium/m", base, {"app.py": marked, "ok.py": "fine\n"})
    wt = await open_integration(repo, tmp_path / "home", "r3", base)
    refused = await merge_branch(wt, "podium/m", message="merge m")
    assert not refused.ok
    assert refused.conflicts == ("app.py",)
    assert await head_of(wt) == base
    assert not (wt / "ok.py").exists()


async def test_reopening_repairs_a_merge_left_in_progress(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    branch_with(repo, "podium/a", base, {"app.py": "X = 1\n"})
    home = tmp_path / "home"
    wt = await open_integration(repo, home, "r4", base)
    # What a daemon killed mid-merge leaves: MERGE_HEAD and staged work, nothing committed.
    subprocess.run(
        ["git", "-C", str(wt), *IDENT, "merge", "--no-ff", "--no-commit", "podium/a"],
        capture_output=True,
        check=True,
    )
    (wt / "stray.txt").write_text("left behind\n")
    again = await open_integration(repo, home, "r4", base)
    assert again == wt
    assert git(wt, "status", "--porcelain") == ""
    merged = await merge_branch(wt, "podium/a", message="merge a")
    assert merged.ok
    await undo_to(wt, base)
    assert await head_of(wt) == base


async def test_a_removed_worktree_is_made_again_on_the_existing_branch(
    repo: Path, tmp_path: Path
) -> None:
    base = git(repo, "rev-parse", "HEAD")
    branch_with(repo, "podium/a", base, {"one.py": "1\n"})
    home = tmp_path / "home"
    wt = await open_integration(repo, home, "r5", base)
    merged = await merge_branch(wt, "podium/a", message="merge a")
    git(repo, "worktree", "remove", "--force", str(wt))
    again = await open_integration(repo, home, "r5", base)
    assert await head_of(again) == merged.after


async def test_a_run_begun_by_an_older_version_goes_on_in_its_old_worktree(
    repo: Path, tmp_path: Path
) -> None:
    """Older versions checked the branch out at ``run-<run id>``; a resumed run keeps it."""
    base = git(repo, "rev-parse", "HEAD")
    branch_with(repo, "podium/a", base, {"one.py": "1\n"})
    home = tmp_path / "home"
    old = legacy_integration_worktree(home, "run-r6")
    assert old == home / "worktrees" / "run-run-r6"
    old.parent.mkdir(parents=True)
    git(repo, "worktree", "add", "-q", "-b", integration_branch("run-r6"), str(old), base)
    (old / "stray.txt").write_text("left behind\n")

    wt = await open_integration(repo, home, "run-r6", base)

    assert wt == old
    assert git(wt, "status", "--porcelain") == ""
    assert not integration_worktree(home, "run-r6").exists()
    merged = await merge_branch(wt, "podium/a", message="merge a")
    assert merged.ok
    assert git(repo, "rev-parse", integration_branch("run-r6")) == merged.after
