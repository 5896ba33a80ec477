"""``podium clean RUN`` and retention: remove what a finished run left in git.

A run leaves a worktree and a ``podium/<agent>`` branch per task, and its integration
branch ``podium/run/<run id>`` with its worktree. :func:`clean_run` removes all of
them, or nothing: without ``force`` it refuses when that would lose work (commits in
none of the user's branches, uncommitted changes) and names it.

Retention (:func:`clean_finished`, the team's ``[runs] keep_worktrees``) keeps the
newest ``keep`` finished runs that left anything, and of the older ones removes what
loses nothing: every clean worktree, every branch the user's branches hold. Unmerged
branches stay (a worktree is disk; a branch is the work) unless ``force``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import PodiumError, UsageError
from ..isolation import IsolationError
from ..isolation._worktree import _git, _merge_lock, _toplevel
from ._artifacts import RunDir
from ._run_git import Leftover, RunGit, find_run_git
from ._run_records import RunRecord

if TYPE_CHECKING:
    from ._engine import RunEngine

__all__ = ["clean_finished", "clean_run", "retain_after_finish"]

log = logging.getLogger("podium.runs")

_RUNS_SCANNED = 10_000


async def _leftovers(engine: RunEngine, record: RunRecord) -> RunGit:
    return await find_run_git(
        engine.runtime.config.home, record, RunDir(engine.runs_root, record.id)
    )


async def clean_run(engine: RunEngine, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """Remove every worktree and branch of run ``run_id``; refuse to lose work unless ``force``."""
    record = await engine.get(run_id)
    if not record.done:
        raise UsageError(
            f"run {run_id} is still {record.state.value}; clean it once it has finished "
            f"(podium cancel {run_id} to stop it)",
            run_id=run_id,
        )
    async with _merge_lock(await _toplevel(Path(record.cwd))):
        return await _clean_one(engine, record, force)


async def _clean_one(engine: RunEngine, record: RunRecord, force: bool) -> dict[str, Any]:
    run_id = record.id
    found = await _leftovers(engine, record)
    if found.blocked:
        raise IsolationError(
            f"cannot clean run {run_id}: " + "; ".join(found.blocked)
            + ". Check out another branch there first.",
            run_id=run_id,
        )  # fmt: skip
    losses = found.losses
    if losses and not force:
        raise IsolationError(
            f"refusing to clean run {run_id}, it would lose: "
            + "; ".join(item.loses or "" for item in losses)
            + f". Apply it first (podium apply {run_id}) or pass --force to discard the work.",
            run_id=run_id,
            losses=[item.to_dict() for item in losses],
        )
    removed = await _remove(found, found.worktrees, found.branches)
    return {"run_id": run_id, "project": str(found.top), **removed, "kept": []}


async def _remove(
    found: RunGit, worktrees: tuple[Leftover, ...], branches: tuple[Leftover, ...]
) -> dict[str, list[str]]:
    top = found.top
    gone_trees: list[str] = []
    for tree in worktrees:
        path = Path(tree.name)
        if tree.registered and path.exists():
            # --force twice: copied untracked files are there by design, and a locked
            # worktree is still ours; what it would lose was checked by the caller.
            await _git(
                "worktree", "remove", "--force", "--force", str(path),
                cwd=top, what="git worktree remove",
            )  # fmt: skip
        else:  # a directory git lost track of, or a worktree deleted by hand (pruned below)
            shutil.rmtree(path, ignore_errors=True)
        gone_trees.append(str(path))
    await _git("worktree", "prune", cwd=top, check=False)
    gone_branches: list[str] = []
    for branch in branches:
        await _git("branch", "-D", "--quiet", branch.name, cwd=top, what="git branch -D")
        gone_branches.append(branch.name)
    return {"removed_worktrees": gone_trees, "removed_branches": gone_branches}


async def clean_finished(
    engine: RunEngine, *, keep: int, force: bool = False, finishing: str | None = None
) -> dict[str, Any]:
    """Keep the newest ``keep`` finished runs' worktrees and branches; clean older ones.

    ``finishing``: a run ending now, counted as the newest finished one.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise UsageError(f"keep must be a whole number >= 0, got {keep!r}", keep=keep)
    kept_runs: list[str] = []
    cleaned: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    runs = await engine.list_runs(limit=_RUNS_SCANNED)
    runs = [r for r in runs if r.done or r.id == finishing]
    # Newest finished first (ids order runs by start, and a long run ends last).
    runs.sort(key=lambda r: (r.id == finishing, r.finished_at or r.updated_at), reverse=True)
    for record in runs:
        try:
            top = await _toplevel(Path(record.cwd))
        except PodiumError as exc:  # its project is gone or no repository any more
            skipped.append({"run_id": record.id, "reason": exc.message})
            continue
        async with _merge_lock(top):
            found = await _leftovers(engine, record)
            if found.empty:
                continue
            if len(kept_runs) < keep:
                kept_runs.append(record.id)
                continue
            if found.blocked:
                skipped.append({"run_id": record.id, "reason": "; ".join(found.blocked)})
                continue
            cleaned.append(await _retire(found, force))
    return {"keep": keep, "kept_runs": kept_runs, "cleaned": cleaned, "skipped": skipped}


async def _retire(found: RunGit, force: bool) -> dict[str, Any]:
    """Remove what loses nothing (all with ``force``); a kept worktree keeps its branch."""
    trees = tuple(t for t in found.worktrees if force or not t.loses)
    held = {t.branch for t in found.worktrees if t not in trees}
    branches = tuple(b for b in found.branches if (force or not b.loses) and b.name not in held)
    removed = await _remove(found, trees, branches)
    left = [t for t in found.worktrees if t not in trees]
    left += [b for b in found.branches if b not in branches]
    return {
        "run_id": found.run_id,
        "project": str(found.top),
        **removed,
        "kept": [
            {**item.to_dict(), "loses": item.loses or "its worktree is kept"} for item in left
        ],
    }


async def retain_after_finish(
    engine: RunEngine, keep: int | None, *, finishing: str | None = None
) -> None:
    """The team's ``[runs] keep_worktrees``, applied when a run finishes; never raises."""
    if keep is None:
        return
    try:
        result = await clean_finished(engine, keep=keep, finishing=finishing)
    except Exception as exc:  # retention must never fail the run that just finished
        log.warning("retention (keep %d) failed: %s", keep, exc)
        return
    for run in result["cleaned"]:
        log.info(
            "retention (keep %d): run %s: removed %d worktree(s), %d branch(es), kept %d",
            keep,
            run["run_id"],
            len(run["removed_worktrees"]),
            len(run["removed_branches"]),
            len(run["kept"]),
        )
