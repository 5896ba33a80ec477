"""Budgets: a task starts only if spent + reserved + its estimate fits, and says why not."""

from __future__ import annotations

import pytest

from podium import PodiumError, UsageError
from podium.orchestration._budget import BudgetExceeded, BudgetLedger, BudgetLimits


def test_a_task_is_refused_when_running_reservations_leave_no_room() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0))
    ledger.charge(0.85)  # planning
    assert ledger.reserve("scan", "marie", 0.10) is None
    assert ledger.reserve("build", "anga", 0.20) == (
        "run budget $1.00: $0.85 spent, $0.10 reserved by running tasks, next task estimated $0.20"
    )
    ledger.release("scan")
    ledger.record_task("marie", 0.08)
    assert ledger.reserve("build", "anga", 0.20) == (
        "run budget $1.00: $0.93 spent, next task estimated $0.20"
    )
    assert ledger.reserve("build", "anga", 0.05) is None


def test_a_task_estimated_at_exactly_what_is_left_may_start() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0))
    ledger.charge(0.7)
    assert ledger.reserve("last", "marie", 0.3) is None
    assert ledger.reserve("one-more", "marie", 0.0) == (
        "run budget $1.00: $0.70 spent, $0.30 reserved by running tasks"
    )


def test_the_worker_budget_is_checked_per_worker() -> None:
    ledger = BudgetLedger(BudgetLimits(per_worker_usd=0.5))
    ledger.record_task("marie", 0.45)
    estimate = ledger.estimate("marie")
    assert ledger.reserve("again", "marie", estimate) == (
        "worker marie budget $0.50: $0.45 spent, next task estimated $0.45"
    )
    assert ledger.reserve("other", "anga", ledger.estimate("anga")) is None
    ledger.record_task("marie", 0.05)
    assert ledger.reserve("small", "marie", 0.0) == "worker marie budget $0.50: $0.50 spent"


def test_the_per_task_cap_bounds_what_a_task_reserves() -> None:
    # The CLI stops a task at the per-task cap, so a high estimate cannot block on its own.
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0, per_task_usd=0.3))
    assert ledger.reserve("a", "marie", 5.0) is None
    assert ledger.reserved == pytest.approx(0.3)
    assert ledger.reserve("b", "anga", 5.0) is None
    assert ledger.reserve("c", "fabien", 5.0) is None
    assert ledger.reserve("d", "fabien", 5.0) == (
        "run budget $1.00: $0.00 spent, $0.90 reserved by running tasks, next task estimated $0.30"
    )


def test_reserving_again_replaces_the_task_reservation() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0))
    assert ledger.reserve("a", "marie", 0.6) is None
    assert ledger.reserve("a", "marie", 0.9) is None  # a retry: not counted twice
    assert ledger.reserved == pytest.approx(0.9)
    ledger.release("a")
    ledger.release("a")  # releasing twice is harmless
    assert ledger.reserved == 0.0


def test_cap_for_is_the_tightest_applicable_limit() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0, per_worker_usd=0.5, per_task_usd=0.4))
    ledger.charge(0.2, worker="marie")
    assert ledger.reserve("m1", "marie", 0.1) is None
    assert ledger.reserve("a1", "anga", 0.3) is None
    # marie: worker has 0.3 left; the run has 1.0 - 0.2 - 0.3 (anga's reservation) = 0.5.
    assert ledger.cap_for("marie") == pytest.approx(0.3)
    assert ledger.cap_for("marie", task_id="m1") == pytest.approx(0.3)
    # anga: the per-task cap is the tightest.
    assert ledger.cap_for("anga") == pytest.approx(0.4)
    # Spending elsewhere makes the run the tightest: 1.0 - 0.75 - 0.1 (marie's reservation).
    ledger.charge(0.55)
    assert ledger.cap_for("anga") == pytest.approx(0.15)
    ledger.charge(0.5)
    assert ledger.cap_for("anga") == 0.0


def test_cap_for_with_a_task_id_counts_the_same_worker_other_tasks() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0))
    assert ledger.reserve("a", "marie", 0.25) is None
    assert ledger.reserve("b", "marie", 0.25) is None
    assert ledger.cap_for("marie", task_id="a") == pytest.approx(0.75)


