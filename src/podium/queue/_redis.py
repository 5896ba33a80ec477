"""Redis engine: one stream per lane read by the consumer group ``workers``, job
records in hashes, every state change in a Lua script (see ``_redis_scripts``).

Delivery is at least once; the job hash's ``attempt`` is the fence. A stream
entry only carries a job id and is started only if it is still the job's
current entry and the job is QUEUED, so a duplicate or late delivery cannot
start a job twice.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._errors import UsageError
from .._redis_conn import connect_redis, redacted_url
from . import _redis_scripts as lua
from ._common import (
    check_rate_args,
    check_slot_args,
    check_submit,
    check_worker,
    expiry_reason,
    json_text,
    json_value,
    lane_list,
    new_job_id,
    new_token,
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
    WorkerInfo,
)

__all__ = ["RedisQueue"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# One blocking read never waits longer than this: the loop around it re-reads
# the lanes and notices a server that came back.
_MAX_BLOCK = 1.0
# reclaim_expired's XAUTOCLAIM consumer: entries it takes are handled at once.
_JANITOR = "podium-janitor"
# A page of the RECLAIM script's 'running' mode (fixed in the script).
_RECLAIM_PAGE = 100


def _translated(
    method: Callable[Concatenate[RedisQueue, _P], Awaitable[_R]],
) -> Callable[Concatenate[RedisQueue, _P], Coroutine[Any, Any, _R]]:
    """Redis failures leave as podium errors (the client already retried)."""

    async def call(self: RedisQueue, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise QueueUnavailable(
                f"the Redis job queue {self.prefix!r} is unreachable: {exc}", prefix=self.prefix
            ) from exc
        except RedisError as exc:
            raise QueueError(
                f"the Redis job queue {self.prefix!r} failed: {exc}", prefix=self.prefix
            ) from exc

    functools.update_wrapper(call, method)
    return call


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _job(fields: Mapping[str, str]) -> Job:
    def time_of(name: str) -> float | None:
        value = fields.get(name)
        return None if value is None else float(value)

    result = fields.get("result")
    return Job(
        id=fields["id"],
        kind=fields["kind"],
        lane=fields["lane"],
        payload=json.loads(fields["payload"]),
        state=JobState(fields["state"]),
        key=fields.get("key"),
        attempt=int(fields["attempt"]),
        max_attempts=int(fields["max_attempts"]),
        worker=fields.get("worker"),
        submitted_at=float(fields["submitted_at"]),
        started_at=time_of("started_at"),
        heartbeat_at=time_of("heartbeat_at"),
        finished_at=time_of("finished_at"),
        result=None if result is None else json.loads(result),
        error=fields.get("error"),
        cancel_requested=fields.get("cancel_requested") == "1",
        history=tuple(json.loads(fields.get("history", "[]"))),
    )


def _job_reply(reply: Sequence[Any]) -> Job:
    """A script's ``{status, <HGETALL of the job>}``."""
    return _job(_pairs(reply[1:]))


def _event(entry_id: Any, raw: Mapping[Any, Any]) -> JobEvent:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return JobEvent(
        id=int(_text(entry_id).partition("-")[2]),
        ts=float(fields["ts"]),
        job_id=fields["job"],
        kind=fields["kind"],
        attempt=int(fields["attempt"]),
        worker=fields["worker"] or None,
        data=json.loads(fields["data"]),
    )


