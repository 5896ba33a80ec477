"""Plan review: a run under review stops after planning until a person decides.

``podium run --review`` (or ``[runs] review = true`` in the team file) parks a
planned run in ``awaiting_approval`` with its plan saved and its tasks listed
as pending. :meth:`ReviewMixin.approve` runs it, the saved plan or an edited one
(checked exactly like a plan given to ``podium run --plan``);
:meth:`ReviewMixin.reject` ends it as ``rejected`` without starting a task.
Nothing of a parked run lives in memory: a daemon restart leaves it awaiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import PodiumError, UsageError
from .._records import AgentStatus, EventKind
from ._artifacts import RunDir, atomic_write_json
from ._plan import Plan, load_plan_file, plan_from_data
from ._run_records import RunError, RunRecord, RunState, TaskState
from ._team import Team, load_team

if TYPE_CHECKING:
    from ..runtime import Runtime
    from ._active import ActiveRun

__all__ = ["PROPOSED_PLAN_FILE", "ReviewMixin", "park_for_review"]

PROPOSED_PLAN_FILE = "plan.proposed.json"
"""Beside plan.json when an edited plan was approved: what the orchestrator proposed."""

_MAX_REASON = 4000


async def park_for_review(active: ActiveRun) -> None:
    """Planned, under review: save the run as awaiting approval (the driver then ends)."""
    active.save(state=RunState.AWAITING_APPROVAL)
    await active.emit(
        EventKind.RUN_PLANNED, ok=True, tasks=len(active.record.tasks), awaiting_approval=True
    )


def _check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise UsageError(f"reason must be text, got {reason!r}")
    text = reason.strip()
    if not text:
        raise UsageError("reason is empty: say why, or give none")
    if len(text) > _MAX_REASON:
        raise UsageError(f"reason is longer than {_MAX_REASON} characters")
    return text


class ReviewMixin:
    """approve / reject for :class:`RunEngine` (which provides what is declared here)."""

    runtime: Runtime
    runs_root: Path
    _active: dict[str, ActiveRun]
    _resuming: set[str]

    if TYPE_CHECKING:

        async def get(self, run_id: str) -> RunRecord: ...

        def _launch(self, record: RunRecord, run_dir: RunDir, team: Team) -> RunRecord: ...

        def _notify(self, record: RunRecord) -> None: ...

        async def _check_logins(self, team: Team, workdir: Path, plan: Plan | None) -> None: ...

    async def approve(
        self,
        run_id: str,
        *,
        plan: Mapping[str, Any] | list[Any] | None = None,
        plan_file: str | Path | None = None,
    ) -> RunRecord:
        """Run a plan awaiting approval: its own, or ``plan`` / ``plan_file`` instead.

        An edited plan is validated like any given plan; a bad one raises
        :class:`PlanError` and the run stays awaiting approval, untouched.
        """
        async with self._deciding(run_id) as record:
            if plan is not None and plan_file is not None:
                raise UsageError("give an edited plan or a plan file, not both")
            team = load_team(record.team_path)
            run_dir = RunDir(self.runs_root, run_id)
            edited: Plan | None = None
            if plan_file is not None:
                edited = load_plan_file(plan_file, team.workers)
            elif plan is not None:
                edited = plan_from_data(plan, team.workers, source="the edited plan")
            proposed = run_dir.read_plan()
            if proposed is None:
                raise RunError(f"run {run_id} has no plan to approve", run_id=run_id)
            # The team may have changed since planning: its plan is checked again too.
            chosen = edited or plan_from_data(proposed, team.workers, source=f"run {run_id}'s plan")
            await self._check_logins(team, Path(record.cwd), chosen)
            now = time.time()
            if edited is not None:
                proposed_file = run_dir.path / PROPOSED_PLAN_FILE
                if not proposed_file.exists():
                    atomic_write_json(proposed_file, proposed)
                run_dir.write_plan(edited.to_dict())
            record = record.replace(
                state=RunState.RUNNING,
                approved_at=now,
                updated_at=now,
                # The edited plan's tasks replace the proposal's (created when it runs).
                tasks=() if edited is not None else record.tasks,
            )
            run_dir.write_run(record.to_dict())
            await self.runtime.emit(
                EventKind.RUN_STARTED,
                data={"run_id": run_id, "approved": True, "edited": edited is not None},
            )
            return self._launch(record, run_dir, team)

    async def reject(
        self, run_id: str, *, reason: str | None = None, cancelled: bool = False
    ) -> RunRecord:
        """End a run awaiting approval without starting any task: ``rejected`` with
        ``reason`` (``cancelled`` when it was cancelled instead)."""
        reason = _check_reason(reason)
        async with self._deciding(run_id) as record:
            why = "the run was cancelled" if cancelled else "its plan was rejected"
            if reason and not cancelled:
                why += f": {reason}"
            tasks = tuple(
                t if t.done else t.replace(state=TaskState.CANCELLED, reason=why)
                for t in record.tasks
            )
            now = time.time()
            record = record.replace(
                state=RunState.CANCELLED if cancelled else RunState.REJECTED,
                rejection=None if cancelled else reason or "no reason given",
                error="the run was cancelled" if cancelled else None,
                tasks=tasks,
                finished_at=now,
                updated_at=now,
            )
            RunDir(self.runs_root, run_id).write_run(record.to_dict())
            await self._retire_lead(record)
            self._notify(record)
            with contextlib.suppress(PodiumError):
                await self.runtime.emit(
                    EventKind.RUN_FINISHED,
                    data={
                        "run_id": run_id,
                        "state": record.state.value,
                        "cost_usd": record.cost_usd,
                        "error": record.error,
                        "rejection": record.rejection,
                    },
                )
            return record

    async def _retire_lead(self, record: RunRecord) -> None:
        """The lead that planned waits (hibernated or warm) for synthesis; no more."""
        name = record.orchestrator_agent
        if name is None:
            return
        with contextlib.suppress(PodiumError):
            agent = await self.runtime.store.get_agent(name)
            if agent.status is not AgentStatus.KILLED:
                await self.runtime.kill(name)

    @contextlib.asynccontextmanager
    async def _deciding(self, run_id: str) -> AsyncIterator[RunRecord]:
        """One decision at a time per run, and only on a run awaiting approval."""
        active = self._active.get(run_id)
        if active is not None and active.parked and active.driver is not None:
            # Parked a moment ago: its driver is about to let go of it.
            with contextlib.suppress(BaseException):
                await asyncio.shield(active.driver)
        if run_id in self._active or run_id in self._resuming:
            record = await self.get(run_id)
            raise UsageError(
                f"run {run_id} is {record.state.value}, not awaiting approval", run_id=run_id
            )
        self._resuming.add(run_id)
        try:
            record = await self.get(run_id)
            if record.state is not RunState.AWAITING_APPROVAL:
                hint = "" if record.review else " (it was not started with --review)"
                raise UsageError(
                    f"run {run_id} is {record.state.value}, not awaiting approval{hint}",
                    run_id=run_id,
                    state=record.state.value,
                )
            yield record
        finally:
            self._resuming.discard(run_id)
