"""RunEngine: orchestrated runs inside a runtime (the daemon, or in-process).

Every front (CLI, HTTP, Python) goes through this class. A run's record lives
in ``<home>/runs/<run_id>/run.json``; the engine keeps the ones in progress in
memory and drives each with one asyncio task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import PodiumError, UsageError, WaitTimeout
from .._home import private_dir
from .._names import check_prompt
from .._records import EventKind
from ..runtime import Runtime
from ._active import ActiveRun, resolve_cwd
from ._agentic import AGENTIC, PLANNED, check_mode, drive_agentic
from ._artifacts import RunDir, check_run_id, list_run_ids, new_run_id
from ._budget import BudgetLedger, BudgetLimits
from ._clean import retain_after_finish
from ._integration import integrated, not_integrated_error, run_base, start_integration
from ._plan import Plan, load_plan_file, plan_from_data
from ._ratelimit import ModelLimits, RateLimiter
from ._review import ReviewMixin, park_for_review
from ._run_records import (
    TERMINAL_RUN_STATES,
    RunError,
    RunNotFound,
    RunRecord,
    RunState,
    TaskState,
)
from ._task_runner import run_task
from ._team import Team, load_team
from ._turns import Turns
from ._user_env import check_user_env
from ._worker_agent import lead_agent_spec, worker_agent_spec

__all__ = ["RunEngine"]

log = logging.getLogger("podium.runs")

_RESUMABLE = frozenset({RunState.INTERRUPTED, RunState.FAILED, RunState.CANCELLED})


class RunEngine(ReviewMixin):
    """Start, follow, cancel and resume orchestrated runs (approve or reject a reviewed plan)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        runs_root: Path | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.runtime = runtime
        self.runs_root = runs_root or runtime.config.home / "runs"
        self.limiter = limiter or RateLimiter()
        self._turns: Turns | None = None
        self._active: dict[str, ActiveRun] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._resuming: set[str] = set()

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Mark runs a crash left in progress as interrupted (``--resume`` continues them)."""
        private_dir(self.runs_root)
        self._turns = Turns(self.runtime, self.limiter)
        for run_id in list_run_ids(self.runs_root):
            run_dir = RunDir(self.runs_root, run_id)
            try:
                data = run_dir.read_run()
            except PodiumError as exc:
                log.warning("skipping run %s: %s", run_id, exc)
                continue
            if data is None:
                continue
            record = RunRecord.from_dict(data)
            if record.state in TERMINAL_RUN_STATES or record.state is RunState.AWAITING_APPROVAL:
                # A plan awaiting approval waits for a person, not for this daemon.
                continue
            tasks = tuple(
                t.replace(state=TaskState.INTERRUPTED, reason="the daemon stopped during the task")
                if t.state is TaskState.RUNNING
                else t
                for t in record.tasks
            )
            record = record.replace(
                state=RunState.INTERRUPTED,
                tasks=tasks,
                error="the daemon stopped during the run; continue it with --resume",
                updated_at=time.time(),
            )
            run_dir.write_run(record.to_dict())

    async def close(self) -> None:
        """Stop driving runs; they are left ``interrupted`` and can be resumed."""
        for active in list(self._active.values()):
            active.shutting_down = True
            await _cancel_driver(active)
        for active in list(self._active.values()):
            if active.driver is not None:
                with contextlib.suppress(BaseException):
                    await active.driver
        if self._turns is not None:
            self._turns.close()

    @property
    def turns(self) -> Turns:
        if self._turns is None:
            raise PodiumError("run engine not started")
        return self._turns

    # --- queries ------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return RunDir(self.runs_root, check_run_id(run_id)).path

    async def get(self, run_id: str) -> RunRecord:
        check_run_id(run_id)
        active = self._active.get(run_id)
        if active is not None:
            return active.record
        data = RunDir(self.runs_root, run_id).read_run()
        if data is None:
            raise RunNotFound(f"no run {run_id!r}", run_id=run_id)
        return RunRecord.from_dict(data)

    async def list_runs(self, *, limit: int = 50) -> list[RunRecord]:
        if limit <= 0:
            raise UsageError(f"limit must be positive, got {limit}")
        out: list[RunRecord] = []
        for run_id in list_run_ids(self.runs_root)[:limit]:
            with contextlib.suppress(PodiumError):
                out.append(await self.get(run_id))
        return out

    async def report(self, run_id: str) -> str | None:
        await self.get(run_id)
        path = RunDir(self.runs_root, run_id).report_file
        return path.read_text(encoding="utf-8") if path.is_file() else None

    async def wait(self, run_id: str, timeout: float | None = None) -> RunRecord:
        """Wait for a run to end. A timeout raises WaitTimeout and cancels nothing."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            event = self._changed.setdefault(run_id, asyncio.Event())
            record = await self.get(run_id)
            if record.settled:
                return record
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(
                    f"run {run_id} is still {record.state.value} after {timeout:g} s",
                    run_id=run_id,
                    state=record.state.value,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _notify(self, record: RunRecord) -> None:
        event = self._changed.pop(record.id, None)
        if event is not None:
            event.set()

    # --- commands -----------------------------------------------------------------------

    async def submit(
        self,
        request: str,
        *,
        team: str | Path,
        cwd: str | Path | None = None,
        plan: Mapping[str, Any] | list[Any] | None = None,
        plan_file: str | Path | None = None,
        budget_usd: float | None = None,
        mode: str = PLANNED,
        user_env: Mapping[str, str] | None = None,
        review: bool | None = None,
    ) -> RunRecord:
        """Validate everything, create the run directory, start the run; returns at once.

        ``mode``: ``"planned"`` (podium plans and schedules the tasks) or
        ``"agentic"`` (the orchestrator drives workers itself through podium's MCP tools).
        ``user_env``: the submitter's ``PATH`` (and ``VIRTUAL_ENV``), for the run's checks.
        ``review``: stop after planning until the plan is approved (None: the team's
        ``[runs] review``); an agentic run has no plan to review.
        """
        try:
            check_prompt(request)
        except UsageError as exc:
            raise type(exc)(f"the run's request is invalid: {exc.message}") from None
        agentic = check_mode(mode) == AGENTIC
        sent_env = check_user_env(user_env)
        if plan is not None and plan_file is not None:
            raise UsageError("give a plan or a plan file, not both")
        if agentic and (plan is not None or plan_file is not None):
            raise UsageError("an agentic run has no plan: its orchestrator decides as it goes")
        if review is not None and not isinstance(review, bool):
            raise UsageError(f"review must be true or false, got {review!r}")
        if agentic and review:
            raise UsageError("an agentic run has no plan to review (drop review, or --mode)")
        loaded = load_team(team)
        reviewed = not agentic and (loaded.review if review is None else review)
        budget = _check_budget(budget_usd, loaded)
        workdir = resolve_cwd(loaded, cwd)
        if not workdir.is_dir():
            raise UsageError(f"working directory {workdir} does not exist")
        given: Plan | None = None
        if plan_file is not None:
            given = load_plan_file(plan_file, loaded.workers)
        elif plan is not None:
            given = plan_from_data(plan, loaded.workers, source="the given plan")
        await self._check_logins(loaded, workdir, given)
        base_commit = await run_base(loaded, workdir)

        run_id = new_run_id()
        while RunDir(self.runs_root, run_id).path.exists():
            run_id = new_run_id()
        run_dir = RunDir(self.runs_root, run_id)
        now = time.time()
        record = RunRecord(
            id=run_id,
            request=request,
            team_path=str(loaded.path),
            team_name=loaded.name,
            cwd=str(workdir),
            state=RunState.PLANNING if given is None and not agentic else RunState.RUNNING,
            created_at=now,
            updated_at=now,
            budget_usd=budget,
            plan_source=AGENTIC if agentic else "orchestrator" if given is None else "file",
            base_commit=base_commit,
            user_env=sent_env,
            review=reviewed,
        )
        run_dir.create()
        try:
            run_dir.write_request(request)
            if given is not None:
                run_dir.write_plan(given.to_dict())
            # Last: a directory without run.json is not a run.
            run_dir.write_run(record.to_dict())
        except BaseException:
            # Never leave a half-written run behind (a full disk, a cancelled call).
            shutil.rmtree(run_dir.path, ignore_errors=True)
            raise
        await self.runtime.emit(
            EventKind.RUN_STARTED,
            data={
                "run_id": run_id,
                "team": loaded.name,
                "planned": given is not None,
                "mode": AGENTIC if agentic else PLANNED,
            },
        )
        return self._launch(record, run_dir, loaded)

    async def resume(self, run_id: str) -> RunRecord:
        """Continue an interrupted, failed or cancelled run; completed tasks are not re-run."""
        if run_id in self._active or run_id in self._resuming:
            raise UsageError(f"run {run_id} is still going", run_id=run_id)
        self._resuming.add(run_id)
        try:
            return await self._resume(run_id)
        finally:
            self._resuming.discard(run_id)

    async def _resume(self, run_id: str) -> RunRecord:
        record = await self.get(run_id)
        if record.state not in _RESUMABLE:
            raise UsageError(
                f"run {run_id} is {record.state.value}; only interrupted, failed or "
                "cancelled runs can be resumed",
                run_id=run_id,
            )
        loaded = load_team(record.team_path)
        run_dir = RunDir(self.runs_root, run_id)
        agentic = record.plan_source == AGENTIC
        gone = sorted({t.worker for t in record.tasks} - set(loaded.workers))
        if gone and not agentic:
            raise UsageError(
                f"run {run_id} cannot be resumed: its plan gives tasks to "
                f"{', '.join(gone)}, no longer a worker in {record.team_path}",
                run_id=run_id,
            )
        planned = agentic or run_dir.read_plan() is not None
        state = RunState.RUNNING if planned else RunState.PLANNING
        record = record.replace(
            state=state,
            error=None,
            finished_at=None,
            resumed=record.resumed + 1,
            updated_at=time.time(),
        )
        run_dir.write_run(record.to_dict())
        await self.runtime.emit(EventKind.RUN_STARTED, data={"run_id": run_id, "resumed": True})
        return self._launch(record, run_dir, loaded)

    async def cancel(self, run_id: str) -> RunRecord:
        active = self._active.get(run_id)
        if active is None:
            record = await self.get(run_id)
            if record.done:
                return record
            if record.state is RunState.AWAITING_APPROVAL:
                return await self.reject(run_id, reason="the run was cancelled", cancelled=True)
            raise RunError(f"run {run_id} is not running in this daemon", run_id=run_id)
        active.user_cancelled = True
        if active.scheduler is not None and active.record.state is RunState.RUNNING:
            active.stop_dispatch("the run was cancelled")
        else:
            await _cancel_driver(active)
        return await self.wait(run_id)

    # --- driving ------------------------------------------------------------------------

    def _launch(self, record: RunRecord, run_dir: RunDir, team: Team) -> RunRecord:
        for key, limit in team.rate_limits.items():
            self.limiter.configure(
                key,
                ModelLimits(
                    requests_per_minute=limit.requests_per_minute,
                    input_tokens_per_minute=limit.input_tokens_per_minute,
                    output_tokens_per_minute=limit.output_tokens_per_minute,
                ),
            )
        limits = team.limits
        ledger = BudgetLedger(
            BudgetLimits(
                run_usd=record.budget_usd,
                per_worker_usd=limits.per_worker_budget_usd,
                per_task_usd=limits.per_task_budget_usd,
            ),
            spent=record.cost_usd,
            by_worker=record.cost_by_worker,
        )
        active = ActiveRun(
            record=record,
            run_dir=run_dir,
            team=team,
            runtime=self.runtime,
            turns=self.turns,
            ledger=ledger,
            on_change=self._notify,
        )
        self._active[record.id] = active
        active.driver = asyncio.create_task(self._drive(active), name=f"run {record.id}")
        return active.record

    async def _check_logins(self, team: Team, workdir: Path, plan: Plan | None) -> None:
        """Before anything is made or spent: everyone the run will start (the lead, and
        the plan's workers, or every worker when the lead plans) can log in."""
        used = {t.worker for t in plan.tasks} if plan is not None else set(team.workers)
        specs = {"lead": lead_agent_spec(team)}
        specs |= {name: worker_agent_spec(team.workers[name]) for name in sorted(used)}
        checks = [self.runtime.check_login(n, spec, cwd=workdir) for n, spec in specs.items()]
        outcomes = await asyncio.gather(*checks, return_exceptions=True)
        for name, outcome in zip(specs, outcomes, strict=True):
            if isinstance(outcome, PodiumError):
                raise type(outcome)(
                    f"team {team.name}: {'its lead' if name == 'lead' else f'worker {name}'} "
                    f"cannot start: {outcome.message}",
                    **outcome.context,
                )
            if isinstance(outcome, BaseException):
                raise outcome

    async def _drive(self, active: ActiveRun) -> None:
        active.driving = True
        final: RunState = RunState.FAILED
        error: str | None = None
        try:
            if active.record.plan_source == AGENTIC:
                final, error = await drive_agentic(active)
                return
            plan = await active.make_plan()
            active.adopt_plan(plan)
            if active.record.review and active.record.approved_at is None:
                active.parked = True
                await park_for_review(active)
                return
            active.save(state=RunState.RUNNING)
            await active.emit(EventKind.RUN_PLANNED, ok=True, tasks=len(plan.tasks))
            await start_integration(active)
            await active.execute(integrated(run_task))
            if not active.user_cancelled:
                active.save(state=RunState.SYNTHESISING)
            await active.synthesise()
            final = active.final_state()
            error = active.record.error
            if final is RunState.FAILED and error is None:
                failed = [
                    t.task_id for t in active.record.tasks if t.state is not TaskState.COMPLETE
                ]
                error = f"{len(failed)} task(s) did not complete: {', '.join(failed)}"
                if active.stop_reason:
                    error += f" ({active.stop_reason})"
                error = not_integrated_error(active, error if failed else None) or error
        except asyncio.CancelledError:
            final = RunState.CANCELLED if active.user_cancelled else RunState.INTERRUPTED
            error = (
                "the run was cancelled"
                if active.user_cancelled
                else "the daemon stopped during the run; continue it with --resume"
            )
            if final is RunState.CANCELLED:
                with contextlib.suppress(Exception):
                    await active.synthesise()
        except PodiumError as exc:
            final, error = RunState.FAILED, exc.message
            if getattr(exc, "errors", None):
                error = str(exc)
        except Exception as exc:  # a bug must still end the run visibly
            log.exception("run %s crashed", active.record.id)
            final, error = RunState.FAILED, f"internal error: {exc!r}"
        finally:
            if active.parked:
                self._park(active)
            else:
                await asyncio.shield(self._finish(active, final, error))

    def _park(self, active: ActiveRun) -> None:
        """A planned run awaiting approval: nothing drives it until approve or reject."""
        self.runtime.remove_listener(active.width.on_event)
        self._active.pop(active.record.id, None)
        self._notify(active.record)

    async def _finish(self, active: ActiveRun, final: RunState, error: str | None) -> None:
        self.runtime.remove_listener(active.width.on_event)
        try:
            await active.retire_all()
            # The team's [runs] keep_worktrees, before the run is seen finished.
            await retain_after_finish(self, active.team.keep_worktrees, finishing=active.record.id)
        finally:
            tasks = tuple(
                t.replace(state=TaskState.INTERRUPTED, reason=error)
                if t.state is TaskState.RUNNING
                else t
                for t in active.record.tasks
            )
            active.save(state=final, error=error, finished_at=time.time(), tasks=tasks)
            self._active.pop(active.record.id, None)
            self._notify(active.record)
            with contextlib.suppress(PodiumError):
                await self.runtime.emit(
                    EventKind.RUN_FINISHED,
                    data={
                        "run_id": active.record.id,
                        "state": final.value,
                        "cost_usd": active.record.cost_usd,
                        "error": error,
                    },
                )


def _check_budget(budget_usd: float | None, team: Team) -> float | None:
    if budget_usd is None:
        return team.limits.budget_usd
    if isinstance(budget_usd, bool) or not isinstance(budget_usd, int | float):
        raise UsageError(f"budget must be a number of dollars, got {budget_usd!r}")
    if not budget_usd > 0:
        raise UsageError(
            f"budget must be greater than 0, got {budget_usd}: a run with no budget "
            "cannot dispatch anything"
        )
    return float(budget_usd)


async def _cancel_driver(active: ActiveRun) -> None:
    """Cancel a run's driver once it has started: a task cancelled before its first step
    never runs its body, and the run would never record how it ended (a cancel right
    after a launch or a resume, a daemon stopping right after one)."""
    driver = active.driver
    if driver is None:
        return
    while not active.driving and not driver.done():
        await asyncio.sleep(0)
    driver.cancel()
