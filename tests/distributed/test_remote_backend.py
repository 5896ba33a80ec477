"""The coordinator's side of a turn: RemoteBackend, RemoteSession, JobWatcher, the payload.

A real in-process Worker runs the jobs. Only the model and its CLI are replaced
(tests/distributed/_stub.py); the queue is SQLite in tmp_path, with one handle
for the coordinator's side and one for the worker, as two processes would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from podium._errors import BackendError, PodiumError
from podium._options import AgentOptions
from podium._records import Usage
from podium.backends import SessionSpec, StartMode, TurnResult
from podium.distributed import JobWatcher, RemoteBackend, remote_backends
from podium.distributed._payload import (
    TurnJob,
    fork_blob_key,
    lane_for,
    session_blob_key,
    turn_payload,
    turn_result_from_json,
    turn_result_to_json,
)
from podium.isolation._credentials import DEFAULT_SECRETS
from podium.queue import JobQueue, JobState, SQLiteQueue
from tests.distributed._stub import (
    StubBackend,
    WorkerRun,
    running_worker,
    wait_for_job,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

Events = list[tuple[str, dict[str, Any]]]


def spec(cwd: Path, **changes: Any) -> SessionSpec:
    values: dict[str, Any] = {
        "agent": "alpha",
        "session_id": "sess-alpha",
        "mode": StartMode.NEW,
        "cwd": cwd,
        "state_dir": cwd / ".coordinator-state" / "alpha",
    }
    values.update(changes)
    return SessionSpec(**values)


# --- the payload ----------------------------------------------------------------------------


@pytest.fixture
def registered_secret() -> Iterator[str]:
    """A value the daemon knows as a secret (as an agent's API key would be)."""
    value = "sk-test-0123456789-registered"
    assert DEFAULT_SECRETS.add(value, owner="test-remote-backend")
    yield value
    DEFAULT_SECRETS.forget("test-remote-backend")


def test_turn_payload_leaves_secrets_behind(tmp_path: Path, registered_secret: str) -> None:
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-xxxxxxxx",
        "GITHUB_TOKEN": "ghp_xxxxxxxx",
        "my_secret": "hush-hush-hush",
        "DB_PASSWORD": "correct horse",
        "AWS_CREDENTIALS_FILE": "/somewhere",
        "INNOCENT_LOOKING": registered_secret,
        "EMBEDDED": f"prefix-{registered_secret}-suffix",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    payload = turn_payload(
        spec(tmp_path, env=env, model="haiku", options=AgentOptions(profile="marie")),
        "do it",
        backend="claude-code",
        mode=StartMode.RESUME,
        timeout=12.5,
    )
    assert payload["env"] == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    assert registered_secret not in repr(payload)
    assert payload["mode"] == "resume"  # the mode given, not the spec's
    assert payload["cwd"] == str(tmp_path)
    # It reads back as the same turn on the worker.
    job = TurnJob.from_payload(payload)
    assert job.backend == "claude-code"
    assert (job.agent, job.session_id, job.mode) == ("alpha", "sess-alpha", StartMode.RESUME)
    assert job.cwd == tmp_path
    assert job.model == "haiku"
    assert job.options == AgentOptions(profile="marie")
    assert job.env == payload["env"]
    assert job.launcher == ()
    assert (job.prompt, job.timeout) == ("do it", 12.5)


def _valid(tmp_path: Path) -> dict[str, Any]:
    return turn_payload(
        spec(tmp_path), "hi", backend="claude-code", mode=StartMode.NEW, timeout=None
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backend": None}, "turn payload: 'backend' must be a string, got None"),
        ({"agent": 7}, "turn payload: 'agent' must be a string, got 7"),
        ({"prompt": ["hi"]}, "turn payload: 'prompt' must be a string, got ['hi']"),
        ({"cwd": None}, "turn payload: 'cwd' must be a string, got None"),
        ({"model": 3}, "turn payload: 'model' must be a string, got 3"),
        ({"options": [1]}, "turn payload: 'options' and 'env' must be objects"),
        ({"env": "A=1"}, "turn payload: 'options' and 'env' must be objects"),
        ({"launcher": "bwrap"}, "turn payload: 'launcher' must be a list of strings"),
        ({"launcher": ["bwrap", 1]}, "turn payload: 'launcher' must be a list of strings"),
        ({"timeout": "soon"}, "turn payload: 'timeout' must be a number, got 'soon'"),
        ({"mode": "sideways"}, "'sideways' is not a valid StartMode"),
    ],
)
def test_from_payload_refuses_bad_payloads(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    payload = {**_valid(tmp_path), **change}
    with pytest.raises(ValueError) as caught:
        TurnJob.from_payload(payload)
    assert str(caught.value) == message


def test_from_payload_takes_optional_fields_as_absent(tmp_path: Path) -> None:
    payload = _valid(tmp_path)
    for key in ("model", "system_prompt", "parent_session_id", "options", "env", "launcher"):
        payload.pop(key)
    job = TurnJob.from_payload(payload)
    assert (job.model, job.system_prompt, job.parent_session_id) == (None, None, None)
    assert (job.options, job.env, job.launcher, job.timeout) == (AgentOptions(), {}, (), None)


def test_turn_results_cross_the_queue_unchanged() -> None:
    result = TurnResult(
        text="answer",
        is_error=False,
        error=None,
        usage=Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=2),
        cost_usd=0.25,
        model="claude-haiku",
        session_id="sess",
        num_turns=3,
        duration_ms=1200,
        subtype="success",
        api_error_status=None,
        interrupted=False,
    )
    assert turn_result_from_json(turn_result_to_json(result)) == result


