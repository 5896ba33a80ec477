"""A stand-in for the model (the Claude Code CLI) on a worker host, and helpers to drive workers.

Only the model and its CLI process are replaced: the worker, the queue (SQLite in
a temporary directory), the warm sessions and the transcript moving between hosts
are podium's own code. The stub keeps a "transcript" file in the agent's state
directory, one prompt per line, and answers a turn with every line of it, so a
test sees exactly which history a session was resumed from.

Prompts of a special form script a turn:

    sleep:<seconds>   take that long (closing the session ends it: ProcessDied)
    event:<name>      report ``<name>`` through the turn's event sink first
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podium._errors import ProcessDied
from podium._records import Usage
from podium.backends import EventSink, SessionSpec, StartMode, TurnResult
from podium.distributed import Worker, WorkerSettings
from podium.queue import Job, JobQueue, JobState

__all__ = [
    "StubBackend",
    "StubSession",
    "TurnRecord",
    "WorkerRun",
    "running_worker",
    "transcript_file",
    "wait_for_job",
    "wait_until",
]


def transcript_file(state_dir: Path, session_id: str) -> Path:
    return state_dir / f"{session_id}.transcript"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@dataclass(frozen=True)
class TurnRecord:
    """One turn as the stub saw it."""

    session: int
    """Which process (index into ``StubBackend.started``) ran it."""
    prompt: str
    started_at: float
    history: tuple[str, ...]
    """The transcript once the turn had run: every prompt so far, oldest first."""


class StubSession:
    def __init__(self, backend: StubBackend, spec: SessionSpec) -> None:
        self.backend = backend
        self.spec = spec
        self.number = -1
        self.resumed_from: tuple[str, ...] = ()
        """What the transcript held when this process started."""
        self._alive = False
        self._closed = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return 40000 + self.number  # made up: there is no process

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def stderr_tail(self) -> str:
        return ""

    @property
    def resolved_model(self) -> str | None:
        return f"stub-{self.spec.model or 'default'}"

    @property
    def transcript(self) -> Path:
        return transcript_file(self.spec.state_dir, self.spec.session_id)

    async def start(self) -> None:
        if self.spec.mode is StartMode.FORK and self.spec.parent_session_id:
            # A fork starts from the parent's transcript as the worker placed it here.
            parent = _lines(transcript_file(self.spec.state_dir, self.spec.parent_session_id))
            self.transcript.write_text("".join(f"{line}\n" for line in parent))
        self.resumed_from = tuple(_lines(self.transcript))
        self._alive = True
        self.number = len(self.backend.started)
        self.backend.started.append(self)

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        started_at = time.time()
        if prompt.startswith("event:"):
            await on_event(prompt[6:], {"attempt": 1, "status": 429})
        if prompt.startswith("sleep:"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), float(prompt[6:]))
        if self._closed.is_set():
            raise ProcessDied("the stub's process was stopped", agent=self.spec.agent)
        with self.transcript.open("a") as out:
            out.write(f"{prompt}\n")
        history = tuple(_lines(self.transcript))
        self.backend.turns.append(TurnRecord(self.number, prompt, started_at, history))
        return TurnResult(
            text="|".join(history),
            is_error=False,
            error=None,
            usage=Usage(input_tokens=len(prompt), output_tokens=1),
            cost_usd=0.001,
            model=self.resolved_model,
            session_id=self.spec.session_id,
            num_turns=1,
        )

    async def interrupt(self) -> None:
        return None

    async def wait_exit(self) -> int:
        await self._closed.wait()
        return 0

    async def close(self) -> None:
        self._alive = False
        self._closed.set()


class StubBackend:
    """Implements Backend and PortableBackend; the transcript is the file above."""

    name = "claude-code"

    def __init__(self) -> None:
        self.started: list[StubSession] = []
        self.turns: list[TurnRecord] = []

    def check(self) -> None:
        return None

    def session(self, spec: SessionSpec) -> StubSession:
        return StubSession(self, spec)

    def session_exists(self, spec: SessionSpec) -> bool:
        return transcript_file(spec.state_dir, spec.session_id).exists()

    async def prepare_fork(
        self,
        *,
        parent: SessionSpec,
        child_session_id: str,
        child_state_dir: Path,
        child_cwd: Path,
    ) -> bool:
        return False  # the workers fork from the central copy, never through here

    def export_session(self, spec: SessionSpec) -> bytes | None:
        path = transcript_file(spec.state_dir, spec.session_id)
        return path.read_bytes() if path.exists() else None

    def import_session(self, spec: SessionSpec, data: bytes | None, *, session_id: str) -> None:
        path = transcript_file(spec.state_dir, session_id)
        if data is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# --- driving workers ------------------------------------------------------------------------


@dataclass
class WorkerRun:
    """A Worker running as a task of the test's event loop."""

    worker: Worker
    task: asyncio.Task[None]

    @property
    def id(self) -> str:
        return self.worker.id

    async def stop(self) -> None:
        """``worker.stop()``, then wait for ``run`` to return (it re-raises its errors)."""
        self.worker.stop()
        await asyncio.wait_for(asyncio.shield(self.task), 30)


@contextlib.asynccontextmanager
async def running_worker(
    queue: JobQueue,
    home: Path,
    ident: str,
    *,
    backend: StubBackend | None = None,
    **settings: Any,
) -> AsyncIterator[WorkerRun]:
    """A Worker with its own home (as on its own host), stopped on the way out.

    A 1 s lease keeps heartbeats (lease / 5) quick; tests pass what else they need.
    """
    values: dict[str, Any] = {"lease": 1.0, "claim_block": 0.2, "drain_timeout": 5.0}
    values.update(settings)
    worker = Worker(
        queue,
        WorkerSettings(id=ident, home=home / ident, **values),
        backends={"claude-code": backend or StubBackend()},
    )
    run = WorkerRun(worker, asyncio.create_task(worker.run(), name=f"test-worker-{ident}"))
    try:
        yield run
    finally:
        await run.stop()


async def wait_until(
    check: Callable[[], Any], *, timeout: float = 10.0, what: str, every: float = 0.02
) -> Any:
    """Poll ``check`` (sync or async) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


async def wait_for_job(
    queue: JobQueue, job_id: str, states: Iterable[JobState], *, timeout: float = 10.0
) -> Job:
    wanted = set(states)

    async def reached() -> Job | None:
        job = await queue.get(job_id)
        return job if job.state in wanted else None

    job: Job = await wait_until(
        reached, timeout=timeout, what=f"job {job_id} to be {sorted(s.value for s in wanted)}"
    )
    return job
