"""``worktree``: a git worktree on its own branch per agent.

Layout: the worktree of agent ``NAME`` is ``<home>/worktrees/NAME`` on branch
``podium/NAME``, started from the spec's ``base`` (default: the project's HEAD).
Untracked files named in ``copy_files`` (``.env`` and the like) are copied in
from the project and never committed.

Per agent, and so per task in a run: a standalone agent keeps its worktree for its
whole life; a run spawns a fresh agent per task, so each task has its own worktree
and branch ``podium/<run>-<task>``, committed when the task ends.

Guarantees:

* every git call is an argv list (``git -C <dir> ...``), never a shell;
* podium's commits carry a fixed identity (``podium <podium@localhost>``), so they
  work on a machine with no git configuration, and skip the project's hooks;
* :meth:`WorktreeIsolator.finish_task` commits everything the agent changed;
* :func:`merge_workspace` merges or, on a conflict, aborts and leaves the project
  as it was, raising :class:`MergeConflict` with the conflicting files;
* :meth:`WorktreeIsolator.release` refuses to delete commits not merged into the
  project's HEAD, or uncommitted changes, unless forced.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .._paths import inside
from ._protocol import (
    IsolationError,
    IsolationMode,
    IsolationSpec,
    MergeConflict,
    Workspace,
    register_isolator,
)

__all__ = [
    "BRANCH_PREFIX",
    "GIT_IDENTITY",
    "WorktreeIsolator",
    "diff_workspace",
    "merge_workspace",
    "worktree_path",
]

BRANCH_PREFIX = "podium/"
# -c options every committing git call gets: no identity or signing setup needed.
GIT_IDENTITY: tuple[str, ...] = (
    "-c",
    "user.name=podium",
    "-c",
    "user.email=podium@localhost",
    "-c",
    "commit.gpgsign=false",
)
_ERROR_CHARS = 600  # of git's stderr quoted in an error


@dataclass(frozen=True)
class _Result:
    code: int
    out: str
    err: str


async def _git(*args: str, cwd: Path, check: bool = True, what: str = "") -> _Result:
    """Run ``git -C cwd args...`` (no shell, no prompt); raise IsolationError on failure."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(cwd),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError:
        raise IsolationError("git is not installed (worktree isolation needs it)") from None
    out, err = await proc.communicate()
    result = _Result(
        proc.returncode or 0,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )
    if check and result.code != 0:
        detail = (result.err.strip() or result.out.strip())[-_ERROR_CHARS:]
        action = what or f"git {args[0]}"
        raise IsolationError(f"{action} failed in {cwd}: {detail}", path=str(cwd))
    return result


def worktree_path(home: Path, agent: str) -> Path:
    """Where agent ``agent``'s worktree lives: ``<home>/worktrees/<agent>``."""
    return home / "worktrees" / agent


def _worktree_for(state_dir: Path, agent: str) -> Path:
    """The worktree path from the agent's state dir ``<home>/agents/<agent>/<session>``."""
    if state_dir.parent.parent.name == "agents":
        return worktree_path(state_dir.parent.parent.parent, agent)
    # A state dir laid out otherwise (a direct caller of the isolator): beside it.
    return state_dir / "worktree"


async def _toplevel(project: Path) -> Path:
    if not project.is_dir():
        raise IsolationError(f"project directory {project} does not exist", path=str(project))
    found = await _git("rev-parse", "--show-toplevel", cwd=project, check=False)
    if found.code != 0:
        raise IsolationError(
            f"{project} is not in a git repository; worktree isolation needs one "
            "(run `git init` and commit, or use isolation 'shared')",
            path=str(project),
        )
    return Path(found.out.strip())


async def _commit_of(top: Path, ref: str) -> str | None:
    found = await _git(
        "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top, check=False
    )
    return found.out.strip() if found.code == 0 and found.out.strip() else None


async def _branch_exists(top: Path, branch: str) -> bool:
    found = await _git(
        "show-ref", "--verify", "--quiet", f"refs/heads/{branch}", cwd=top, check=False
    )
    return found.code == 0


def _safe_relative(name: str, project: Path) -> PurePosixPath:
    rel = PurePosixPath(name)
    if not name or rel.is_absolute() or ".." in rel.parts:
        raise IsolationError(
            f"copy_files entry {name!r} must be a path inside the project", field="copy_files"
        )
    # A symlink in the project (the entry or a directory on its way) could copy any
    # file of the machine into the agent's reach; only what stays inside is copied.
    if not inside(project, project / rel):
        raise IsolationError(
            f"copy_files entry {name!r} resolves outside the project {project} (a symlink "
            "pointing out of it); copy the file into the project or leave it out of copy_files",
            field="copy_files",
            path=name,
        )
    return rel


