"""``podium apply RUN``: land a run's integration branch on the user's branch.

The integration branch ``podium/run/<run id>`` holds every completed task's merged
work. Applying it fast-forwards the user's branch when it can, else makes one merge
commit, or with ``squash`` one ordinary commit. Commits made here are the user's:
their git identity (no ``-c user.*``), their hooks (unless ``verify=False``: the merge
is committed by ``git commit``, so ``pre-commit`` and ``commit-msg`` run), and a
trailer naming the run and its tasks.

A refused apply changes nothing: a dirty tree, a detached HEAD, an unknown run or
branch are refused before git touches anything; a conflict or a rejecting hook is
undone (``git reset --hard`` to where the branch was, on a tree that was clean) and
reported with the files. ``into`` a branch not checked out is applied in a temporary
worktree, so the user's checkout is never switched.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import UsageError
from ..isolation import IsolationError, MergeConflict
from ..isolation._worktree import (
    _ERROR_CHARS,
    BRANCH_PREFIX,
    _branch_exists,
    _check_ref,
    _git,
    _merge_lock,
    _registered_worktree,
    _Result,
    _toplevel,
)
from ._artifacts import RunDir
from ._run_git import integration_branch, record_applied
from ._run_records import RunRecord

if TYPE_CHECKING:
    from ._engine import RunEngine

__all__ = ["apply_message", "apply_run"]

_SUBJECT_CHARS = 60


async def apply_run(
    engine: RunEngine,
    run_id: str,
    *,
    into: str | None = None,
    squash: bool = False,
    verify: bool = True,
) -> dict[str, Any]:
    """Land run ``run_id``'s integration branch on ``into`` (default: the checked-out branch)."""
    record = await engine.get(run_id)
    if not record.done:
        raise UsageError(
            f"run {run_id} is still {record.state.value}; apply it once it has finished "
            f"(podium wait {run_id})",
            run_id=run_id,
        )
    top = await _toplevel(Path(record.cwd))
    branch = integration_branch(run_id)
    if not await _branch_exists(top, branch):
        raise IsolationError(
            f"run {run_id} has no integration branch {branch} in {top}: its tasks did not "
            "work in worktrees, or it was cleaned (podium clean)",
            run_id=run_id,
            branch=branch,
        )
    if into is not None:
        _check_ref(into, "into")
    async with _merge_lock(top):
        current = await _git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=top, check=False)
        here = current.out.strip() if current.code == 0 else None
        target = into or here
        if target is None:
            raise IsolationError(
                f"the project {top} is on a detached HEAD; check out a branch or name one "
                "with --into",
                run_id=run_id,
            )
        if not await _branch_exists(top, target):
            raise IsolationError(
                f"no local branch {target!r} in {top} to apply run {run_id} to",
                run_id=run_id,
                into=target,
            )
        if target.startswith(BRANCH_PREFIX):
            raise IsolationError(
                f"{target} is one of podium's own branches; apply to one of yours",
                run_id=run_id,
                into=target,
            )
        place = await _registered_worktree(top, target)
        if place is not None:
            await _refuse_dirty(place, run_id)
            return await _apply_in(
                engine, record, place, branch, target, squash=squash, verify=verify
            )
        # Not checked out anywhere: a throwaway worktree, so the user's checkout stays put.
        scratch = Path(tempfile.mkdtemp(prefix="podium-apply-"))
        try:
            await _git(
                "worktree", "add", "--quiet", str(scratch / "tree"), target,
                cwd=top, what="git worktree add",
            )  # fmt: skip
            return await _apply_in(
                engine, record, scratch / "tree", branch, target, squash=squash, verify=verify
            )
        finally:
            with contextlib.suppress(IsolationError):
                await _git("worktree", "remove", "--force", str(scratch / "tree"), cwd=top)
            shutil.rmtree(scratch, ignore_errors=True)
            await _git("worktree", "prune", cwd=top, check=False)


async def _refuse_dirty(place: Path, run_id: str) -> None:
    status = await _git("status", "--porcelain=v1", "-z", "--untracked-files=no", cwd=place)
    files = [entry[3:] for entry in status.out.split("\0") if len(entry) > 3]
    if files:
        shown = ", ".join(files[:10]) + (" ..." if len(files) > 10 else "")
        raise IsolationError(
            f"{place} has uncommitted changes in {len(files)} file(s): {shown}; commit or "
            f"stash them before applying run {run_id}",
            run_id=run_id,
            files=files,
        )


async def _commit(place: Path, ref: str) -> str:
    return (await _git("rev-parse", "--verify", f"{ref}^{{commit}}", cwd=place)).out.strip()


async def _is_ancestor(place: Path, older: str, newer: str) -> bool:
    found = await _git("merge-base", "--is-ancestor", older, newer, cwd=place, check=False)
    return found.code == 0


async def _landed_tasks(record: RunRecord, place: Path, head: str, old: str) -> list[str]:
    """The run's tasks whose work reaches the target with this apply."""
    # The run's own account when it keeps one (``integration.merged``), a mapping or a record.
    integration = getattr(record, "integration", None)
    merged = (
        integration.get("merged")
        if isinstance(integration, dict)
        else getattr(integration, "merged", None)
    )
    if isinstance(merged, list | tuple) and merged:
        return [str(t) for t in merged]
    tasks: list[str] = []
    for task in record.tasks:
        if task.agent is None:
            continue
        branch = f"{BRANCH_PREFIX}{task.agent}"
        if not await _branch_exists(place, branch):
            continue
        if not await _is_ancestor(place, branch, head):
            continue
        new = await _git("rev-list", "--count", f"{old}..{branch}", cwd=place, check=False)
        if new.code == 0 and int(new.out.strip() or 0) > 0:
            tasks.append(task.task_id)
    return tasks


