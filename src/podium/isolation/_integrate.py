"""A run's integration branch: the git side of merging its tasks' work one at a time.

Layout: the branch of run ``RUN`` is ``podium/run/RUN``, started at the run's base
commit; it is checked out in its own worktree, ``<home>/worktrees/RUN.integration``
(``run-RUN`` in homes of older versions). Every merge happens there, so the user's
working tree and current branch are never touched.

Guarantees:

* a merge either commits (no conflict, no conflict marker in what it adds) or
  leaves the branch exactly where it was (:func:`merge_branch` says why);
* :func:`undo_to` puts the branch back to an earlier commit (a failed check);
* :func:`open_integration` repairs what a crash mid-merge left (a merge in
  progress, a dirty checkout), so a resumed run can go on merging;
* podium's commits carry :data:`GIT_IDENTITY` and skip the project's hooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ._protocol import IsolationError
from ._worktree import GIT_IDENTITY, _branch_exists, _commit_of, _git, _toplevel

__all__ = [
    "MergeResult",
    "changed_files",
    "diff_stat",
    "head_of",
    "integration_branch",
    "integration_worktree",
    "is_ancestor",
    "legacy_integration_worktree",
    "merge_branch",
    "open_integration",
    "project_head",
    "undo_to",
]

# A line git writes around a conflict; a file holding one is never committed.
_MARKER = re.compile(r"^\+(<{7}|={7}|>{7})(?: |$)", re.MULTILINE)


def integration_branch(run_id: str) -> str:
    return f"podium/run/{run_id}"


def integration_worktree(home: Path, run_id: str) -> Path:
    """``<home>/worktrees/<run id>.integration``, beside the run's task worktrees.

    Not ``<run id>`` alone, nor ``integration-...``: agents' worktrees are
    ``<home>/worktrees/<agent>``, and an agent may be named like that (agent names
    are ``[a-z][a-z0-9_-]*``, see :func:`podium._names.check_name`), a run id
    included. No agent name has a ``.``, so no agent's worktree can be this one.
    """
    return home / "worktrees" / f"{run_id}.integration"


def legacy_integration_worktree(home: Path, run_id: str) -> Path:
    """Where older versions checked the integration branch out: ``run-<run id>``
    (``run-run-...``, run ids starting ``run-``). Found and cleaned up all the same."""
    return home / "worktrees" / f"run-{run_id}"


async def project_head(project: Path) -> str | None:
    """The commit the project's HEAD is at; None if the repository has no commit."""
    top = await _toplevel(project)
    return await _commit_of(top, "HEAD")


@dataclass(frozen=True, kw_only=True)
class MergeResult:
    ok: bool
    before: str
    """The integration head before the merge (and after it, when it did not commit)."""
    after: str
    conflicts: tuple[str, ...] = ()
    """Files git could not merge, or files the merge would commit with conflict markers."""
    error: str | None = None


async def head_of(cwd: Path) -> str:
    """The commit checked out at ``cwd``."""
    return (await _git("rev-parse", "HEAD", cwd=cwd)).out.strip()


async def _clean(wt: Path) -> None:
    """Leave the integration checkout exactly at its branch head, nothing in progress."""
    in_merge = await _git("rev-parse", "--verify", "--quiet", "MERGE_HEAD", cwd=wt, check=False)
    if in_merge.code == 0:
        await _git("merge", "--abort", cwd=wt, check=False)
    await _git("reset", "--quiet", "--hard", "HEAD", cwd=wt, what="git reset")
    await _git("clean", "-fdq", cwd=wt, what="git clean")


