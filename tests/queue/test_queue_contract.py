"""The JobQueue contract: every test runs on SQLite and on a real redis-server.

Time-dependent behaviour (leases, slots, rate windows) is driven with the
``now=`` arguments, so no test sleeps through a lease.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import pytest

from podium.queue import (
    Job,
    JobNotFound,
    JobQueue,
    JobState,
    StaleAttempt,
    WorkerInfo,
)
from tests.queue.conftest import OpenQueue


async def running(queue: JobQueue, worker: str = "w1", **submit: Any) -> Job:
    """A job submitted and claimed by ``worker``."""
    job = await queue.submit("turn", {"n": 1}, **submit)
    claimed = await queue.claim(worker)
    assert claimed is not None
    assert claimed.id == job.id
    return claimed


async def expire_all(queue: JobQueue) -> list[Job]:
    """Every running claim's lease has run out (the clock is a minute ahead)."""
    return await queue.reclaim_expired(lease=30.0, now=time.time() + 60.0)


async def kinds(queue: JobQueue, job_id: str) -> list[str]:
    return [event.kind for event in await queue.events(job_id=job_id)]


# --- submit / get ----------------------------------------------------------------------


async def test_submit_and_get_round_trip(queue: JobQueue) -> None:
    payload = {"prompt": "héllo ✓", "n": 3, "nested": {"items": [1, 2.5, None, True, "x"]}}
    before = time.time()
    job = await queue.submit("turn", payload, lane="gpu", max_attempts=5)
    assert job.id.startswith("job-")
    assert len(job.id) == 16
    assert (job.kind, job.lane, job.payload, job.state) == ("turn", "gpu", payload, JobState.QUEUED)
    assert (job.attempt, job.max_attempts, job.key, job.worker) == (0, 5, None, None)
    assert job.result is None
    assert job.error is None
    assert job.history == ()
    assert job.started_at is None
    assert job.finished_at is None
    assert not job.cancel_requested
    assert before <= job.submitted_at <= time.time()
    assert await queue.get(job.id) == job
    other = await queue.submit("noop", {})
    assert other.id != job.id
    assert other.lane == "default"
    assert other.max_attempts == 3


async def test_idempotency_key_returns_the_first_job(queue: JobQueue) -> None:
    first = await queue.submit("turn", {"n": 1}, key="turn:a:1")
    again = await queue.submit("turn", {"n": 2}, key="turn:a:1", lane="other")
    assert again == first
    assert again.payload == {"n": 1}
    assert [job.id for job in await queue.list_jobs()] == [first.id]
    claimed = await queue.claim("w1")
    assert claimed is not None
    assert claimed.id == first.id
    assert claimed.key == "turn:a:1"
    assert await queue.claim("w1") is None
    assert await kinds(queue, first.id) == ["submitted", "claimed"]
    # Still the same job once it runs or has finished.
    assert (await queue.submit("turn", {}, key="turn:a:1")).id == first.id


# --- claim ----------------------------------------------------------------------------


async def test_claim_takes_the_oldest_first(queue: JobQueue) -> None:
    jobs = [await queue.submit("turn", {"i": i}) for i in range(5)]
    claimed = [await queue.claim("w1") for _ in jobs]
    assert [job.id if job else None for job in claimed] == [job.id for job in jobs]
    for job in claimed:
        assert job is not None
        assert (job.state, job.attempt, job.worker) == (JobState.RUNNING, 1, "w1")
        assert job.started_at is not None
        assert job.heartbeat_at == job.started_at


