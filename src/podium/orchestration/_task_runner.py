"""One task of a run: its agent, its attempts, the quality gate, its artifacts.

Attempts come in two kinds, both bounded by the worker's ``retries``:

* a turn that failed (process died, timeout, API error) is sent again; the
  runtime resumes the agent's session in a new process;
* an answer that failed the quality gate is sent back with the reasons
  (``on_check_failure = "retry"``), or the task starts over on a fresh agent
  of the same worker (``"reassign"``), or fails at once (``"fail"``).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._backend_info import backend_info
from .._errors import PodiumError
from .._records import EventKind, RequestRecord, RequestState, Usage
from ..isolation import IsolationMode, isolator_for
from ._active import ActiveRun
from ._gate import GateVerdict, QualityGate
from ._prompts import DependencyBrief, gate_retry_prompt, task_prompt
from ._run_records import TaskState
from ._scheduler import Node, Outcome
from ._user_env import check_environment
from ._worker_agent import worker_agent_spec

__all__ = ["run_task", "spawn_task_agent", "task_cap"]

_MAX_AGENT_NAME = 60  # room for the "_N" suffix of a reassigned attempt
# A pre-started agent is used if its cap is at most this much over the current
# one (the CLI prints six decimals), or no tighter than this share of it.
_CAP_SLACK = 0.000_001
_CAP_KEEP_TIGHTER = 0.8


def _agent_base(run: ActiveRun, task_id: str) -> str:
    base = f"{run.record.id}-{task_id}"
    if len(base) <= _MAX_AGENT_NAME:
        return base
    index = [t.task_id for t in run.record.tasks].index(task_id)
    return f"{run.record.id}-task{index}"


def task_cap(run: ActiveRun, task_id: str) -> tuple[float | None, str]:
    """What a new agent process for the task may spend (its ``--max-budget-usd``), and
    which limit sets it: the tightest of the run's budgets and the profile's ``budget_usd``.
    """
    task = run.record.task(task_id)
    parts = run.ledger.cap_parts(task.worker, task_id=task_id)
    profile_cap = run.team.workers[task.worker].profile.budget_usd
    if profile_cap is not None:
        parts[f"profile budget_usd {_usd(profile_cap)}"] = profile_cap
    if not parts:
        return None, ""
    source = min(parts, key=lambda name: parts[name])
    # Rounded down to the CLI's precision, so the cap never exceeds what is left.
    return max(0.0, math.floor(parts[source] * 1e6) / 1e6), source


async def spawn_task_agent(run: ActiveRun, task_id: str, *, base: str | None = None) -> str:
    """A fresh agent for the task; a worktree one branches from ``base``, by default
    where the run's integration says (the run's base, or its dependencies' merge)."""
    task = run.record.task(task_id)
    worker = run.team.workers[task.worker]
    cap, source = task_cap(run, task_id)
    spec = worker_agent_spec(worker)
    isolation = spec.options.isolation
    if isolation is not None and isolation.mode is IsolationMode.WORKTREE:
        base = base or (run.integrator.base_for(task_id) if run.integrator else None)
        if base is not None:
            stacked = replace(isolation, base=base)
            spec = spec.replace(options=spec.options.replace(isolation=stacked))
    # Non-urgent work goes through the Batch API where the backend has one.
    batch = not task.urgent and backend_info(spec.backend).batch
    spec = spec.replace(
        options=spec.options.replace(max_budget_usd=cap, batch=batch or spec.options.batch)
    )
    name = await run.new_agent(_agent_base(run, task_id), spec, results=task.worker)
    if cap is not None:
        run.agent_caps[name] = (cap, source)
    return name


async def _commit_work(run: ActiveRun, agent: str, task_id: str, worker: str) -> dict[str, Any]:
    """End of a task in an isolated workspace: commit what the agent changed.

    Returns what the result artifact records (branch, commit sha or None); an
    empty dict for an agent working in the project as is.
    """
    record = await run.runtime.store.find_agent(agent)
    if record is None:
        return {}
    ws = record.options.workspace
    if ws is None or ws.mode is IsolationMode.SHARED:
        return {}
    message = f"podium: {run.record.id} task {task_id} ({worker})"
    try:
        sha = await isolator_for(ws.mode).finish_task(ws, message=message)
    except PodiumError as exc:
        return {"isolation": ws.mode.value, "branch": ws.branch, "commit_error": exc.message}
    return {"isolation": ws.mode.value, "branch": ws.branch, "base": ws.base_commit, "commit": sha}