async def open_integration(project: Path, home: Path, run_id: str, base: str) -> Path:
    """The run's integration worktree, made (branch at ``base``) or repaired; its path."""
    top = await _toplevel(project)
    branch = integration_branch(run_id)
    path = integration_worktree(home, run_id)
    legacy = legacy_integration_worktree(home, run_id)
    if not path.exists() and legacy.is_dir() and (legacy / ".git").exists():
        path = legacy  # a run an older version started, resumed: its branch is checked out there
    if path.is_dir() and (path / ".git").exists():
        await _clean(path)
        return path
    await _git("worktree", "prune", cwd=top, check=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if await _branch_exists(top, branch):
        await _git(
            "worktree", "add", "--quiet", str(path), branch, cwd=top, what="git worktree add"
        )
    else:
        await _git(
            "worktree", "add", "--quiet", "-b", branch, str(path), base,
            cwd=top, what="git worktree add",
        )  # fmt: skip
    return path


async def is_ancestor(cwd: Path, commit: str, of: str) -> bool:
    found = await _git("merge-base", "--is-ancestor", commit, of, cwd=cwd, check=False)
    return found.code == 0


async def _marked_files(wt: Path, before: str) -> list[str]:
    """Files the staged merge would commit with conflict markers in lines it adds."""
    names = await _git("diff", "--cached", "--name-only", "-z", before, cwd=wt)
    marked = []
    for name in (n for n in names.out.split("\0") if n):
        patch = await _git("diff", "--cached", before, "--", name, cwd=wt)
        if _MARKER.search(patch.out):
            marked.append(name)
    return marked


async def merge_branch(wt: Path, branch: str, *, message: str) -> MergeResult:
    """Merge ``branch`` into the integration branch checked out at ``wt``.

    Nothing is committed unless the merge is clean and adds no conflict marker;
    otherwise the merge is aborted and the branch stays where it was.
    """
    before = await head_of(wt)
    merged = await _git(
        *GIT_IDENTITY, "merge", "--no-ff", "--no-commit", "--no-verify", branch,
        cwd=wt, check=False,
    )  # fmt: skip
    in_merge = await _git("rev-parse", "--verify", "--quiet", "MERGE_HEAD", cwd=wt, check=False)
    if merged.code != 0:
        unmerged = await _git("diff", "--name-only", "--diff-filter=U", "-z", cwd=wt)
        files = tuple(f for f in unmerged.out.split("\0") if f)
        await _clean(wt)
        await undo_to(wt, before)
        if files:
            return MergeResult(ok=False, before=before, after=before, conflicts=files)
        detail = (merged.err.strip() or merged.out.strip())[-600:]
        return MergeResult(ok=False, before=before, after=before, error=f"git merge: {detail}")
    if in_merge.code != 0:
        # "Already up to date": the branch's work is in the integration already.
        return MergeResult(ok=True, before=before, after=before)
    marked = await _marked_files(wt, before)
    if marked:
        await _clean(wt)
        await undo_to(wt, before)
        return MergeResult(ok=False, before=before, after=before, conflicts=tuple(marked))
    await _git(
        *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message,
        cwd=wt, what="git commit",
    )  # fmt: skip
    return MergeResult(ok=True, before=before, after=await head_of(wt))


async def undo_to(wt: Path, commit: str) -> None:
    """Put the integration branch (checked out at ``wt``) back to ``commit``."""
    if await head_of(wt) != commit:
        await _git("reset", "--quiet", "--hard", commit, cwd=wt, what="git reset")
    await _git("clean", "-fdq", cwd=wt, what="git clean")


async def changed_files(cwd: Path, since: str, until: str) -> list[str]:
    """Paths changed between two commits."""
    found = await _git("diff", "--name-only", "-z", since, until, cwd=cwd, check=False)
    return [f for f in found.out.split("\0") if f] if found.code == 0 else []


async def diff_stat(project: Path, base: str, head: str) -> str:
    """``git diff --stat base..head`` in the project's repository ('' when equal)."""
    try:
        top = await _toplevel(project)
    except IsolationError:
        return ""
    found = await _git("diff", "--stat", f"{base}..{head}", cwd=top, check=False)
    return found.out.rstrip() if found.code == 0 else ""
