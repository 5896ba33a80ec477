"""One run in progress: plan, schedule, synthesise; every change saved to ``run.json``.

An :class:`ActiveRun` lives in the daemon while its run is going. Everything
it knows that matters after a crash is on disk before it is acted on: the plan
before the first task starts, each result before its dependents are told, the
report before the run is marked complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import AgentNotFound, PodiumError
from .._options import AgentSpec
from .._records import AgentStatus, EventKind, RequestRecord, RequestState
from ..isolation import worktree_path
from ..runtime import Runtime
from ._adaptive import AdaptiveWidth
from ._artifacts import RunDir
from ._budget import BudgetLedger
from ._plan import Plan, PlanError, parse_plan
from ._prompts import (
    ResultBrief,
    SkippedBrief,
    WorkerBrief,
    planning_prompt,
    repair_prompt,
    synthesis_prompt,
)
from ._report import run_summary_markdown
from ._run_records import RunError, RunRecord, RunState, TaskRecord, TaskState
from ._scheduler import Node, NodeState, Outcome, Scheduler
from ._team import Team
from ._turns import Turns
from ._worker_agent import lead_agent_spec

if TYPE_CHECKING:
    from ._integration import Integrator

__all__ = ["ActiveRun"]

log = logging.getLogger("podium.runs")

_NODE_TO_TASK = {
    NodeState.SKIPPED: TaskState.SKIPPED,
    NodeState.CANCELLED: TaskState.CANCELLED,
    NodeState.FAILED: TaskState.FAILED,
}
_EXCERPT = 4000
# Starting a Claude Code process is CPU-bound (~0.6 CPU-s): pre-starting every
# soon-needed agent at once starves the turns under way and the agents tasks wait for.
_PREWARM_SPAWNS = max(1, (os.cpu_count() or 2) // 2)


class ActiveRun:
    def __init__(
        self,
        *,
        record: RunRecord,
        run_dir: RunDir,
        team: Team,
        runtime: Runtime,
        turns: Turns,
        ledger: BudgetLedger,
        on_change: Callable[[RunRecord], None],
    ) -> None:
        self.record = record
        self.dir = run_dir
        self.team = team
        self.runtime = runtime
        self.turns = turns
        self.ledger = ledger
        self._on_change = on_change
        self.plan: Plan | None = None
        self.scheduler: Scheduler | None = None
        self.agents: set[str] = set()
        self.requests: dict[str, str] = {}  # task id -> its running request id
        # agent -> its --max-budget-usd and the limit that set it, while its task runs
        self.agent_caps: dict[str, tuple[float, str]] = {}
        self.prewarmed: dict[str, asyncio.Task[str]] = {}
        self.prewarm_slots = asyncio.Semaphore(_PREWARM_SPAWNS)
        self.prewarm_spawning: set[str] = set()  # pre-starts past the slot queue
        self.soon: list[str] = []  # tasks waiting for a pre-start slot
        self.stop_reason: str | None = None
        self.user_cancelled = False
        self.shutting_down = False  # the daemon is stopping: the run ends interrupted
        self.parked = False  # planned, awaiting approval: the driver ends, the run does not
        self.driver: asyncio.Task[None] | None = None
        # The driver has taken its first step: from then on a cancel reaches its ending.
        self.driving = False
        self.integrator: Integrator | None = None  # a run with worktree tasks
        self._background: set[asyncio.Task[None]] = set()
        # Task turns per model narrow on 429/529 and widen back (see _adaptive).
        self.width = AdaptiveWidth(
            team.limits.max_parallel, on_change=lambda widths: self.save(concurrency=widths)
        )
        runtime.add_listener(self.width.on_event)

    # --- bookkeeping --------------------------------------------------------------------

    def save(self, **changes: Any) -> RunRecord:
        self.record = self.record.replace(updated_at=time.time(), **changes)
        self.dir.write_run(self.record.to_dict())
        self._on_change(self.record)
        return self.record

    def save_task(self, task: TaskRecord) -> TaskRecord:
        self.record = self.record.with_task(task)
        self.save()
        return task

    def charge(
        self, request: RequestRecord, *, worker: str | None, task_id: str | None = None
    ) -> None:
        """Add one finished turn's cost to the ledger and the run's totals.

        Charged per turn, not per task: a budget crossed by turns of tasks still
        running is seen at once (:meth:`check_budget`).
        """
        cost = request.cost_usd
        self.ledger.charge(cost, worker=worker, task_id=task_id)
        by_model = dict(self.record.cost_by_model)
        model = request.model or "unknown"
        by_model[model] = by_model.get(model, 0.0) + cost
        by_worker = dict(self.record.cost_by_worker)
        if worker is not None:
            by_worker[worker] = by_worker.get(worker, 0.0) + cost
        self.record = self.record.replace(
            cost_usd=self.record.cost_usd + cost, cost_by_model=by_model, cost_by_worker=by_worker
        )

    async def emit(self, kind: EventKind, **data: Any) -> None:
        await self.runtime.emit(kind, data={"run_id": self.record.id, **data})

    # --- agents -------------------------------------------------------------------------

    async def new_agent(self, base: str, spec: AgentSpec, *, results: str) -> str:
        """Spawn a fresh agent for this run under the first free name ``base``, ``base_2``, ...

        ``spec``: from :func:`worker_agent_spec` (its isolation says where it works).
        ``results``: names its results folder, the only part of the run directory a
        sandbox or container may write to.
        """
        name = base
        n = 1
        while await self._name_taken(name):
            n += 1
            name = f"{base}_{n}"
        self.agents.add(name)
        isolated = spec.options.isolation is not None
        await self.runtime.spawn_spec(
            name,
            spec,
            cwd=self.record.cwd,
            results_dir=self.dir.path / "results" / results if isolated else None,
        )
        self.turns.bind(name, spec.model)
        return name

    async def billing_pools(self) -> dict[str, int]:
        """How many of the run's agents drew from each pool (API key, subscription)."""
        pools: dict[str, int] = {}
        # Retired agents count too: the run's work is done by the time it reports.
        for agent in await self.runtime.store.list_agents(include_killed=True):
            if agent.name in self.agents and agent.billing is not None:
                pools[agent.billing] = pools.get(agent.billing, 0) + 1
        return pools

    async def _name_taken(self, name: str) -> bool:
        store = self.runtime.store
        if await store.find_agent(name) is not None:
            return True
        # A retired (killed) agent keeps its name while its requests are on record:
        # a task reassigned or resumed gets a fresh name, so every attempt's
        # requests and session stay apart and a result names who did the work.
        if await store.list_requests(agent=name, limit=1):
            return True
        # A killed agent's worktree keeps its name until it is merged or cleaned.
        return worktree_path(self.runtime.config.home, name).exists()

    async def retire(self, name: str) -> None:
        """Stop an agent's process; its record and session stay for inspection."""
        self.turns.forget(name)
        with contextlib.suppress(PodiumError):
            agent = await self.runtime.store.get_agent(name)
            if agent.status is not AgentStatus.KILLED:
                await self.runtime.kill(name)

    async def retire_all(self) -> None:
        self.soon.clear()
        for task in self.prewarmed.values():
            task.cancel()
        for task in self.prewarmed.values():
            with contextlib.suppress(BaseException):
                await task
        self.prewarmed.clear()
        for name in sorted(self.agents):
            await self.retire(name)
        await self._retire_leads()

    async def _retire_leads(self) -> None:
        """Retire every lead this run ever had, not only this go's.

        A daemon that died during planning or synthesis leaves the lead hibernated;
        a resumed go that does not reuse it (an agentic run spawns a fresh one, a
        go that ends before synthesis never asks it) would leave it behind for good.
        """
        lead = re.compile(re.escape(f"{self.record.id}_lead") + r"(?:_\d+)?")
        for agent in await self.runtime.list_agents():
            if lead.fullmatch(agent.name) and agent.status is not AgentStatus.KILLED:
                await self.retire(agent.name)

    async def retire_leftovers(self) -> None:
        """Retire the task agents an earlier go at this run left behind.

        A daemon that died mid-run could not retire them: the new daemon reaps
        their processes but keeps them (hibernated) for good, and their tasks
        start over on fresh agents (named ``<base>_2``, ...).
        """
        from ._task_runner import _agent_base  # the runner imports this module

        bases = sorted({_agent_base(self, t.task_id) for t in self.record.tasks})
        if not bases:
            return
        mine = re.compile("(?:" + "|".join(map(re.escape, bases)) + r")(?:_\d+)?")
        for agent in await self.runtime.list_agents():
            if mine.fullmatch(agent.name) and agent.name not in self.agents:
                await self.retire(agent.name)

    async def orchestrator_agent(self) -> str:
        """The run's lead: reused across planning and synthesis (and after a restart)."""
        name = self.record.orchestrator_agent
        if name is not None:
            with contextlib.suppress(AgentNotFound):
                agent = await self.runtime.store.get_agent(name)
                if agent.status is not AgentStatus.KILLED:
                    self.agents.add(name)
                    self.turns.bind(name, self._lead_model())
                    return name
        profile = self.team.orchestrator
        spec = lead_agent_spec(self.team)
        name = await self.new_agent(f"{self.record.id}_lead", spec, results=profile.name)
        self.save(orchestrator_agent=name)
        return name

    def _lead_model(self) -> str | None:
        model = self.team.orchestrator.model
        return model if model not in (None, "inherit") else self.team.defaults.model

    # --- planning -----------------------------------------------------------------------

    async def make_plan(self) -> Plan:
        saved = self.dir.read_plan()
        if saved is not None:
            return Plan.from_dict(saved)
        workers = self.team.workers
        briefs = {
            name: WorkerBrief(name=name, description=w.profile.description, model=w.model)
            for name, w in workers.items()
        }
        lead = await self.orchestrator_agent()
        prompt = planning_prompt(self.record.request, briefs)
        max_attempts = 1 + self.team.limits.max_plan_repairs
        errors: tuple[str, ...] = ()
        for attempt in range(1, max_attempts + 1):
            if attempt > 1:
                prompt = repair_prompt(errors, attempt, max_attempts)
            request, _ = await self.turns.ask(
                lead,
                prompt,
                timeout=self.team.limits.task_timeout,
                meta={"run_id": self.record.id, "phase": "plan", "attempt": attempt},
            )
            self.charge(request, worker=None)
            self.save(
                plan_attempts=attempt,
                planning_cost_usd=self.record.planning_cost_usd + request.cost_usd,
            )
            if request.state is not RequestState.COMPLETE:
                raise RunError(
                    f"planning failed: the orchestrator's request {request.id} "
                    f"{request.state.value}: {request.error or 'no answer'}",
                    run_id=self.record.id,
                )
            try:
                plan = parse_plan(request.result or "", workers, source="orchestrator's plan")
            except PlanError as exc:
                errors = exc.errors
                await self.emit(EventKind.RUN_PLANNED, ok=False, attempt=attempt, errors=errors)
                continue
            return plan
        raise PlanError(
            errors,
            source=f"orchestrator's plan (after {max_attempts} attempts)",
            run_id=self.record.id,
        )

    def adopt_plan(self, plan: Plan) -> None:
        """Persist the plan and create the task records (kept as they are on a resume)."""
        if self.dir.read_plan() is None:
            self.dir.write_plan(plan.to_dict())
        self.plan = plan
        known = {t.task_id: t for t in self.record.tasks}
        tasks = []
        for planned in plan.tasks:
            existing = known.get(planned.task_id)
            if existing is not None:
                tasks.append(existing)
                continue
            tasks.append(
                TaskRecord(
                    task_id=planned.task_id,
                    worker=planned.worker,
                    description=planned.description,
                    dependencies=planned.dependencies,
                    priority=planned.priority,
                    urgent=planned.urgent,
                    model=self.team.workers[planned.worker].model,
                )
            )
        self.save(tasks=tuple(tasks))

    # --- execution ----------------------------------------------------------------------

    def completed_tasks(self) -> dict[str, bool]:
        """Tasks whose result artifact says complete: never run again, not even on resume."""
        done: dict[str, bool] = {}
        for task in self.record.tasks:
            result = self.dir.read_result(task.worker, task.task_id)
            if result is not None and result.get("status") == TaskState.COMPLETE.value:
                done[task.task_id] = True
        return done

    async def execute(self, run_task: Callable[[ActiveRun, Node], Any]) -> None:
        plan = self.plan
        assert plan is not None
        done = self.completed_tasks()
        for task in self.record.tasks:
            if task.task_id in done and task.state is not TaskState.COMPLETE:
                self.save_task(task.replace(state=TaskState.COMPLETE, reason=None))
            elif task.task_id not in done and task.done:
                # Anything unfinished runs again from a clean slate on a resume.
                self.save_task(task.replace(state=TaskState.PENDING, reason=None))
        if self.record.resumed:
            await self.retire_leftovers()
        nodes = [
            Node(id=t.task_id, dependencies=t.dependencies, priority=t.priority, order=i)
            for i, t in enumerate(plan.tasks)
        ]

        async def execute(node: Node) -> Outcome:
            result: Outcome = await run_task(self, node)
            return result

        self.scheduler = Scheduler(
            nodes,
            execute,
            max_parallel=self.team.limits.max_parallel,
            admit=self._admit,
            done=done,
            on_change=self._node_changed,
            on_soon=self._prewarm,
        )
        await self.scheduler.run()

    async def _admit(self, node: Node) -> str | None:
        if self.stop_reason is not None:
            return self.stop_reason
        task = self.record.task(node.id)
        return self.ledger.reserve(node.id, task.worker, self.ledger.estimate(task.worker))

    def _node_changed(self, node_id: str, state: NodeState, reason: str | None) -> None:
        mapped = _NODE_TO_TASK.get(state)
        if mapped is None:
            return
        if self.shutting_down and not self.user_cancelled:
            # The scheduler calls this "run cancelled"; nobody cancelled anything.
            # _finish records the running tasks as interrupted, the rest stay pending.
            return
        task = self.record.task(node_id)
        # run_task records its own outcome; this catches tasks that never ran
        # (skipped, cancelled) and a runner that raised.
        if task.state in (TaskState.PENDING, TaskState.RUNNING):
            self.save_task(task.replace(state=mapped, reason=reason, finished_at=time.time()))

    def _prewarm(self, node: Node) -> None:
        """Start a task's agent once its dependencies are under way, so it answers warm.

        At most ``max_parallel`` agents wait pre-started at a time: a wide plan
        must not start every worker process at once.
        """
        if self.integrator is not None and not self.integrator.prewarmable(node.id):
            return
        if node.id not in self.soon and node.id not in self.prewarmed:
            self.soon.append(node.id)
        self.pump_prewarm()

    def pump_prewarm(self) -> None:
        cap = self.team.limits.max_parallel
        while self.soon and len(self.prewarmed) < cap and self.stop_reason is None:
            task_id = self.soon.pop(0)
            self.prewarmed[task_id] = asyncio.create_task(self._prewarm_spawn(task_id))

    async def _prewarm_spawn(self, task_id: str) -> str:
        from ._task_runner import spawn_task_agent  # the runner imports this module

        async with self.prewarm_slots:
            self.prewarm_spawning.add(task_id)
            return await spawn_task_agent(self, task_id)

    def take_prewarmed(self, task_id: str) -> asyncio.Task[str] | None:
        if task_id in self.soon:
            self.soon.remove(task_id)
        pending = self.prewarmed.pop(task_id, None)
        if pending is not None and task_id not in self.prewarm_spawning:
            # Still queued for a slot: the task needs its agent now, not after other pre-starts.
            pending.cancel()
            pending = None
        self.prewarm_spawning.discard(task_id)
        self.pump_prewarm()
        return pending

    def stop_dispatch(self, reason: str) -> None:
        """Start nothing more, interrupt what runs (budget reached, run cancelled)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.scheduler is not None:
            self.scheduler.stop(reason)
        for request_id in list(self.requests.values()):
            self.cancel_soon(request_id)

    def check_budget(self) -> None:
        """Once the run's spending has reached its budget, stop: running tasks are
        interrupted (their turns cancelled) and nothing more starts."""
        if self.ledger.exhausted and self.stop_reason is None:
            limit = self.ledger.limits.run_usd or 0.0
            self.stop_dispatch(f"run budget ${limit:.2f} reached (${self.ledger.spent:.4f} spent)")

    def cancel_soon(self, request_id: str) -> None:
        """Cancel a request in the background (from code that cannot await)."""
        task = asyncio.create_task(self._cancel_request(request_id))
        # Held until done: the loop keeps only a weak reference to a task.
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cancel_request(self, request_id: str) -> None:
        with contextlib.suppress(PodiumError):
            await self.runtime.cancel(request_id)

    # --- synthesis ----------------------------------------------------------------------

    async def synthesise(self) -> None:
        results: list[ResultBrief] = []
        skipped: list[SkippedBrief] = []
        for task in self.record.tasks:
            data = self.dir.read_result(task.worker, task.task_id)
            if task.state is TaskState.COMPLETE and data is not None:
                output = data.get("output")
                excerpt = output if isinstance(output, str) else _json_excerpt(output)
                results.append(
                    ResultBrief(
                        task_id=task.task_id,
                        worker=task.worker,
                        status=str(data.get("status")),
                        result_path=self.dir.relative(
                            self.dir.result_file(task.worker, task.task_id)
                        ),
                        summary=str(data.get("summary") or ""),
                        output_excerpt=excerpt[:_EXCERPT],
                    )
                )
            else:
                skipped.append(
                    SkippedBrief(
                        task_id=task.task_id,
                        worker=task.worker,
                        reason=f"{task.state.value}: {task.reason or 'no reason recorded'}",
                    )
                )
        synthesis = ""
        error: str | None = None
        may_synthesise = bool(results) and not self.user_cancelled and not self.ledger.exhausted
        refused = self._synthesis_refusal() if may_synthesise else None
        if may_synthesise and refused is None:
            lead = await self.orchestrator_agent()
            prompt = synthesis_prompt(request=self.record.request, results=results, skipped=skipped)
            request, _ = await self.turns.ask(
                lead,
                prompt,
                timeout=self.team.limits.task_timeout,
                meta={"run_id": self.record.id, "phase": "synthesis"},
            )
            self.charge(request, worker=None)
            self.save(synthesis_cost_usd=self.record.synthesis_cost_usd + request.cost_usd)
            if request.state is RequestState.COMPLETE and (request.result or "").strip():
                synthesis = (request.result or "").strip()
            else:
                error = f"synthesis failed: request {request.id} {request.state.value}: " + (
                    request.error or "empty answer"
                )
        elif not results:
            error = "no task completed; nothing to synthesise"
        note = error
        if results and not synthesis and error is None and not self.user_cancelled:
            # Not an error of its own (the tasks' states say how the run ended),
            # but the reader must know why the report has no synthesis.
            note = f"no synthesis: {refused or self.stop_reason or 'the run budget is spent'}"
        report = run_summary_markdown(
            self.record,
            synthesis=synthesis,
            note=note,
            billing=await self.billing_pools(),
            integration_stat=await self._integration_stat(),
        )
        self.dir.write_report(report)
        self.save(report_path=self.dir.relative(self.dir.report_file), error=error)

    async def _integration_stat(self) -> str:
        data = self.record.integration
        if not data or data.get("base") == data.get("head"):
            return ""
        from ..isolation._integrate import diff_stat

        return await diff_stat(Path(self.record.cwd), str(data["base"]), str(data["head"]))

    def _synthesis_refusal(self) -> str | None:
        """Why synthesis may not start under the run budget, if it may not.

        Like a task, it starts only if its estimate fits what is left: the cost of
        one planning turn (same lead, a prompt of the same kind). A run given its
        plan has no such figure and synthesises while any budget is left.
        """
        left = self.ledger.remaining
        attempts = self.record.plan_attempts
        if left is None or attempts <= 0 or self.record.planning_cost_usd <= 0:
            return None
        estimate = self.record.planning_cost_usd / attempts
        if estimate <= left:
            return None
        return (
            f"its estimate ${estimate:.4f} (the cost of a planning turn) is more than "
            f"the ${left:.4f} left of the run budget"
        )

    def finished_ok(self) -> bool:
        """Every task complete, and (with worktree tasks) all their work integrated."""
        if self.integrator is not None and self.integrator.unresolved():
            return False
        return all(t.state is TaskState.COMPLETE for t in self.record.tasks)

    def final_state(self) -> RunState:
        if self.user_cancelled:
            return RunState.CANCELLED
        if self.record.error or not self.finished_ok():
            return RunState.FAILED
        return RunState.COMPLETE


def _json_excerpt(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=1)


def resolve_cwd(team: Team, cwd: str | Path | None) -> Path:
    return Path(cwd).expanduser().resolve() if cwd else team.root
