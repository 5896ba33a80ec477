"""How a run's integration branch looks in ``podium show``: branch, merges, conflicts, check.

Everything from the record (branch names, file names, check output) goes in as
:class:`Text`, never as markup.
"""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from ..orchestration._run_records import RunRecord

__all__ = ["integration_view", "task_integration"]

_DETAIL_CHARS = 400


def task_integration(integration: dict[str, Any], task_id: str) -> str:
    """``merged``, ``conflicted`` (its work did not integrate) or ``-`` (not yet)."""
    if task_id in (integration.get("merged") or []):
        return "merged"
    for conflict in integration.get("conflicts") or []:
        if (
            conflict.get("resolution") == "unresolved"
            and conflict.get("tasks", [None])[0] == task_id
        ):
            return "conflicted"
    return "-"


def _line(key: str, value: str, style: str = "") -> Text:
    return Text.assemble((f"{key:<12}", "bold"), (value, style))


def integration_view(run: RunRecord) -> RenderableType | None:
    """The run's integration, or None for a run without worktree tasks."""
    data = run.integration
    if not data:
        return None
    lines: list[RenderableType] = [
        _line("integration", str(data.get("branch", ""))),
        _line("base", str(data.get("base", ""))[:12] + "  head " + str(data.get("head", ""))[:12]),
    ]
    merged = data.get("merged") or []
    lines.append(_line("merged", ", ".join(merged) if merged else "none yet"))
    for task in run.tasks:
        if task_integration(data, task.task_id) == "conflicted":
            lines.append(_line("conflicted", task.task_id, "bold red"))
    for conflict in data.get("conflicts") or []:
        tasks = conflict.get("tasks") or []
        files = ", ".join(conflict.get("files") or []) or "-"
        what = f"{conflict.get('kind', 'merge')}: task {tasks[0] if tasks else '?'}"
        if len(tasks) > 1:
            what += f" with {', '.join(tasks[1:])}"
        resolution = str(conflict.get("resolution", ""))
        style = "bold red" if resolution == "unresolved" else "yellow"
        lines.append(_line("conflict", f"{what}; files {files}; {resolution}", style))
        if conflict.get("kind") == "check" and conflict.get("detail"):
            lines.append(Text("            " + str(conflict["detail"])[-_DETAIL_CHARS:], "dim"))
    check = data.get("check") or {}
    if check.get("argv"):
        status = check.get("status") or "not run yet"
        after = f" (after {check['task']})" if check.get("task") else ""
        lines.append(_line("check", f"{shlex.join(check['argv'])}: {status}{after}"))
    return Group(*lines)