def test_lanes_follow_the_profile(tmp_path: Path) -> None:
    assert lane_for(spec(tmp_path)) == "default"
    assert lane_for(spec(tmp_path, options=AgentOptions(profile="marie"))) == "profile:marie"
    assert lane_for(spec(tmp_path, options=AgentOptions())) == "default"


# --- RemoteSession against a running worker -------------------------------------------------


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[JobQueue]:
    """The coordinator's handle on the queue."""
    handle = SQLiteQueue(tmp_path / "queue.db")
    yield handle
    await handle.close()


@pytest.fixture
async def watcher(queue: JobQueue) -> AsyncIterator[JobWatcher]:
    watching = JobWatcher(queue, sweep=1.0, block=0.2)
    await watching.start()
    yield watching
    await watching.close()


@pytest.fixture
def stub() -> StubBackend:
    return StubBackend()


@pytest.fixture
async def worker(tmp_path: Path, stub: StubBackend) -> AsyncIterator[WorkerRun]:
    handle = SQLiteQueue(tmp_path / "queue.db")
    try:
        async with running_worker(handle, tmp_path / "hosts", "w1", backend=stub) as run:
            yield run
    finally:
        await handle.close()


@pytest.fixture
def remote(queue: JobQueue, watcher: JobWatcher) -> RemoteBackend:
    [backend] = remote_backends(queue, watcher, max_attempts=2).values()
    return backend


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def recorder() -> tuple[Events, Any]:
    seen: Events = []

    async def on_event(kind: str, data: dict[str, Any]) -> None:
        seen.append((kind, data))

    return seen, on_event


@pytest.mark.usefixtures("worker")
async def test_turns_run_on_a_worker_and_resume_there(
    remote: RemoteBackend, queue: JobQueue, project: Path
) -> None:
    assert remote.name == "claude-code"
    session = remote.session(spec(project, model="haiku"))
    await session.start()
    assert session.alive
    assert session.pid is None
    seen, on_event = recorder()
    first = await session.run_turn("remember heron", on_event)
    assert (first.text, first.is_error, first.model) == ("remember heron", False, "stub-haiku")
    assert session.resolved_model == "stub-haiku"
    assert [kind for kind, _ in seen] == ["process_started"]
    assert seen[0][1]["worker"] == "w1"
    second = await session.run_turn("what was it?", on_event)
    assert second.text == "remember heron|what was it?"
    jobs = await queue.list_jobs()
    # The first turn started the conversation; after it, the stored transcript is resumed.
    assert [job.payload["mode"] for job in jobs] == ["new", "resume"]
    assert all(job.state is JobState.COMPLETE for job in jobs)
    await session.close()
    assert not session.alive
    assert await session.wait_exit() == 0
    with pytest.raises(BackendError, match="the remote session is closed"):
        await session.run_turn("more", on_event)


@pytest.mark.usefixtures("worker")
async def test_a_missing_cwd_ends_in_an_error_listing_every_attempt(
    remote: RemoteBackend, queue: JobQueue, tmp_path: Path
) -> None:
    missing = tmp_path / "elsewhere"
    session = remote.session(spec(missing))
    await session.start()
    seen, on_event = recorder()
    with pytest.raises(BackendError) as caught:
        await session.run_turn("hello", on_event)
    message = str(caught.value)
    [job] = await queue.list_jobs()
    assert job.state is JobState.DEAD
    assert message.startswith(f"job {job.id} gave up after 2 attempts (")
    for attempt in (1, 2):
        assert (
            f"attempt {attempt} on w1: working directory {missing} does not exist on worker w1"
            in message
        )
    assert caught.value.context == {"agent": "alpha", "job": job.id}
    assert "does not exist" in session.stderr_tail
    # The turn heard of the requeue and of the end, as they happened.
    kinds = [kind for kind, _ in seen]
    assert kinds == ["job_requeued", "job_dead"]
    assert seen[0][1]["attempt"] == 1
    assert seen[0][1]["worker"] == "w1"