async def _agent_cwd(run: ActiveRun, agent: str) -> Path:
    record = await run.runtime.store.find_agent(agent)
    return Path(record.cwd) if record is not None else Path(run.record.cwd)


async def _agent_for(run: ActiveRun, task_id: str) -> str:
    pending = run.take_prewarmed(task_id)
    if pending is not None:
        agent: str | None = None
        with contextlib.suppress(PodiumError):
            agent = await pending
        # A failed pre-start is tried once more below, where its error reaches the task.
        if agent is not None:
            # The cap was computed when the process was pre-started; what finished
            # since may have changed it, and the CLI's cap is fixed at start.
            old = run.agent_caps.get(agent, (None, ""))[0]
            new, _ = task_cap(run, task_id)
            if _cap_still_fits(old, new):
                return agent
            run.agent_caps.pop(agent, None)
            await run.retire(agent)
    return await spawn_task_agent(run, task_id)


def _dependency_briefs(run: ActiveRun, task_id: str) -> list[DependencyBrief]:
    briefs = []
    for dep_id in run.record.task(task_id).dependencies:
        dep = run.record.task(dep_id)
        data = run.dir.read_result(dep.worker, dep.task_id) or {}
        briefs.append(
            DependencyBrief(
                task_id=dep.task_id,
                worker=dep.worker,
                status=str(data.get("status", dep.state.value)),
                summary=str(data.get("summary") or dep.summary or ""),
                result_path=str(run.dir.result_file(dep.worker, dep.task_id)),
            )
        )
    return briefs


