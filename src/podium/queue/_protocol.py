"""The job queue every distributed piece talks to: one protocol, two engines.

A *job* is one unit of work a worker host runs (in practice: one turn of one
agent). Delivery is at least once; what makes it safe is the *attempt*
number, the fencing token: each claim increments it, and every state write a
worker makes (heartbeat, complete, fail) names the attempt it holds. A write
with an attempt that is no longer current is refused with ``StaleAttempt``,
so a worker that was presumed dead and comes back cannot overwrite the result
of the worker that took its job over.

SQLite (one file, shared by processes of one host) and Redis Streams (any
number of hosts) implement it; one contract suite runs against both.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._errors import PodiumError, UsageError

__all__ = [
    "DEFAULT_LANE",
    "TERMINAL_JOB_STATES",
    "Blob",
    "Job",
    "JobEvent",
    "JobNotFound",
    "JobQueue",
    "JobState",
    "QueueError",
    "QueueUnavailable",
    "StaleAttempt",
    "WorkerInfo",
]

DEFAULT_LANE = "default"


class JobState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (again, after a requeue)
    RUNNING = "running"  # claimed; the worker holds attempt ``Job.attempt``
    COMPLETE = "complete"
    FAILED = "failed"  # the worker reported a failure that is not worth retrying
    CANCELLED = "cancelled"
    DEAD = "dead"  # gave up after ``max_attempts`` claims; listed as a dead letter


TERMINAL_JOB_STATES = frozenset(
    {JobState.COMPLETE, JobState.FAILED, JobState.CANCELLED, JobState.DEAD}
)


class QueueError(PodiumError):
    """Something went wrong in the job queue."""

    code = "queue_error"


class QueueUnavailable(QueueError):
    """The queue's engine could not be reached (after retrying)."""

    code = "queue_unavailable"


class JobNotFound(UsageError):
    code = "job_not_found"


class StaleAttempt(QueueError):
    """A write named an attempt that is no longer the job's current one (fenced out)."""

    code = "stale_attempt"


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    kind: str
    """What the worker does with it, e.g. ``turn`` or ``noop``."""
    lane: str
    """Which workers may take it (a worker serves all lanes or the ones it names)."""
    payload: dict[str, Any]
    state: JobState
    key: str | None = None
    """Idempotency key: submitting the same key again returns this job."""
    attempt: int = 0
    """Number of claims so far; the current claim's fencing token."""
    max_attempts: int = 3
    worker: str | None = None
    """Who holds (or last held) the job."""
    submitted_at: float = 0.0
    started_at: float | None = None
    heartbeat_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False
    history: tuple[dict[str, Any], ...] = ()
    """One entry per attempt that ended without a result: attempt, worker, reason."""

    def replace(self, **changes: Any) -> Job:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        data["history"] = [dict(item) for item in self.history]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        values = dict(data)
        values["state"] = JobState(values["state"])
        values["history"] = tuple(dict(item) for item in values.get("history") or ())
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class JobEvent:
    """Something that happened to a job. ``id`` grows by one per event, per queue."""

    id: int
    ts: float
    job_id: str
    kind: str
    """submitted, claimed, progress, requeued, completed, failed, cancel_requested,
    cancelled, dead, rejected"""
    attempt: int = 0
    worker: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    """A worker host as it last reported itself."""

    id: str
    host: str
    pid: int
    concurrency: int
    lanes: tuple[str, ...] = ()
    """Empty: serves every lane."""
    running: tuple[str, ...] = ()
    """Ids of the jobs it runs now."""
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    completed: int = 0
    failed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["lanes"] = list(self.lanes)
        data["running"] = list(self.running)
        return data


@dataclass(frozen=True, kw_only=True)
class Blob:
    """Bytes stored centrally (an agent's session transcript) with a version."""

    data: bytes
    version: int


