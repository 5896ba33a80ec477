"""SQLite engine: one file in WAL mode, shared by the processes of one host.

Every state change is one ``BEGIN IMMEDIATE`` transaction: it takes the file's
write lock before it reads, so two processes (or two handles in one process)
can never both see a job QUEUED and both claim it, and the fence check of a
completion and its write cannot be split by a takeover.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ._common import (
    EVENTS_KEPT,
    check_rate_args,
    check_slot_args,
    check_submit,
    check_worker,
    expiry_reason,
    json_text,
    json_value,
    lane_list,
    new_job_id,
    rate_wait,
    stale_attempt,
    worker_doc,
    worker_from_doc,
)
from ._protocol import (
    DEFAULT_LANE,
    Blob,
    Job,
    JobEvent,
    JobNotFound,
    JobState,
    QueueError,
    QueueUnavailable,
    StaleAttempt,
    WorkerInfo,
)

__all__ = ["SQLiteQueue"]

T = TypeVar("T")

# How often a blocking claim / events call looks again. Short enough that a
# job submitted by another process is picked up with no noticeable delay;
# the look is a read (no write lock), so idle pollers do not slow writers.
_POLL = 0.025

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,        -- submit order (list_jobs)
    ready_seq INTEGER NOT NULL,         -- (re)queue order (claim): a retry goes to the back
    kind TEXT NOT NULL,
    lane TEXT NOT NULL,
    key TEXT UNIQUE,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    worker TEXT,
    submitted_at REAL NOT NULL,
    started_at REAL,
    heartbeat_at REAL,
    finished_at REAL,
    payload TEXT NOT NULL,
    result TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(state, lane, ready_seq);
CREATE INDEX IF NOT EXISTS jobs_ready_any ON jobs(state, ready_seq);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, seq);
CREATE INDEX IF NOT EXISTS jobs_running ON jobs(state, heartbeat_at);
CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids never reused after pruning
    ts REAL NOT NULL,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    worker TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_by_job ON job_events(job_id, id);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    running TEXT NOT NULL,
    completed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS slots (
    pool TEXT NOT NULL,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (pool, holder)
);
CREATE TABLE IF NOT EXISTS rates (
    bucket TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rates_by_bucket ON rates(bucket, ts);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO counters(name, value) VALUES ('seq', 0);
"""


@dataclass(frozen=True)
class _Refused:
    """A fenced write that was refused; raised as StaleAttempt once the
    transaction (which recorded the ``rejected`` event) has committed."""

    state: str
    attempt: int
    worker: str | None


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        lane=row["lane"],
        payload=json.loads(row["payload"]),
        state=JobState(row["state"]),
        key=row["key"],
        attempt=int(row["attempt"]),
        max_attempts=int(row["max_attempts"]),
        worker=row["worker"],
        submitted_at=float(row["submitted_at"]),
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        finished_at=row["finished_at"],
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
        history=tuple(json.loads(row["history"])),
    )


def _event(row: sqlite3.Row) -> JobEvent:
    return JobEvent(
        id=int(row["id"]),
        ts=float(row["ts"]),
        job_id=row["job_id"],
        kind=row["kind"],
        attempt=int(row["attempt"]),
        worker=row["worker"],
        data=json.loads(row["data"]),
    )


def _with_history(row: sqlite3.Row, reason: str, now: float) -> str:
    history = json.loads(row["history"])
    history.append(
        {"attempt": int(row["attempt"]), "worker": row["worker"], "reason": reason, "at": now}
    )
    return json.dumps(history, separators=(",", ":"))