def _agent_of(ws: Workspace) -> str:
    branch = ws.branch or ""
    return branch[len(BRANCH_PREFIX) :] if branch.startswith(BRANCH_PREFIX) else branch


def _require_worktree(ws: Workspace) -> str:
    if ws.mode is not IsolationMode.WORKTREE or not ws.branch or not ws.base_commit:
        raise IsolationError(
            f"this agent does not work in a git worktree (isolation: {ws.mode.value})",
            mode=ws.mode.value,
        )
    return ws.branch


async def _root_of(ws: Workspace) -> Path | None:
    """The worktree's top directory (``cwd`` may be a subdirectory); None if it is gone."""
    if not ws.cwd.is_dir():
        return None
    found = await _git("rev-parse", "--show-toplevel", cwd=ws.cwd, check=False)
    return Path(found.out.strip()) if found.code == 0 else None


def _check_ref(ref: str, what: str) -> str:
    if not ref or ref.startswith("-") or any(c.isspace() or c in "\0" for c in ref):
        raise IsolationError(f"{what} {ref!r} is not a valid git ref", field=what)
    return ref


async def _changed_files(ws: Workspace) -> list[str]:
    """Uncommitted changes in the worktree (tracked or not), copied files left out."""
    root = await _root_of(ws)
    if root is None:
        return []
    found = await _git("status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=root)
    entries = [e for e in found.out.split("\0") if e]
    files: list[str] = []
    skip_next = False
    for entry in entries:
        if skip_next:  # the source path of a rename
            skip_next = False
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            skip_next = True
        if path not in ws.copied_files:
            files.append(path)
    return files


class WorktreeIsolator:
    """One git worktree and branch per agent."""

    mode = IsolationMode.WORKTREE

    async def prepare(
        self,
        *,
        agent: str,
        project: Path,
        state_dir: Path,
        results_dir: Path,
        spec: IsolationSpec,
        api_base_url: str | None,
        config_dir: Path | None = None,
    ) -> Workspace:
        project = project.resolve()
        top = await _toplevel(project)
        ref = "HEAD" if spec.base is None else _check_ref(spec.base, "base")
        base_commit = await _commit_of(top, ref)
        if base_commit is None:
            if spec.base is None:
                raise IsolationError(
                    f"the repository at {top} has no commit yet; a worktree needs a base "
                    "(commit something first)",
                    agent=agent,
                    path=str(top),
                )
            raise IsolationError(
                f"base {spec.base!r} is not a branch, tag or commit of the repository at {top}",
                agent=agent,
                base=spec.base,
                path=str(top),
            )
        path = _worktree_for(state_dir, agent)
        branch = f"{BRANCH_PREFIX}{agent}"
        if path.exists():
            raise IsolationError(
                f"a worktree for agent {agent!r} already exists at {path} (left by an earlier "
                f"agent of that name): `podium merge {agent}` or `podium clean {agent}` it first",
                agent=agent,
                path=str(path),
            )
        if await _branch_exists(top, branch):
            raise IsolationError(
                f"branch {branch} already exists in {top} (left by an earlier agent of that "
                f"name): merge or delete it first (`git branch -D {branch}`)",
                agent=agent,
                branch=branch,
            )
        copies = [_safe_relative(name, project) for name in spec.copy_files]
        path.parent.mkdir(parents=True, exist_ok=True)
        await _git(
            "worktree", "add", "--quiet", "-b", branch, str(path), base_commit,
            cwd=top, what="git worktree add",
        )  # fmt: skip
        sub = project.relative_to(top)
        cwd = path / sub
        cwd.mkdir(parents=True, exist_ok=True)
        copied: list[str] = []
        for rel in copies:
            source = project / rel
            target = cwd / rel
            # Tracked files are in the checkout already; only untracked ones are copied.
            if source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                copied.append(str(sub / rel) if str(sub) != "." else str(rel))
        return Workspace(
            mode=self.mode,
            cwd=cwd,
            project=project,
            results_dir=results_dir,
            branch=branch,
            base_commit=base_commit,
            copied_files=tuple(copied),
        )

    async def finish_task(self, ws: Workspace, *, message: str) -> str | None:
        """Commit everything changed in the worktree; the new commit's sha, or None."""
        _require_worktree(ws)
        root = await _root_of(ws)
        if root is None:
            raise IsolationError(
                f"the worktree {ws.cwd} is gone; nothing to commit", path=str(ws.cwd)
            )
        await _git("add", "--all", cwd=root, what="git add")
        if ws.copied_files:
            # Copied files (.env and the like) stay out of every commit.
            await _git("reset", "--quiet", "--", *ws.copied_files, cwd=root, check=False)
        staged = await _git("diff", "--cached", "--quiet", cwd=root, check=False)
        if staged.code == 0:
            return None
        await _git(
            *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message,
            cwd=root, what="git commit",
        )  # fmt: skip
        head = await _git("rev-parse", "HEAD", cwd=root)
        return head.out.strip()

    async def release(self, ws: Workspace, *, force: bool = False) -> None:
        """Remove the worktree and its branch; refuse to lose work unless ``force``."""
        branch = _require_worktree(ws)
        top = await _toplevel(ws.project)
        has_branch = await _branch_exists(top, branch)
        if not force:
            problems: list[str] = []
            if has_branch:
                unmerged = await _unmerged_commits(top, branch, ws.base_commit or "")
                if unmerged:
                    problems.append(
                        f"{len(unmerged)} commit(s) on {branch} not merged into the project's HEAD"
                    )
            changed = await _changed_files(ws)
            if changed:
                shown = ", ".join(changed[:10]) + (" ..." if len(changed) > 10 else "")
                problems.append(f"uncommitted changes in {len(changed)} file(s): {shown}")
            if problems:
                agent = _agent_of(ws)
                raise IsolationError(
                    f"refusing to delete the worktree of agent {agent!r}: "
                    + "; ".join(problems)
                    + f". Merge it (podium merge {agent}) or pass --force to discard the work.",
                    agent=agent,
                    branch=branch,
                )
        worktree = await _registered_worktree(top, branch)
        if worktree is not None and worktree.exists():
            # --force: the copied untracked files are there by design; cleanliness
            # was checked above (or the caller forced it).
            await _git(
                "worktree", "remove", "--force", "--force", str(worktree),
                cwd=top, what="git worktree remove",
            )  # fmt: skip
        await _git("worktree", "prune", cwd=top, check=False)
        if has_branch:
            await _git("branch", "-D", "--quiet", branch, cwd=top, what="git branch -D")


async def _registered_worktree(top: Path, branch: str) -> Path | None:
    """Where ``branch`` is checked out as a worktree of the repository at ``top``, if it is."""
    listed = await _git("worktree", "list", "--porcelain", cwd=top)
    path: Path | None = None
    for line in listed.out.splitlines():
        if line.startswith("worktree "):
            path = Path(line[len("worktree ") :])
        elif line == f"branch refs/heads/{branch}":
            return path
    return None


async def _unmerged_commits(top: Path, branch: str, base_commit: str) -> list[str]:
    """The agent's own commits (since its base) that the project's HEAD does not hold."""
    args = ["rev-list", branch, "--not"]
    if await _commit_of(top, "HEAD") is not None:
        args.append("HEAD")
    if base_commit:
        args.append(base_commit)
    found = await _git(*args, cwd=top)
    return found.out.split()


async def diff_workspace(ws: Workspace) -> dict[str, Any]:
    """The agent's work: ``git diff base...branch`` plus what is not committed yet."""
    branch = _require_worktree(ws)
    top = await _toplevel(ws.project)
    if not await _branch_exists(top, branch):
        raise IsolationError(f"branch {branch} does not exist any more (cleaned?)", branch=branch)
    committed = await _git("diff", f"{ws.base_commit}...{branch}", cwd=top, what="git diff")
    uncommitted = ""
    untracked: list[str] = []
    root = await _root_of(ws)
    if root is not None:
        tracked = await _git("diff", "HEAD", cwd=root, what="git diff")
        uncommitted = tracked.out
        listed = await _git(
            "ls-files", "--others", "--exclude-standard", "-z", cwd=root, what="git ls-files"
        )
        untracked = [f for f in listed.out.split("\0") if f and f not in ws.copied_files]
        for name in untracked:
            # Exit status 1 means "differences found": expected for a new file.
            new = await _git("diff", "--no-index", "--", os.devnull, name, cwd=root, check=False)
            uncommitted += new.out
    commits = await _git(
        "rev-list", "--count", f"{ws.base_commit}..{branch}", cwd=top, what="git rev-list"
    )
    return {
        "agent": _agent_of(ws),
        "branch": branch,
        "base_commit": ws.base_commit,
        "worktree": str(ws.cwd),
        "commits": int(commits.out.strip() or 0),
        "diff": committed.out,
        "uncommitted": uncommitted,
        "untracked": untracked,
    }


# One merge at a time per repository and event loop: a merge switches branches.
_MERGE_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _merge_lock(top: Path) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), str(top))
    lock = _MERGE_LOCKS.get(key)
    if lock is None:
        lock = _MERGE_LOCKS[key] = asyncio.Lock()
    return lock


