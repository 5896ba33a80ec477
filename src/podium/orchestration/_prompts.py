"""The text podium sends to models: planning, plan repair, tasks, check retries, synthesis.

Pure functions (no I/O), so every prompt is reproducible and testable. Each
starts with a fixed marker line (``PODIUM PLAN REQUEST``, ``PODIUM TASK <id>``,
...) that fake models and logs key on. Text a user or a model wrote is quoted
between markers that do not occur in it, so it cannot end its block early and
pass for podium's own instructions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._plan import MAX_PLAN_TASKS, PLAN_SCHEMA, PlannedTask

__all__ = [
    "MAX_EXCERPT_CHARS",
    "DependencyBrief",
    "ResultBrief",
    "SkippedBrief",
    "WorkerBrief",
    "gate_retry_prompt",
    "planning_prompt",
    "repair_prompt",
    "synthesis_prompt",
    "task_prompt",
]

MAX_EXCERPT_CHARS = 4000
# Summaries come from a model; a runaway one must not become a whole output
# smuggled into every dependent's prompt.
_MAX_SUMMARY_CHARS = 1000


@dataclass(frozen=True, kw_only=True)
class WorkerBrief:
    """What the orchestrator is told about one worker."""

    name: str
    description: str | None = None
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class DependencyBrief:
    """A finished dependency as a task sees it: where its result is, and its gist."""

    task_id: str
    worker: str
    status: str
    summary: str
    result_path: str


@dataclass(frozen=True, kw_only=True)
class ResultBrief:
    task_id: str
    worker: str
    status: str
    result_path: str
    summary: str
    output_excerpt: str
    """At most :data:`MAX_EXCERPT_CHARS`; longer text is cut in the prompt."""


@dataclass(frozen=True, kw_only=True)
class SkippedBrief:
    task_id: str
    worker: str
    reason: str


def planning_prompt(
    request: str, workers: Mapping[str, WorkerBrief], *, max_tasks: int = 20
) -> str:
    """Ask the orchestrator to split ``request`` into a JSON plan for ``workers``."""
    if not workers:
        raise ValueError("a plan needs at least one worker")
    if max_tasks < 1:
        raise ValueError(f"max_tasks must be at least 1, got {max_tasks}")
    max_tasks = min(max_tasks, MAX_PLAN_TASKS)
    roster = "\n".join(
        f"- {name} — {_one_line(brief.description) or 'no description'} — "
        f"model {brief.model or 'default'}"
        for name, brief in workers.items()
    )
    return f"""PODIUM PLAN REQUEST

You are the orchestrator of a team of workers. Split the user's request into
tasks for the workers and answer with the plan as one JSON object.

The user's request, verbatim between the markers:
{_quote("REQUEST", request)}

Workers (name — description — model):
{roster}

Rules:
- Use at most {max_tasks} tasks; fewer when the request is small.
- Give each task to exactly one worker, named in "worker" exactly as listed above.
- Add a dependency only when a task needs another task's result; tasks without
  dependencies between them run in parallel. No cycles.
- Task ids: unique, lowercase, matching [a-z][a-z0-9_-]* (a letter, then
  letters, digits, '-' or '_'), at most 64 characters.
- Write each description so the worker can do the task alone: a worker sees only
  its description, the user's request and the results of its dependencies.
- Optional per task: "priority" (-1000..1000, higher starts first),
  "timeout" (seconds) and "urgent": false for work nobody waits on (it may be
  batched: half the price, the answer can take much longer).

JSON schema of the answer:
{json.dumps(PLAN_SCHEMA)}

Answer with the JSON object only.
"""


def repair_prompt(errors: Sequence[str], attempt: int, max_attempts: int) -> str:
    """Send a rejected plan's problems back to the orchestrator."""
    last = " This is the last attempt." if attempt >= max_attempts else ""
    return f"""PODIUM PLAN REPAIR

Your plan was rejected (attempt {attempt} of {max_attempts}).{last} Problems:
{_bullets(errors)}

Fix every problem and answer with the whole corrected JSON plan: every task, not
only the changed ones, following the same schema and rules.
Answer with the JSON object only.
"""


