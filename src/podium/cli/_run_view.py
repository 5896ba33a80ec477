"""How runs look in a terminal: the live task table, the plan tree, costs and timings.

Pure functions from a :class:`RunRecord` (and the time ``now``) to rich
renderables, so they are tested without a daemon. Everything a user or a model
wrote (task ids, descriptions, reasons) goes in as :class:`Text`, never as
markup: a ``[red]`` in a reason is printed, not interpreted.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Column, Table
from rich.text import Text
from rich.tree import Tree

from ..orchestration._run_records import RunRecord, RunState, TaskRecord, TaskState

__all__ = [
    "CostLine",
    "applied_lines",
    "cost_lines",
    "cost_table",
    "format_cost",
    "format_duration",
    "live_view",
    "path_lines",
    "plan_tree",
    "reasons_table",
    "run_summary",
    "runs_table",
    "show_view",
    "task_elapsed",
    "tasks_done",
    "tasks_table",
    "timings_table",
]

_STYLES: dict[str, str] = {
    TaskState.PENDING: "dim",
    TaskState.RUNNING: "cyan",
    TaskState.COMPLETE: "green",
    TaskState.FAILED: "bold red",
    TaskState.SKIPPED: "yellow",
    TaskState.CANCELLED: "magenta",
    TaskState.INTERRUPTED: "yellow",
    RunState.PLANNING: "cyan",
    RunState.SYNTHESISING: "cyan",
    RunState.AWAITING_APPROVAL: "bold yellow",
    RunState.REJECTED: "magenta",
}
_PROBLEM_STATES = frozenset(
    {TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED, TaskState.INTERRUPTED}
)
_REQUEST_CHARS = 200


def format_duration(seconds: float | None) -> str:
    """``-``, ``8.2s``, ``4m05s`` or ``2h03m``: short enough for a table column."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def format_cost(usd: float | None) -> str:
    return f"${float(usd or 0.0):.4f}"


