"""The money side of a run: what was spent, what running tasks may still spend, and caps.

Costs are only known once a turn ends, so a task about to start *reserves* an
estimate (the mean cost of finished tasks) until it finishes. Admission looks
at spent + reserved + the next estimate, which stops a burst of parallel
starts from overrunning the budget together; the per-task cap handed to the
CLI (``--max-budget-usd``) bounds what each one can actually spend.
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
        return sum(r.usd for r in self._reserved.values())

    @property
    def remaining(self) -> float | None:
        """Run budget left (ignoring reservations); ``None`` without a run cap."""
        cap = self._limits.run_usd
        return None if cap is None else max(0.0, cap - self._spent)

    @property
    def exhausted(self) -> bool:
        cap = self._limits.run_usd
        return cap is not None and self._spent >= cap - _EPSILON

    def charge(self, cost_usd: float, *, worker: str | None = None) -> None:
        """Add a cost to the run, and to ``worker`` if given (planning / synthesis: None)."""
        cost = _check_usd(cost_usd, "cost_usd")
        self._spent += cost
        if worker is not None:
            self._by_worker[worker] = self._by_worker.get(worker, 0.0) + cost

    def record_task(self, worker: str, cost_usd: float) -> None:
        """A finished task's final cost: charged, and remembered for :meth:`estimate`."""
        self.charge(cost_usd, worker=worker)
        self._finished.setdefault(worker, []).append(float(cost_usd))

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
        others = [r for t, r in self._reserved.items() if t != task_id]
        run = self._refusal(
            "run budget",
            self._limits.run_usd,
            self._spent,
            sum(r.usd for r in others),
            estimate,
        )
        if run is not None:
            return run
        worker_reason = self._refusal(
            f"worker {worker} budget",
            self._limits.per_worker_usd,
            self._by_worker.get(worker, 0.0),
            sum(r.usd for r in others if r.worker == worker),
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
        """The most one task of this worker may spend now, for ``--max-budget-usd``.

        min(per-task cap, worker remaining, run remaining less other tasks'
        reservations); ``None`` if no cap applies. "Other tasks" are every task
        but ``task_id`` when given, else every task of another worker (a worker
        runs one task at a time).
        """

        def other(tid: str, r: _Reservation) -> bool:
            return tid != task_id if task_id is not None else r.worker != worker

        others = [r for tid, r in self._reserved.items() if other(tid, r)]
        caps: list[float] = []
        if self._limits.per_task_usd is not None:
            caps.append(self._limits.per_task_usd)
        if self._limits.per_worker_usd is not None:
            held = sum(r.usd for r in others if r.worker == worker)
            caps.append(self._limits.per_worker_usd - self._by_worker.get(worker, 0.0) - held)
        if self._limits.run_usd is not None:
            caps.append(self._limits.run_usd - self._spent - sum(r.usd for r in others))
        return max(0.0, min(caps)) if caps else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "limits": self._limits.to_dict(),
            "spent_usd": self._spent,
            "by_worker": dict(self._by_worker),
            "reserved": {t: {"worker": r.worker, "usd": r.usd} for t, r in self._reserved.items()},
            "remaining_usd": self.remaining,
            "exhausted": self.exhausted,
        }

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
