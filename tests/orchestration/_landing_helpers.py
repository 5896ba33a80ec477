"""A finished run's git leftovers, made with git directly: what apply and clean work on.

:func:`make_run` lays out exactly what an orchestrated run with ``worktree`` tasks
leaves: per task a worktree ``<home>/worktrees/<run>-<task>`` on branch
``podium/<run>-<task>`` with the task's commit (podium's identity), the integration
branch ``podium/run/<run>`` (from the run's base, every task merged) checked out at
``<home>/worktrees/<run>.integration`` (``legacy``: at ``run-<run>``, where older
versions put it), and the run's ``run.json``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from podium.isolation._integrate import integration_worktree, legacy_integration_worktree
from podium.orchestration import RunDir, RunRecord, RunState, TaskRecord, TaskState

__all__ = ["PODIUM", "branches", "git", "make_repo", "make_run", "worktrees"]

PODIUM = ("-c", "user.name=podium", "-c", "user.email=podium@localhost")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def make_repo(path: Path) -> Path:
    """A repository on ``main`` with one commit, owned by a user with their own identity."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada User")
    git(path, "config", "user.email", "ada@example.org")
    (path / "README.md").write_text("# project\n")
    git(path, "add", "README.md")
    git(path, "commit", "-qm", "start")
    return path


def make_run(
    home: Path,
    project: Path,
    run_id: str,
    work: dict[str, dict[str, str]],
    *,
    integrate: bool = True,
    legacy: bool = False,
    state: RunState = RunState.COMPLETE,
) -> RunRecord:
    """Run ``run_id``: one task per entry of ``work`` (task id -> files it wrote)."""
    base = git(project, "rev-parse", "HEAD").strip()
    tasks = []
    for task_id, files in work.items():
        agent = f"{run_id}-{task_id}"
        tree = home / "worktrees" / agent
        tree.parent.mkdir(parents=True, exist_ok=True)
        git(project, "worktree", "add", "-q", "-b", f"podium/{agent}", str(tree), base)
        for name, text in files.items():
            (tree / name).write_text(text)
        git(tree, "add", "--all")
        git(tree, *PODIUM, "commit", "-qm", f"podium: {run_id} task {task_id} (alice)")
        tasks.append(
            TaskRecord(
                task_id=task_id,
                worker="alice",
                description=f"Write {', '.join(files)}.",
                state=TaskState.COMPLETE,
                agent=agent,
            )
        )
    if integrate:
        place = legacy_integration_worktree if legacy else integration_worktree
        tree = place(home, run_id)
        git(project, "worktree", "add", "-q", "-b", f"podium/run/{run_id}", str(tree), base)
        for task in tasks:
            git(
                tree, *PODIUM, "merge", "-q", "--no-ff", "-m", f"podium: merge {task.task_id}",
                f"podium/{task.agent}",
            )  # fmt: skip
    now = time.time()
    record = RunRecord(
        id=run_id,
        request="Write the notes.",
        team_path=str(project / "podium.toml"),
        team_name="crew",
        cwd=str(project),
        state=state,
        created_at=now,
        updated_at=now,
        finished_at=None if state is RunState.RUNNING else now,
        tasks=tuple(tasks),
    )
    run_dir = RunDir(home / "runs", run_id)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    run_dir.write_run(record.to_dict())
    return record


def branches(repo: Path) -> set[str]:
    return set(git(repo, "branch", "--format=%(refname:short)").split())


def worktrees(repo: Path) -> set[str]:
    """Every worktree but the main one, as git lists them."""
    listed = git(repo, "worktree", "list", "--porcelain")
    paths = [
        line[len("worktree ") :] for line in listed.splitlines() if line.startswith("worktree ")
    ]
    return set(paths[1:])