def _clock(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%H:%M:%S", time.localtime(ts))


def _date(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _state(state: str) -> Text:
    return Text(str(state), style=_STYLES.get(state, ""))


def task_elapsed(task: TaskRecord, now: float) -> float | None:
    """How long the task has run (until it finished, or until ``now`` while it runs)."""
    if task.started_at is None:
        return None
    end = task.finished_at if task.finished_at is not None else now
    return max(0.0, end - task.started_at)


def _run_elapsed(run: RunRecord, now: float) -> float:
    end = run.finished_at if run.finished_at is not None else now
    return max(0.0, end - run.created_at)


def tasks_done(run: RunRecord) -> tuple[int, int]:
    """(tasks that ended, all tasks). An interrupted task has not ended: a resume runs it."""
    ended = sum(1 for t in run.tasks if t.done and t.state is not TaskState.INTERRUPTED)
    return ended, len(run.tasks)


def _budget(run: RunRecord) -> str:
    spent = format_cost(run.cost_usd)
    return spent if run.budget_usd is None else f"{spent} / {format_cost(run.budget_usd)}"


def _table(*columns: Column | str, title: str | None = None) -> Table:
    # Compact (no vertical rules) so the views fit an 80-column terminal.
    return Table(
        *columns,
        title=title,
        title_justify="left",
        title_style="italic",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )


def _right(heading: str) -> Column:
    return Column(heading, justify="right", no_wrap=True)


def run_summary(run: RunRecord, now: float) -> Text:
    """Two lines: id, state and team; then tasks, cost against budget, elapsed."""
    done, total = tasks_done(run)
    line = Text()
    line.append(f"run {run.id}", style="bold")
    line.append("  ")
    line.append_text(_state(run.state))
    line.append(f"  team {run.team_name}\n")
    line.append(f"tasks {done}/{total}  cost {_budget(run)}")
    line.append(f"  elapsed {format_duration(_run_elapsed(run, now))}")
    return line


def tasks_table(run: RunRecord, now: float, *, models: bool = False) -> Table:
    """One row per task: worker, state, attempts, elapsed, cost (and ``models``)."""
    table = _table(
        Column("task", no_wrap=True),
        "worker",
        Column("state", no_wrap=True),
        _right("attempts"),
        *(["model"] if models else []),
        _right("elapsed"),
        _right("cost"),
    )
    for task in run.tasks:
        cells: list[Text | str] = [
            Text(task.task_id),
            Text(task.worker),
            _state(task.state),
            str(task.attempts),
        ]
        if models:
            cells.append(Text(task.model or "-"))
        cells += [format_duration(task_elapsed(task, now)), format_cost(task.cost_usd)]
        table.add_row(*cells)
    return table


def live_view(run: RunRecord, now: float) -> RenderableType:
    """What ``podium run`` redraws while the run goes on."""
    parts: list[RenderableType] = [run_summary(run, now)]
    if run.tasks:
        parts.append(tasks_table(run, now))
    elif run.state is RunState.PLANNING:
        parts.append(Text("planning…", style="dim"))
    return Group(*parts)


@dataclass(frozen=True, kw_only=True)
class CostLine:
    kind: str
    """``worker``, ``model``, ``planning``, ``synthesis`` or ``total``."""
    name: str
    cost_usd: float


def _by(tasks: Iterable[TaskRecord], key: str) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for task in tasks:
        name = getattr(task, key)
        if name or task.cost_usd:  # a task that never ran has no model and costs nothing
            sums[name or "default"] += task.cost_usd
    return dict(sums)


def cost_lines(run: RunRecord) -> list[CostLine]:
    """The cost breakdown: per worker, per model, planning, synthesis, total.

    The run's own per-worker and per-model sums are used when it has them (they
    include attempts a task record no longer shows); else the tasks are summed.
    """
    by_worker = run.cost_by_worker or _by(run.tasks, "worker")
    by_model = run.cost_by_model or _by(run.tasks, "model")
    lines = [CostLine(kind="worker", name=k, cost_usd=v) for k, v in sorted(by_worker.items())]
    lines += [CostLine(kind="model", name=k, cost_usd=v) for k, v in sorted(by_model.items())]
    lines.append(CostLine(kind="planning", name="orchestrator", cost_usd=run.planning_cost_usd))
    lines.append(CostLine(kind="synthesis", name="orchestrator", cost_usd=run.synthesis_cost_usd))
    lines.append(CostLine(kind="total", name="run", cost_usd=run.cost_usd))
    return lines


def cost_table(run: RunRecord) -> Table:
    table = _table("cost of", "", _right("usd"), title="costs")
    previous = None
    for line in cost_lines(run):
        if line.kind == "total":
            table.add_section()
        label = line.kind if line.kind != previous else ""
        previous = line.kind
        style = "bold" if line.kind == "total" else ""
        table.add_row(label, Text(line.name), Text(format_cost(line.cost_usd), style=style))
    if run.budget_usd is not None:
        table.add_row("budget", "run", format_cost(run.budget_usd))
    return table


def _task_label(task: TaskRecord, now: float) -> Text:
    label = Text()
    label.append(task.task_id, style="bold")
    label.append(f"  {task.worker}  ")
    label.append_text(_state(task.state))
    label.append(f"  attempts {task.attempts}  {format_cost(task.cost_usd)}")
    elapsed = task_elapsed(task, now)
    if elapsed is not None:
        label.append(f"  {format_duration(elapsed)}")
    if task.reason and task.state in _PROBLEM_STATES:
        label.append(f"  — {task.reason}", style=_STYLES.get(task.state, ""))
    return label


def plan_tree(run: RunRecord, now: float) -> Tree:
    """The plan by dependencies: roots at the top, each task under each of its dependencies.

    A task with several dependencies appears under each; its own dependents are
    drawn under the first appearance only, so a diamond does not double the tree.
    """
    tree = Tree(Text(f"plan: {len(run.tasks)} task(s)", style="bold"))
    known = {t.task_id for t in run.tasks}
    dependents: dict[str, list[TaskRecord]] = defaultdict(list)
    for task in run.tasks:
        for dep in task.dependencies:
            if dep in known:
                dependents[dep].append(task)
    expanded: set[str] = set()

    def add(parent: Tree, task: TaskRecord) -> None:
        node = parent.add(_task_label(task, now))
        if task.task_id in expanded:
            if dependents[task.task_id]:
                node.label = Text.assemble(_task_label(task, now), ("  (dependents above)", "dim"))
            return
        expanded.add(task.task_id)
        for child in dependents[task.task_id]:
            add(node, child)

    for task in run.tasks:
        if not any(dep in known for dep in task.dependencies):
            add(tree, task)
    return tree


def reasons_table(run: RunRecord) -> Table | None:
    """Why each failed, skipped, cancelled or interrupted task ended so; None if none did."""
    rows = [t for t in run.tasks if t.state in _PROBLEM_STATES]
    if not rows:
        return None
    table = _table("task", "state", "reason", title="what did not complete")
    for task in rows:
        table.add_row(Text(task.task_id), _state(task.state), Text(task.reason or "-"))
    return table


def timings_table(run: RunRecord, now: float) -> Table:
    """Planning (until the first task started), each task, and the whole run."""
    table = _table(
        "",
        Column("started", no_wrap=True),
        Column("finished", no_wrap=True),
        _right("elapsed"),
        _right("waited"),
        title="timings",
    )
    starts = [t.started_at for t in run.tasks if t.started_at is not None]
    first = min(starts) if starts else None
    planning = None if first is None else first - run.created_at
    table.add_row("planning", _clock(run.created_at), _clock(first), format_duration(planning), "")
    for task in run.tasks:
        table.add_row(
            Text(task.task_id),
            _clock(task.started_at),
            _clock(task.finished_at),
            format_duration(task_elapsed(task, now)),
            format_duration(task.waited_s) if task.waited_s else "-",
        )
    waited = sum(t.waited_s for t in run.tasks)
    table.add_section()
    table.add_row(
        "total",
        _clock(run.created_at),
        _clock(run.finished_at),
        format_duration(_run_elapsed(run, now)),
        format_duration(waited) if waited else "-",
    )
    return table


def _details(run: RunRecord) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    request = run.request.strip()
    if len(request) > _REQUEST_CHARS:
        request = request[: _REQUEST_CHARS - 1] + "…"
    plan = run.plan_source
    if run.plan_source == "orchestrator" and run.plan_attempts:
        plan += f" ({run.plan_attempts} attempt{'s' if run.plan_attempts != 1 else ''})"
    rows: list[tuple[str, Text]] = [
        ("run", Text(run.id)),
        ("state", _state(run.state)),
        ("team", Text(run.team_name)),
        ("request", Text(request)),
        ("plan", Text(plan)),
        ("created", Text(_date(run.created_at))),
        ("finished", Text(_date(run.finished_at))),
        ("cost", Text(_budget(run))),
    ]
    if run.resumed:
        rows.append(("resumed", Text(f"{run.resumed} time(s)")))
    if run.review:
        decided = "approved" if run.approved_at else "awaiting approval"
        if run.state is RunState.REJECTED:
            decided = f"rejected: {run.rejection}"
        rows.append(("review", Text(decided)))
    if run.error:
        rows.append(("error", Text(run.error, style="red")))
    for key, value in rows:
        table.add_row(key, value)
    return table


def applied_lines(applied: Iterable[dict[str, Any]]) -> list[Text]:
    """One line per ``podium apply`` that changed a branch (the run's ``applied``), oldest
    first. Print them with ``soft_wrap=True``: commits and branch names are copied."""
    lines = []
    for entry in applied:
        commit = str(entry.get("to") or "?")[:12]
        at = entry.get("at")
        when = _date(at) if isinstance(at, int | float) else "-"
        lines.append(
            Text.assemble(
                ("applied:", "bold"),
                f" {commit} into ",
                str(entry.get("into") or "?"),
                f" ({entry.get('mode') or '?'}) at {when}",
            )
        )
    return lines


def path_lines(run: RunRecord, run_dir: str | None = None) -> list[Text]:
    """The files of a run, one per line. Print them with ``soft_wrap=True``: a path
    split over two lines cannot be copied."""
    paths = [("team file", run.team_path), ("cwd", run.cwd)]
    if run_dir:
        paths.append(("directory", run_dir))
        if run.report_path:
            report = Path(run.report_path)
            paths.append(
                ("report", str(report if report.is_absolute() else Path(run_dir) / report))
            )
    return [Text.assemble((f"{key:<10}", "bold"), value) for key, value in paths]


def show_view(run: RunRecord, now: float) -> RenderableType:
    """Everything ``podium show`` prints about one run but its paths (:func:`path_lines`)."""
    parts: list[RenderableType] = [_details(run), Text()]
    if run.tasks:
        parts += [plan_tree(run, now), Text(), tasks_table(run, now, models=True)]
    else:
        parts.append(Text("no plan yet", style="dim"))
    reasons = reasons_table(run)
    if reasons is not None:
        parts += [Text(), reasons]
    from ._integration_view import integration_view

    integration = integration_view(run)
    if integration is not None:
        parts += [Text(), integration]
    parts += [Text(), cost_table(run), Text(), timings_table(run, now)]
    return Group(*parts)


def runs_table(runs: Iterable[RunRecord]) -> Table:
    table = _table(
        Column("run", no_wrap=True),  # ids and dates are copied: never wrapped
        Column("state", no_wrap=True),
        "team",
        "tasks",
        _right("cost"),
        Column("created", no_wrap=True),
    )
    for run in runs:
        done, total = tasks_done(run)
        table.add_row(
            Text(run.id),
            _state(run.state),
            Text(run.team_name),
            f"{done}/{total}",
            format_cost(run.cost_usd),
            time.strftime("%m-%d %H:%M", time.localtime(run.created_at)),
        )
    return table
