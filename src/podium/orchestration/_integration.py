"""Code flows through a run: stacked bases, the integration branch and its merge queue.

A run whose plan has ``worktree`` tasks records the project's HEAD once, when it
starts (:attr:`RunRecord.base_commit`; a resume keeps it). Its integration branch
``podium/run/<RUN_ID>`` starts there, checked out in
``<home>/worktrees/<RUN_ID>.integration``.

* A task with no dependencies branches from the base; a task with dependencies
  from the integration head right after the last of its (transitive) dependencies
  merged, so it sees their work.
* Each completed task's branch merges into the integration branch, one at a time,
  in a fixed order (topological, then plan order) among those waiting.
* After each merge the team's ``[integration] check`` runs in the integration
  worktree, with the user's ``PATH``. A conflict or a failing check undoes the merge;
  the task goes back to its worker on a fresh agent branched from the integration
  head, told the files or the check's output (``[integration] attempts`` times),
  and its new work is merged. What still fails is recorded, never half-merged.

Everything is in the run record's ``integration``: ``branch``, ``base``, ``head``,
``merged`` (task ids in merge order), ``task_heads`` (the head after each merge),
``conflicts`` (``{kind, tasks, files, detail, resolution}``) and ``check``
(``{argv, status, output, task}``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import PodiumError
from ..isolation import IsolationError, IsolationMode
from ..isolation._integrate import (
    changed_files,
    head_of,
    integration_branch,
    is_ancestor,
    merge_branch,
    open_integration,
    project_head,
    undo_to,
)
from ._gate import CHECK_OUTPUT_CHARS, run_check
from ._run_records import TaskState
from ._scheduler import Node, Outcome
from ._user_env import check_environment

if TYPE_CHECKING:
    from ._active import ActiveRun
    from ._team import Team

__all__ = [
    "Integrator",
    "integrated",
    "not_integrated_error",
    "run_base",
    "start_integration",
]

_CHECK_TIMEOUT = 900.0
_OUTPUT_TAIL = CHECK_OUTPUT_CHARS

# Resolves a conflict or failed check: (task id, kind, files, detail, integration head)
# -> the branch holding the task's work redone on that head, or None.
Resolver = Callable[[str, str, tuple[str, ...], str, str], Awaitable[str | None]]


def is_worktree_task(run: ActiveRun, task_id: str) -> bool:
    worker = run.team.workers.get(run.record.task(task_id).worker)
    return worker is not None and worker.isolation_spec.mode is IsolationMode.WORKTREE


def _rank(run: ActiveRun) -> dict[str, int]:
    """Merge order: topological, ties broken by plan order."""
    tasks = run.record.tasks
    order = {t.task_id: i for i, t in enumerate(tasks)}
    deps = {t.task_id: set(t.dependencies) for t in tasks}
    ranked: list[str] = []
    while len(ranked) < len(tasks):
        ready = [t for t in order if t not in ranked and deps[t] <= set(ranked)]
        if not ready:  # a cycle cannot pass plan validation; keep plan order regardless
            ready = [t for t in order if t not in ranked]
        ranked.append(min(ready, key=order.__getitem__))
    return {task_id: i for i, task_id in enumerate(ranked)}


class Integrator:
    """The integration branch of one run and its serialized merge queue."""

    def __init__(self, run: ActiveRun, state: dict[str, Any], home: Path) -> None:
        self.run = run
        self.state = state
        self.home = home
        self.rank = _rank(run)
        self.resolver: Resolver | None = None
        self._lock = asyncio.Lock()
        self._pending: set[str] = set()
        self._outcomes: dict[str, tuple[bool, str | None]] = {}
        self._worktree: Path | None = None

    # --- bases --------------------------------------------------------------------------

    def _closure(self, task_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.run.record.task(task_id).dependencies)
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self.run.record.task(dep).dependencies)
        return seen

    def base_for(self, task_id: str) -> str:
        """Where the task's worktree starts: the base, or the integration head after
        the last of its dependencies merged."""
        merged: list[str] = self.state["merged"]
        positions = [merged.index(d) for d in self._closure(task_id) if d in merged]
        if not positions:
            return str(self.state["base"])
        return str(self.state["task_heads"][merged[max(positions)]])

    def prewarmable(self, task_id: str) -> bool:
        """A dependent worktree task's base is known only once its dependencies merged."""
        task = self.run.record.task(task_id)
        return not (task.dependencies and is_worktree_task(self.run, task_id))

    # --- the queue ----------------------------------------------------------------------

    async def integrate(self, task_id: str) -> tuple[bool, str | None]:
        """Merge a completed task's work; (ok, why not). Serialized with every other merge."""
        self._pending.add(task_id)
        async with self._lock:
            while task_id in self._pending:
                nxt = min(self._pending, key=lambda t: self.rank.get(t, len(self.rank)))
                self._pending.discard(nxt)
                try:
                    self._outcomes[nxt] = await self._integrate_one(nxt)
                except BaseException:
                    self._pending.add(nxt)  # its own caller takes it up, or is gone too
                    raise
        return self._outcomes.pop(task_id)

    async def catch_up(self) -> None:
        """On a resume: merge tasks that completed but were not merged before the stop."""
        done = self.run.completed_tasks()
        merged = set(self.state["merged"])
        unresolved = {
            t for c in self.state["conflicts"] if c.get("resolution") == "unresolved"
            for t in c["tasks"][:1]
        }  # fmt: skip
        for task in sorted(self.run.record.tasks, key=lambda t: self.rank[t.task_id]):
            tid = task.task_id
            waiting = tid in done and tid not in merged and tid not in unresolved
            if waiting and is_worktree_task(self.run, tid):
                await self.integrate(tid)

    async def worktree(self) -> Path:
        if self._worktree is None:
            self._worktree = await open_integration(
                Path(self.run.record.cwd), self.home, self.run.record.id, self.state["base"]
            )
            self.state["worktree"] = str(self._worktree)
            self._save()
        return self._worktree

    def _save(self) -> None:
        self.run.save(integration=dict(self.state))

    def _result(self, task_id: str) -> dict[str, Any]:
        task = self.run.record.task(task_id)
        return self.run.dir.read_result(task.worker, task_id) or {}

    async def _integrate_one(self, task_id: str) -> tuple[bool, str | None]:
        if task_id in self.state["merged"]:
            return True, None
        result = self._result(task_id)
        branch = result.get("integrated_branch") or result.get("branch")
        if not branch:
            why = result.get("commit_error") or "its work was not committed on a branch"
            return self._unresolved(task_id, "merge", (), str(why))
        wt = await self.worktree()
        if await is_ancestor(wt, str(branch), "HEAD"):
            # Merged before a stop that came ahead of the record (or nothing to merge).
            return self._merged(task_id, await head_of(wt))
        attempts_left = self.run.team.integration.attempts
        worker = self.run.record.task(task_id).worker
        message = f"podium: merge task {task_id} ({worker}) of run {self.run.record.id}"
        while True:
            merged = await merge_branch(wt, str(branch), message=message)
            kind, files, detail = "merge", merged.conflicts, merged.error or ""
            if merged.ok:
                failure = await self._check(task_id, wt)
                if failure is None:
                    return self._merged(task_id, merged.after)
                await undo_to(wt, merged.before)
                kind, detail = "check", failure
            elif files:
                detail = f"merging {branch} conflicts in {', '.join(files)}"
            others = await self._touching(files, wt)
            if attempts_left <= 0 or self.resolver is None:
                return self._unresolved(task_id, kind, files, detail, others=others)
            attempts_left -= 1
            entry = self._conflict(task_id, kind, files, detail, others, "re-running")
            try:
                new_branch = await self.resolver(task_id, kind, files, detail, merged.before)
            except PodiumError as exc:
                new_branch, detail = None, f"{detail}; the re-run failed: {exc.message}"
            if new_branch is None:
                entry["resolution"] = "unresolved"
                self._save()
                return False, self._why(task_id, kind, files, detail)
            entry["resolution"] = f"re-run on {new_branch} from the integration head"
            self._save()
            branch = new_branch

    async def _check(self, task_id: str, wt: Path) -> str | None:
        argv = self.run.team.integration.check
        if argv is None:
            return None
        env = check_environment(self.run.record.user_env)
        failure = await run_check(argv, cwd=wt, env=env, timeout=_CHECK_TIMEOUT)
        self.state["check"] = {
            "argv": list(argv),
            "task": task_id,
            "status": "passed" if failure is None else "failed",
            "output": (failure or "")[-_OUTPUT_TAIL:],
            "at": time.time(),
        }
        self._save()
        return failure

    async def _touching(self, files: tuple[str, ...], wt: Path) -> list[str]:
        """The merged tasks whose own changes touch ``files``."""
        if not files:
            return []
        out = []
        for tid in self.state["merged"]:
            result = self._result(tid)
            rerun = result.get("integration_rerun") or {}
            base = rerun.get("base") or result.get("base")
            branch = result.get("integrated_branch") or result.get("branch")
            if not (base and branch):
                continue
            if set(await changed_files(wt, str(base), str(branch))) & set(files):
                out.append(tid)
        return out

    def _merged(self, task_id: str, head: str) -> tuple[bool, str | None]:
        self.state["merged"].append(task_id)
        self.state["task_heads"][task_id] = head
        self.state["head"] = head
        self._save()
        return True, None

    def _conflict(
        self, task_id: str, kind: str, files: tuple[str, ...], detail: str,
        others: list[str], resolution: str,
    ) -> dict[str, Any]:  # fmt: skip
        entry: dict[str, Any] = {
            "kind": kind,
            "tasks": [task_id, *others],
            "files": list(files),
            "detail": detail[-_OUTPUT_TAIL:],
            "resolution": resolution,
        }
        self.state["conflicts"].append(entry)
        self._save()
        return entry

    def _unresolved(
        self, task_id: str, kind: str, files: tuple[str, ...], detail: str,
        *, others: list[str] | None = None,
    ) -> tuple[bool, str | None]:  # fmt: skip
        self._conflict(task_id, kind, files, detail, others or [], "unresolved")
        return False, self._why(task_id, kind, files, detail)

    def _why(self, task_id: str, kind: str, files: tuple[str, ...], detail: str) -> str:
        result = self._result(task_id)
        branch = result.get("integrated_branch") or result.get("branch") or "its branch"
        what = (
            f"conflicts in {', '.join(files)}"
            if files
            else "the integration check failed"
            if kind == "check"
            else detail
        )
        return f"not integrated ({what}); its work is kept on {branch}"

    def unresolved(self) -> list[str]:
        return [
            c["tasks"][0] for c in self.state["conflicts"] if c.get("resolution") == "unresolved"
        ]


