"""Records of orchestrated runs: the run, its tasks, their states.

``run.json`` in the run directory holds :meth:`RunRecord.to_dict`; it is the
source of truth for ``podium runs`` / ``podium show`` and for ``--resume``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from .._errors import PodiumError, UsageError
from .._records import Usage

__all__ = [
    "TERMINAL_RUN_STATES",
    "RunError",
    "RunNotFound",
    "RunRecord",
    "RunState",
    "TaskRecord",
    "TaskState",
]


class RunError(PodiumError):
    """A run could not go on (planning gave up, the team vanished, ...)."""

    code = "run_error"


class RunNotFound(UsageError):
    code = "run_not_found"


class RunState(enum.StrEnum):
    PLANNING = "planning"
    RUNNING = "running"
    SYNTHESISING = "synthesising"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the daemon stopped under it; `podium run --resume` continues
    AWAITING_APPROVAL = "awaiting_approval"  # planned under review: `podium approve` runs it
    REJECTED = "rejected"  # its plan was rejected; no task ran


TERMINAL_RUN_STATES = frozenset(
    {
        RunState.COMPLETE,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.INTERRUPTED,
        RunState.REJECTED,
    }
)


class TaskState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    task_id: str
    worker: str
    description: str
    dependencies: tuple[str, ...] = ()
    priority: int = 0
    urgent: bool = True
    state: TaskState = TaskState.PENDING
    model: str | None = None
    agent: str | None = None
    attempts: int = 0
    cost_usd: float = 0.0
    usage: Usage = field(default_factory=Usage)
    started_at: float | None = None
    finished_at: float | None = None
    waited_s: float = 0.0
    """Time spent waiting for the rate limiter before the first attempt."""
    reason: str | None = None
    """Why it failed, was skipped or cancelled."""
    summary: str | None = None
    result_path: str | None = None
    """Relative to the run directory."""

    @property
    def done(self) -> bool:
        return self.state not in (TaskState.PENDING, TaskState.RUNNING)

    def replace(self, **changes: Any) -> TaskRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        data["dependencies"] = list(self.dependencies)
        data["usage"] = self.usage.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        values = dict(data)
        values["state"] = TaskState(values["state"])
        values["dependencies"] = tuple(values.get("dependencies") or ())
        values["usage"] = Usage(**(values.get("usage") or {}))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    id: str
    request: str
    team_path: str
    team_name: str
    cwd: str
    state: RunState
    created_at: float
    updated_at: float
    finished_at: float | None = None
    budget_usd: float | None = None
    cost_usd: float = 0.0
    planning_cost_usd: float = 0.0
    synthesis_cost_usd: float = 0.0
    plan_attempts: int = 0
    plan_source: str = "orchestrator"
    """``orchestrator`` (planned by the model) or ``file`` (``--plan FILE``)."""
    orchestrator_agent: str | None = None
    tasks: tuple[TaskRecord, ...] = ()
    error: str | None = None
    report_path: str | None = None
    resumed: int = 0
    cost_by_worker: dict[str, float] = field(default_factory=dict)
    cost_by_model: dict[str, float] = field(default_factory=dict)
    base_commit: str | None = None
    """The project's HEAD when the run started: where its worktree tasks branch from
    (a resume keeps it)."""
    integration: dict[str, Any] | None = None
    """The run's integration branch and merge queue (see ``_integration``); None for a
    run without worktree tasks."""
    user_env: dict[str, str] = field(default_factory=dict)
    """``PATH`` (and ``VIRTUAL_ENV``) of whoever submitted the run: checks run with them."""
    concurrency: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per model: the adaptive width of its turns (``width``, ``min_width``,
    ``ceiling``, ``decreases``, ``increases``, ``overloads``) after 429/529s."""
    review: bool = False
    """Stop after planning (``awaiting_approval``) until the plan is approved or rejected."""
    approved_at: float | None = None
    rejection: str | None = None
    """Why its plan was rejected (state ``rejected``)."""

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    @property
    def settled(self) -> bool:
        """Nothing more happens without someone: ended, or awaiting approval of its plan."""
        return self.done or self.state is RunState.AWAITING_APPROVAL

    def task(self, task_id: str) -> TaskRecord:
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise RunError(f"run {self.id} has no task {task_id!r}", run_id=self.id)

    def replace(self, **changes: Any) -> RunRecord:
        return dataclasses.replace(self, **changes)

    def with_task(self, task: TaskRecord) -> RunRecord:
        tasks = tuple(task if t.task_id == task.task_id else t for t in self.tasks)
        return dataclasses.replace(self, tasks=tasks)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["state"] = self.state.value
        data["tasks"] = [t.to_dict() for t in self.tasks]
        data["cost_by_worker"] = dict(self.cost_by_worker)
        data["cost_by_model"] = dict(self.cost_by_model)
        data["concurrency"] = {k: dict(v) for k, v in self.concurrency.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        values = dict(data)
        values["state"] = RunState(values["state"])
        values["tasks"] = tuple(TaskRecord.from_dict(t) for t in values.get("tasks") or ())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