def apply_message(record: RunRecord, tasks: list[str], *, squash: bool) -> str:
    """The commit message: what the run did, then the ``Podium-Run`` / ``Podium-Tasks`` trailers."""
    request = " ".join(record.request.split())
    if len(request) > _SUBJECT_CHARS:
        request = request[: _SUBJECT_CHARS - 3].rstrip() + "..."
    subject = f"podium: {'squash of' if squash else 'merge'} run {record.id}: {request}"
    lines = [subject, ""]
    for task_id in tasks:
        task = next((t for t in record.tasks if t.task_id == task_id), None)
        if task is not None:
            first = " ".join(task.description.split())[:100]
            lines.append(f"- {task_id} ({task.worker}): {first}")
    if tasks:
        lines.append("")
    lines.append(f"Podium-Run: {record.id}")
    lines.append(f"Podium-Tasks: {', '.join(tasks) if tasks else '(none)'}")
    return "\n".join(lines) + "\n"


async def _apply_in(
    engine: RunEngine,
    record: RunRecord,
    place: Path,
    branch: str,
    target: str,
    *,
    squash: bool,
    verify: bool,
) -> dict[str, Any]:
    old = await _commit(place, "HEAD")
    head = await _commit(place, branch)
    tasks = await _landed_tasks(record, place, head, old)
    mode = "squash" if squash else "merge"
    if await _is_ancestor(place, head, old):
        mode = "up-to-date"  # everything on the branch is on the target already
    elif not squash and await _is_ancestor(place, old, head):
        await _git("merge", "--ff-only", "--quiet", branch, cwd=place, what="git merge --ff-only")
        mode = "fast-forward"
    else:
        mode = await _merge_and_commit(place, record, branch, target, old, tasks, squash, verify)
    new = await _commit(place, "HEAD")
    log = await _git("log", "--format=%H%x00%s", f"{old}..{new}", cwd=place)
    commits = [
        {"commit": sha, "subject": subject}
        for sha, _, subject in (line.partition("\0") for line in log.out.splitlines())
    ]
    changed = await _git("diff", "--name-only", "-z", old, new, cwd=place)
    result: dict[str, Any] = {
        "run_id": record.id,
        "branch": branch,
        "into": target,
        "mode": mode,
        "from": old,
        "to": new,
        "head": head,
        "commits": commits,
        "files": [f for f in changed.out.split("\0") if f],
        "tasks": tasks if new != old else [],
        "verified": verify,
    }
    if new != old:
        run_dir = RunDir(engine.runs_root, record.id)
        record_applied(run_dir, {k: result[k] for k in ("into", "mode", "from", "to", "head")})
    return result


async def _merge_and_commit(
    place: Path,
    record: RunRecord,
    branch: str,
    target: str,
    old: str,
    tasks: list[str],
    squash: bool,
    verify: bool,
) -> str:
    """Merge without committing, then commit as the user (their hooks run); undo on failure."""
    how = ["--squash"] if squash else ["--no-ff"]
    merged = await _git("merge", "--no-commit", "--quiet", *how, branch, cwd=place, check=False)
    if merged.code != 0:
        conflicts = await _git("diff", "--name-only", "--diff-filter=U", "-z", cwd=place)
        files = [f for f in conflicts.out.split("\0") if f]
        await _undo(place, old)
        if files:
            raise MergeConflict(
                f"applying run {record.id} ({branch}) to {target} conflicts in {len(files)} "
                f"file(s): {', '.join(files)}; nothing was changed. Resolve by hand "
                f"(git merge {branch}) or apply to another branch (--into).",
                run_id=record.id,
                branch=branch,
                into=target,
                files=files,
            )
        raise IsolationError(
            f"git merge of {branch} into {target} failed: {_detail(merged)}; nothing was changed",
            run_id=record.id,
            branch=branch,
            into=target,
        )
    staged = await _git("diff", "--cached", "--quiet", cwd=place, check=False)
    if squash and staged.code == 0:
        await _undo(place, old)
        return "up-to-date"  # the changes are on the target already (applied before)
    message = apply_message(record, tasks, squash=squash)
    args = ["commit", "--quiet", "-m", message]
    if not verify:
        args.insert(1, "--no-verify")
    committed = await _git(*args, cwd=place, check=False)
    if committed.code != 0:
        await _undo(place, old)
        raise IsolationError(
            f"committing run {record.id} on {target} failed (a hook refused it, or git has "
            f"no identity for you): {_detail(committed)}; nothing was changed",
            run_id=record.id,
            into=target,
        )
    return "squash" if squash else "merge"


async def _undo(place: Path, old: str) -> None:
    # The tree was clean before (checked), so this restores exactly what was there.
    await _git("reset", "--hard", "--quiet", old, cwd=place, what="git reset")


def _detail(result: _Result) -> str:
    return (result.err.strip() or result.out.strip())[-_ERROR_CHARS:]
