"""``podium worker``: one host's share of the work, taken from the queue.

A worker runs ``concurrency`` slots. Each slot claims a job, runs it, and
reports the outcome under the attempt it was given; a heartbeat keeps the
claim alive and brings back cancellations. If this host dies, its claims stop
being renewed and any other worker's janitor hands the jobs to the next free
slot, with a new attempt number: this worker's late reports are then refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import PodiumError, UsageError
from ..backends import Backend, BackendSession, TurnResult
from ..queue import Job, JobQueue, StaleAttempt, WorkerInfo
from ._payload import NOOP_KIND, TURN_KIND, TurnJob, session_blob_key, turn_result_to_json
from ._sessions import WarmSessions

__all__ = ["Worker", "WorkerSettings", "default_worker_id"]

_log = logging.getLogger("podium.worker")

# The cluster-wide settings a coordinator publishes (see ``podium serve --redis``).
LEASE_SETTING = "lease"
MAX_RUNNING_SETTING = "max_running"
RATE_LIMITS_SETTING = "requests_per_minute"
_SLOT_POOL = "turns"


def default_worker_id() -> str:
    """``HOST-PID`` in the form of a name (it names the worker's state directory)."""
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-") or "host"
    if not host[0].isalpha():
        host = f"w-{host}"
    return f"{host[:40]}-{os.getpid()}"


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    id: str = field(default_factory=default_worker_id)
    home: Path
    """This worker's own state: agents' config dirs and transcripts."""
    concurrency: int = 2
    lanes: tuple[str, ...] = ()
    """Lanes served; empty: every lane."""
    lease: float = 15.0
    """Seconds without a heartbeat after which a claim is presumed dead (a coordinator's
    published ``lease`` setting wins, so every host judges alike)."""
    claim_block: float = 1.0
    turn_timeout: float = 3600.0
    """Hard limit on one turn when the job names none."""
    drain_timeout: float = 30.0
    """On stop: how long running jobs get to finish before they are handed back."""
    idle_timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.lease <= 0:
            raise UsageError(f"lease must be positive, got {self.lease}")


@dataclass
class _Claim:
    """A job this worker holds, and what its heartbeat found out."""

    job: Job
    session: BackendSession | None = None
    cancelled: bool = False
    stale: bool = False
    reporting: bool = False
    """The outcome is being reported: the heartbeat has nothing left to guard."""


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        settings: WorkerSettings,
        *,
        backends: dict[str, Backend] | None = None,
    ) -> None:
        if backends is None:
            from ..backends import default_backends

            backends = default_backends()
        self.queue = queue
        self.settings = settings
        self.backends = backends
        self.sessions = WarmSessions(queue, settings.home, idle_timeout=settings.idle_timeout)
        self.claims: dict[str, _Claim] = {}
        self.completed = 0
        self.failed = 0
        self._lease = settings.lease
        self._cluster: dict[str, Any] = {}
        self._stopping = asyncio.Event()
        self._agent_locks: dict[str, asyncio.Lock] = {}
        self._started_at = time.time()

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def lease(self) -> float:
        return self._lease

    @property
    def heartbeat_interval(self) -> float:
        return max(0.1, min(2.0, self._lease / 5))

    def stop(self) -> None:
        """Stop taking jobs; ``run`` returns once the running ones are done or handed back."""
        self._stopping.set()

    # --- the main loop ----------------------------------------------------------------

    async def run(self) -> None:
        settings = self.settings
        settings.home.mkdir(parents=True, exist_ok=True)
        await self._refresh_cluster()
        await self.queue.register_worker(
            WorkerInfo(
                id=self.id,
                host=socket.gethostname(),
                pid=os.getpid(),
                concurrency=settings.concurrency,
                lanes=settings.lanes,
                started_at=self._started_at,
                heartbeat_at=time.time(),
                meta={"home": str(settings.home), "backends": sorted(self.backends)},
            )
        )
        _log.info(
            "worker %s: %d slots, lanes %s, lease %.1f s",
            self.id,
            settings.concurrency,
            ",".join(settings.lanes) or "all",
            self._lease,
        )
        slots = [
            asyncio.create_task(self._slot(n), name=f"podium-worker-slot-{n}")
            for n in range(settings.concurrency)
        ]
        keeper = asyncio.create_task(self._keep_alive(), name="podium-worker-keeper")
        try:
            await self._stopping.wait()
            _, pending = await asyncio.wait(slots, timeout=settings.drain_timeout)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            for task in slots:
                task.cancel()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await self.sessions.close()
            with contextlib.suppress(Exception):
                await self.queue.remove_worker(self.id)
            _log.info("worker %s stopped", self.id)

    async def _slot(self, number: int) -> None:
        holder = f"{self.id}/{number}"
        while not self._stopping.is_set():
            try:
                if not await self._take_slot(holder):
                    await asyncio.sleep(0.25)
                    continue
                try:
                    job = await self.queue.claim(
                        self.id,
                        lanes=self.settings.lanes or None,
                        block=self.settings.claim_block,
                    )
                    if job is not None:
                        await self._run_job(job, holder)
                finally:
                    with contextlib.suppress(Exception):
                        await self.queue.release_slot(_SLOT_POOL, holder)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the queue is down: wait, the claim is retried
                _log.warning("worker %s slot %d: %s", self.id, number, exc)
                await asyncio.sleep(1.0)

    async def _take_slot(self, holder: str) -> bool:
        limit = self._cluster.get(MAX_RUNNING_SETTING)
        if not isinstance(limit, int) or limit <= 0:
            return True
        return await self.queue.acquire_slot(_SLOT_POOL, holder, limit=limit, ttl=self._lease)

    async def _keep_alive(self) -> None:
        """Report this host, judge the others' claims, let idle processes go."""
        loop = asyncio.get_running_loop()
        next_janitor = loop.time()
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.queue.worker_heartbeat(
                    self.id,
                    running=list(self.claims),
                    completed=self.completed,
                    failed=self.failed,
                )
                if loop.time() >= next_janitor:
                    next_janitor = loop.time() + self._lease / 2
                    await self._refresh_cluster()
                    for job in await self.queue.reclaim_expired(lease=self._lease):
                        _log.info(
                            "job %s: claim by %s expired; now %s",
                            job.id,
                            job.history[-1].get("worker") if job.history else "?",
                            job.state.value,
                        )
                    await self.sessions.drop_idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("worker %s: keep-alive failed: %s", self.id, exc)

    async def _refresh_cluster(self) -> None:
        self._cluster = await self.queue.get_settings()
        lease = self._cluster.get(LEASE_SETTING)
        if isinstance(lease, int | float) and lease > 0:
            self._lease = float(lease)

    # --- one job ----------------------------------------------------------------------

    async def _run_job(self, job: Job, holder: str) -> None:
        claim = _Claim(job)
        self.claims[job.id] = claim
        beat = asyncio.create_task(self._heartbeat(claim, holder))
        _log.info("job %s (%s, attempt %d): started", job.id, job.kind, job.attempt)
        try:
            if job.kind == NOOP_KIND:
                await self._noop(claim)
            elif job.kind == TURN_KIND:
                await self._run_turn(claim)
            else:
                await self._fail(claim, f"this worker does not run {job.kind!r} jobs")
        except asyncio.CancelledError:
            # This worker is stopping: hand the job back at once rather than after a lease.
            if claim.session is not None:
                with contextlib.suppress(Exception):
                    await claim.session.close()
            with contextlib.suppress(Exception):
                await asyncio.shield(self._fail(claim, "the worker stopped", retry=True))
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.claims.pop(job.id, None)

    async def _noop(self, claim: _Claim) -> None:
        """Nothing, for ``hold`` seconds (at most an hour): probes and benchmarks."""
        hold = claim.job.payload.get("hold", 0)
        if isinstance(hold, int | float) and hold > 0:
            deadline = time.monotonic() + min(float(hold), 3600.0)
            while time.monotonic() < deadline and not (claim.cancelled or claim.stale):
                await asyncio.sleep(min(0.05, deadline - time.monotonic()))
        if claim.stale:
            return
        if claim.cancelled:
            await self._fail(claim, "cancelled by request")
            return
        await self._complete(claim, {})

    async def _heartbeat(self, claim: _Claim, holder: str) -> None:
        job = claim.job
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if claim.reporting:
                return
            try:
                current = await self.queue.heartbeat(job.id, job.attempt, self.id)
            except StaleAttempt:
                if claim.reporting:
                    return  # the job just ended by this worker's own report
                _log.warning("job %s: attempt %d was taken over; stopping it", job.id, job.attempt)
                claim.stale = True
                await self._stop_process(claim)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("job %s: heartbeat failed: %s", job.id, exc)
                continue
            with contextlib.suppress(Exception):
                await self._take_slot(holder)  # renews the global slot's lease
            if current.cancel_requested and not claim.cancelled:
                _log.info("job %s: cancel requested; stopping its process", job.id)
                claim.cancelled = True
                await self._stop_process(claim)

    async def _stop_process(self, claim: _Claim) -> None:
        if claim.session is not None:
            # close() ends the CLI's whole process group, tools and all.
            with contextlib.suppress(Exception):
                await claim.session.close()

    async def _run_turn(self, claim: _Claim) -> None:
        job = claim.job
        try:
            turn = TurnJob.from_payload(job.payload)
        except ValueError as exc:
            await self._fail(claim, str(exc))
            return
        backend = self.backends.get(turn.backend)
        if backend is None:
            await self._fail(
                claim,
                f"worker {self.id} has no backend {turn.backend!r} "
                f"(it runs {', '.join(sorted(self.backends))})",
                retry=True,
            )
            return
        if not turn.cwd.is_dir():
            await self._fail(
                claim,
                f"working directory {turn.cwd} does not exist on worker {self.id} "
                "(run directories and projects must be on storage every host mounts)",
                retry=True,
            )
            return
        lock = self._agent_locks.setdefault(turn.agent, asyncio.Lock())
        async with lock:
            await self._turn_locked(claim, turn, backend)

    async def _turn_locked(self, claim: _Claim, turn: TurnJob, backend: Backend) -> None:
        try:
            session, started = await self.sessions.open(turn, backend)
        except PodiumError as exc:
            await self.sessions.drop(turn.agent)
            await self._fail(claim, f"could not start the agent's process: {exc}", retry=True)
            return
        claim.session = session
        if started:
            await self._progress(claim, {"event": "process_started", "pid": session.pid})
        await self._respect_rate_limit(turn.model)

        async def on_event(kind: str, data: dict[str, Any]) -> None:
            await self._progress(claim, {"event": kind, **data})

        timeout = turn.timeout or self.settings.turn_timeout
        result: TurnResult | None = None
        failure: str | None = None
        try:
            result = await asyncio.wait_for(session.run_turn(turn.prompt, on_event), timeout)
        except TimeoutError:
            failure = f"timed out after {timeout:g} s on worker {self.id}"
        except PodiumError as exc:
            failure = str(exc)
        if claim.stale:
            await self.sessions.drop(turn.agent)
            return
        if claim.cancelled:
            await self.sessions.drop(turn.agent)
            await self._fail(claim, "cancelled by request")
            return
        if result is None:
            await self.sessions.drop(turn.agent)
            await self._fail(claim, failure or "the turn ended without a result", retry=True)
            return
        transcript = self.sessions.export(turn.agent, backend)
        key = session_blob_key(turn.session_id)
        blobs = {key: transcript} if transcript is not None else None
        if await self._complete(claim, turn_result_to_json(result), blobs=blobs):
            version = await self.queue.blob_version(key) if blobs else None
            self.sessions.release(turn.agent, version=version)
            if not session.alive:
                await self.sessions.drop(turn.agent)
        else:
            await self.sessions.drop(turn.agent)

    async def _respect_rate_limit(self, model: str | None) -> None:
        limits = self._cluster.get(RATE_LIMITS_SETTING)
        if not isinstance(limits, dict):
            return
        name = model or "default"
        limit = limits.get(name, limits.get("*"))
        if not isinstance(limit, int) or limit <= 0:
            return
        while True:
            wait = await self.queue.take_rate(f"requests:{name}", limit=limit, window=60.0)
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, 5.0))

    # --- reporting, fenced by the attempt -------------------------------------------

    async def _progress(self, claim: _Claim, data: dict[str, Any]) -> None:
        job = claim.job
        with contextlib.suppress(Exception):
            await self.queue.progress(job.id, job.attempt, self.id, {"worker": self.id, **data})

    async def _complete(
        self, claim: _Claim, result: dict[str, Any], *, blobs: dict[str, bytes] | None = None
    ) -> bool:
        job = claim.job
        claim.reporting = True
        try:
            await self.queue.complete(
                job.id, job.attempt, self.id, {**result, "worker": self.id}, blobs=blobs
            )
        except StaleAttempt as exc:
            _log.warning("job %s: late completion refused: %s", job.id, exc)
            return False
        self.completed += 1
        _log.info("job %s (attempt %d): complete", job.id, job.attempt)
        return True

    async def _fail(self, claim: _Claim, error: str, *, retry: bool = False) -> None:
        job = claim.job
        claim.reporting = True
        try:
            ended = await self.queue.fail(job.id, job.attempt, self.id, error, retry=retry)
        except StaleAttempt as exc:
            _log.warning("job %s: late failure refused: %s", job.id, exc)
            return
        self.failed += 1
        _log.info("job %s (attempt %d): %s (%s)", job.id, job.attempt, ended.state.value, error)
