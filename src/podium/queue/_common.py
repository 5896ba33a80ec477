"""What both queue engines share: ids, argument checks, JSON text and error messages.

Keeping these in one place is what keeps the two engines' behaviour identical
where the contract suite cannot see it (messages, validation, event data).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import UsageError
from ._protocol import StaleAttempt, WorkerInfo

__all__ = [
    "DEAD_LETTER_LIMIT",
    "EVENTS_KEPT",
    "check_rate_args",
    "check_slot_args",
    "check_submit",
    "check_worker",
    "expiry_reason",
    "json_text",
    "json_value",
    "lane_list",
    "new_job_id",
    "new_token",
    "rate_wait",
    "stale_attempt",
    "worker_doc",
    "worker_from_doc",
]

# Both engines keep about this many of the newest events (and dead letters):
# enough for any reader that is not hours behind, bounded for a long-lived queue.
EVENTS_KEPT = 100_000
DEAD_LETTER_LIMIT = 100_000


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def new_token() -> str:
    """A one-off token naming one call, so a retried call is recognised as the same one."""
    return uuid.uuid4().hex


def json_text(value: Mapping[str, Any], what: str) -> str:
    """``value`` as compact ASCII JSON (ASCII keeps it safe to splice in Lua)."""
    try:
        return json.dumps(dict(value), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what} is not JSON-serialisable: {exc}", what=what) from exc


def json_value(value: Any, what: str) -> str:
    """Any JSON value (a setting) as text."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{what} is not JSON-serialisable: {exc}", what=what) from exc


def check_submit(kind: str, lane: str, key: str | None, max_attempts: int) -> None:
    if not kind:
        raise UsageError("a job needs a kind", kind=kind)
    if not lane:
        raise UsageError("a job's lane cannot be empty", lane=lane)
    if key is not None and not key:
        raise UsageError("an idempotency key cannot be empty (pass None for no key)")
    if max_attempts < 1:
        raise UsageError(
            f"max_attempts must be at least 1, not {max_attempts}", max_attempts=max_attempts
        )


def check_worker(worker: str) -> None:
    if not worker:
        raise UsageError("a worker id cannot be empty")


def lane_list(lanes: Sequence[str] | None) -> list[str] | None:
    """The lanes a claim reads, deduplicated; None means every lane.

    An empty sequence also means every lane: that is what ``WorkerInfo.lanes``
    means by empty, and a worker passing its own empty tuple must not starve.
    """
    if not lanes:
        return None
    if isinstance(lanes, str):
        raise UsageError("lanes must be a sequence of lane names, not one string", lanes=lanes)
    if any(not lane for lane in lanes):
        raise UsageError("a lane name cannot be empty", lanes=list(lanes))
    return list(dict.fromkeys(lanes))


def check_slot_args(limit: int, ttl: float) -> None:
    if limit < 0:
        raise UsageError(f"a slot limit cannot be negative ({limit})", limit=limit)
    if ttl <= 0:
        raise UsageError(f"a slot ttl must be positive ({ttl})", ttl=ttl)


def check_rate_args(limit: int, window: float) -> None:
    if limit < 1:
        raise UsageError(f"a rate limit must be at least 1 ({limit})", limit=limit)
    if window <= 0:
        raise UsageError(f"a rate window must be positive ({window})", window=window)


def rate_wait(oldest: float, window: float, now: float) -> float:
    """Seconds until the oldest unit leaves the window; never 0 (0 means "taken")."""
    return max(oldest + window - now, 1e-6)


def expiry_reason(lease: float) -> str:
    return f"lease expired: no heartbeat for {lease:g} s"


def stale_attempt(
    op: str,
    job_id: str,
    attempt: int,
    worker: str,
    *,
    state: str,
    current_attempt: int,
    current_worker: str | None,
) -> StaleAttempt:
    return StaleAttempt(
        f"{op} of job {job_id} refused: attempt {attempt} by {worker!r} is not current "
        f"(the job is {state}, attempt {current_attempt}, worker {current_worker!r})",
        job_id=job_id,
        attempt=attempt,
        worker=worker,
        state=state,
        current_attempt=current_attempt,
        current_worker=current_worker,
        op=op,
    )


def worker_doc(info: WorkerInfo) -> str:
    """The registered part of a worker's entry; running/completed/failed/heartbeat_at
    are stored beside it so a heartbeat can update them without rewriting the doc."""
    return json_text(info.to_dict(), "worker info")


def worker_from_doc(
    doc: str, *, running: str, completed: int, failed: int, heartbeat_at: float
) -> WorkerInfo:
    data = json.loads(doc)
    return WorkerInfo(
        id=str(data["id"]),
        host=str(data["host"]),
        pid=int(data["pid"]),
        concurrency=int(data["concurrency"]),
        lanes=tuple(data.get("lanes") or ()),
        running=tuple(json.loads(running)),
        started_at=float(data.get("started_at") or 0.0),
        heartbeat_at=heartbeat_at,
        completed=completed,
        failed=failed,
        meta=dict(data.get("meta") or {}),
    )