class RedisQueue:
    """The JobQueue protocol on a Redis server (7.0 or newer), shared by any number of hosts.

    ``client`` should come from ``connect_redis`` (raw bytes replies, retries
    through a restart). ``close`` closes it only when this queue opened it
    (``from_url``). Several queues can share a server under different prefixes.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "podium") -> None:
        if not prefix:
            raise UsageError("a Redis queue needs a non-empty key prefix")
        self.client = client
        self.prefix = prefix
        self._owns_client = False
        self._url: str | None = None
        self._submit = client.register_script(lua.SUBMIT)
        self._claim = client.register_script(lua.CLAIM)
        self._heartbeat = client.register_script(lua.HEARTBEAT)
        self._complete = client.register_script(lua.COMPLETE)
        self._fail = client.register_script(lua.FAIL)
        self._progress = client.register_script(lua.PROGRESS)
        self._cancel = client.register_script(lua.CANCEL)
        self._reclaim = client.register_script(lua.RECLAIM)
        self._worker_heartbeat = client.register_script(lua.WORKER_HEARTBEAT)
        self._put_blob = client.register_script(lua.PUT_BLOB)
        self._acquire_slot = client.register_script(lua.ACQUIRE_SLOT)
        self._take_rate = client.register_script(lua.TAKE_RATE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "podium") -> RedisQueue:
        queue = cls(connect_redis(url), prefix=prefix)
        queue._owns_client = True
        queue._url = redacted_url(url)
        return queue

    def __repr__(self) -> str:
        return f"RedisQueue({self._url or self.client!r}, prefix={self.prefix!r})"

    async def close(self) -> None:
        if self._owns_client:
            self._owns_client = False
            await self.client.aclose()

    # --- plumbing -------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def _run(self, script: AsyncScript, now: float, *args: Any) -> Any:
        return await script(args=[self.prefix, repr(now), *args])

    async def _lanes(self) -> list[str]:
        return sorted(_text(lane) for lane in await self.client.smembers(self._key("q", "lanes")))

    def _checked(
        self, op: str, job_id: str, attempt: int, worker: str, reply: Sequence[Any]
    ) -> Job:
        status = _text(reply[0])
        if status == "missing":
            raise JobNotFound(f"no job with id {job_id!r}", job_id=job_id)
        if status == "stale":
            raise stale_attempt(
                op,
                job_id,
                attempt,
                worker,
                state=_text(reply[1]),
                current_attempt=int(reply[2]),
                current_worker=_text(reply[3]) or None,
            )
        return _job_reply(reply)

    # --- producers ------------------------------------------------------------------

    @_translated
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
        data = json_text({"kind": kind, "lane": lane}, "event data")
        # The id is made here, so a re-sent script finds the job it created.
        reply = await self._run(
            self._submit, time.time(), new_job_id(), kind, lane, key or "", max_attempts, text,
            data,
        )  # fmt: skip
        return _job_reply(reply)

    @_translated
    async def cancel(self, job_id: str) -> Job:
        reply = await self._run(self._cancel, time.time(), job_id)
        if _text(reply[0]) == "missing":
            raise JobNotFound(f"no job with id {job_id!r}", job_id=job_id)
        return _job_reply(reply)

    # --- workers --------------------------------------------------------------------

    @_translated
    async def claim(
        self, worker: str, *, lanes: Sequence[str] | None = None, block: float = 0.0
    ) -> Job | None:
        check_worker(worker)
        wanted = lane_list(lanes)
        deadline = time.monotonic() + max(block, 0.0)
        token = new_token()
        while True:
            names = wanted if wanted is not None else await self._lanes()
            reply = await self._run(self._claim, time.time(), worker, token, *names)
            status = _text(reply[0])
            if status == "job":
                return _job_reply(reply)
            if status == "again":  # skipped many dead entries; look again at once
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # Wake on a new entry in any of the lanes (and, serving every lane, on a
            # new lane). Never BLOCK 0: to Redis that means forever.
            streams: dict[Any, Any] = {reply[i]: reply[i + 1] for i in range(2, len(reply), 2)}
            if wanted is None:
                streams[self._key("q", "newlanes")] = reply[1]
            await self.client.xread(streams, block=max(1, int(min(remaining, _MAX_BLOCK) * 1000)))

    @_translated
    async def heartbeat(self, job_id: str, attempt: int, worker: str) -> Job:
        reply = await self._run(self._heartbeat, time.time(), job_id, attempt, worker)
        return self._checked("heartbeat", job_id, attempt, worker, reply)

    @_translated
    async def complete(
        self,
        job_id: str,
        attempt: int,
        worker: str,
        result: Mapping[str, Any],
        *,
        blobs: Mapping[str, bytes] | None = None,
    ) -> Job:
        return await self._complete_call(job_id, attempt, worker, result, blobs, new_token())

    async def _complete_call(
        self,
        job_id: str,
        attempt: int,
        worker: str,
        result: Mapping[str, Any],
        blobs: Mapping[str, bytes] | None,
        token: str,
    ) -> Job:
        text = json_text(result, "result")
        items = list((blobs or {}).items())
        flat: list[Any] = [part for key, data in items for part in (key, bytes(data))]
        reply = await self._run(
            self._complete, time.time(), job_id, attempt, worker, token, text, len(items), *flat
        )
        return self._checked("complete", job_id, attempt, worker, reply)

    @_translated
    async def fail(
        self, job_id: str, attempt: int, worker: str, error: str, *, retry: bool = False
    ) -> Job:
        data = json_text({"error": error}, "event data")
        reply = await self._run(
            self._fail, time.time(), job_id, attempt, worker, new_token(), error,
            "1" if retry else "0", data,
        )  # fmt: skip
        return self._checked("fail", job_id, attempt, worker, reply)

    @_translated
    async def progress(
        self, job_id: str, attempt: int, worker: str, data: Mapping[str, Any]
    ) -> None:
        text = json_text(data, "progress data")
        await self._run(self._progress, time.time(), job_id, attempt, worker, text)

    @_translated
    async def reclaim_expired(self, *, lease: float, now: float | None = None) -> list[Job]:
        at = time.time() if now is None else now
        reason = expiry_reason(lease)
        common = (repr(at - lease), reason, json_text({"reason": reason}, "event data"))
        changed: dict[str, Job] = {}
        # 1. RUNNING jobs by their heartbeat_at, through the index: exact, and on
        # the caller's clock. Every job looked at leaves the range, so this ends.
        while True:
            reply = await self._run(self._reclaim, at, "running", *common)
            for item in reply[1:]:
                job = _job_reply(item)
                changed[job.id] = job
            if int(reply[0]) < _RECLAIM_PAGE:
                break
        # 2. Entries idle in a lane's pending list: a claim whose job record says
        # otherwise (read but never started, or already finished). Idle time is the
        # server's clock; a caller's clock ahead of ours shortens it to match.
        skew = max(0.0, at - time.time())
        min_idle = max(0, int((lease - skew) * 1000))
        for lane in await self._lanes():
            cursor: Any = "0-0"
            while True:
                reply = await self._run(
                    self._reclaim, at, "sweep", *common, lane, cursor, min_idle, _JANITOR
                )
                for item in reply[1:]:
                    job = _job_reply(item)
                    changed[job.id] = job
                cursor = _text(reply[0])
                if cursor == "0-0":
                    break
        return list(changed.values())

    # --- reading --------------------------------------------------------------------

    @_translated
    async def get(self, job_id: str) -> Job:
        raw = await self.client.hgetall(self._key("q", "job", job_id))
        if not raw:
            raise JobNotFound(f"no job with id {job_id!r}", job_id=job_id)
        return _job({_text(k): _text(v) for k, v in raw.items()})

    @_translated
    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] | None = None,
        lane: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        wanted = None if states is None else {JobState(s) for s in states}
        if limit <= 0 or wanted == set():
            return []
        if wanted is None:
            indexes = [self._key("q", "jobs")]
        else:
            indexes = [self._key("q", "state", state.value) for state in sorted(wanted)]
        # The first ``limit`` matches overall are among the first ``limit`` of each index.
        found: list[tuple[float, Job]] = []
        for index in indexes:
            found.extend(await self._scan(index, wanted, lane, limit))
        found.sort(key=lambda item: item[0])
        return [job for _, job in found[:limit]]

    async def _scan(
        self, index: str, states: set[JobState] | None, lane: str | None, limit: int
    ) -> list[tuple[float, Job]]:
        """Up to ``limit`` matching jobs of one index, oldest first.

        Pages by score (the unique submit number), so jobs leaving the index while
        we read cannot make us skip others.
        """
        found: list[tuple[float, Job]] = []
        low = "-inf"
        page = max(limit, 100)
        while len(found) < limit:
            members: Any = await self.client.zrangebyscore(
                index, low, "+inf", start=0, num=page, withscores=True
            )
            if not members:
                break
            pipe = self.client.pipeline(transaction=False)
            for member, _ in members:
                pipe.hgetall(self._key("q", "job", _text(member)))
            docs = await pipe.execute()
            for (_, score), raw in zip(members, docs, strict=True):
                if not raw:
                    continue
                job = _job({_text(k): _text(v) for k, v in raw.items()})
                # Filter on the record itself: the index may lag a change made
                # between the two reads.
                if (states is None or job.state in states) and lane in (None, job.lane):
                    found.append((float(score), job))
                    if len(found) == limit:
                        break
            if len(members) < page:
                break
            low = f"({int(members[-1][1])}"
        return found

    @_translated
    async def events(
        self, *, after: int = 0, job_id: str | None = None, limit: int = 1000, block: float = 0.0
    ) -> list[JobEvent]:
        if limit <= 0:
            return []
        key = self._key("q", "events")
        deadline = time.monotonic() + max(block, 0.0)
        cursor = max(after, 0)
        while True:
            found: list[JobEvent] = []
            while len(found) < limit:
                count = limit - len(found) if job_id is None else 500
                page: Any = await self.client.xrange(key, min=f"(0-{cursor}", max="+", count=count)
                for entry_id, raw in page:
                    event = _event(entry_id, raw)
                    cursor = event.id
                    if job_id is None or event.job_id == job_id:
                        found.append(event)
                        if len(found) == limit:
                            break
                if len(page) < count:
                    break
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            await self.client.xread(
                {key: f"0-{cursor}"}, block=max(1, int(min(remaining, _MAX_BLOCK) * 1000))
            )

    @_translated
    async def last_event_id(self) -> int:
        seq = await self.client.get(self._key("q", "eventseq"))
        return 0 if seq is None else int(seq)

    # --- worker registry ------------------------------------------------------------

    @_translated
    async def register_worker(self, info: WorkerInfo) -> None:
        check_worker(info.id)
        key = self._key("worker", info.id)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "doc": worker_doc(info),
                "running": json.dumps(list(info.running)),
                "completed": info.completed,
                "failed": info.failed,
                "heartbeat_at": repr(info.heartbeat_at),
            },
        )
        pipe.sadd(self._key("workers"), info.id)
        await pipe.execute()

    @_translated
    async def worker_heartbeat(
        self,
        worker: str,
        *,
        running: Sequence[str],
        completed: int,
        failed: int,
        now: float | None = None,
    ) -> None:
        # An unregistered (or removed) worker stays unregistered: register_worker
        # is what creates the entry, with the host facts a heartbeat lacks.
        at = time.time() if now is None else now
        await self._run(
            self._worker_heartbeat, at, worker, json.dumps(list(running)), completed, failed
        )

    @_translated
    async def remove_worker(self, worker: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self._key("worker", worker))
        pipe.srem(self._key("workers"), worker)
        await pipe.execute()

    @_translated
    async def list_workers(self) -> list[WorkerInfo]:
        ids = sorted(_text(i) for i in await self.client.smembers(self._key("workers")))
        pipe = self.client.pipeline(transaction=False)
        for worker in ids:
            pipe.hgetall(self._key("worker", worker))
        workers: list[WorkerInfo] = []
        for raw in await pipe.execute() if ids else []:
            if not raw:  # removed between the two reads
                continue
            fields = {_text(k): _text(v) for k, v in raw.items()}
            workers.append(
                worker_from_doc(
                    fields["doc"],
                    running=fields["running"],
                    completed=int(fields["completed"]),
                    failed=int(fields["failed"]),
                    heartbeat_at=float(fields["heartbeat_at"]),
                )
            )
        return workers

    # --- shared state ---------------------------------------------------------------

    @_translated
    async def put_blob(self, key: str, data: bytes) -> int:
        return int(await self._run(self._put_blob, time.time(), key, bytes(data)))

    @_translated
    async def get_blob(self, key: str) -> Blob | None:
        data, version = await self.client.mget([self._key("blob", key), self._key("blobver", key)])
        if data is None:
            return None
        raw = data if isinstance(data, bytes) else data.encode()
        return Blob(data=raw, version=int(version or 0))

    @_translated
    async def blob_version(self, key: str) -> int:
        version = await self.client.get(self._key("blobver", key))
        return 0 if version is None else int(version)

    @_translated
    async def acquire_slot(
        self, pool: str, holder: str, *, limit: int, ttl: float, now: float | None = None
    ) -> bool:
        check_slot_args(limit, ttl)
        at = time.time() if now is None else now
        taken = await self._run(self._acquire_slot, at, pool, holder, limit, repr(at + ttl))
        return bool(taken)

    @_translated
    async def release_slot(self, pool: str, holder: str) -> None:
        await self.client.zrem(self._key("slots", pool), holder)

    @_translated
    async def take_rate(
        self, bucket: str, *, limit: int, window: float, now: float | None = None
    ) -> float:
        check_rate_args(limit, window)
        at = time.time() if now is None else now
        # The key outlives its newest unit by a minute, so idle buckets disappear.
        ttl_ms = int(window * 1000) + 60_000
        reply = await self._run(
            self._take_rate, at, bucket, limit, repr(at - window), new_token(), ttl_ms
        )
        if _text(reply[0]) == "0":
            return 0.0
        return rate_wait(float(reply[1]), window, at)

    @_translated
    async def set_setting(self, name: str, value: Any) -> None:
        await self.client.hset(self._key("settings"), name, json_value(value, f"setting {name!r}"))

    @_translated
    async def get_settings(self) -> dict[str, Any]:
        raw = await self.client.hgetall(self._key("settings"))
        return {_text(k): json.loads(v) for k, v in raw.items()}
