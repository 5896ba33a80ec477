"""The worker host, in-process: jobs, cancels, retries, lanes, global limits, drain, sessions.

Only the model and its CLI are replaced (tests/distributed/_stub.py: a backend
that answers at once or after a delay and keeps a transcript file in the
agent's state directory). The workers, the SQLite queue they share (a file in
tmp_path; each worker has a handle of its own, as a process would) and the
moving of sessions between hosts are podium's own code.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from podium.backends import SessionSpec, StartMode
from podium.distributed import NOOP_KIND, TURN_KIND
from podium.distributed._payload import session_blob_key, turn_payload
from podium.queue import JobQueue, JobState, SQLiteQueue
from tests.distributed._stub import (
    StubBackend,
    running_worker,
    transcript_file,
    wait_for_job,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

OpenQueue = Callable[[], JobQueue]


@pytest.fixture
async def open_queue(tmp_path: Path) -> AsyncIterator[OpenQueue]:
    """Handles on one queue file: the test's own, and one per worker."""
    opened: list[JobQueue] = []

    def open_() -> JobQueue:
        queue = SQLiteQueue(tmp_path / "queue.db")
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        await queue.close()


@pytest.fixture
def queue(open_queue: OpenQueue) -> JobQueue:
    return open_queue()


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    """Where each worker's home goes (one directory per worker, as on its own host)."""
    return tmp_path / "hosts"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def turn(
    prompt: str,
    cwd: Path,
    *,
    agent: str = "alpha",
    session_id: str = "sess-alpha",
    mode: StartMode = StartMode.NEW,
    model: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A turn's payload as the coordinator's RemoteSession builds it."""
    return turn_payload(
        SessionSpec(
            agent=agent,
            session_id=session_id,
            mode=mode,
            cwd=cwd,
            state_dir=cwd / ".coordinator-state",
            model=model,
            **spec,
        ),
        prompt,
        backend="claude-code",
        mode=mode,
        timeout=None,
    )


# --- kinds of jobs --------------------------------------------------------------------------


async def test_noop_jobs_complete(queue: JobQueue, open_queue: OpenQueue, hosts: Path) -> None:
    async with running_worker(open_queue(), hosts, "w1") as w1:
        jobs = [await queue.submit(NOOP_KIND, {}) for _ in range(3)]
        for job in jobs:
            done = await wait_for_job(queue, job.id, [JobState.COMPLETE])
            assert done.attempt == 1
            assert done.worker == "w1"
            assert done.result == {"worker": "w1"}
            assert done.history == ()
        assert w1.worker.completed == 3
        listed = await queue.list_workers()
        assert [w.id for w in listed] == ["w1"]
        assert listed[0].meta["backends"] == ["claude-code"]
    # A stopped worker takes itself off the registry.
    assert await queue.list_workers() == []


async def test_a_cancelled_hold_job_ends_cancelled(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path
) -> None:
    async with running_worker(open_queue(), hosts, "w1") as w1:
        job = await queue.submit(NOOP_KIND, {"hold": 600})
        await wait_for_job(queue, job.id, [JobState.RUNNING])
        asked = await queue.cancel(job.id)
        assert asked.state is JobState.RUNNING
        assert asked.cancel_requested
        # The worker hears of it on a heartbeat (every lease / 5 = 0.2 s here).
        ended = await wait_for_job(queue, job.id, [JobState.CANCELLED], timeout=5)
        assert ended.error == "cancelled by request"
        assert ended.attempt == 1
        assert w1.worker.claims == {}


async def test_an_unknown_kind_fails_naming_it(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path
) -> None:
    async with running_worker(open_queue(), hosts, "w1"):
        job = await queue.submit("transmogrify", {}, max_attempts=3)
        ended = await wait_for_job(queue, job.id, [JobState.FAILED, JobState.DEAD])
    # Not retried: another worker of the same version would not know it either.
    assert ended.state is JobState.FAILED
    assert ended.attempt == 1
    assert ended.error is not None
    assert "'transmogrify'" in ended.error


async def test_a_bad_turn_payload_fails_without_retrying(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, project: Path
) -> None:
    payload = turn("hello", project)
    payload["launcher"] = "bwrap --die-with-parent"  # a string, not a list
    async with running_worker(open_queue(), hosts, "w1"):
        job = await queue.submit(TURN_KIND, payload)
        ended = await wait_for_job(queue, job.id, [JobState.FAILED, JobState.DEAD])
    assert ended.state is JobState.FAILED
    assert ended.attempt == 1
    assert ended.error == "turn payload: 'launcher' must be a list of strings"


async def test_a_turn_whose_cwd_is_missing_is_retried_then_dead(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "not-mounted-here"
    backend = StubBackend()
    async with (
        running_worker(open_queue(), hosts, "w1", backend=backend),
        running_worker(open_queue(), hosts, "w2", backend=backend),
    ):
        job = await queue.submit(TURN_KIND, turn("hello", missing), max_attempts=3)
        ended = await wait_for_job(queue, job.id, [JobState.DEAD, JobState.FAILED])
    assert ended.state is JobState.DEAD
    assert ended.attempt == 3
    assert [item["attempt"] for item in ended.history] == [1, 2, 3]
    for item in ended.history:
        assert item["worker"] in {"w1", "w2"}
        reason = f"working directory {missing} does not exist on worker {item['worker']}"
        assert reason in item["reason"]
    assert backend.started == []  # nothing was started for it
    kinds = [e.kind for e in await queue.events(job_id=ended.id)]
    assert kinds.count("requeued") == 2
    assert kinds[-1] == "dead"


async def test_a_turn_runs_on_the_stub_and_stores_its_transcript(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, project: Path
) -> None:
    backend = StubBackend()
    async with running_worker(open_queue(), hosts, "w1", backend=backend):
        job = await queue.submit(TURN_KIND, turn("hello there", project, model="haiku"))
        done = await wait_for_job(queue, job.id, [JobState.COMPLETE])
    assert done.result is not None
    assert done.result["text"] == "hello there"
    assert done.result["model"] == "stub-haiku"
    assert done.result["worker"] == "w1"
    blob = await queue.get_blob(session_blob_key("sess-alpha"))
    assert blob is not None
    assert (blob.data, blob.version) == (b"hello there\n", 1)
    # The process lived under the worker's own home, in the agent's state directory.
    [session] = backend.started
    assert session.spec.state_dir == hosts / "w1" / "agents" / "alpha" / "sess-alpha"
    assert session.spec.cwd == project
    progress = [e.data for e in await queue.events(job_id=job.id) if e.kind == "progress"]
    assert progress[0]["event"] == "process_started"
    assert progress[0]["pid"] == session.pid


# --- lanes ----------------------------------------------------------------------------------


async def test_lanes_decide_which_worker_takes_a_job(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path
) -> None:
    async with running_worker(open_queue(), hosts, "marie-host", lanes=("profile:marie",)) as w:
        general = await queue.submit(NOOP_KIND, {})
        marie = await queue.submit(NOOP_KIND, {}, lane="profile:marie")
        done = await wait_for_job(queue, marie.id, [JobState.COMPLETE])
        assert done.worker == "marie-host"
        # A few more claim rounds (0.2 s each): the default-lane job stays where it is.
        await asyncio.sleep(1.0)
        assert (await queue.get(general.id)).state is JobState.QUEUED
        [info] = await queue.list_workers()
        assert info.lanes == ("profile:marie",)
        await w.stop()

    async with running_worker(open_queue(), hosts, "any-host"):
        other = await queue.submit(NOOP_KIND, {}, lane="profile:marie")
        for job in (general, other):
            done = await wait_for_job(queue, job.id, [JobState.COMPLETE])
            assert done.worker == "any-host"


# --- cluster-wide limits --------------------------------------------------------------------


async def test_max_running_holds_across_workers(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path
) -> None:
    await queue.set_setting("max_running", 1)
    jobs = [await queue.submit(NOOP_KIND, {"hold": 0.3}) for _ in range(4)]
    async with (
        # A longer lease than the others: a slot's hold must not lapse on a slow machine.
        running_worker(open_queue(), hosts, "w1", concurrency=2, lease=3.0),
        running_worker(open_queue(), hosts, "w2", concurrency=2, lease=3.0),
    ):
        ended = [await wait_for_job(queue, job.id, [JobState.COMPLETE]) for job in jobs]
    spans = sorted((job.started_at or 0.0, job.finished_at or 0.0) for job in ended)
    for (_, finished), (started, _) in itertools.pairwise(spans):
        # Each job was claimed only after the one before it had finished.
        assert started >= finished, spans


async def test_a_rate_limit_makes_the_turn_wait(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, project: Path
) -> None:
    await queue.set_setting("requests_per_minute", {"*": 2})
    # Two requests counted 57 s ago: the window has room again in 3 s.
    earlier = time.time() - 57.0
    for _ in range(2):
        assert await queue.take_rate("requests:default", limit=2, window=60.0, now=earlier) == 0
    backend = StubBackend()
    async with running_worker(open_queue(), hosts, "w1", backend=backend):
        job = await queue.submit(TURN_KIND, turn("the third request", project))
        await wait_for_job(queue, job.id, [JobState.RUNNING])
        # Claimed and its process started, but the turn itself waits for the rate.
        await wait_until(lambda: backend.started, what="the session to start")
        await asyncio.sleep(0.5)
        assert backend.turns == []
        done = await wait_for_job(queue, job.id, [JobState.COMPLETE], timeout=15)
    [record] = backend.turns
    assert record.started_at >= earlier + 60.0
    assert done.result is not None
    assert done.result["text"] == "the third request"
    # It counted against the same bucket: the window is full again.
    assert await queue.take_rate("requests:default", limit=1, window=60.0) > 0


# --- stopping -------------------------------------------------------------------------------


async def test_a_stopping_worker_hands_its_job_back_at_once(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path
) -> None:
    job = await queue.submit(NOOP_KIND, {"hold": 1.5})
    async with running_worker(open_queue(), hosts, "w1", drain_timeout=0.05) as w1:
        await wait_for_job(queue, job.id, [JobState.RUNNING])
        await w1.stop()
        # Requeued by the stopping worker itself, not after a lease ran out.
        handed = await queue.get(job.id)
        assert handed.state is JobState.QUEUED
        assert handed.attempt == 1
        [item] = handed.history
        assert item["worker"] == "w1"
        assert "the worker stopped" in item["reason"]
    async with running_worker(open_queue(), hosts, "w2"):
        done = await wait_for_job(queue, job.id, [JobState.COMPLETE])
    assert done.attempt == 2
    assert done.worker == "w2"
    claims = [e.worker for e in await queue.events(job_id=job.id) if e.kind == "claimed"]
    assert claims == ["w1", "w2"]


# --- sessions moving between hosts ----------------------------------------------------------


async def test_an_agent_alternates_between_hosts_without_losing_a_turn(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, project: Path
) -> None:
    """Lanes pin each turn to a host: a, b, a, a. Host b resumes from what a stored;
    back on a, the warm process (which has not seen b's turn) is not reused."""
    on_a, on_b = StubBackend(), StubBackend()

    async def ask(prompt: str, lane: str, mode: StartMode) -> str:
        job = await queue.submit(TURN_KIND, turn(prompt, project, mode=mode), lane=lane)
        done = await wait_for_job(queue, job.id, [JobState.COMPLETE])
        assert done.result is not None
        text: str = done.result["text"]
        return text

    async with (
        running_worker(open_queue(), hosts, "a", backend=on_a, lanes=("a",)),
        running_worker(open_queue(), hosts, "b", backend=on_b, lanes=("b",)),
    ):
        assert await ask("first", "a", StartMode.NEW) == "first"
        assert await ask("second", "b", StartMode.RESUME) == "first|second"
        assert await ask("third", "a", StartMode.RESUME) == "first|second|third"
        assert await ask("fourth", "a", StartMode.RESUME) == "first|second|third|fourth"

    # Host b imported the transcript host a stored after the first turn.
    [b_session] = on_b.started
    assert b_session.resumed_from == ("first",)
    assert b_session.spec.mode is StartMode.RESUME
    # Host a started a second process for the third turn (its first one was stale),
    # resumed from the central copy; the fourth turn reused that one, warm.
    first, second = on_a.started
    assert first.spec.mode is StartMode.NEW
    assert first.resumed_from == ()
    assert second.spec.mode is StartMode.RESUME
    assert second.resumed_from == ("first", "second")
    assert not first.alive
    assert [(t.session, t.prompt) for t in on_a.turns] == [
        (0, "first"),
        (1, "third"),
        (1, "fourth"),
    ]
    blob = await queue.get_blob(session_blob_key("sess-alpha"))
    assert blob is not None
    assert blob.version == 4
    assert blob.data == b"first\nsecond\nthird\nfourth\n"


async def test_a_fork_starts_from_the_parent_as_it_was(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, project: Path
) -> None:
    backend = StubBackend()
    async with running_worker(open_queue(), hosts, "w1", backend=backend):
        job = await queue.submit(TURN_KIND, turn("parent speaks", project))
        await wait_for_job(queue, job.id, [JobState.COMPLETE])
        # What RemoteBackend.prepare_fork stores: the parent's transcript at the fork.
        parent = await queue.get_blob(session_blob_key("sess-alpha"))
        assert parent is not None
        await queue.put_blob("fork:sess-beta", parent.data)
        payload = turn(
            "child speaks",
            project,
            agent="beta",
            session_id="sess-beta",
            mode=StartMode.FORK,
            parent_session_id="sess-alpha",
        )
        child = await queue.submit(TURN_KIND, payload)
        done = await wait_for_job(queue, child.id, [JobState.COMPLETE])
    assert done.result is not None
    assert done.result["text"] == "parent speaks|child speaks"
    assert backend.started[-1].spec.mode is StartMode.FORK
    stored = await queue.get_blob(session_blob_key("sess-beta"))
    assert stored is not None
    assert stored.data == b"parent speaks\nchild speaks\n"
    # The parent's own transcript is untouched by the child.
    parent_file = transcript_file(backend.started[0].spec.state_dir, "sess-alpha")
    assert parent_file.read_text() == "parent speaks\n"


async def test_resuming_a_session_nobody_stored_fails_with_a_clear_reason(
    queue: JobQueue, open_queue: OpenQueue, hosts: Path, project: Path
) -> None:
    async with running_worker(open_queue(), hosts, "w1"):
        job = await queue.submit(
            TURN_KIND, turn("hello", project, mode=StartMode.RESUME), max_attempts=2
        )
        ended = await wait_for_job(queue, job.id, [JobState.DEAD, JobState.FAILED])
    assert ended.state is JobState.DEAD
    for item in ended.history:
        assert "no stored transcript for session sess-alpha" in item["reason"]
