"""The coordinator's one reader of the queue's events.

Every remote turn waits for its job here instead of polling the queue: one
task tails the event stream and wakes the waiter of each job that ends, and
hands a worker's progress reports (a 429 retry, a requeue after a lost host)
to the turn that asked. A slow sweep re-reads the jobs still waited for, so a
missed event (the stream is trimmed, the connection dropped) costs seconds,
never a hung turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .._errors import PodiumError
from ..queue import TERMINAL_JOB_STATES, Job, JobEvent, JobQueue

__all__ = ["JobWatcher", "ProgressSink"]

ProgressSink = Callable[[str, dict[str, Any]], Awaitable[None]]

_log = logging.getLogger("podium.distributed")

# Job events a turn is told about, under the name the backend reports them by.
_FORWARDED = {"requeued": "job_requeued", "dead": "job_dead", "rejected": "job_rejected"}
_ENDING = {"completed", "failed", "cancelled", "dead"}


@dataclass
class _Waiter:
    future: asyncio.Future[Job]
    on_progress: ProgressSink | None
    seen: set[int] = field(default_factory=set)


class JobWatcher:
    def __init__(self, queue: JobQueue, *, sweep: float = 5.0, block: float = 1.0) -> None:
        self.queue = queue
        self.sweep = sweep
        self.block = block
        self._waiters: dict[str, _Waiter] = {}
        self._cursor = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        # Only what happens from now on matters: every waiter registers before
        # its job can end, or finds it ended on its first read.
        self._cursor = await self.queue.last_event_id()
        self._task = asyncio.create_task(self._run(), name="podium-job-watcher")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.set_exception(PodiumError("the coordinator is shutting down"))
        self._waiters.clear()

    async def wait(self, job_id: str, on_progress: ProgressSink | None = None) -> Job:
        """The job once it has ended (complete, failed, cancelled or dead)."""
        if self._task is None:
            raise PodiumError("job watcher not started")
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiters[job_id] = _Waiter(future, on_progress)
        try:
            job = await self.queue.get(job_id)
            if job.state in TERMINAL_JOB_STATES:
                return job
            return await future
        finally:
            self._waiters.pop(job_id, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self.sweep
        while True:
            try:
                events = await self.queue.events(after=self._cursor, block=self.block, limit=500)
                for event in events:
                    self._cursor = max(self._cursor, event.id)
                    await self._dispatch(event)
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self.sweep
                    await self._sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the queue came and went: keep watching
                _log.warning("job watcher: %s; retrying", exc)
                await asyncio.sleep(min(self.block, 1.0))

    async def _dispatch(self, event: JobEvent) -> None:
        waiter = self._waiters.get(event.job_id)
        if waiter is None or waiter.future.done():
            return
        if event.kind == "progress" and waiter.on_progress is not None:
            data = dict(event.data)
            kind = str(data.pop("event", "progress"))
            await _deliver(waiter.on_progress, kind, data)
        elif event.kind in _FORWARDED and waiter.on_progress is not None:
            data = {"attempt": event.attempt, "worker": event.worker, **event.data}
            await _deliver(waiter.on_progress, _FORWARDED[event.kind], data)
        if event.kind in _ENDING:
            await self._resolve(event.job_id)

    async def _resolve(self, job_id: str) -> None:
        job = await self.queue.get(job_id)
        waiter = self._waiters.get(job_id)
        if job.state in TERMINAL_JOB_STATES and waiter is not None and not waiter.future.done():
            waiter.future.set_result(job)

    async def _sweep(self) -> None:
        for job_id in list(self._waiters):
            await self._resolve(job_id)


async def _deliver(sink: ProgressSink, kind: str, data: dict[str, Any]) -> None:
    try:
        await sink(kind, data)
    except Exception:  # a listener's failure must not stop the watcher
        _log.exception("job watcher: progress listener failed")
