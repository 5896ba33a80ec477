"""What an orchestrated run left in git: its branches, its worktrees, the work on them.

Every agent of a run is named ``<run id>-...`` (``_N`` for a reassigned attempt), works
on branch ``podium/<agent>`` in ``<home>/worktrees/<agent>``; the run's integration
branch ``podium/run/<run id>`` holds every completed task's merged work, checked out at
``<home>/worktrees/<run id>.integration`` (``run-<run id>`` in homes of older
versions). They are found in git and on disk by those names, not only from the run
record, so attempts the record no longer names are found too.

"Unmerged" work is what would be lost by deleting it: commits no branch of the
user's (local branches outside ``podium/``, remote branches) holds, and uncommitted
changes in a worktree. A run squash-applied into a branch that still holds the squash
commit counts as merged: the squash carries the integration branch's changes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..isolation._integrate import integration_worktree, legacy_integration_worktree
from ..isolation._worktree import BRANCH_PREFIX, _git, _toplevel
from ._artifacts import RunDir
from ._run_records import RunRecord

__all__ = [
    "APPLIED_FILE",
    "INTEGRATION_PREFIX",
    "Leftover",
    "RunGit",
    "find_run_git",
    "integration_branch",
    "integration_worktree",
    "read_applied",
    "record_applied",
]

INTEGRATION_PREFIX = f"{BRANCH_PREFIX}run/"
APPLIED_FILE = "applied.json"
# Not a user's branch: podium's own (its unmerged commits are what clean protects).
_USER_REFS = ("--exclude=podium/*", "--branches", "--remotes")
_SHOWN = 10


def integration_branch(run_id: str) -> str:
    return f"{INTEGRATION_PREFIX}{run_id}"


def _is_run_name(name: str, run_id: str) -> bool:
    """An agent or worktree name of this run: ``<id>-task``, ``<id>_lead``, the integration
    worktree's ``<id>.integration``, or ``run-<id>`` as older versions named it."""
    if name.startswith((f"{run_id}-", f"{run_id}_")):
        return True
    anywhere = Path()  # only the directories' names are compared
    return name in (
        integration_worktree(anywhere, run_id).name,
        legacy_integration_worktree(anywhere, run_id).name,
    )


@dataclass(frozen=True, kw_only=True)
class Leftover:
    """One branch or worktree of a run, and what deleting it would lose."""

    kind: str  # "branch" or "worktree"
    name: str
    """The branch name, or the worktree's path."""
    loses: str | None = None
    """What deleting it would lose (None: nothing)."""
    branch: str | None = None
    """A worktree's branch (None: detached, or not a registered worktree any more)."""
    registered: bool = True
    """A worktree git knows (else a directory left behind)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "loses": self.loses}


@dataclass(frozen=True, kw_only=True)
class RunGit:
    run_id: str
    top: Path
    """The top of the run's project repository."""
    integration: str
    integration_exists: bool
    branches: tuple[Leftover, ...]
    worktrees: tuple[Leftover, ...]
    blocked: tuple[str, ...] = ()
    """Run branches checked out where podium does not remove worktrees (the user's own)."""

    @property
    def empty(self) -> bool:
        return not self.branches and not self.worktrees

    @property
    def losses(self) -> list[Leftover]:
        return [item for item in (*self.worktrees, *self.branches) if item.loses]


async def _run_branches(top: Path, run_id: str) -> list[str]:
    listed = await _git(
        "for-each-ref", "--format=%(refname)", f"refs/heads/{BRANCH_PREFIX}", cwd=top
    )
    found: list[str] = []
    for ref in listed.out.split():
        branch = ref.removeprefix("refs/heads/")
        name = branch.removeprefix(BRANCH_PREFIX)
        if branch == integration_branch(run_id) or _is_run_name(name, run_id):
            found.append(branch)
    return sorted(found)


async def _registered(top: Path) -> list[tuple[Path, str | None]]:
    """Every worktree of the repository: (path, branch or None when detached)."""
    listed = await _git("worktree", "list", "--porcelain", cwd=top)
    out: list[tuple[Path, str | None]] = []
    for line in listed.out.splitlines():
        if line.startswith("worktree "):
            out.append((Path(line[len("worktree ") :]), None))
        elif line.startswith("branch refs/heads/") and out:
            out[-1] = (out[-1][0], line[len("branch refs/heads/") :])
    return out


