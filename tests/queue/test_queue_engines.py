"""What only one engine can show: Redis restarts and lost replies, SQLite shared by
processes, and opening a queue from a URL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium._errors import UsageError
from podium._redis_conn import connect_redis
from podium.queue import (
    JobQueue,
    JobState,
    QueueUnavailable,
    RedisQueue,
    SQLiteQueue,
    StaleAttempt,
    open_queue,
)
from tests._redis_server import RedisServer

# --- Redis ----------------------------------------------------------------------------


@pytest.fixture
async def rqueue(redis_server: RedisServer) -> AsyncIterator[RedisQueue]:
    queue = RedisQueue.from_url(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    try:
        yield queue
    finally:
        await queue.close()


def lane_stream(queue: RedisQueue, lane: str = "default") -> str:
    return f"{queue.prefix}:q:lane:{lane}"


async def pending(queue: RedisQueue, lane: str = "default") -> int:
    summary = await queue.client.xpending(lane_stream(queue, lane), "workers")
    return int(summary["pending"])


async def test_redis_restart_loses_nothing(redis_server: RedisServer, rqueue: RedisQueue) -> None:
    job = await rqueue.submit("turn", {"n": 1})
    redis_server.restart()
    claimed = await rqueue.claim("w1")  # the same client: it reconnects and retries
    assert claimed is not None
    assert claimed.id == job.id
    assert claimed.attempt == 1
    redis_server.restart()
    assert (await rqueue.heartbeat(job.id, 1, "w1")).state is JobState.RUNNING
    redis_server.restart()
    done = await rqueue.complete(job.id, 1, "w1", {"ok": True}, blobs={"s": b"data"})
    assert done.state is JobState.COMPLETE
    redis_server.restart()
    assert await rqueue.get(job.id) == done
    assert await rqueue.blob_version("s") == 1
    second = await rqueue.submit("turn", {"n": 2})
    events = await rqueue.events()
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert [(e.kind, e.job_id) for e in events] == [
        ("submitted", job.id), ("claimed", job.id), ("completed", job.id),
        ("submitted", second.id),
    ]  # fmt: skip
    assert await rqueue.last_event_id() == 4


async def test_redis_blocked_claim_rides_out_a_restart(
    redis_server: RedisServer, rqueue: RedisQueue
) -> None:
    waiting = asyncio.create_task(rqueue.claim("w1", block=30))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(redis_server.restart)
    job = await rqueue.submit("turn", {})
    got = await asyncio.wait_for(waiting, timeout=20)
    assert got is not None
    assert got.id == job.id


async def test_redis_entry_read_but_never_started_is_recovered(rqueue: RedisQueue) -> None:
    job = await rqueue.submit("turn", {})
    # A claimer's XREADGROUP whose reply was lost: the entry is pending for a
    # consumer that will never start it, and the job is still QUEUED.
    read = await rqueue.client.xreadgroup("workers", "ghost", {lane_stream(rqueue): ">"}, count=1)
    assert read
    assert await pending(rqueue) == 1
    assert await rqueue.claim("w1") is None
    assert (await rqueue.get(job.id)).state is JobState.QUEUED
    # Not idle for a lease yet (server clock): left alone.
    assert await rqueue.reclaim_expired(lease=30) == []
    assert await rqueue.claim("w1") is None
    # The record did not change (still QUEUED, attempt 0): nothing is reported.
    assert await rqueue.reclaim_expired(lease=30, now=time.time() + 60) == []
    claimed = await rqueue.claim("w1")
    assert claimed is not None
    assert (claimed.id, claimed.attempt) == (job.id, 1)
    assert await pending(rqueue) == 1
    done = await rqueue.complete(job.id, 1, "w1", {})
    assert done.state is JobState.COMPLETE
    assert await pending(rqueue) == 0


async def test_redis_orphan_recovered_after_real_idle_time(rqueue: RedisQueue) -> None:
    job = await rqueue.submit("turn", {})
    await rqueue.client.xreadgroup("workers", "ghost", {lane_stream(rqueue): ">"}, count=1)
    await asyncio.sleep(0.3)
    assert await rqueue.reclaim_expired(lease=0.1) == []
    claimed = await rqueue.claim("w1")
    assert claimed is not None
    assert claimed.id == job.id


async def test_redis_claim_over_lanes_reads_one_entry(rqueue: RedisQueue) -> None:
    for lane in ("a", "b", "c"):
        await rqueue.submit("turn", {}, lane=lane)
    claimed = await rqueue.claim("w1")
    assert claimed is not None
    assert claimed.lane == "a"
    assert [await pending(rqueue, lane) for lane in ("a", "b", "c")] == [1, 0, 0]


async def test_redis_duplicate_entry_never_starts_a_job_twice(rqueue: RedisQueue) -> None:
    first = await rqueue.submit("turn", {})
    await rqueue.cancel(first.id)
    # More dead entries than one claim script skips: the claim keeps looking.
    for _ in range(150):
        await rqueue.client.xadd(lane_stream(rqueue), {"job": first.id})
    job = await rqueue.submit("turn", {})
    await rqueue.client.xadd(lane_stream(rqueue), {"job": job.id})  # a stray duplicate
    await rqueue.client.xadd(lane_stream(rqueue), {"job": "job-gone00000000"})
    claimed = await rqueue.claim("w1")
    assert claimed is not None
    assert claimed.attempt == 1
    assert await rqueue.claim("w2") is None
    assert await rqueue.client.xlen(lane_stream(rqueue)) == 1  # only the job's own entry
    assert (await rqueue.get(job.id)).attempt == 1


async def test_redis_finished_jobs_leave_no_entries(rqueue: RedisQueue) -> None:
    jobs = [await rqueue.submit("turn", {"i": i}) for i in range(4)]
    for n, job in enumerate(jobs):
        claimed = await rqueue.claim("w1")
        assert claimed is not None
        assert claimed.id == job.id
        if n == 0:
            await rqueue.complete(job.id, 1, "w1", {})
        elif n == 1:
            await rqueue.fail(job.id, 1, "w1", "x")
        elif n == 2:
            await rqueue.cancel(job.id)
            await rqueue.fail(job.id, 1, "w1", "cancelled")
    await rqueue.cancel(jobs[3].id)
    await rqueue.fail(jobs[3].id, 1, "w1", "x", retry=True)
    assert await rqueue.client.xlen(lane_stream(rqueue)) == 0
    assert await pending(rqueue) == 0
    assert await rqueue.client.zcard(f"{rqueue.prefix}:q:running") == 0


async def test_redis_retried_calls_change_nothing_twice(rqueue: RedisQueue) -> None:
    """A command whose reply was lost in a restart is sent again by redis-py; the
    second run must answer like the first and change nothing."""
    job = await rqueue.submit("turn", {})
    token = "claim-token-1"
    first = await rqueue._run(rqueue._claim, time.time(), "w1", token, "default")
    again = await rqueue._run(rqueue._claim, time.time(), "w1", token, "default")
    assert first[0] == again[0] == b"job"
    assert (await rqueue.get(job.id)).attempt == 1
    done = await rqueue._complete_call(job.id, 1, "w1", {"r": 1}, {"b": b"x"}, "done-1")
    resent = await rqueue._complete_call(job.id, 1, "w1", {"r": 1}, {"b": b"x"}, "done-1")
    assert resent == done
    assert await rqueue.blob_version("b") == 1
    with pytest.raises(StaleAttempt):  # a new call is not a retry
        await rqueue._complete_call(job.id, 1, "w1", {"r": 1}, None, "done-2")
    kinds = [e.kind for e in await rqueue.events(job_id=job.id)]
    assert kinds == ["submitted", "claimed", "completed", "rejected"]


async def test_redis_heartbeat_keeps_the_entry_fresh(rqueue: RedisQueue) -> None:
    job = await rqueue.submit("turn", {})
    assert await rqueue.claim("w1") is not None
    await asyncio.sleep(0.3)
    await rqueue.heartbeat(job.id, 1, "w1")
    entries = await rqueue.client.xpending_range(lane_stream(rqueue), "workers", "-", "+", 10)
    assert [e["consumer"] for e in entries] == [b"w1"]
    assert int(entries[0]["time_since_delivered"]) < 300  # reset by the heartbeat
    # A janitor's XAUTOCLAIM may take a live claim's entry (its clock differs from
    # the server's); the job is left alone and the next heartbeat takes it back.
    entry_id = entries[0]["message_id"]
    await rqueue.client.xclaim(
        lane_stream(rqueue), "workers", "podium-janitor", 0, [entry_id], justid=True
    )
    assert await rqueue.reclaim_expired(lease=5) == []
    assert (await rqueue.get(job.id)).state is JobState.RUNNING
    await rqueue.heartbeat(job.id, 1, "w1")
    entries = await rqueue.client.xpending_range(lane_stream(rqueue), "workers", "-", "+", 10)
    assert [e["consumer"] for e in entries] == [b"w1"]
    assert (await rqueue.complete(job.id, 1, "w1", {})).state is JobState.COMPLETE


async def test_redis_unreachable(tmp_path: Path) -> None:
    queue = RedisQueue(connect_redis(f"unix://{tmp_path}/none.sock", retries=0), prefix="x")
    try:
        with pytest.raises(QueueUnavailable):
            await queue.get("job-000000000000")
        with pytest.raises(QueueUnavailable):
            await queue.claim("w1", block=0.1)
    finally:
        await queue.client.aclose()


# --- SQLite ---------------------------------------------------------------------------

_CLAIMER = """
import asyncio, sys
from pathlib import Path
from podium.queue import SQLiteQueue