async def run_base(team: Team, workdir: Path) -> str | None:
    """The commit a run's worktree tasks start from: the project's HEAD now, when
    the team has a worktree worker and the project is a git repository with a commit."""
    if not any(w.isolation_spec.mode is IsolationMode.WORKTREE for w in team.workers.values()):
        return None
    try:
        return await project_head(workdir)
    except IsolationError:
        return None  # a worktree task fails with git's own explanation


def not_integrated_error(run: ActiveRun, other: str | None) -> str | None:
    """The run's error when tasks' work did not integrate (``other``: its other error)."""
    tasks = run.integrator.unresolved() if run.integrator is not None else []
    if not tasks:
        return None
    branch = run.integrator.state["branch"] if run.integrator is not None else ""
    text = f"{len(tasks)} task(s) not integrated into {branch}: {', '.join(tasks)}"
    return f"{text}; {other}" if other else text


async def start_integration(run: ActiveRun) -> None:
    """Give the run its integrator when its plan has worktree tasks (after the plan is
    adopted); on a resume, merge what completed before the stop."""
    from ._integration_resolve import resolve_by_rerun

    base = run.record.base_commit
    if base is None or not any(is_worktree_task(run, t.task_id) for t in run.record.tasks):
        return
    state = dict(run.record.integration or {})
    state.setdefault("branch", integration_branch(run.record.id))
    state.setdefault("base", base)
    state.setdefault("head", base)
    state.setdefault("merged", [])
    state.setdefault("task_heads", {})
    state.setdefault("conflicts", [])
    check = run.team.integration.check
    state.setdefault("check", {"argv": list(check) if check else None, "status": None})
    for conflict in state["conflicts"]:
        if conflict.get("resolution") == "re-running":  # cut off by a stop; retried below
            conflict["resolution"] = "interrupted: the run stopped during the re-run"
    integrator = Integrator(run, state, run.runtime.config.home)
    integrator.resolver = lambda *args: resolve_by_rerun(run, *args)
    run.integrator = integrator
    await integrator.worktree()
    await integrator.catch_up()


def integrated(
    run_task: Callable[[ActiveRun, Node], Awaitable[Outcome]],
) -> Callable[[ActiveRun, Node], Awaitable[Outcome]]:
    """``run_task``, then the task's merge into the integration branch (dependents
    start only once it is merged, so they branch from it)."""

    async def run_and_merge(run: ActiveRun, node: Node) -> Outcome:
        outcome = await run_task(run, node)
        integrator = run.integrator
        if not outcome.ok or integrator is None or not is_worktree_task(run, node.id):
            return outcome
        ok, why = await integrator.integrate(node.id)
        if ok:
            return outcome
        task = run.record.task(node.id)
        if task.state is TaskState.COMPLETE:
            run.save_task(task.replace(reason=why))
        return Outcome(ok=False, reason=why)

    return run_and_merge