async def merge_workspace(ws: Workspace, *, into: str | None = None) -> dict[str, Any]:
    """Merge the agent's branch into the project's current branch (or ``into``).

    Uncommitted work in the agent's worktree is committed first, so nothing is
    left behind. On a conflict the merge is aborted, the project is left exactly
    as it was, and :class:`MergeConflict` names the conflicting files.
    """
    branch = _require_worktree(ws)
    agent = _agent_of(ws)
    top = await _toplevel(ws.project)
    if not await _branch_exists(top, branch):
        raise IsolationError(
            f"branch {branch} does not exist any more (cleaned?)", agent=agent, branch=branch
        )
    if into is not None:
        _check_ref(into, "into")
    async with _merge_lock(top):
        dirty = await _git("status", "--porcelain", "--untracked-files=no", cwd=top)
        if dirty.out.strip():
            raise IsolationError(
                f"the project {top} has uncommitted changes; commit or stash them before "
                f"merging {branch}",
                agent=agent,
                path=str(top),
            )
        current = await _git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=top, check=False)
        here = current.out.strip() if current.code == 0 else None
        target = into or here
        if target is None:
            raise IsolationError(
                f"the project {top} is on a detached HEAD; name a branch with --into",
                agent=agent,
            )
        if not await _branch_exists(top, target):
            raise IsolationError(
                f"no branch {target!r} in {top} to merge into", agent=agent, into=target
            )
        if target == branch:
            raise IsolationError(f"cannot merge {branch} into itself", agent=agent)
        # Checked first, so a refused merge changes nothing; then nothing is left behind.
        committed_first: str | None = None
        if await _root_of(ws) is not None:
            committed_first = await WorktreeIsolator().finish_task(
                ws, message=f"podium: work of {agent} not yet committed at merge"
            )
        switched = target != here
        if switched:
            await _git("checkout", "--quiet", target, cwd=top, what=f"git checkout {target}")
        try:
            return await _merge(top, branch, target, agent, committed_first)
        finally:
            if switched and here is not None:
                await _git("checkout", "--quiet", here, cwd=top, what=f"git checkout {here}")