@pytest.mark.usefixtures("worker")
async def test_interrupt_cancels_the_running_job(
    remote: RemoteBackend, queue: JobQueue, stub: StubBackend, project: Path
) -> None:
    session = remote.session(spec(project))
    await session.start()
    _, on_event = recorder()
    turn = asyncio.create_task(session.run_turn("sleep:30", on_event))
    await wait_until(lambda: stub.started, what="the worker to start the session")
    await session.interrupt()
    result = await asyncio.wait_for(turn, 10)
    assert result.interrupted
    assert result.is_error
    assert result.error == "cancelled by request"
    [job] = await queue.list_jobs()
    assert job.state is JobState.CANCELLED
    assert job.cancel_requested
    # The worker stopped the process rather than let it run on.
    assert not stub.started[0].alive
    assert stub.turns == []
    # Nothing runs now: interrupting again is harmless.
    await session.interrupt()


@pytest.mark.usefixtures("worker")
async def test_a_cancelled_turn_task_cancels_its_job(
    remote: RemoteBackend, queue: JobQueue, stub: StubBackend, project: Path
) -> None:
    session = remote.session(spec(project))
    _, on_event = recorder()
    turn = asyncio.create_task(session.run_turn("sleep:30", on_event))
    await wait_until(lambda: stub.started, what="the worker to start the session")
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    [job] = await queue.list_jobs()
    await wait_for_job(queue, job.id, [JobState.CANCELLED])


@pytest.mark.usefixtures("worker")
async def test_closing_the_session_mid_turn_cancels_its_job(
    remote: RemoteBackend, queue: JobQueue, stub: StubBackend, project: Path
) -> None:
    session = remote.session(spec(project))
    _, on_event = recorder()
    turn = asyncio.create_task(session.run_turn("sleep:30", on_event))
    await wait_until(lambda: stub.started, what="the worker to start the session")
    await session.close()
    result = await asyncio.wait_for(turn, 10)
    assert result.interrupted
    [job] = await queue.list_jobs()
    assert job.state is JobState.CANCELLED


@pytest.mark.usefixtures("worker")
async def test_progress_events_reach_the_turn(remote: RemoteBackend, project: Path) -> None:
    session = remote.session(spec(project))
    seen, on_event = recorder()
    result = await session.run_turn("event:api_retry", on_event)
    assert result.text == "event:api_retry"
    kinds = [kind for kind, _ in seen]
    assert kinds == ["process_started", "api_retry"]
    assert seen[1][1] == {"worker": "w1", "attempt": 1, "status": 429}


async def test_a_launcher_is_refused_at_start(remote: RemoteBackend, project: Path) -> None:
    session = remote.session(spec(project, launcher=("bwrap", "--unshare-all")))
    with pytest.raises(BackendError) as caught:
        await session.start()
    assert "sandbox or container" in str(caught.value)
    assert "distributed mode does not support" in str(caught.value)
    assert caught.value.context == {"agent": "alpha"}


async def test_a_fork_snapshots_the_parent_s_stored_transcript(
    remote: RemoteBackend, queue: JobQueue, project: Path
) -> None:
    parent = spec(project)

    async def fork() -> bool:
        return await remote.prepare_fork(
            parent=parent,
            child_session_id="sess-beta",
            child_state_dir=project / "beta",
            child_cwd=project,
        )

    assert not await fork()  # no turn stored yet: nothing to inherit
    await queue.put_blob(session_blob_key("sess-alpha"), b"turn one\n")
    assert await fork()
    await queue.put_blob(session_blob_key("sess-alpha"), b"turn one\nturn two\n")
    snapshot = await queue.get_blob(fork_blob_key("sess-beta"))
    assert snapshot is not None
    assert snapshot.data == b"turn one\n"  # as the parent was at the fork
    remote.check()
    assert not remote.session_exists(parent)


# --- the watcher ----------------------------------------------------------------------------


async def test_the_watcher_must_be_started(queue: JobQueue) -> None:
    idle = JobWatcher(queue)
    with pytest.raises(PodiumError, match="not started"):
        await idle.wait("no-such-job")


async def test_the_watcher_returns_a_job_that_already_ended(
    queue: JobQueue, watcher: JobWatcher
) -> None:
    job = await queue.submit("noop", {})
    await queue.cancel(job.id)
    ended = await asyncio.wait_for(watcher.wait(job.id), 5)
    assert ended.state is JobState.CANCELLED


async def test_closing_the_watcher_releases_its_waiters(
    queue: JobQueue, watcher: JobWatcher
) -> None:
    job = await queue.submit("noop", {})  # no worker: it stays queued
    waiting = asyncio.create_task(watcher.wait(job.id))
    await asyncio.sleep(0.1)
    await watcher.close()
    with pytest.raises(PodiumError, match="shutting down"):
        await asyncio.wait_for(waiting, 5)