def test_cap_for_is_none_without_any_limit() -> None:
    ledger = BudgetLedger(BudgetLimits())
    ledger.charge(100.0, worker="marie")
    assert ledger.cap_for("marie") is None
    assert ledger.reserve("t", "marie", 50.0) is None
    assert ledger.remaining is None
    assert not ledger.exhausted


def test_estimate_uses_the_worker_history_then_everyone_then_zero() -> None:
    ledger = BudgetLedger(BudgetLimits())
    assert ledger.estimate("marie") == 0.0
    ledger.record_task("marie", 0.2)
    ledger.record_task("marie", 0.4)
    assert ledger.estimate("marie") == pytest.approx(0.3)
    assert ledger.estimate("anga") == pytest.approx(0.3)
    ledger.record_task("anga", 0.9)
    assert ledger.estimate("anga") == pytest.approx(0.9)
    assert ledger.estimate("fabien") == pytest.approx(0.5)
    # Planning and synthesis costs are charged but are not task costs.
    ledger.charge(3.0)
    assert ledger.estimate("fabien") == pytest.approx(0.5)


def test_spending_is_tracked_for_the_run_and_each_worker() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=2.0))
    ledger.charge(0.5)
    ledger.record_task("marie", 0.25)
    ledger.charge(0.25, worker="marie")
    assert ledger.spent == pytest.approx(1.0)
    assert ledger.by_worker == {"marie": pytest.approx(0.5)}
    assert ledger.remaining == pytest.approx(1.0)
    copy = ledger.by_worker
    copy["marie"] = 99.0
    assert ledger.by_worker["marie"] == pytest.approx(0.5)


def test_an_exhausted_run_admits_nothing() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0))
    ledger.charge(1.2)
    assert ledger.exhausted
    assert ledger.remaining == 0.0
    assert ledger.reserve("t", "marie", 0.0) == "run budget $1.00: $1.20 spent"
    assert ledger.cap_for("marie") == 0.0


def test_a_resumed_run_starts_from_what_it_already_spent() -> None:
    spent_before = {"marie": 0.5}
    ledger = BudgetLedger(
        BudgetLimits(run_usd=1.0, per_worker_usd=0.5), spent=0.9, by_worker=spent_before
    )
    assert ledger.remaining == pytest.approx(0.1)
    assert ledger.reserve("t", "marie", 0.0) == "worker marie budget $0.50: $0.50 spent"
    assert ledger.reserve("u", "anga", 0.05) is None
    ledger.charge(0.05, worker="marie")
    assert spent_before == {"marie": 0.5}  # the caller's mapping is not modified


def test_to_dict_holds_what_a_run_record_shows() -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0, per_task_usd=0.5))
    ledger.record_task("marie", 0.25)
    assert ledger.reserve("scan", "anga", 0.1) is None
    assert ledger.to_dict() == {
        "limits": {"run_usd": 1.0, "per_worker_usd": None, "per_task_usd": 0.5},
        "spent_usd": 0.25,
        "by_worker": {"marie": 0.25},
        "reserved": {"scan": {"worker": "anga", "usd": 0.1}},
        "remaining_usd": 0.75,
        "exhausted": False,
    }


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf"), True, "1"])
def test_bad_amounts_are_refused(bad: object) -> None:
    ledger = BudgetLedger(BudgetLimits(run_usd=1.0))
    with pytest.raises(UsageError):
        ledger.charge(bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        ledger.reserve("t", "marie", bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        BudgetLimits(run_usd=bad)  # type: ignore[arg-type]
    assert ledger.spent == 0.0
    assert ledger.reserved == 0.0


def test_budget_exceeded_is_a_podium_error_with_context() -> None:
    error = BudgetExceeded("run budget $1.00: $1.20 spent", run_id="run-1")
    assert isinstance(error, PodiumError)
    assert error.to_dict() == {
        "code": "budget_exceeded",
        "message": "run budget $1.00: $1.20 spent",
        "context": {"run_id": "run-1"},
    }