async def _merge(
    top: Path, branch: str, target: str, agent: str, committed_first: str | None
) -> dict[str, Any]:
    before = (await _git("rev-parse", "HEAD", cwd=top)).out.strip()
    merged = await _git(
        *GIT_IDENTITY, "merge", "--no-ff", "--no-edit", "--no-verify",
        "-m", f"podium: merge {branch} (agent {agent})", branch,
        cwd=top, check=False,
    )  # fmt: skip
    if merged.code != 0:
        conflicts = await _git("diff", "--name-only", "--diff-filter=U", "-z", cwd=top)
        files = [f for f in conflicts.out.split("\0") if f]
        in_progress = await _git(
            "rev-parse", "--verify", "--quiet", "MERGE_HEAD", cwd=top, check=False
        )
        if in_progress.code == 0:
            await _git("merge", "--abort", cwd=top, what="git merge --abort")
        if files:
            raise MergeConflict(
                f"merging {branch} into {target} conflicts in {len(files)} file(s): "
                + ", ".join(files)
                + "; the merge was aborted and the project left as it was. "
                f"The work is kept on {branch}: resolve by hand (git merge {branch}).",
                agent=agent,
                branch=branch,
                into=target,
                files=files,
            )
        detail = (merged.err.strip() or merged.out.strip())[-_ERROR_CHARS:]
        raise IsolationError(
            f"git merge of {branch} into {target} failed: {detail}",
            agent=agent,
            branch=branch,
            into=target,
        )
    after = (await _git("rev-parse", "HEAD", cwd=top)).out.strip()
    return {
        "agent": agent,
        "branch": branch,
        "into": target,
        "merged": True,
        "commit": after,
        "changed": after != before,
        "committed_first": committed_first,
    }


ISOLATOR = WorktreeIsolator()
register_isolator(ISOLATOR)