async def test_claim_over_several_lanes_takes_the_oldest_of_all(queue: JobQueue) -> None:
    order = ["b", "a", "c", "a", "b", "c", "b"]
    jobs = [await queue.submit("turn", {"i": i}, lane=lane) for i, lane in enumerate(order)]
    got = [await queue.claim("w1") for _ in jobs]
    assert [job.id if job else None for job in got] == [job.id for job in jobs]
    jobs = [await queue.submit("turn", {"i": i}, lane=lane) for i, lane in enumerate(order)]
    got = [await queue.claim("w1", lanes=["c", "b"]) for _ in range(5)]
    assert [job.id if job else None for job in got] == [
        job.id for job in jobs if job.lane in ("b", "c")
    ]
    assert await queue.claim("w1", lanes=["b", "c"]) is None


async def test_lanes_filter(queue: JobQueue) -> None:
    a1 = await queue.submit("turn", {}, lane="a")
    b1 = await queue.submit("turn", {}, lane="b")
    a2 = await queue.submit("turn", {}, lane="a")
    first = await queue.claim("wa", lanes=["a"])
    second = await queue.claim("wa", lanes=["a"])
    assert [first and first.id, second and second.id] == [a1.id, a2.id]
    assert await queue.claim("wa", lanes=["a"]) is None
    assert await queue.claim("wx", lanes=["nowhere"]) is None
    b = await queue.claim("wb", lanes=["b"])
    assert b is not None
    assert b.id == b1.id
    assert b.lane == "b"
    c1 = await queue.submit("turn", {}, lane="c")
    d1 = await queue.submit("turn", {}, lane="d")
    anywhere = [await queue.claim("wany"), await queue.claim("wany", lanes=())]
    assert [job.id if job else None for job in anywhere] == [c1.id, d1.id]