def task_prompt(
    *,
    run_id: str,
    task: PlannedTask,
    request: str,
    dependencies: Sequence[DependencyBrief],
    output_schema: Mapping[str, Any] | None,
    task_file: str,
    result_file: str,
) -> str:
    """One task for one worker: what to do, the context, and the answer expected."""
    if dependencies:
        # Paths and summaries only: whole outputs would multiply through a deep plan.
        inputs = "\n".join(
            f"- {d.task_id} (worker {d.worker}, {d.status}): result in {d.result_path}\n"
            f"  summary: {_indent(_cut(d.summary, _MAX_SUMMARY_CHARS) or 'none', '    ')}"
            for d in dependencies
        )
        inputs += "\nRead a result file when you need more than its summary."
    else:
        inputs = "None: this task does not depend on other tasks."
    return f"""PODIUM TASK {task.task_id}

Run {run_id}, task {task.task_id}, worker {task.worker}.
The task as podium recorded it: {task_file}
podium saves your final answer to: {result_file}

Your task:
{_quote("TASK", task.description)}

The overall request, for context only (do your task, not the whole request):
{_quote("REQUEST", request)}

Results of the tasks this one depends on:
{inputs}

{_answer_format(output_schema)}
"""


def gate_retry_prompt(reasons: Sequence[str], output_schema: Mapping[str, Any] | None) -> str:
    """The answer failed podium's checks: say why and ask for all of it again."""
    return f"""PODIUM CHECK FAILED

Your answer did not pass podium's checks:
{_bullets(reasons)}

Fix these problems and give the full corrected answer again, not only the changes.
{_answer_format(output_schema)}
"""


def synthesis_prompt(
    *, request: str, results: Sequence[ResultBrief], skipped: Sequence[SkippedBrief]
) -> str:
    """Ask the orchestrator for the final report over every task's result."""
    blocks = [
        f"### {r.task_id} (worker {r.worker}, {r.status})\n"
        f"Artifact: {r.result_path}\n"
        f"Summary: {_indent(_cut(r.summary, _MAX_SUMMARY_CHARS) or 'none', '  ')}\n"
        f"Output excerpt:\n{_quote('OUTPUT', _cut(r.output_excerpt, MAX_EXCERPT_CHARS))}"
        for r in results
    ]
    done = "\n\n".join(blocks) or "No task produced a result."
    missing = (
        "\n".join(f"- {s.task_id} (worker {s.worker}): {_one_line(s.reason)}" for s in skipped)
        or "None."
    )
    return f"""PODIUM SYNTHESIS

Every task of the plan has ended. Write the final report for the user's request.

The user's request, verbatim between the markers:
{_quote("REQUEST", request)}

Results:

{done}

Tasks that did not run or did not finish:
{missing}

Write the report in markdown:
- Answer the request from these results; do not invent results for tasks that
  did not run.
- Cite the artifact path (as given above) of every result you use.
- Say what was skipped or failed and what is missing from the answer because of it.
"""


def _answer_format(schema: Mapping[str, Any] | None) -> str:
    if schema is None:
        return "Answer format: a clear, complete answer in text."
    return (
        "Answer format: one JSON object, and nothing else, valid against this JSON schema:\n"
        + json.dumps(schema, indent=2, ensure_ascii=False)
    )


def _quote(label: str, text: str) -> str:
    """``text`` verbatim between BEGIN/END markers that do not occur inside it."""
    tag, n = label, 1
    while f"<<<END {tag}>>>" in text or f"<<<BEGIN {tag}>>>" in text:
        n += 1
        tag = f"{label} {n}"
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"<<<BEGIN {tag}>>>\n{body}<<<END {tag}>>>"


def _bullets(items: Sequence[str]) -> str:
    """One ``- `` line per item; an item's further lines are indented under it."""
    return "\n".join("- " + _indent(item.strip() or "(no detail)", "  ") for item in items)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(text.splitlines()).replace("\n", "\n" + prefix)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = "\n[... cut by podium]"
    return text[: limit - len(marker)] + marker