async def run_task(run: ActiveRun, node: Node) -> Outcome:
    assert run.plan is not None
    planned = run.plan.task(node.id)
    worker = run.team.workers[planned.worker]
    profile = worker.profile
    task_file = run.dir.task_file(planned.worker, planned.task_id)
    result_file = run.dir.result_file(planned.worker, planned.task_id)
    deps = _dependency_briefs(run, planned.task_id)
    timeout = planned.timeout or worker.timeout
    started = time.time()
    run.dir.write_task(
        planned.worker,
        planned.task_id,
        {
            "run_id": run.record.id,
            **planned.to_dict(),
            "request": run.record.request,
            "model": worker.model,
            "timeout": timeout,
            "dependencies": [d.__dict__ for d in deps],
            "output_schema": dict(profile.output_schema) if profile.output_schema else None,
            "result_file": run.dir.relative(result_file),
            "written_at": started,
        },
    )
    task = run.save_task(
        run.record.task(planned.task_id).replace(
            state=TaskState.RUNNING, started_at=started, finished_at=None, reason=None, attempts=0
        )
    )
    await run.emit(EventKind.TASK_STARTED, task_id=task.task_id, worker=task.worker)

    first_prompt = task_prompt(
        run_id=run.record.id,
        task=planned,
        request=run.record.request,
        dependencies=deps,
        output_schema=profile.output_schema,
        task_file=str(task_file),
        result_file=str(result_file),
    )
    gate = QualityGate(output_schema=profile.output_schema, check=worker.check)
    policy = run.team.defaults.on_check_failure
    max_attempts = 1 + worker.retries
    agent = await _agent_for(run, planned.task_id)
    agents = [agent]  # every agent that worked on the task, in order (reassigned: several)
    task = run.save_task(task.replace(agent=agent))
    prompt = first_prompt
    attempts, cost, usage, waited = 0, 0.0, Usage(), 0.0
    request_ids: list[str] = []
    verdict: GateVerdict | None = None
    answer: str | None = None
    final = TaskState.FAILED
    reason: str | None = None
    while attempts < max_attempts:
        if run.stop_reason is not None:
            final, reason = TaskState.CANCELLED, run.stop_reason
            break
        attempts += 1

        def submitted(request: RequestRecord) -> None:
            run.requests[planned.task_id] = request.id
            if run.stop_reason is not None:  # stopped while this turn waited to be sent
                run.cancel_soon(request.id)

        request, slept = await run.turns.ask(
            agent,
            prompt,
            timeout=timeout,
            meta={
                "run_id": run.record.id,
                "task_id": planned.task_id,
                "attempt": attempts,
                # Orders the task's agent among those waiting for a warm slot.
                "priority": planned.priority,
            },
            on_submitted=submitted,
            width=run.width,
        )
        run.requests.pop(planned.task_id, None)
        waited += slept
        cost += request.cost_usd
        usage = usage + request.usage
        request_ids.append(request.id)
        run.charge(request, worker=planned.worker, task_id=planned.task_id)
        task = run.save_task(
            task.replace(attempts=attempts, cost_usd=cost, usage=usage, agent=agent)
        )
        # Crossed by this turn: the other running tasks are interrupted now.
        run.check_budget()

        if request.state is RequestState.COMPLETE:
            answer = request.result
            # In the agent's workspace: a worktree holds the work the check must see.
            verdict = await gate.check(
                answer,
                cwd=await _agent_cwd(run, agent),
                environ=check_environment(run.record.user_env),
            )
            if verdict.ok:
                final, reason = TaskState.COMPLETE, None
                break
            reason = "quality gate: " + "; ".join(verdict.reasons)
            if policy == "fail":
                break
            if policy == "reassign":
                # The first agent's work stays on its own branch, committed.
                await _commit_work(run, agent, planned.task_id, planned.worker)
                await run.retire(agent)
                agent = await spawn_task_agent(run, planned.task_id)
                agents.append(agent)
                prompt = (
                    first_prompt
                    + "\n\n"
                    + gate_retry_prompt(verdict.reasons, profile.output_schema)
                )
            else:
                prompt = gate_retry_prompt(verdict.reasons, profile.output_schema)
            continue
        if run.stop_reason is not None and request.state in (
            RequestState.CANCELLED,
            RequestState.INTERRUPTED,
        ):
            final, reason = TaskState.CANCELLED, run.stop_reason
            break
        reason = f"request {request.id} {request.state.value}: {request.error or 'no answer'}"
        if _budget_tripped(request):
            cap, source = run.agent_caps.get(agent, (None, ""))
            limit = f" {_usd(cap)} (set by the {source})" if cap is not None else ""
            reason = f"task budget reached: the agent's spending cap{limit}: {request.error}"
            break

    committed = await _commit_work(run, agent, planned.task_id, planned.worker)
    finished = time.time()
    outcome_output: Any = verdict.output if verdict is not None else answer
    run.dir.write_result(
        planned.worker,
        planned.task_id,
        {
            "run_id": run.record.id,
            "task_id": planned.task_id,
            "worker": planned.worker,
            "status": final.value,
            "output": outcome_output,
            "findings": list(verdict.findings) if verdict is not None else [],
            "artifacts": list(verdict.artifacts) if verdict is not None else [],
            # A failed task's gist is why it failed, not the first line of a rejected answer.
            "summary": verdict.summary
            if verdict is not None and final is TaskState.COMPLETE
            else (reason or ""),
            "reason": reason,
            "usage": usage.to_dict(),
            "cost_usd": cost,
            "attempts": attempts,
            "model": worker.model,
            "agent": agent,
            "agents": agents,
            "request_ids": request_ids,
            **committed,
            "timings": {
                "started_at": started,
                "finished_at": finished,
                "seconds": round(finished - started, 3),
                "rate_limited_seconds": round(waited, 3),
            },
        },
    )
    run.ledger.task_finished(planned.task_id, planned.worker, cost)
    for name in agents:
        run.agent_caps.pop(name, None)
    await run.retire(agent)
    run.save_task(
        task.replace(
            state=final,
            reason=reason,
            finished_at=finished,
            waited_s=waited,
            summary=verdict.summary
            if verdict is not None and final is TaskState.COMPLETE
            else None,
            result_path=run.dir.relative(result_file),
        )
    )
    await run.emit(
        EventKind.TASK_FINISHED,
        task_id=planned.task_id,
        worker=planned.worker,
        state=final.value,
        cost_usd=cost,
        reason=reason,
    )
    run.check_budget()
    return Outcome(ok=final is TaskState.COMPLETE, reason=reason)


def _cap_still_fits(old: float | None, new: float | None) -> bool:
    """Whether a pre-started agent's cap ``old`` may serve where ``new`` applies now.

    Never one that could spend past a limit; one a little tighter than needed is
    kept (restarting a CLI costs a second), one much tighter would fail its task early.
    """
    if old is None or new is None:
        return old is new
    return new * _CAP_KEEP_TIGHTER <= old <= new + _CAP_SLACK


def _budget_tripped(request: RequestRecord) -> bool:
    error = (request.error or "").lower()
    return "budget" in error


def _usd(value: float) -> str:
    return f"${value:.2f}"