async def main() -> None:
    queue = SQLiteQueue(Path(sys.argv[1]))
    print("ready", flush=True)
    sys.stdin.readline()
    got = []
    while (job := await queue.claim(sys.argv[2])) is not None:
        got.append(job.id)
    await queue.close()
    print(" ".join(got), flush=True)

asyncio.run(main())
"""


async def test_sqlite_processes_never_share_a_job(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    queue = SQLiteQueue(path)
    try:
        submitted = {(await queue.submit("turn", {"i": i})).id for i in range(120)}
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _CLAIMER, str(path), f"proc{n}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        try:
            for process in processes:  # all started and connected: then all at once
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            outputs = [process.communicate(timeout=60)[0] for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
        assert [process.returncode for process in processes] == [0, 0, 0]
        claimed = [job_id for out in outputs for job_id in out.split()]
        assert len(claimed) == len(set(claimed)) == 120
        assert set(claimed) == submitted
        jobs = await queue.list_jobs(limit=200)
        assert {(job.state, job.attempt) for job in jobs} == {(JobState.RUNNING, 1)}
        by_worker = {job.id: job.worker for job in jobs}
        for n, out in enumerate(outputs):  # each process got what the records say
            assert all(by_worker[job_id] == f"proc{n}" for job_id in out.split())
        claims = [e for e in await queue.events(limit=1000) if e.kind == "claimed"]
        assert len(claims) == 120
    finally:
        await queue.close()


async def test_sqlite_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    first = SQLiteQueue(path)
    job = await first.submit("turn", {"n": 1}, key="k")
    claimed = await first.claim("w1")
    assert claimed is not None
    await first.close()
    second = SQLiteQueue(path)
    try:
        assert (await second.get(job.id)).state is JobState.RUNNING
        done = await second.complete(job.id, 1, "w1", {"ok": 1})
        assert done.result == {"ok": 1}
        assert (await second.submit("turn", {}, key="k")).id == job.id
        assert [e.id for e in await second.events()] == [1, 2, 3]
    finally:
        await second.close()


# --- open_queue -----------------------------------------------------------------------


async def test_open_queue_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_queue(f"sqlite://{tmp_path}/abs.db")
    assert isinstance(absolute, SQLiteQueue)
    assert absolute.path == tmp_path / "abs.db"
    await absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_queue("sqlite:sub/rel.db")
    assert isinstance(relative, SQLiteQueue)
    assert relative.path == Path("sub/rel.db")
    await relative.submit("turn", {})
    await relative.close()
    assert (tmp_path / "sub" / "rel.db").exists()


async def test_open_queue_redis(redis_server: RedisServer) -> None:
    queues: list[JobQueue] = [
        open_queue(redis_server.url, prefix="urltest"),
        open_queue("redis://localhost:6379/0"),
        open_queue("rediss://user:pw@example.invalid:6380/1"),
    ]
    try:
        assert all(isinstance(q, RedisQueue) for q in queues)
        first = queues[0]
        assert isinstance(first, RedisQueue)
        assert first.prefix == "urltest"
        job = await first.submit("turn", {})
        assert (await first.get(job.id)).id == job.id
        assert "pw" not in repr(queues[2])
    finally:
        for queue in queues:
            await queue.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/queue",
        "postgres://user:secret@db/queue",
        "queue.db",
        "",
        "sqlite:",
        "sqlite://queue.db",
        "sqlite:///",
        "sqlite:///data/queue.db?mode=ro",
    ],
)
def test_open_queue_refuses(url: str) -> None:
    with pytest.raises(UsageError) as refused:
        open_queue(url)
    message = str(refused.value)
    assert "sqlite:///" in message
    assert "redis://" in message
    assert "secret" not in message
    if url:
        assert refused.value.context["url"] == url.replace("secret", "***")