class SQLiteQueue:
    """The JobQueue protocol on one SQLite file.

    Calls run on one private thread, one at a time: every commit is fsynced
    (``synchronous=FULL``, so a write is durable on return) and a write may wait
    up to ``busy_timeout`` for another process's lock; neither should stall the
    event loop that also runs the worker's heartbeats and agents.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            str(path), timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout=10000")
        # WAL is a property of the file: only the first opener has to switch it.
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="podium-queue")
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path)!r})"

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=False)

    # --- plumbing -------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise QueueError("the queue is closed", path=str(self.path))
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.OperationalError as exc:
            # "database is locked" after busy_timeout, disk I/O errors, …
            raise QueueUnavailable(
                f"queue database {self.path} failed: {exc}", path=str(self.path)
            ) from exc
        except sqlite3.Error as exc:
            raise QueueError(
                f"queue database {self.path} failed: {exc}", path=str(self.path)
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: take the write lock before reading, so what we read cannot
        # change under us (another process would wait on busy_timeout instead).
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # also when COMMIT itself failed
                self._db.execute("ROLLBACK")
            raise

    def _next_seq(self) -> int:
        self._db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq'")
        return int(self._db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0])

    def _emit(
        self,
        job_id: str,
        kind: str,
        attempt: int,
        worker: str | None,
        data: Mapping[str, Any],
        now: float,
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO job_events(ts, job_id, kind, attempt, worker, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now, job_id, kind, attempt, worker, json.dumps(dict(data), separators=(",", ":"))),
        )
        event_id = int(cursor.lastrowid or 0)
        if event_id % 1000 == 0:  # prune now and then, like the Redis stream's MAXLEN ~
            self._db.execute("DELETE FROM job_events WHERE id <= ?", (event_id - EVENTS_KEPT,))
        return event_id

    def _row(self, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise JobNotFound(f"no job with id {job_id!r}", job_id=job_id)
        return row

    def _set(self, job_id: str, **values: Any) -> None:
        # Column names come from this module only, never from callers.
        columns = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(
            f"UPDATE jobs SET {columns} WHERE id = ?",  # noqa: S608
            (*values.values(), job_id),
        )

    @staticmethod
    def _holds(row: sqlite3.Row, attempt: int, worker: str) -> bool:
        return bool(
            row["state"] == JobState.RUNNING.value
            and int(row["attempt"]) == attempt
            and row["worker"] == worker
        )

    def _refuse(self, op: str, row: sqlite3.Row, attempt: int, worker: str, now: float) -> _Refused:
        refused = _Refused(row["state"], int(row["attempt"]), row["worker"])
        self._emit(
            row["id"],
            "rejected",
            attempt,
            worker,
            {
                "op": op,
                "state": refused.state,
                "current_attempt": refused.attempt,
                "current_worker": refused.worker,
            },
            now,
        )
        return refused

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
        check_submit(kind, lane, key, max_attempts)
        text = json_text(payload, "payload")
        return await self._run(
            self._submit, new_job_id(), kind, text, lane, key, max_attempts, time.time()
        )

    def _submit(
        self, job_id: str, kind: str, payload: str, lane: str, key: str | None,
        max_attempts: int, now: float,
    ) -> Job:  # fmt: skip
        with self._write() as db:
            if key is not None:
                row = db.execute("SELECT * FROM jobs WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return _job(row)
            seq = self._next_seq()
            db.execute(
                "INSERT INTO jobs(id, seq, ready_seq, kind, lane, key, state, max_attempts, "
                "submitted_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, seq, seq, kind, lane, key, JobState.QUEUED.value, max_attempts, now,
                 payload),
            )  # fmt: skip
            self._emit(job_id, "submitted", 0, None, {"kind": kind, "lane": lane}, now)
            return _job(self._row(job_id))

    async def cancel(self, job_id: str) -> Job:
        return await self._run(self._cancel, job_id, time.time())

    def _cancel(self, job_id: str, now: float) -> Job:
        with self._write():
            row = self._row(job_id)
            if row["state"] == JobState.QUEUED.value:
                self._set(job_id, state=JobState.CANCELLED.value, finished_at=now)
                self._emit(job_id, "cancelled", int(row["attempt"]), row["worker"], {}, now)
            elif row["state"] == JobState.RUNNING.value and not row["cancel_requested"]:
                self._set(job_id, cancel_requested=1)
                self._emit(job_id, "cancel_requested", int(row["attempt"]), row["worker"], {}, now)
            return _job(self._row(job_id))

    # --- workers --------------------------------------------------------------------

    async def claim(
        self, worker: str, *, lanes: Sequence[str] | None = None, block: float = 0.0
    ) -> Job | None:
        check_worker(worker)
        wanted = lane_list(lanes)
        deadline = time.monotonic() + max(block, 0.0)
        while True:
            job = await self._run(self._claim, worker, wanted, time.time())
            remaining = deadline - time.monotonic()
            if job is not None or remaining <= 0:
                return job
            await asyncio.sleep(min(_POLL, remaining))

    def _claim(self, worker: str, lanes: list[str] | None, now: float) -> Job | None:
        where = "state = 'queued'"
        params: list[Any] = []
        if lanes is not None:
            where += f" AND lane IN ({', '.join('?' for _ in lanes)})"
            params.extend(lanes)
        # Only placeholders are interpolated.
        query = f"SELECT id FROM jobs WHERE {where} ORDER BY ready_seq LIMIT 1"  # noqa: S608
        # A plain read first: an idle poller must not take the write lock.
        if self._db.execute(query, params).fetchone() is None:
            return None
        with self._write() as db:
            row = db.execute(query, params).fetchone()
            if row is None:  # another process took it between the two reads
                return None
            job_id = row["id"]
            db.execute(
                "UPDATE jobs SET state = 'running', attempt = attempt + 1, worker = ?, "
                "started_at = ?, heartbeat_at = ? WHERE id = ?",
                (worker, now, now, job_id),
            )
            job = _job(self._row(job_id))
            self._emit(job_id, "claimed", job.attempt, worker, {}, now)
            return job

    async def heartbeat(self, job_id: str, attempt: int, worker: str) -> Job:
        result = await self._run(self._heartbeat, job_id, attempt, worker, time.time())
        if isinstance(result, _Refused):
            raise self._stale("heartbeat", job_id, attempt, worker, result)
        return result

    def _heartbeat(self, job_id: str, attempt: int, worker: str, now: float) -> Job | _Refused:
        with self._write():
            row = self._row(job_id)
            if not self._holds(row, attempt, worker):
                return _Refused(row["state"], int(row["attempt"]), row["worker"])
            self._set(job_id, heartbeat_at=now)
            return _job(self._row(job_id))

    async def complete(
        self,
        job_id: str,
        attempt: int,
        worker: str,
        result: Mapping[str, Any],
        *,
        blobs: Mapping[str, bytes] | None = None,
    ) -> Job:
        text = json_text(result, "result")
        items = [(key, bytes(data)) for key, data in (blobs or {}).items()]
        done = await self._run(self._complete, job_id, attempt, worker, text, items, time.time())
        if isinstance(done, _Refused):
            raise self._stale("complete", job_id, attempt, worker, done)
        return done

    def _complete(
        self, job_id: str, attempt: int, worker: str, result: str,
        blobs: list[tuple[str, bytes]], now: float,
    ) -> Job | _Refused:  # fmt: skip
        with self._write() as db:
            row = self._row(job_id)
            if not self._holds(row, attempt, worker):
                return self._refuse("complete", row, attempt, worker, now)
            self._set(
                job_id,
                state=JobState.COMPLETE.value,
                result=result,
                error=None,
                finished_at=now,
            )
            versions = {key: self._put_blob_in(db, key, data) for key, data in blobs}
            self._emit(
                job_id, "completed", attempt, worker, {"blobs": versions} if versions else {}, now
            )
            return _job(self._row(job_id))

    async def fail(
        self, job_id: str, attempt: int, worker: str, error: str, *, retry: bool = False
    ) -> Job:
        done = await self._run(self._fail, job_id, attempt, worker, error, retry, time.time())
        if isinstance(done, _Refused):
            raise self._stale("fail", job_id, attempt, worker, done)
        return done

    def _fail(
        self, job_id: str, attempt: int, worker: str, error: str, retry: bool, now: float
    ) -> Job | _Refused:
        with self._write():
            row = self._row(job_id)
            if not self._holds(row, attempt, worker):
                return self._refuse("fail", row, attempt, worker, now)
            self._set(job_id, error=error, history=_with_history(row, error, now))
            self._end_attempt(row, retry=retry, data={"error": error}, now=now)
            return _job(self._row(job_id))

    def _end_attempt(
        self, row: sqlite3.Row, *, retry: bool, data: Mapping[str, Any], now: float
    ) -> None:
        """Move a RUNNING job on once its attempt ended without a result."""
        job_id, attempt, worker = row["id"], int(row["attempt"]), row["worker"]
        if row["cancel_requested"]:
            self._set(job_id, state=JobState.CANCELLED.value, finished_at=now)
            self._emit(job_id, "cancelled", attempt, worker, data, now)
        elif retry and attempt < int(row["max_attempts"]):
            self._set(job_id, state=JobState.QUEUED.value, ready_seq=self._next_seq())
            self._emit(job_id, "requeued", attempt, worker, data, now)
        elif retry:
            self._set(job_id, state=JobState.DEAD.value, finished_at=now)
            self._emit(job_id, "dead", attempt, worker, data, now)
        else:
            self._set(job_id, state=JobState.FAILED.value, finished_at=now)
            self._emit(job_id, "failed", attempt, worker, data, now)

    async def progress(
        self, job_id: str, attempt: int, worker: str, data: Mapping[str, Any]
    ) -> None:
        json_text(data, "progress data")  # refuse bad data even when the attempt is stale
        await self._run(self._progress, job_id, attempt, worker, dict(data), time.time())

    def _progress(
        self, job_id: str, attempt: int, worker: str, data: dict[str, Any], now: float
    ) -> None:
        with self._write() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is not None and self._holds(row, attempt, worker):
                self._emit(job_id, "progress", attempt, worker, data, now)

    async def reclaim_expired(self, *, lease: float, now: float | None = None) -> list[Job]:
        at = time.time() if now is None else now
        return await self._run(self._reclaim, at - lease, expiry_reason(lease), at)

    def _reclaim(self, cutoff: float, reason: str, now: float) -> list[Job]:
        with self._write() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = 'running' AND heartbeat_at < ? ORDER BY seq",
                (cutoff,),
            ).fetchall()
            for row in rows:
                self._set(row["id"], history=_with_history(row, reason, now))
                self._end_attempt(row, retry=True, data={"reason": reason}, now=now)
            return [_job(self._row(row["id"])) for row in rows]

    @staticmethod
    def _stale(op: str, job_id: str, attempt: int, worker: str, refused: _Refused) -> StaleAttempt:
        return stale_attempt(
            op,
            job_id,
            attempt,
            worker,
            state=refused.state,
            current_attempt=refused.attempt,
            current_worker=refused.worker,
        )

    # --- reading --------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        return await self._run(lambda: _job(self._row(job_id)))

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] | None = None,
        lane: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        wanted = None if states is None else [JobState(s).value for s in states]
        if limit <= 0 or wanted == []:
            return []
        return await self._run(self._list_jobs, wanted, lane, limit)

    def _list_jobs(self, states: list[str] | None, lane: str | None, limit: int) -> list[Job]:
        clauses: list[str] = []
        params: list[Any] = []
        if states is not None:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        if lane is not None:
            clauses.append("lane = ?")
            params.append(lane)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        # Only placeholders and fixed column names are interpolated.
        query = f"SELECT * FROM jobs{where} ORDER BY seq LIMIT ?"  # noqa: S608
        return [_job(row) for row in self._db.execute(query, (*params, limit)).fetchall()]

    async def events(
        self, *, after: int = 0, job_id: str | None = None, limit: int = 1000, block: float = 0.0
    ) -> list[JobEvent]:
        if limit <= 0:
            return []
        deadline = time.monotonic() + max(block, 0.0)
        while True:
            found = await self._run(self._events, after, job_id, limit)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            await asyncio.sleep(min(_POLL, remaining))

    def _events(self, after: int, job_id: str | None, limit: int) -> list[JobEvent]:
        if job_id is None:
            rows = self._db.execute(
                "SELECT * FROM job_events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT * FROM job_events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
                (job_id, after, limit),
            ).fetchall()
        return [_event(row) for row in rows]

    async def last_event_id(self) -> int:
        row = await self._run(lambda: self._db.execute("SELECT MAX(id) FROM job_events").fetchone())
        return 0 if row[0] is None else int(row[0])

    # --- worker registry ------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        check_worker(info.id)
        doc = worker_doc(info)
        running = json.dumps(list(info.running))
        await self._run(self._register_worker, info, doc, running)

    def _register_worker(self, info: WorkerInfo, doc: str, running: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO workers(id, doc, running, completed, failed, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (info.id, doc, running, info.completed, info.failed, info.heartbeat_at),
        )

    async def worker_heartbeat(
        self,
        worker: str,
        *,
        running: Sequence[str],
        completed: int,
        failed: int,
        now: float | None = None,
    ) -> None:
        at = time.time() if now is None else now
        text = json.dumps(list(running))
        await self._run(self._worker_heartbeat, worker, text, completed, failed, at)

    def _worker_heartbeat(
        self, worker: str, running: str, completed: int, failed: int, now: float
    ) -> None:
        # An unregistered (or removed) worker stays unregistered: register_worker
        # is what creates the entry, with the host facts a heartbeat lacks.
        self._db.execute(
            "UPDATE workers SET running = ?, completed = ?, failed = ?, heartbeat_at = ? "
            "WHERE id = ?",
            (running, completed, failed, now, worker),
        )

    async def remove_worker(self, worker: str) -> None:
        await self._run(self._db.execute, "DELETE FROM workers WHERE id = ?", (worker,))

    async def list_workers(self) -> list[WorkerInfo]:
        rows = await self._run(
            lambda: self._db.execute("SELECT * FROM workers ORDER BY id").fetchall()
        )
        return [
            worker_from_doc(
                row["doc"],
                running=row["running"],
                completed=int(row["completed"]),
                failed=int(row["failed"]),
                heartbeat_at=float(row["heartbeat_at"]),
            )
            for row in rows
        ]

    # --- shared state ---------------------------------------------------------------

    @staticmethod
    def _put_blob_in(db: sqlite3.Connection, key: str, data: bytes) -> int:
        db.execute(
            "INSERT INTO blobs(key, data, version) VALUES (?, ?, 1) "
            "ON CONFLICT(key) DO UPDATE SET data = excluded.data, version = version + 1",
            (key, data),
        )
        return int(db.execute("SELECT version FROM blobs WHERE key = ?", (key,)).fetchone()[0])

    async def put_blob(self, key: str, data: bytes) -> int:
        def put() -> int:
            with self._write() as db:
                return self._put_blob_in(db, key, bytes(data))

        return await self._run(put)

    async def get_blob(self, key: str) -> Blob | None:
        row = await self._run(
            lambda: self._db.execute(
                "SELECT data, version FROM blobs WHERE key = ?", (key,)
            ).fetchone()
        )
        return None if row is None else Blob(data=bytes(row["data"]), version=int(row["version"]))

    async def blob_version(self, key: str) -> int:
        row = await self._run(
            lambda: self._db.execute("SELECT version FROM blobs WHERE key = ?", (key,)).fetchone()
        )
        return 0 if row is None else int(row["version"])

    async def acquire_slot(
        self, pool: str, holder: str, *, limit: int, ttl: float, now: float | None = None
    ) -> bool:
        check_slot_args(limit, ttl)
        at = time.time() if now is None else now
        return await self._run(self._acquire_slot, pool, holder, limit, at, at + ttl)

    def _acquire_slot(
        self, pool: str, holder: str, limit: int, now: float, expires_at: float
    ) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM slots WHERE pool = ? AND expires_at <= ?", (pool, now))
            held = db.execute(
                "SELECT 1 FROM slots WHERE pool = ? AND holder = ?", (pool, holder)
            ).fetchone()
            if held is None:
                taken = db.execute("SELECT COUNT(*) FROM slots WHERE pool = ?", (pool,))
                if int(taken.fetchone()[0]) >= limit:
                    return False
            db.execute(
                "INSERT OR REPLACE INTO slots(pool, holder, expires_at) VALUES (?, ?, ?)",
                (pool, holder, expires_at),
            )
            return True

    async def release_slot(self, pool: str, holder: str) -> None:
        await self._run(
            self._db.execute, "DELETE FROM slots WHERE pool = ? AND holder = ?", (pool, holder)
        )

    async def take_rate(
        self, bucket: str, *, limit: int, window: float, now: float | None = None
    ) -> float:
        check_rate_args(limit, window)
        at = time.time() if now is None else now
        return await self._run(self._take_rate, bucket, limit, window, at)

    def _take_rate(self, bucket: str, limit: int, window: float, now: float) -> float:
        with self._write() as db:
            # A unit taken at t counts until t + window (exclusive).
            db.execute("DELETE FROM rates WHERE bucket = ? AND ts <= ?", (bucket, now - window))
            count, oldest = db.execute(
                "SELECT COUNT(*), MIN(ts) FROM rates WHERE bucket = ?", (bucket,)
            ).fetchone()
            if int(count) < limit:
                db.execute("INSERT INTO rates(bucket, ts) VALUES (?, ?)", (bucket, now))
                return 0.0
            return rate_wait(float(oldest), window, now)

    async def set_setting(self, name: str, value: Any) -> None:
        text = json_value(value, f"setting {name!r}")
        await self._run(
            self._db.execute,
            "INSERT OR REPLACE INTO settings(name, value) VALUES (?, ?)",
            (name, text),
        )

    async def get_settings(self) -> dict[str, Any]:
        rows = await self._run(
            lambda: self._db.execute("SELECT name, value FROM settings").fetchall()
        )
        return {row["name"]: json.loads(row["value"]) for row in rows}
