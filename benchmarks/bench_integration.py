"""What integrating a run's tasks costs: the merge queue's git work per task.

    python benchmarks/bench_integration.py [--tasks 20] [--files 200] [--repeat 3]

A real git repository of ``--files`` committed files; ``--tasks`` task branches, each
from the base with one commit changing a file of its own (what a worktree task of
a run leaves). Then, as the merge queue does for each completed task in turn: the
"already merged?" test (``git merge-base --is-ancestor``) and the merge into the
run's integration branch in its own worktree (``git merge --no-ff --no-commit``,
the conflict-marker scan of what it adds, ``git commit``). No integration check is
run: this is the overhead every worktree task pays. The worktree is made once per
run (timed apart). Prints a markdown table of the medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from podium.isolation._integrate import is_ancestor, merge_branch, open_integration

IDENT = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *IDENT, *args], check=True, capture_output=True)
    return done.stdout.decode().strip()


def make_repo(root: Path, files: int, tasks: int) -> tuple[Path, str]:
    """The repository (on main, at the base) and its base commit; one branch per task."""
    repo = root / "repo"
    for i in range(files):
        path = repo / f"pkg{i % 10}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'"""Module {i}."""\n\nVALUE = {i}\n' + "# filler\n" * 40)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD")
    for t in range(tasks):
        git(repo, "checkout", "-q", "-b", f"podium/run-bench-t{t}", base)
        target = repo / f"pkg{t % 10}" / f"module_{t}.py"
        target.write_text(target.read_text() + f"TASK = {t}\n")
        git(repo, "commit", "-qam", f"task {t}")
    git(repo, "checkout", "-q", "main")
    return repo, base


async def one_run(root: Path, files: int, tasks: int) -> tuple[float, list[float]]:
    repo, base = make_repo(root, files, tasks)
    started = time.perf_counter()
    wt = await open_integration(repo, root / "home", "bench", base)
    opened = time.perf_counter() - started
    per_task: list[float] = []
    for t in range(tasks):
        branch = f"podium/run-bench-t{t}"
        started = time.perf_counter()
        if not await is_ancestor(wt, branch, "HEAD"):
            merged = await merge_branch(wt, branch, message=f"merge task {t}")
            assert merged.ok, merged
        per_task.append(time.perf_counter() - started)
    assert len(git(repo, "rev-list", "--merges", f"{base}..podium/run/bench").split()) == tasks
    return opened, per_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    opens: list[float] = []
    merges: list[float] = []
    totals: list[float] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="podium-bench-integration-") as tmp:
            opened, per_task = asyncio.run(one_run(Path(tmp), args.files, args.tasks))
        opens.append(opened)
        merges.extend(per_task)
        totals.append(opened + sum(per_task))
    ms = 1000.0
    print(f"Integration of a {args.tasks}-task run ({args.files} files), no check,")
    print(f"median of {args.repeat} runs:\n")
    print("| what | median ms | max ms |")
    print("|---|---:|---:|")
    print(f"| integration worktree, once per run | {statistics.median(opens) * ms:.1f} "
          f"| {max(opens) * ms:.1f} |")  # fmt: skip
    print(f"| merge per task (queue, no check) | {statistics.median(merges) * ms:.1f} "
          f"| {max(merges) * ms:.1f} |")  # fmt: skip
    print(f"| whole run ({args.tasks} merges) | {statistics.median(totals) * ms:.1f} "
          f"| {max(totals) * ms:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