class JobQueue(Protocol):
    """Durable job queue with fenced completion. Every write is durable on return.

    Times are wall-clock seconds (``time.time()``) taken by the caller's host.
    """

    async def close(self) -> None: ...

    # --- producers ------------------------------------------------------------------

    async def submit(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        lane: str = DEFAULT_LANE,
        key: str | None = None,
        max_attempts: int = 3,
    ) -> Job:
        """Queue a job. With ``key``, a second submit returns the first job unchanged."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one gets ``cancel_requested``
        (its worker sees it on its next heartbeat). Terminal jobs are left as they are."""
        ...

    # --- workers ----------------------------------------------------------------------

    async def claim(
        self, worker: str, *, lanes: Sequence[str] | None = None, block: float = 0.0
    ) -> Job | None:
        """Take the oldest queued job of ``lanes`` (None: any lane), waiting up to
        ``block`` seconds for one. The job comes back RUNNING with ``attempt`` one higher
        and ``worker`` set."""
        ...

    async def heartbeat(self, job_id: str, attempt: int, worker: str) -> Job:
        """Extend the claim. Raises StaleAttempt if the job was taken over, finished
        or never held by ``worker`` under ``attempt``. The returned job tells whether
        a cancel was requested."""
        ...

    async def complete(
        self,
        job_id: str,
        attempt: int,
        worker: str,
        result: Mapping[str, Any],
        *,
        blobs: Mapping[str, bytes] | None = None,
    ) -> Job:
        """Record the result, and store ``blobs`` (bumping each one's version), in one
        atomic step that is refused with StaleAttempt unless the claim is current."""
        ...

    async def fail(
        self, job_id: str, attempt: int, worker: str, error: str, *, retry: bool = False
    ) -> Job:
        """End the attempt without a result. ``retry``: queue it again if attempts
        remain, else it goes dead. A job whose cancel was requested ends CANCELLED.
        Refused with StaleAttempt like ``complete``."""
        ...

    async def progress(
        self, job_id: str, attempt: int, worker: str, data: Mapping[str, Any]
    ) -> None:
        """Report something that happened during the attempt (an event, no state
        change). Ignored (no error) when the attempt is stale."""
        ...

    async def reclaim_expired(self, *, lease: float, now: float | None = None) -> list[Job]:
        """Every RUNNING job whose last heartbeat is older than ``lease`` seconds is
        requeued (a new attempt on its next claim), or goes DEAD if it has had
        ``max_attempts`` claims, or CANCELLED if a cancel was requested. Returns the
        jobs changed, as they are now. Any process may call it, any number of times."""
        ...

    # --- reading ----------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        """Raises JobNotFound."""
        ...

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] | None = None,
        lane: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Oldest first."""
        ...

    async def events(
        self, *, after: int = 0, job_id: str | None = None, limit: int = 1000, block: float = 0.0
    ) -> list[JobEvent]:
        """Events with ``id > after``, oldest first; waits up to ``block`` seconds for
        the first one when there is none yet."""
        ...

    async def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none): where a reader that
        only cares about what happens from now on starts."""
        ...

    # --- worker registry --------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        """Add or replace a worker's entry."""
        ...

    async def worker_heartbeat(
        self,
        worker: str,
        *,
        running: Sequence[str],
        completed: int,
        failed: int,
        now: float | None = None,
    ) -> None: ...

    async def remove_worker(self, worker: str) -> None: ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Every registered worker, by id (the caller judges liveness by heartbeat_at)."""
        ...

    # --- shared state: blobs, slots, rates --------------------------------------------

    async def put_blob(self, key: str, data: bytes) -> int:
        """Store ``data`` under ``key``; returns its new version (1 for the first)."""
        ...

    async def get_blob(self, key: str) -> Blob | None: ...

    async def blob_version(self, key: str) -> int:
        """0 when there is no such blob."""
        ...

    async def acquire_slot(
        self, pool: str, holder: str, *, limit: int, ttl: float, now: float | None = None
    ) -> bool:
        """Take one of ``limit`` slots of ``pool`` for ``holder`` until ``now + ttl``
        (taking it again extends it). Slots of holders that let them expire are free."""
        ...

    async def release_slot(self, pool: str, holder: str) -> None: ...

    async def take_rate(
        self, bucket: str, *, limit: int, window: float, now: float | None = None
    ) -> float:
        """Count one unit against ``limit`` per sliding ``window`` seconds. Returns 0.0
        if it was taken, else the seconds until a unit frees (nothing was taken)."""
        ...

    async def set_setting(self, name: str, value: Any) -> None:
        """Cluster-wide settings the coordinator publishes (JSON values)."""
        ...

    async def get_settings(self) -> dict[str, Any]: ...
