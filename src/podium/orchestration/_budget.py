"""The money side of a run: what was spent, what running tasks may still spend, and caps.

Costs are only known once a turn ends, so a task about to start *reserves* an
estimate (the mean cost of finished tasks) until it finishes. Admission looks
at spent + reserved + the next estimate, which stops a burst of parallel
starts from overrunning the budget together; the per-task cap handed to the
CLI (``--max-budget-usd``) bounds what each one can actually spend.

Each turn is charged as soon as it ends (``charge(..., task_id=...)``), so a
run notices at once when running tasks have crossed its budget; what a task
has spent comes out of its reservation and is never counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from .._errors import PodiumError, UsageError

__all__ = ["BudgetExceeded", "BudgetLedger", "BudgetLimits"]

# Sums of float dollars drift by ~1e-16; a task estimated at exactly what is
# left must still be admitted.
_EPSILON = 1e-9
_NOTHING_SPENT: Mapping[str, float] = MappingProxyType({})


class BudgetExceeded(PodiumError):
    """A budget of the run, a worker or a task left no room for what was asked."""

    code = "budget_exceeded"


def _check_usd(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number of dollars, got {value!r}")
    if value < 0:
        raise UsageError(f"{what} must be >= 0, got {value!r}")
    return float(value)


def _usd(value: float) -> str:
    return f"${value:.2f}"


@dataclass(frozen=True, kw_only=True)
class BudgetLimits:
    """Caps in US dollars; ``None`` = no cap."""

    run_usd: float | None = None
    per_worker_usd: float | None = None
    per_task_usd: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                _check_usd(value, f.name)

    def to_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class _Reservation:
    worker: str
    usd: float


class BudgetLedger:
    """Spending of one run against its :class:`BudgetLimits`."""

    def __init__(
        self,
        limits: BudgetLimits,
        *,
        spent: float = 0.0,
        by_worker: Mapping[str, float] = _NOTHING_SPENT,
    ) -> None:
        # spent / by_worker let a resumed run start from what it already spent.
        self._limits = limits
        self._spent = _check_usd(spent, "spent")
        self._by_worker = {w: _check_usd(v, f"spent by {w}") for w, v in by_worker.items()}
        self._reserved: dict[str, _Reservation] = {}
        self._task_spent: dict[str, float] = {}  # turns of running tasks charged so far
        self._finished: dict[str, list[float]] = {}

    @property
    def limits(self) -> BudgetLimits:
        return self._limits

    @property
    def spent(self) -> float:
        return self._spent

    @property
    def by_worker(self) -> dict[str, float]:
        return dict(self._by_worker)

    @property
    def reserved(self) -> float:
        """Held by running tasks, not yet spent."""
        return sum(self._held(t, r) for t, r in self._reserved.items())

    @property
    def remaining(self) -> float | None:
        """Run budget left (ignoring reservations); ``None`` without a run cap."""
        cap = self._limits.run_usd
        return None if cap is None else max(0.0, cap - self._spent)

    @property
    def exhausted(self) -> bool:
        cap = self._limits.run_usd
        return cap is not None and self._spent >= cap - _EPSILON

    def spent_by_task(self, task_id: str) -> float:
        """What a running task's turns have been charged so far (0 once it finished)."""
        return self._task_spent.get(task_id, 0.0)

    def charge(
        self, cost_usd: float, *, worker: str | None = None, task_id: str | None = None
    ) -> None:
        """Add a cost to the run, and to ``worker`` if given (planning / synthesis: None).

        ``task_id``: the running task the turn belongs to; its reservation shrinks by
        as much until :meth:`task_finished`.
        """
        cost = _check_usd(cost_usd, "cost_usd")
        self._spent += cost
        if worker is not None:
            self._by_worker[worker] = self._by_worker.get(worker, 0.0) + cost
        if task_id is not None:
            self._task_spent[task_id] = self._task_spent.get(task_id, 0.0) + cost

    def record_task(self, worker: str, cost_usd: float) -> None:
        """A finished task's final cost: charged, and remembered for :meth:`estimate`."""
        self.charge(cost_usd, worker=worker)
        self._finished.setdefault(worker, []).append(float(cost_usd))

    def task_finished(self, task_id: str, worker: str, cost_usd: float) -> None:
        """A task whose turns were charged as they ended is over: its reservation is
        dropped and its total cost remembered for :meth:`estimate` (not charged again)."""
        cost = _check_usd(cost_usd, "cost_usd")
        self.release(task_id)
        self._task_spent.pop(task_id, None)
        self._finished.setdefault(worker, []).append(cost)

    def estimate(self, worker: str) -> float:
        """Mean cost of this worker's finished tasks, else of all finished tasks, else 0."""
        own = self._finished.get(worker)
        if own:
            return sum(own) / len(own)
        every = [c for costs in self._finished.values() for c in costs]
        return sum(every) / len(every) if every else 0.0

    def reserve(self, task_id: str, worker: str, estimate_usd: float) -> str | None:
        """``None`` if the task may start (its estimate is then held until :meth:`release`),
        else why it may not.

        Reserving again for the same task replaces its reservation.
        """
        estimate = _check_usd(estimate_usd, "estimate_usd")
        # A task can never spend more than the per-task cap passed to the CLI.
        if self._limits.per_task_usd is not None:
            estimate = min(estimate, self._limits.per_task_usd)
        others = self._others(task_id)
        run = self._refusal(
            "run budget",
            self._limits.run_usd,
            self._spent,
            sum(held for _, held in others),
            estimate,
        )
        if run is not None:
            return run
        worker_reason = self._refusal(
            f"worker {worker} budget",
            self._limits.per_worker_usd,
            self._by_worker.get(worker, 0.0),
            sum(held for w, held in others if w == worker),
            estimate,
        )
        if worker_reason is not None:
            return worker_reason
        self._reserved[task_id] = _Reservation(worker, estimate)
        return None

    def release(self, task_id: str) -> None:
        """Drop the task's reservation (its real cost comes through :meth:`record_task`)."""
        self._reserved.pop(task_id, None)

    def cap_for(self, worker: str, *, task_id: str | None = None) -> float | None:
        """The most a new agent process for a task of this worker may spend now, for
        ``--max-budget-usd``: the smallest of :meth:`cap_parts`; ``None`` if no cap applies.
        """
        parts = self.cap_parts(worker, task_id=task_id)
        return max(0.0, min(parts.values())) if parts else None

    def cap_parts(self, worker: str, *, task_id: str | None = None) -> dict[str, float]:
        """What each cap leaves for a new agent process of a task, keyed by the cap
        (``"per-task budget $0.50"``, ``"worker marie budget $2.00"``, ``"run budget $5.00"``).

        Per-task: the cap less what ``task_id`` already spent (a task that starts
        over on a fresh process keeps its total). Worker and run: the cap less what
        was spent and what other tasks hold. "Other tasks" are every task but
        ``task_id`` when given, else every task of another worker.
        """
        others = self._others(task_id)
        if task_id is None:
            others = [(w, h) for w, h in others if w != worker]
        limits = self._limits
        parts: dict[str, float] = {}
        if limits.per_task_usd is not None:
            own = self._task_spent.get(task_id, 0.0) if task_id is not None else 0.0
            parts[f"per-task budget {_usd(limits.per_task_usd)}"] = limits.per_task_usd - own
        if limits.per_worker_usd is not None:
            held = sum(h for w, h in others if w == worker)
            parts[f"worker {worker} budget {_usd(limits.per_worker_usd)}"] = (
                limits.per_worker_usd - self._by_worker.get(worker, 0.0) - held
            )
        if limits.run_usd is not None:
            parts[f"run budget {_usd(limits.run_usd)}"] = (
                limits.run_usd - self._spent - sum(h for _, h in others)
            )
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {
            "limits": self._limits.to_dict(),
            "spent_usd": self._spent,
            "by_worker": dict(self._by_worker),
            "reserved": {
                t: {"worker": r.worker, "usd": self._held(t, r)} for t, r in self._reserved.items()
            },
            "remaining_usd": self.remaining,
            "exhausted": self.exhausted,
        }

    def _held(self, task_id: str, reservation: _Reservation) -> float:
        # A running task's charged turns come out of its reservation: what it
        # holds is only what it may still spend.
        return max(0.0, reservation.usd - self._task_spent.get(task_id, 0.0))

    def _others(self, task_id: str | None) -> list[tuple[str, float]]:
        """(worker, amount held) of every reservation but ``task_id``'s."""
        return [(r.worker, self._held(t, r)) for t, r in self._reserved.items() if t != task_id]

    @staticmethod
    def _refusal(
        what: str, cap: float | None, spent: float, reserved: float, estimate: float
    ) -> str | None:
        if cap is None:
            return None
        left = cap - spent - reserved
        if left > _EPSILON and estimate <= left + _EPSILON:
            return None
        parts = [f"{_usd(spent)} spent"]
        if reserved > 0:
            parts.append(f"{_usd(reserved)} reserved by running tasks")
        if estimate > 0:
            parts.append(f"next task estimated {_usd(estimate)}")
        return f"{what} {_usd(cap)}: {', '.join(parts)}"