async def test_claim_on_an_empty_queue(queue: JobQueue) -> None:
    assert await asyncio.wait_for(queue.claim("w1"), timeout=5) is None
    started = time.monotonic()
    assert await asyncio.wait_for(queue.claim("w1", block=0.3), timeout=10) is None
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize("lanes", [None, ["x"]])
async def test_a_blocked_claim_gets_a_job_submitted_meanwhile(
    queue: JobQueue, lanes: Sequence[str] | None
) -> None:
    waiting = asyncio.create_task(queue.claim("w1", lanes=lanes, block=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    job = await queue.submit("turn", {}, lane="x")
    got = await asyncio.wait_for(waiting, timeout=10)
    assert got is not None
    assert got.id == job.id
    assert got.attempt == 1


async def test_concurrent_claimers_never_share_a_job(open_queue_handle: OpenQueue) -> None:
    producer = open_queue_handle()
    submitted = {(await producer.submit("turn", {"i": i})).id for i in range(50)}
    claimers = [open_queue_handle() for _ in range(4)]

    async def drain(queue: JobQueue, worker: str) -> list[str]:
        got: list[str] = []
        while (job := await queue.claim(worker)) is not None:
            got.append(job.id)
            await asyncio.sleep(0)
        return got

    results = await asyncio.gather(*(drain(q, f"w{n}") for n, q in enumerate(claimers)))
    everything = [job_id for got in results for job_id in got]
    assert len(everything) == len(set(everything)) == 50
    assert set(everything) == submitted
    assert {job.attempt for job in await producer.list_jobs(limit=100)} == {1}


# --- heartbeat / complete / fencing ---------------------------------------------------


async def test_heartbeat_extends_and_is_fenced(queue: JobQueue) -> None:
    job = await running(queue)
    await asyncio.sleep(0.01)
    beat = await queue.heartbeat(job.id, 1, "w1")
    assert beat.state is JobState.RUNNING
    assert beat.heartbeat_at is not None
    assert job.heartbeat_at is not None
    assert beat.heartbeat_at > job.heartbeat_at
    assert not beat.cancel_requested
    # Taken over: the lease ran out, another worker claimed it (attempt 2).
    assert [j.id for j in await expire_all(queue)] == [job.id]
    again = await queue.claim("w2")
    assert again is not None
    assert again.attempt == 2
    with pytest.raises(StaleAttempt) as refused:
        await queue.heartbeat(job.id, 1, "w1")
    assert refused.value.context["current_attempt"] == 2
    assert refused.value.context["job_id"] == job.id
    with pytest.raises(StaleAttempt):
        await queue.heartbeat(job.id, 2, "w1")  # right attempt, wrong worker
    assert (await queue.heartbeat(job.id, 2, "w2")).attempt == 2
    await queue.complete(job.id, 2, "w2", {})
    with pytest.raises(StaleAttempt):
        await queue.heartbeat(job.id, 2, "w2")  # finished


async def test_complete_stores_the_result_once(queue: JobQueue) -> None:
    job = await running(queue)
    result = {"text": "done ✓", "usage": {"tokens": 12}, "ok": True}
    done = await queue.complete(job.id, 1, "w1", result)
    assert done.state is JobState.COMPLETE
    assert done.result == result
    assert done.finished_at is not None
    assert done.error is None
    assert await queue.get(job.id) == done
    with pytest.raises(StaleAttempt):
        await queue.complete(job.id, 1, "w1", {"text": "twice"})
    other = await running(queue)
    with pytest.raises(StaleAttempt):
        await queue.complete(other.id, 1, "intruder", {})
    with pytest.raises(StaleAttempt):
        await queue.complete(other.id, 2, "w1", {})
    with pytest.raises(StaleAttempt):
        await queue.fail(other.id, 0, "w1", "nope")
    assert (await queue.get(other.id)).state is JobState.RUNNING
    assert (await queue.get(job.id)).result == result
    assert (await kinds(queue, job.id)).count("completed") == 1
    assert (await kinds(queue, other.id)).count("rejected") == 3


async def test_a_late_completion_after_takeover_is_rejected(queue: JobQueue) -> None:
    job = await running(queue, "w1")
    assert [j.state for j in await expire_all(queue)] == [JobState.QUEUED]
    again = await queue.claim("w2")
    assert again is not None
    assert (again.id, again.attempt, again.worker) == (job.id, 2, "w2")
    with pytest.raises(StaleAttempt) as refused:
        await queue.complete(job.id, 1, "w1", {"by": "w1"}, blobs={"session": b"old"})
    assert refused.value.context["current_attempt"] == 2
    done = await queue.complete(job.id, 2, "w2", {"by": "w2"}, blobs={"session": b"new"})
    assert done.result == {"by": "w2"}
    # The late one stays refused once the job is complete, too.
    with pytest.raises(StaleAttempt):
        await queue.complete(job.id, 1, "w1", {"by": "w1"})
    final = await queue.get(job.id)
    assert (final.state, final.result, final.attempt) == (JobState.COMPLETE, {"by": "w2"}, 2)
    blob = await queue.get_blob("session")
    assert blob is not None
    assert (blob.data, blob.version) == (b"new", 1)
    events = await queue.events(job_id=job.id)
    assert [e.kind for e in events].count("completed") == 1
    rejected = [e for e in events if e.kind == "rejected"]
    assert len(rejected) == 2
    assert (rejected[0].attempt, rejected[0].worker) == (1, "w1")
    assert rejected[0].data["op"] == "complete"
    assert rejected[0].data["current_attempt"] == 2
    completed = next(e for e in events if e.kind == "completed")
    assert (completed.attempt, completed.worker) == (2, "w2")


# --- blobs ----------------------------------------------------------------------------


async def test_blobs(queue: JobQueue) -> None:
    assert await queue.get_blob("a") is None
    assert await queue.blob_version("a") == 0
    assert await queue.put_blob("a", b"one") == 1
    assert await queue.put_blob("a", b"\x00two\xff") == 2
    blob = await queue.get_blob("a")
    assert blob is not None
    assert (blob.data, blob.version) == (b"\x00two\xff", 2)
    assert await queue.blob_version("a") == 2

    job = await running(queue)
    await queue.complete(job.id, 1, "w1", {}, blobs={"a": b"three", "b": b"first"})
    assert await queue.blob_version("a") == 3
    assert await queue.blob_version("b") == 1
    got = await queue.get_blob("b")
    assert got is not None
    assert got.data == b"first"
    completed = [e for e in await queue.events(job_id=job.id) if e.kind == "completed"]
    assert completed[0].data == {"blobs": {"a": 3, "b": 1}}

    # A refused completion writes none of its blobs.
    stale = await running(queue)
    await expire_all(queue)
    with pytest.raises(StaleAttempt):
        await queue.complete(stale.id, 1, "w1", {}, blobs={"a": b"stale", "c": b"stale"})
    assert await queue.blob_version("a") == 3
    assert await queue.blob_version("c") == 0
    kept = await queue.get_blob("a")
    assert kept is not None
    assert kept.data == b"three"


# --- fail / retry / dead --------------------------------------------------------------


async def test_fail_without_retry_is_final(queue: JobQueue) -> None:
    job = await running(queue)
    failed = await queue.fail(job.id, 1, "w1", "boom")
    assert (failed.state, failed.error) == (JobState.FAILED, "boom")
    assert failed.finished_at is not None
    assert [(h["attempt"], h["worker"], h["reason"]) for h in failed.history] == [(1, "w1", "boom")]
    assert await queue.claim("w1") is None
    with pytest.raises(StaleAttempt):
        await queue.fail(job.id, 1, "w1", "again")
    assert (await kinds(queue, job.id))[-2:] == ["failed", "rejected"]


async def test_fail_with_retry_requeues_until_dead(queue: JobQueue) -> None:
    job = await queue.submit("turn", {}, max_attempts=3)
    for attempt in (1, 2):
        claimed = await queue.claim(f"w{attempt}")
        assert claimed is not None
        assert claimed.attempt == attempt
        requeued = await queue.fail(job.id, attempt, f"w{attempt}", f"err {attempt}", retry=True)
        assert requeued.state is JobState.QUEUED
        assert requeued.error == f"err {attempt}"
        assert requeued.finished_at is None
        assert len(requeued.history) == attempt
    assert [h["reason"] for h in (await queue.get(job.id)).history] == ["err 1", "err 2"]
    last = await queue.claim("w3")
    assert last is not None
    assert last.attempt == 3
    dead = await queue.fail(job.id, 3, "w3", "err 3", retry=True)
    assert dead.state is JobState.DEAD
    assert dead.finished_at is not None
    assert [h["attempt"] for h in dead.history] == [1, 2, 3]
    assert await queue.claim("w1") is None
    assert [j.id for j in await queue.list_jobs(states=[JobState.DEAD])] == [job.id]
    assert await kinds(queue, job.id) == [
        "submitted", "claimed", "requeued", "claimed", "requeued", "claimed", "dead",
    ]  # fmt: skip


async def test_a_retried_job_goes_behind_the_waiting_ones(queue: JobQueue) -> None:
    first = await running(queue)
    second = await queue.submit("turn", {"n": 2})
    await queue.fail(first.id, 1, "w1", "flaky", retry=True)
    got = [await queue.claim("w2"), await queue.claim("w2")]
    assert [j.id if j else None for j in got] == [second.id, first.id]


# --- reclaim_expired ------------------------------------------------------------------


async def test_reclaim_expired_respects_the_lease(queue: JobQueue) -> None:
    job = await running(queue)
    await asyncio.sleep(0.05)
    beat = await queue.heartbeat(job.id, 1, "w1")
    assert beat.heartbeat_at is not None
    assert job.started_at is not None
    lease = 10.0
    # Older than the lease since the claim, not since the heartbeat: kept.
    assert await queue.reclaim_expired(lease=lease, now=beat.heartbeat_at + lease - 0.02) == []
    assert await queue.reclaim_expired(lease=lease) == []
    assert (await queue.get(job.id)).state is JobState.RUNNING
    changed = await queue.reclaim_expired(lease=lease, now=beat.heartbeat_at + lease + 0.02)
    assert [(j.id, j.state, j.attempt) for j in changed] == [(job.id, JobState.QUEUED, 1)]
    assert changed[0] == await queue.get(job.id)
    assert changed[0].history[-1]["attempt"] == 1
    assert changed[0].history[-1]["worker"] == "w1"
    assert "lease" in changed[0].history[-1]["reason"]
    assert await expire_all(queue) == []  # nothing running any more
    again = await queue.claim("w2")
    assert again is not None
    assert again.attempt == 2
    assert "requeued" in await kinds(queue, job.id)


async def test_reclaim_expired_buries_a_job_out_of_attempts(queue: JobQueue) -> None:
    job = await running(queue, max_attempts=1)
    keep = await running(queue, "w2")
    await queue.heartbeat(keep.id, 1, "w2")
    changed = await queue.reclaim_expired(lease=5.0, now=time.time() + 5.0 - 1.0)
    assert changed == []
    changed = await expire_all(queue)
    assert {j.id: j.state for j in changed} == {job.id: JobState.DEAD, keep.id: JobState.QUEUED}
    assert [j.id for j in await queue.list_jobs(states=[JobState.DEAD])] == [job.id]
    assert (await kinds(queue, job.id))[-1] == "dead"
    assert await queue.claim("w3") is not None  # `keep` again
    assert await queue.claim("w3") is None


# --- cancel ---------------------------------------------------------------------------


async def test_cancel_a_queued_job(queue: JobQueue) -> None:
    job = await queue.submit("turn", {})
    cancelled = await queue.cancel(job.id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.finished_at is not None
    assert await queue.claim("w1") is None
    assert await queue.cancel(job.id) == cancelled  # terminal: unchanged
    assert await kinds(queue, job.id) == ["submitted", "cancelled"]


async def test_cancel_a_running_job(queue: JobQueue) -> None:
    job = await running(queue)
    asked = await queue.cancel(job.id)
    assert asked.state is JobState.RUNNING
    assert asked.cancel_requested
    assert (await queue.cancel(job.id)).cancel_requested  # asking twice is one request
    beat = await queue.heartbeat(job.id, 1, "w1")
    assert beat.cancel_requested
    ended = await queue.fail(job.id, 1, "w1", "cancelled by request", retry=True)
    assert ended.state is JobState.CANCELLED
    assert ended.finished_at is not None
    assert await queue.claim("w1") is None
    assert await kinds(queue, job.id) == ["submitted", "claimed", "cancel_requested", "cancelled"]


async def test_cancel_requested_then_lease_expired_ends_cancelled(queue: JobQueue) -> None:
    job = await running(queue)
    await queue.cancel(job.id)
    assert [j.state for j in await expire_all(queue)] == [JobState.CANCELLED]


async def test_cancel_leaves_finished_jobs_alone(queue: JobQueue) -> None:
    job = await running(queue)
    done = await queue.complete(job.id, 1, "w1", {"ok": 1})
    assert await queue.cancel(job.id) == done
    assert "cancel_requested" not in await kinds(queue, job.id)


# --- progress and events --------------------------------------------------------------


async def test_progress_events(queue: JobQueue) -> None:
    job = await running(queue)
    await queue.progress(job.id, 1, "w1", {"text": "thinking…", "step": 1})
    await queue.progress(job.id, 2, "w1", {"stale": True})  # no such attempt: ignored
    await queue.progress(job.id, 1, "w2", {"stale": True})
    await queue.progress("job-000000000000", 1, "w1", {"stale": True})
    progress = [e for e in await queue.events(job_id=job.id) if e.kind == "progress"]
    assert len(progress) == 1
    assert progress[0].data == {"text": "thinking…", "step": 1}
    assert (progress[0].attempt, progress[0].worker, progress[0].job_id) == (1, "w1", job.id)
    await queue.complete(job.id, 1, "w1", {})
    await queue.progress(job.id, 1, "w1", {"late": True})
    assert (await kinds(queue, job.id))[-1] == "completed"


async def test_events_are_numbered_and_filtered(queue: JobQueue) -> None:
    assert await queue.last_event_id() == 0
    assert await queue.events() == []
    a = await queue.submit("turn", {})
    b = await queue.submit("turn", {}, lane="other")
    claimed = await queue.claim("w1")
    assert claimed is not None
    await queue.complete(a.id, 1, "w1", {})
    events = await queue.events()
    assert [e.id for e in events] == [1, 2, 3, 4]
    assert [(e.kind, e.job_id) for e in events] == [
        ("submitted", a.id), ("submitted", b.id), ("claimed", a.id), ("completed", a.id),
    ]  # fmt: skip
    assert events[0].data == {"kind": "turn", "lane": "default"}
    assert events[0].attempt == 0
    assert events[0].worker is None
    assert events[2].worker == "w1"
    assert events[2].attempt == 1
    assert all(e.ts > 0 for e in events)
    assert await queue.last_event_id() == 4
    assert [e.id for e in await queue.events(after=2)] == [3, 4]
    assert [e.id for e in await queue.events(after=1, limit=2)] == [2, 3]
    assert await queue.events(after=4) == []
    assert [e.id for e in await queue.events(job_id=a.id)] == [1, 3, 4]
    assert [e.id for e in await queue.events(job_id=a.id, after=1, limit=1)] == [3]
    assert [e.id for e in await queue.events(job_id=b.id)] == [2]
    assert await queue.events(job_id="job-000000000000") == []


async def test_events_block_until_one_arrives(queue: JobQueue) -> None:
    await queue.submit("turn", {})
    started = time.monotonic()
    assert await queue.events(after=1, block=0.3) == []
    assert time.monotonic() - started >= 0.25
    waiting = asyncio.create_task(queue.events(after=1, block=20))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    job = await queue.submit("turn", {})
    got = await asyncio.wait_for(waiting, timeout=10)
    assert [(e.id, e.job_id, e.kind) for e in got] == [(2, job.id, "submitted")]
    # Filtered by job: other jobs' events do not end the wait.
    other = await queue.submit("turn", {})
    waiting = asyncio.create_task(queue.events(after=3, job_id=job.id, block=20))
    await queue.submit("turn", {})
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await queue.cancel(job.id)
    got = await asyncio.wait_for(waiting, timeout=10)
    assert [(e.job_id, e.kind) for e in got] == [(job.id, "cancelled")]
    assert other.id != job.id


# --- listing --------------------------------------------------------------------------


async def test_list_jobs(queue: JobQueue) -> None:
    jobs = [await queue.submit("turn", {"i": i}, lane="ab"[i % 2]) for i in range(8)]
    for _ in range(3):
        await queue.claim("w1", lanes=["a"])  # jobs 0, 2, 4 run
    await queue.complete(jobs[2].id, 1, "w1", {})
    listed = await queue.list_jobs()
    assert [j.id for j in listed] == [j.id for j in jobs]
    assert [j.id for j in await queue.list_jobs(limit=3)] == [j.id for j in jobs[:3]]
    assert await queue.list_jobs(limit=0) == []
    assert [j.id for j in await queue.list_jobs(states=[JobState.RUNNING])] == [
        jobs[0].id, jobs[4].id,
    ]  # fmt: skip
    assert [j.id for j in await queue.list_jobs(states=[JobState.COMPLETE, JobState.QUEUED])] == [
        jobs[i].id for i in (1, 2, 3, 5, 6, 7)
    ]
    assert [j.id for j in await queue.list_jobs(lane="b", limit=2)] == [jobs[1].id, jobs[3].id]
    # The limit applies after filtering.
    assert [j.id for j in await queue.list_jobs(states=[JobState.QUEUED], lane="a", limit=1)] == [
        jobs[6].id
    ]
    assert await queue.list_jobs(states=[]) == []
    assert await queue.list_jobs(states=[JobState.DEAD]) == []
    assert await queue.list_jobs(lane="nowhere") == []


# --- worker registry ------------------------------------------------------------------


async def test_worker_registry(queue: JobQueue) -> None:
    assert await queue.list_workers() == []
    b = WorkerInfo(
        id="host-b", host="b.example", pid=42, concurrency=4, lanes=("gpu", "cpu"),
        started_at=100.5, heartbeat_at=100.5, meta={"version": "1.0", "tags": ["x"]},
    )  # fmt: skip
    a = WorkerInfo(id="host-a", host="a.example", pid=7, concurrency=1)
    await queue.register_worker(b)
    await queue.register_worker(a)
    assert await queue.list_workers() == [a, b]
    await queue.worker_heartbeat("host-b", running=["job-1", "job-2"], completed=5, failed=1,
                                 now=200.25)  # fmt: skip
    assert (await queue.list_workers())[1] == dataclasses.replace(
        b, running=("job-1", "job-2"), completed=5, failed=1, heartbeat_at=200.25
    )
    before = time.time()
    await queue.worker_heartbeat("host-a", running=[], completed=0, failed=0)
    assert (await queue.list_workers())[0].heartbeat_at >= before
    # Registering again replaces the entry.
    await queue.register_worker(b)
    assert (await queue.list_workers())[1] == b
    await queue.remove_worker("host-b")
    assert [w.id for w in await queue.list_workers()] == ["host-a"]
    # A removed worker's heartbeat does not bring it back half-filled.
    await queue.worker_heartbeat("host-b", running=[], completed=9, failed=0)
    assert [w.id for w in await queue.list_workers()] == ["host-a"]
    await queue.remove_worker("never-registered")


# --- slots, rates, settings -----------------------------------------------------------


async def test_slots(queue: JobQueue) -> None:
    now = 1000.0
    assert await queue.acquire_slot("api", "h1", limit=2, ttl=10, now=now)
    assert await queue.acquire_slot("api", "h2", limit=2, ttl=10, now=now)
    assert not await queue.acquire_slot("api", "h3", limit=2, ttl=10, now=now + 1)
    assert await queue.acquire_slot("other", "h3", limit=1, ttl=10, now=now + 1)  # own pool
    # Taking it again extends it: h1 holds on past its first expiry, h2 does not.
    assert await queue.acquire_slot("api", "h1", limit=2, ttl=10, now=now + 5)
    assert await queue.acquire_slot("api", "h3", limit=2, ttl=10, now=now + 10)  # h2 expired
    assert not await queue.acquire_slot("api", "h4", limit=2, ttl=10, now=now + 12)
    await queue.release_slot("api", "h1")
    assert await queue.acquire_slot("api", "h4", limit=2, ttl=10, now=now + 12)
    assert not await queue.acquire_slot("api", "h5", limit=2, ttl=10, now=now + 13)
    await queue.release_slot("api", "not-a-holder")
    assert await queue.acquire_slot("api", "h5", limit=3, ttl=10, now=now + 13)


async def test_take_rate(queue: JobQueue) -> None:
    now = 5000.0
    assert await queue.take_rate("api", limit=3, window=10, now=now) == 0.0
    assert await queue.take_rate("api", limit=3, window=10, now=now + 1) == 0.0
    assert await queue.take_rate("api", limit=3, window=10, now=now + 2) == 0.0
    wait = await queue.take_rate("api", limit=3, window=10, now=now + 4)
    assert wait == pytest.approx(6.0)
    # A refused unit was not counted; other buckets are separate.
    assert await queue.take_rate("other", limit=1, window=10, now=now + 4) == 0.0
    assert await queue.take_rate("api", limit=3, window=10, now=now + 9.5) == pytest.approx(0.5)
    assert await queue.take_rate("api", limit=3, window=10, now=now + 10) == 0.0  # first left
    wait = await queue.take_rate("api", limit=3, window=10, now=now + 10.5)
    assert wait == pytest.approx(0.5)
    assert wait > 0
    assert await queue.take_rate("api", limit=3, window=10, now=now + 30) == 0.0


async def test_settings(queue: JobQueue) -> None:
    assert await queue.get_settings() == {}
    await queue.set_setting("max_running", 4)
    await queue.set_setting("profiles", {"fast": {"model": "haiku"}, "list": [1, None]})
    await queue.set_setting("max_running", 8)
    assert await queue.get_settings() == {
        "max_running": 8,
        "profiles": {"fast": {"model": "haiku"}, "list": [1, None]},
    }


# --- not found ------------------------------------------------------------------------


async def test_unknown_job_ids(queue: JobQueue) -> None:
    with pytest.raises(JobNotFound):
        await queue.get("job-000000000000")
    with pytest.raises(JobNotFound):
        await queue.cancel("job-000000000000")
    with pytest.raises(JobNotFound):
        await queue.heartbeat("job-000000000000", 1, "w1")
    with pytest.raises(JobNotFound):
        await queue.complete("job-000000000000", 1, "w1", {})
    with pytest.raises(JobNotFound):
        await queue.fail("job-000000000000", 1, "w1", "x")


# --- everything at once ---------------------------------------------------------------


async def test_fencing_holds_under_constant_takeovers(open_queue_handle: OpenQueue) -> None:
    """Workers that are slow against a tiny lease keep losing their jobs to each
    other; whatever interleaving happens, each job ends with exactly one result,
    written (with its blob) by the attempt that held it."""
    producer = open_queue_handle()
    ids = [
        (await producer.submit("turn", {"i": i}, lane="ab"[i % 2], max_attempts=1000)).id
        for i in range(40)
    ]
    stop = asyncio.Event()

    async def work(queue: JobQueue, worker: str, lanes: list[str] | None) -> None:
        n = 0
        while not stop.is_set():
            job = await queue.claim(worker, lanes=lanes, block=0.05)
            if job is None:
                continue
            n += 1
            await asyncio.sleep(0.003 * (n % 5))
            try:
                if n % 3 == 0:
                    await queue.heartbeat(job.id, job.attempt, worker)
                if n % 7 == 0:
                    await queue.fail(job.id, job.attempt, worker, "flaky", retry=True)
                    continue
                await queue.complete(
                    job.id, job.attempt, worker, {"attempt": job.attempt, "worker": worker},
                    blobs={f"blob-{job.id}": worker.encode()},
                )  # fmt: skip
            except StaleAttempt:
                pass

    async def janitor(queue: JobQueue) -> None:
        while not stop.is_set():
            await queue.reclaim_expired(lease=0.005)
            await asyncio.sleep(0.002)

    lanes: list[list[str] | None] = [None, ["a", "b"], ["a"], ["b"]]
    tasks = [
        asyncio.create_task(work(open_queue_handle(), f"w{n}", lanes[n])) for n in range(4)
    ] + [asyncio.create_task(janitor(open_queue_handle()))]

    async def all_complete() -> None:
        while len(await producer.list_jobs(states=[JobState.COMPLETE], limit=100)) < len(ids):
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(all_complete(), timeout=90)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    events = await producer.events(limit=100_000)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    for job_id in ids:
        job = await producer.get(job_id)
        assert job.result == {"attempt": job.attempt, "worker": job.worker}
        mine = [e for e in events if e.job_id == job_id]
        claims = [e.attempt for e in mine if e.kind == "claimed"]
        assert claims == list(range(1, job.attempt + 1))
        completed = [(e.attempt, e.worker) for e in mine if e.kind == "completed"]
        assert completed == [(job.attempt, job.worker)]
        blob = await producer.get_blob(f"blob-{job_id}")
        assert blob is not None
        assert (blob.data, blob.version) == (str(job.worker).encode(), 1)
