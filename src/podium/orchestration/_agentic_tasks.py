"""The records of an agentic run: every request to an agent its lead spawned is a task.

:class:`AgenticTasks` listens to the runtime's events while the lead works.
An agent joins the run when it is spawned (or forked) with the run's MCP
scope; each request queued for it becomes a :class:`TaskRecord` with a task
file, and when it ends its result file, costs and ``task_finished`` event are
written exactly as for a planned run's task. Planned runs the lead started
with ``run_plan`` are added as tasks when the lead is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from .._errors import PodiumError
from .._names import MAX_NAME_LENGTH
from .._records import Event, EventKind, RequestRecord, RequestState
from ..mcp._ledger import ScopeLedger
from ..mcp._limits import own_placement, placement
from ._active import ActiveRun
from ._artifacts import RunDir
from ._run_records import RunState, TaskRecord, TaskState

__all__ = ["RUN_PLAN_WORKER", "AgenticTasks"]

log = logging.getLogger("podium.runs")

RUN_PLAN_WORKER = "run_plan"
"""The worker name under which planned runs started by the lead are recorded."""

_WATCHED = frozenset(
    {
        EventKind.SPAWNED,
        EventKind.FORKED,
        EventKind.REQUEST_QUEUED,
        EventKind.REQUEST_STARTED,
        EventKind.REQUEST_FINISHED,
    }
)
_TASK_STATE = {
    RequestState.COMPLETE: TaskState.COMPLETE,
    RequestState.FAILED: TaskState.FAILED,
    RequestState.CANCELLED: TaskState.CANCELLED,
    RequestState.INTERRUPTED: TaskState.INTERRUPTED,
}
_RUN_STATE = {
    RunState.COMPLETE: TaskState.COMPLETE,
    RunState.FAILED: TaskState.FAILED,
    RunState.CANCELLED: TaskState.CANCELLED,
}
_GIST = 200
# How long a request cancelled at the end of the run gets to report its end.
_SETTLE_WAIT = 15.0


def _gist(text: str | None) -> str:
    line = next((s.strip() for s in (text or "").splitlines() if s.strip()), "")
    return line if len(line) <= _GIST else line[: _GIST - 1] + "…"


class AgenticTasks:
    def __init__(self, active: ActiveRun) -> None:
        self.active = active
        self.run_id = active.record.id
        self.members: dict[str, str] = {}  # agent name -> worker label
        self.task_of: dict[str, str] = {}  # request id -> task id
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None

    # --- event intake -------------------------------------------------------------------

    def start(self) -> None:
        self.active.runtime.add_listener(self._on_event)
        self._consumer = asyncio.create_task(self._consume(), name=f"run {self.run_id} tasks")

    def _on_event(self, event: Event) -> None:
        if event.kind in _WATCHED and event.agent is not None:
            self._queue.put_nowait(event)

    async def stop(self) -> None:
        """Stop listening, after everything heard so far is recorded."""
        self.active.runtime.remove_listener(self._on_event)
        self._queue.put_nowait(None)
        if self._consumer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._consumer)

    async def _consume(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                await self._handle(event)
            except PodiumError as exc:
                log.warning("run %s: cannot record %s: %s", self.run_id, event.kind.value, exc)
            except Exception:  # a bookkeeping bug must not stop the run's lead
                log.exception("run %s: recording %s failed", self.run_id, event.kind.value)

    async def _handle(self, event: Event) -> None:
        name = event.agent
        assert name is not None
        if event.kind in (EventKind.SPAWNED, EventKind.FORKED):
            await self._joined(name)
        elif name in self.members and event.request_id is not None:
            if event.kind is EventKind.REQUEST_QUEUED:
                await self._task(event.request_id)
            elif event.kind is EventKind.REQUEST_STARTED:
                await self._started(event.request_id)
            elif event.kind is EventKind.REQUEST_FINISHED:
                await self.finished(event.request_id)

    async def _joined(self, name: str) -> None:
        agent = await self.active.runtime.store.find_agent(name)
        if agent is None:
            return
        scope, depth, _ = placement(agent)
        if scope != self.run_id or depth < 1:
            return
        own = own_placement(agent)
        self.members[name] = own.worker if own is not None and own.worker else name
        # Retired with the run's other agents when it ends.
        self.active.agents.add(name)

    # --- tasks --------------------------------------------------------------------------

    def _task_id(self, request: RequestRecord) -> str:
        task_id = f"{request.agent}-{request.seq}"
        taken = {t.task_id for t in self.active.record.tasks}
        if len(task_id) > MAX_NAME_LENGTH or task_id in taken:
            n = len(taken) + 1
            while f"task{n}" in taken:
                n += 1
            task_id = f"task{n}"
        return task_id

    async def _task(self, request_id: str) -> TaskRecord:
        """The task of a request, created (with its task file) the first time it is seen."""
        active = self.active
        known = self.task_of.get(request_id)
        if known is not None:
            return active.record.task(known)
        request = await active.runtime.store.get_request(request_id)
        worker = self.members.get(request.agent, request.agent)
        agent = await active.runtime.store.find_agent(request.agent)
        task = TaskRecord(
            task_id=self._task_id(request),
            worker=worker,
            description=_gist(request.prompt) or "(empty prompt)",
            model=agent.model if agent is not None else request.model,
            agent=request.agent,
        )
        self.task_of[request_id] = task.task_id
        active.dir.write_task(
            worker,
            task.task_id,
            {
                "run_id": self.run_id,
                "task_id": task.task_id,
                "worker": worker,
                "agent": request.agent,
                "request_id": request.id,
                "source": request.source.value,
                "relay_from": request.relay_from,
                "prompt": request.prompt,
                "written_at": time.time(),
            },
        )
        active.save(tasks=(*active.record.tasks, task))
        return task

    async def _started(self, request_id: str) -> None:
        task = await self._task(request_id)
        if task.state is TaskState.PENDING:
            self.active.save_task(task.replace(state=TaskState.RUNNING, started_at=time.time()))
            await self.active.emit(EventKind.TASK_STARTED, task_id=task.task_id, worker=task.worker)

    async def finished(self, request_id: str, *, why: str | None = None) -> None:
        """Record a request's end: result file, costs, task state, ``task_finished``.

        ``why``: what ended it, for a request that podium itself stopped.
        """
        active = self.active
        task = await self._task(request_id)
        if task.done:
            return
        request = await active.runtime.store.get_request(request_id)
        if not request.done:
            return
        state = _TASK_STATE.get(request.state, TaskState.FAILED)
        reason = None if state is TaskState.COMPLETE else (request.error or request.state.value)
        if why is not None and reason is not None:
            reason = f"{why} ({reason})"
        finished = request.completed_at or time.time()
        started = request.started_at or task.started_at or finished
        result_file = active.dir.result_file(task.worker, task.task_id)
        active.dir.write_result(
            task.worker,
            task.task_id,
            {
                "run_id": self.run_id,
                "task_id": task.task_id,
                "worker": task.worker,
                "status": state.value,
                "output": request.result,
                "summary": _gist(request.result) if state is TaskState.COMPLETE else reason,
                "reason": reason,
                "usage": request.usage.to_dict(),
                "cost_usd": request.cost_usd,
                "attempts": 1,
                "model": request.model,
                "agent": request.agent,
                "request_ids": [request.id],
                "timings": {
                    "started_at": started,
                    "finished_at": finished,
                    "seconds": round(finished - started, 3),
                },
            },
        )
        active.charge(request, worker=task.worker, task_id=task.task_id)
        active.ledger.task_finished(task.task_id, task.worker, request.cost_usd)
        active.save_task(
            task.replace(
                state=state,
                attempts=1,
                cost_usd=request.cost_usd,
                usage=request.usage,
                started_at=started,
                finished_at=finished,
                reason=reason,
                summary=_gist(request.result) if state is TaskState.COMPLETE else None,
                result_path=active.dir.relative(result_file),
            )
        )
        await active.emit(
            EventKind.TASK_FINISHED,
            task_id=task.task_id,
            worker=task.worker,
            state=state.value,
            cost_usd=request.cost_usd,
            reason=reason,
        )

    # --- the end of the run -------------------------------------------------------------

    async def settle(self, reason: str) -> None:
        """Cancel what the lead left running, record how it ended; add its planned runs."""
        runtime = self.active.runtime
        open_requests = [
            rid for rid, tid in self.task_of.items() if not self.active.record.task(tid).done
        ]
        for request_id in open_requests:
            with contextlib.suppress(PodiumError):
                await runtime.cancel(request_id)
        for request_id in open_requests:
            with contextlib.suppress(PodiumError):
                await runtime.wait(request_id, _SETTLE_WAIT)
            await self.finished(request_id, why=reason)
        for task in self.active.record.tasks:
            if not task.done:
                self.active.save_task(
                    task.replace(state=TaskState.CANCELLED, reason=reason, finished_at=time.time())
                )
        self._add_planned_runs()

    def _add_planned_runs(self) -> None:
        active = self.active
        recorded = {t.task_id for t in active.record.tasks if t.worker == RUN_PLAN_WORKER}
        ledger = ScopeLedger(active.runtime.config.home, self.run_id)
        for run_id in ledger.runs():
            if run_id in recorded:
                continue
            try:
                data = RunDir(active.dir.runs_root, run_id).read_run() or {}
            except PodiumError:
                data = {}
            state = _RUN_STATE.get(RunState(data["state"])) if "state" in data else None
            cost = float(data.get("cost_usd") or 0.0)
            by_worker = dict(active.record.cost_by_worker)
            by_worker[RUN_PLAN_WORKER] = by_worker.get(RUN_PLAN_WORKER, 0.0) + cost
            active.ledger.charge(cost, worker=RUN_PLAN_WORKER)
            task = TaskRecord(
                task_id=run_id,
                worker=RUN_PLAN_WORKER,
                description=_gist(str(data.get("request") or "planned run")),
                state=state or TaskState.INTERRUPTED,
                attempts=1,
                cost_usd=cost,
                reason=None if state is TaskState.COMPLETE else _run_reason(data),
                result_path=str(RunDir(active.dir.runs_root, run_id).report_file),
            )
            active.save(
                tasks=(*active.record.tasks, task),
                cost_usd=active.record.cost_usd + cost,
                cost_by_worker=by_worker,
            )


def _run_reason(data: dict[str, Any]) -> str:
    state = data.get("state", "unknown")
    error = data.get("error")
    return f"planned run {state}" + (f": {error}" if error else "")