async def _uncommitted(worktree: Path, top: Path) -> list[str]:
    """Changed or new files in a worktree; an untracked file identical to the project's
    file of the same path is a copy podium made (``copy_files``), not work."""
    if not worktree.is_dir():
        return []
    found = await _git(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=worktree, check=False
    )
    if found.code != 0:  # unreadable: count it as work rather than delete it unseen
        return [f"(git status failed: {found.err.strip()[:200]})"]
    files: list[str] = []
    skip_next = False
    for entry in (e for e in found.out.split("\0") if e):
        if skip_next:  # the source path of a rename
            skip_next = False
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            skip_next = True
        if status == "??" and _same_file(worktree / path, top / path):
            continue
        files.append(path)
    return files


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


async def _squashed_heads(top: Path, run_dir: RunDir) -> list[str]:
    """Integration heads squash-applied into a branch that still holds the squash."""
    heads: list[str] = []
    for entry in read_applied(run_dir):
        if entry.get("mode") != "squash" or not entry.get("to") or not entry.get("head"):
            continue
        holders = await _git(
            "for-each-ref", "--format=%(refname)", "--contains", str(entry["to"]),
            "refs/heads/", cwd=top, check=False,
        )  # fmt: skip
        if any(not r.startswith(f"refs/heads/{BRANCH_PREFIX}") for r in holders.out.split()):
            heads.append(str(entry["head"]))
    return heads


async def _unmerged(top: Path, branch: str, landed: list[str]) -> int:
    found = await _git(
        "rev-list", "--count", branch, "--not", *_USER_REFS, *landed, cwd=top, check=False
    )
    return int(found.out.strip() or 0) if found.code == 0 else 0


async def find_run_git(home: Path, record: RunRecord, run_dir: RunDir) -> RunGit:
    """The run's branches and worktrees in its project, each with what deleting it loses."""
    top = await _toplevel(Path(record.cwd))
    run_id = record.id
    landed = await _squashed_heads(top, run_dir)
    branches: list[Leftover] = []
    for branch in await _run_branches(top, run_id):
        count = await _unmerged(top, branch, landed)
        loses = f"{count} commit(s) on {branch} in none of your branches" if count else None
        branches.append(Leftover(kind="branch", name=branch, loses=loses))
    names = {b.name for b in branches}
    root = (home / "worktrees").resolve()  # git lists worktrees by their real paths
    # path -> (its branch, registered with git)
    paths: dict[Path, tuple[str | None, bool]] = {}
    blocked: list[str] = []
    for path, checked_out in await _registered(top):
        if path.parent == root and _is_run_name(path.name, run_id):
            paths[path] = (checked_out, True)
        elif checked_out in names:
            blocked.append(f"{checked_out} is checked out in {path}")
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and _is_run_name(entry.name, run_id) and entry not in paths:
                paths[entry] = (None, False)
    worktrees: list[Leftover] = []
    for path, (tree_branch, registered) in paths.items():
        changed = await _uncommitted(path, top) if registered else []
        loses = None
        if changed:
            shown = ", ".join(changed[:_SHOWN]) + (" ..." if len(changed) > _SHOWN else "")
            loses = f"uncommitted changes in {len(changed)} file(s) in {path}: {shown}"
        worktrees.append(
            Leftover(
                kind="worktree",
                name=str(path),
                loses=loses,
                branch=tree_branch,
                registered=registered,
            )
        )
    integration = integration_branch(run_id)
    return RunGit(
        run_id=run_id,
        top=top,
        integration=integration,
        integration_exists=integration in names,
        branches=tuple(branches),
        worktrees=tuple(worktrees),
        blocked=tuple(blocked),
    )


def read_applied(run_dir: RunDir) -> list[dict[str, Any]]:
    """What ``podium apply`` landed from the run, oldest first."""
    path = run_dir.path / APPLIED_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def record_applied(run_dir: RunDir, entry: dict[str, Any]) -> None:
    """Add one apply to ``applied.json`` (written whole, then renamed into place)."""
    entries = [*read_applied(run_dir), {**entry, "at": time.time()}]
    path = run_dir.path / APPLIED_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
