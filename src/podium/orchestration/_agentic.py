"""Agentic runs: the orchestrator drives the workers itself, through podium's MCP tools.

The run's lead is started with ``podium mcp`` attached (``--mcp-config``) and
asked the request once. It spawns workers, assigns them tasks and waits for
them with the tools; podium watches the runtime's events and records every
request to an agent the lead spawned as a task of the run (task and result
files, costs, events), exactly as a planned run's tasks are recorded, so
``podium show``, budgets and the report work the same. The lead's final
answer is the synthesis; podium's summary follows it in ``report.md``.

A run's mode is kept in ``plan_source`` (``"agentic"``), so a resumed run
knows what it is.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .._errors import PodiumError, UsageError
from .._options import McpPlacement
from .._records import RequestState
from ..mcp._attach import attach_options
from ..mcp._settings import McpSettings
from ._active import ActiveRun
from ._agentic_tasks import AgenticTasks
from ._prompts import _quote
from ._report import run_summary_markdown
from ._run_records import RunState
from ._worker_agent import lead_agent_spec

__all__ = ["AGENTIC", "MODES", "PLANNED", "agentic_prompt", "check_mode", "drive_agentic"]

log = logging.getLogger("podium.runs")

PLANNED = "planned"
AGENTIC = "agentic"
MODES = (PLANNED, AGENTIC)


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise UsageError(f"mode must be 'planned' or 'agentic', got {mode!r}", mode=str(mode))
    return str(mode)


def agentic_prompt(active: ActiveRun, settings: McpSettings) -> str:
    """The one message the lead gets: the request, its tools, its team, its limits."""
    record, team = active.record, active.team
    roster = "\n".join(
        f"- {name}: {w.profile.description or 'no description'} (model {w.model or 'default'})"
        for name, w in team.workers.items()
    )
    budget = (
        f"${record.budget_usd:.2f} for the whole run (you included)"
        if record.budget_usd is not None
        else "none set"
    )
    earlier = [
        f"- {t.task_id} ({t.worker}): {t.state.value}"
        + (f", result in {t.result_path}" if t.result_path else "")
        for t in record.tasks
    ]
    resumed = (
        "\nThis run was interrupted and is being continued. Its agents were stopped; "
        "what they did before is recorded here:\n" + "\n".join(earlier) + "\n"
        if earlier
        else ""
    )
    depth = (
        "workers cannot spawn workers of their own"
        if settings.max_depth <= 1
        else f"workers spawn only if you give them leave (allow_spawn), at most "
        f"{settings.max_depth} levels deep"
    )
    return f"""PODIUM AGENTIC RUN {record.id}

You lead this run. Carry out the request below by delegating to workers with
podium's MCP tools (their names start with mcp__podium__):

1. spawn_agent: start a worker. worker=<name> uses a team profile below (its
   prompt, model and tools); or give a system_prompt. fork=true copies you.
2. assign_task: give a worker one complete, self-contained task. It returns a
   request id at once, so give every independent task first.
3. wait_for: wait for a list of request ids together (fan-in); get_result
   reads one answer; ask_agent asks and waits in one call; relay passes one
   worker's answer to another.
4. When the workers are done, answer the request yourself, in full. That
   answer is the run's report; anything still running then is cancelled.

Every tool result is JSON; a refused call says why in "error" and changed
nothing.

Team workers (spawn_agent worker=<name>):
{roster}

Limits: at most {settings.max_agents} live workers; {depth}; budget {budget}.
{resumed}
{_quote("REQUEST", record.request)}
"""


def _settings(active: ActiveRun, lead: str) -> McpSettings:
    """The lead's MCP server: this run's scope and budget, the team, limits from the env."""
    env = McpSettings.from_env({k: v for k, v in os.environ.items() if k.startswith("PODIUM_MCP_")})
    limits = active.team.limits
    return McpSettings(
        home=active.runtime.config.home,
        agent=lead,
        run_id=active.record.id,
        scope=active.record.id,
        team=active.team.path,
        max_agents=env.max_agents,
        max_depth=env.max_depth,
        budget_usd=env.budget_usd,
        call_budget_usd=limits.per_task_budget_usd or env.call_budget_usd,
        autostart=False,
    )


async def _free_name(active: ActiveRun, base: str) -> str:
    name, n = base, 1
    while await active.runtime.store.find_agent(name) is not None:
        n += 1
        name = f"{base}_{n}"
    return name


async def _lead(active: ActiveRun) -> tuple[str, McpSettings]:
    """Spawn the lead with the MCP server attached (a resumed run gets a fresh one)."""
    record, runtime = active.record, active.runtime
    name = await _free_name(active, f"{record.id}_lead")
    settings = _settings(active, name)
    meta = McpPlacement(agent=name, scope=record.id, run_id=record.id, leave=True)
    spec = lead_agent_spec(active.team)
    options = attach_options(spec.options.replace(mcp=meta), settings)
    if record.budget_usd is not None:
        left = round(max(record.budget_usd - record.cost_usd, 0.000001), 6)
        options = options.replace(max_budget_usd=left)
    active.agents.add(name)
    await runtime.spawn_spec(name, spec.replace(options=options), cwd=record.cwd)
    active.turns.bind(name, spec.model)
    active.save(orchestrator_agent=name)
    return name, settings


async def drive_agentic(active: ActiveRun) -> tuple[RunState, str | None]:
    """Run the lead once; returns the run's final state and error (the report is written)."""
    if active.record.budget_usd is not None and active.ledger.exhausted:
        raise PodiumError(
            f"the run's budget ${active.record.budget_usd:.2f} is spent", run_id=active.record.id
        )
    tasks = AgenticTasks(active)
    tasks.start()
    answer, error = "", None
    try:
        lead, settings = await _lead(active)
        request, _ = await active.turns.ask(
            lead,
            agentic_prompt(active, settings),
            timeout=None,
            meta={"run_id": active.record.id, "phase": "agentic"},
        )
        active.charge(request, worker=None)
        active.save(
            plan_attempts=active.record.plan_attempts + 1,
            planning_cost_usd=active.record.planning_cost_usd + request.cost_usd,
        )
        if request.state is RequestState.COMPLETE and (request.result or "").strip():
            answer = (request.result or "").strip()
        else:
            error = f"the orchestrator's request {request.id} {request.state.value}: " + (
                request.error or "empty answer"
            )
    except BaseException:
        await tasks.stop()
        if active.user_cancelled:
            await tasks.settle("the run was cancelled")
        raise
    await tasks.stop()
    await tasks.settle("the orchestrator finished without waiting for it")
    report = run_summary_markdown(
        active.record, synthesis=answer, note=error, billing=await active.billing_pools()
    )
    active.dir.write_report(report)
    active.save(report_path=active.dir.relative(active.dir.report_file), error=error)
    return (RunState.FAILED if error else RunState.COMPLETE), error
