"""A backend whose turns run on worker hosts: the coordinator's side of a turn.

To the runtime it is one more backend: the agent actor starts a "session",
runs turns on it, interrupts and closes it. Underneath, each turn is a job on
the queue. A worker host runs the real backend of the same name (the Claude
Code CLI), keeps the process warm between turns when it can, and stores the
session's transcript centrally after each turn, so the agent's next turn can
run on any host. Forking copies the parent's stored transcript: the child
starts from the parent as it was at the fork, wherever either runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .._errors import BackendError
from .._records import Usage
from ..backends import EventSink, SessionSpec, StartMode, TurnResult
from ..queue import Job, JobQueue, JobState
from ._payload import (
    TURN_KIND,
    fork_blob_key,
    lane_for,
    session_blob_key,
    turn_payload,
    turn_result_from_json,
)
from ._watcher import JobWatcher

__all__ = ["RemoteBackend", "RemoteSession", "remote_backends"]


class RemoteBackend:
    """Sends the turns of agents of backend ``name`` to the workers."""

    def __init__(
        self,
        name: str,
        queue: JobQueue,
        watcher: JobWatcher,
        *,
        max_attempts: int = 3,
        request_timeout: float | None = None,
    ) -> None:
        self.name = name
        self.queue = queue
        self.watcher = watcher
        self.max_attempts = max_attempts
        self.request_timeout = request_timeout

    def check(self) -> None:
        """Nothing to check here: whether a worker can run it is the worker's question."""

    def session(self, spec: SessionSpec) -> RemoteSession:
        return RemoteSession(self, spec)

    def session_exists(self, spec: SessionSpec) -> bool:
        # The runtime's own record (``has_session``) is the truth for remote agents:
        # it is set when a turn completed, and with it the transcript was stored.
        return False

    async def prepare_fork(
        self,
        *,
        parent: SessionSpec,
        child_session_id: str,
        child_state_dir: Path,
        child_cwd: Path,
    ) -> bool:
        """Snapshot the parent's stored transcript for the child. False: nothing to inherit."""
        blob = await self.queue.get_blob(session_blob_key(parent.session_id))
        if blob is None:
            return False
        await self.queue.put_blob(fork_blob_key(child_session_id), blob.data)
        return True


class RemoteSession:
    """One agent's conversation as seen from the coordinator.

    There is no process here: ``alive`` means "usable", and each turn tells the
    worker whether the conversation is new, resumed or forked.
    """

    def __init__(self, backend: RemoteBackend, spec: SessionSpec) -> None:
        self.backend = backend
        self.spec = spec
        self._mode = spec.mode
        self._closed = asyncio.Event()
        self._job: str | None = None
        self._model: str | None = None
        self._last_error = ""

    @property
    def pid(self) -> int | None:
        return None  # the CLI runs on a worker host; its pid is in the job's progress

    @property
    def alive(self) -> bool:
        return not self._closed.is_set()

    @property
    def stderr_tail(self) -> str:
        return self._last_error

    @property
    def resolved_model(self) -> str | None:
        return self._model

    async def start(self) -> None:
        """Nothing starts until the first turn: a worker starts the CLI with it."""
        if self.spec.launcher:
            # A sandbox's or container's launcher and network relay live on the
            # daemon's host; workers do not build them.
            raise BackendError(
                f"agent {self.spec.agent!r} runs in a sandbox or container, which "
                "distributed mode does not support yet (use shared or worktree isolation)",
                agent=self.spec.agent,
            )

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        if self._closed.is_set():
            raise BackendError("the remote session is closed", agent=self.spec.agent)
        queue = self.backend.queue
        payload = turn_payload(
            self.spec,
            prompt,
            backend=self.backend.name,
            mode=self._mode,
            timeout=self.backend.request_timeout,
        )
        job = await queue.submit(
            TURN_KIND,
            payload,
            lane=lane_for(self.spec),
            max_attempts=self.backend.max_attempts,
        )
        self._job = job.id
        try:
            ended = await self.backend.watcher.wait(job.id, on_event)
        except asyncio.CancelledError:
            # The coordinator is going away under this turn: the job must not run on.
            await asyncio.shield(queue.cancel(job.id))
            raise
        finally:
            self._job = None
        return self._outcome(ended)

    def _outcome(self, job: Job) -> TurnResult:
        if job.state is JobState.COMPLETE and job.result is not None:
            turn = turn_result_from_json(job.result)
            self._model = turn.model or self._model
            # The worker stored the transcript with the result: resume from here on.
            self._mode = StartMode.RESUME
            return turn
        if job.state is JobState.CANCELLED:
            return _no_result("cancelled by request", interrupted=True)
        self._last_error = job.error or ""
        if job.state is JobState.DEAD:
            reasons = "; ".join(
                f"attempt {item.get('attempt')} on {item.get('worker')}: {item.get('reason')}"
                for item in job.history
            )
            raise BackendError(
                f"job {job.id} gave up after {job.attempt} attempts ({reasons or job.error})",
                agent=self.spec.agent,
                job=job.id,
            )
        raise BackendError(
            job.error or f"job {job.id} ended {job.state.value}", agent=self.spec.agent, job=job.id
        )

    async def interrupt(self) -> None:
        """Ask the worker to stop this turn (its CLI is killed; the turn ends cancelled)."""
        job = self._job
        if job is not None:
            await self.backend.queue.cancel(job)

    async def wait_exit(self) -> int:
        await self._closed.wait()
        return 0

    async def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        job = self._job
        if job is not None:
            await self.backend.queue.cancel(job)


def _no_result(error: str, *, interrupted: bool) -> TurnResult:
    return TurnResult(
        text="",
        is_error=True,
        error=error,
        usage=Usage(),
        cost_usd=0.0,
        model=None,
        session_id=None,
        interrupted=interrupted,
    )


def remote_backends(
    queue: JobQueue,
    watcher: JobWatcher,
    names: tuple[str, ...] = ("claude-code",),
    *,
    max_attempts: int = 3,
) -> dict[str, RemoteBackend]:
    """One remote backend per backend name the workers run."""
    return {name: RemoteBackend(name, queue, watcher, max_attempts=max_attempts) for name in names}
