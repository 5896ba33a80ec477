"""The part of ``report.md`` podium writes itself: what ran, what did not and why, what it cost.

The orchestrator's synthesis comes first; this summary follows it, so the
report is complete (and honest about skipped work) even when synthesis failed
or was not affordable.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._run_records import RunRecord, TaskState

__all__ = ["money", "run_summary_markdown"]


def money(value: float) -> str:
    return f"${value:.4f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run_summary_markdown(
    run: RunRecord,
    *,
    synthesis: str,
    note: str | None = None,
    billing: Mapping[str, int] | None = None,
    integration_stat: str = "",
) -> str:
    """``billing``: how many of the run's agents drew from each pool (API key,
    subscription credit), shown next to the cost. ``integration_stat``: ``git diff
    --stat base..head`` of the run's integration branch."""
    lines = [f"# Run {run.id}", ""]
    if synthesis:
        lines += [synthesis.rstrip(), ""]
    if note:
        lines += [f"> **Note:** {_cell(note)}", ""]
    lines += [
        "---",
        "",
        "## Run summary (written by podium)",
        "",
        f"- Request: {_cell(run.request[:500])}",
        f"- Team: {run.team_name} ({run.team_path})",
        f"- Plan: {len(run.tasks)} tasks, " + _plan_origin(run),
        "",
        "| Task | Worker | State | Attempts | Cost | Result |",
        "|---|---|---|---|---|---|",
    ]
    for task in run.tasks:
        lines.append(
            f"| {task.task_id} | {task.worker} | {task.state.value} | {task.attempts} | "
            f"{money(task.cost_usd)} | {task.result_path or '-'} |"
        )
    not_done = [t for t in run.tasks if t.state is not TaskState.COMPLETE]
    if not_done:
        lines += ["", "### Not completed", ""]
        for task in not_done:
            lines.append(
                f"- **{task.task_id}** ({task.worker}): {task.state.value}"
                f" - {_cell(task.reason or 'no reason recorded')}"
            )
    lines += _integration_lines(run, integration_stat)
    lines += [
        "",
        "### Cost",
        "",
        f"- Total: {money(run.cost_usd)}"
        + (f" of a {money(run.budget_usd)} budget" if run.budget_usd is not None else ""),
        f"- Planning: {money(run.planning_cost_usd)}; synthesis: {money(run.synthesis_cost_usd)}",
    ]
    for worker, cost in sorted(run.cost_by_worker.items()):
        lines.append(f"- Worker {worker}: {money(cost)}")
    for model, cost in sorted(run.cost_by_model.items()):
        lines.append(f"- Model {model}: {money(cost)}")
    if billing:
        pools = ", ".join(
            f"{pool} ({n} agent{'s' if n != 1 else ''})" for pool, n in sorted(billing.items())
        )
        lines.append(f"- Billed to: {pools}")
    return "\n".join(lines) + "\n"


def _integration_lines(run: RunRecord, stat: str) -> list[str]:
    data = run.integration
    if not data:
        return []
    merged = data.get("merged") or []
    lines = [
        "",
        "### Integration",
        "",
        f"- Branch: `{data.get('branch')}` (base {str(data.get('base'))[:12]}, "
        f"head {str(data.get('head'))[:12]})",
        f"- Merged: {', '.join(merged) if merged else 'nothing'}",
    ]
    for conflict in data.get("conflicts") or []:
        tasks = conflict.get("tasks") or []
        files = ", ".join(conflict.get("files") or []) or "-"
        lines.append(
            f"- {str(conflict.get('kind', 'merge')).capitalize()} conflict: task "
            f"{', '.join(tasks)}; files {_cell(files)}; {_cell(str(conflict.get('resolution')))}"
        )
    check = data.get("check") or {}
    if check.get("argv"):
        lines.append(f"- Check `{' '.join(check['argv'])}`: {check.get('status') or 'not run'}")
    if stat:
        lines += ["", "```", stat, "```"]
    return lines


def _plan_origin(run: RunRecord) -> str:
    if run.plan_source == "file":
        return "from a plan file"
    if run.plan_source == "agentic":
        return "assigned by the orchestrator through podium's MCP tools (agentic mode)"
    return f"planned by the orchestrator in {run.plan_attempts} attempt(s)"
