"""The daemon's side of distributed mode: where its records live and how turns leave it.

``podium serve --redis URL`` keeps agents, requests and events in Redis (so a
coordinator started on another host picks them up), sends every turn to the
workers through the queue, publishes the cluster-wide settings workers obey
(lease, global concurrency, per-model request rates), and runs a janitor of its
own so an expired claim is handed on even while no worker is idle enough to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .._errors import UsageError
from .._redis_conn import REDIS_SCHEMES, redacted_url
from ..queue import JobQueue, WorkerInfo, open_queue
from ..store import SQLiteStore, Store
from ._remote import RemoteBackend, remote_backends
from ._watcher import JobWatcher
from ._worker import LEASE_SETTING, MAX_RUNNING_SETTING, RATE_LIMITS_SETTING

__all__ = ["ClusterSettings", "Coordinator"]

_log = logging.getLogger("podium.distributed")


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    lease: float = 15.0
    """Seconds without a heartbeat before a worker's claim is handed to another."""
    max_attempts: int = 3
    """Claims per turn before it goes to the dead letters."""
    max_running: int | None = None
    """Turns running at once across every worker (None: each worker's concurrency)."""
    requests_per_minute: Mapping[str, int] = field(default_factory=dict)
    """Per model (as the agent names it; ``*`` for any other), across every worker."""

    def __post_init__(self) -> None:
        if self.lease <= 0:
            raise UsageError(f"lease must be positive, got {self.lease}")
        if self.max_attempts < 1:
            raise UsageError(f"max attempts must be at least 1, got {self.max_attempts}")
        if self.max_running is not None and self.max_running < 1:
            raise UsageError(f"max running must be at least 1, got {self.max_running}")
        for model, limit in self.requests_per_minute.items():
            if limit < 1:
                raise UsageError(f"requests per minute for {model!r} must be at least 1")


class Coordinator:
    def __init__(self, url: str, queue: JobQueue, store: Store, settings: ClusterSettings) -> None:
        self.url = url
        self.queue = queue
        self.store = store
        self.settings = settings
        self.watcher = JobWatcher(queue)
        self._janitor: asyncio.Task[None] | None = None

    @classmethod
    def open(cls, url: str, *, home: Path, settings: ClusterSettings | None = None) -> Coordinator:
        """Redis URL: records and queue in Redis. ``sqlite:///path``: one host, several
        worker processes sharing one queue file; records stay in the daemon's database."""
        settings = settings or ClusterSettings()
        queue = open_queue(url)
        store: Store
        if urlsplit(url).scheme in REDIS_SCHEMES:
            from ..store import RedisStore

            store = RedisStore.from_url(url, events_log=home / "events.jsonl")
        else:
            store = SQLiteStore(home / "podium.db", events_log=home / "events.jsonl")
        return cls(url, queue, store, settings)

    @property
    def shown_url(self) -> str:
        return redacted_url(self.url)

    def backends(self, names: tuple[str, ...] = ("claude-code",)) -> dict[str, RemoteBackend]:
        return remote_backends(
            self.queue, self.watcher, names, max_attempts=self.settings.max_attempts
        )

    async def start(self) -> None:
        settings = self.settings
        await self.queue.set_setting(LEASE_SETTING, settings.lease)
        await self.queue.set_setting(MAX_RUNNING_SETTING, settings.max_running)
        await self.queue.set_setting(RATE_LIMITS_SETTING, dict(settings.requests_per_minute))
        await self.watcher.start()
        self._janitor = asyncio.create_task(self._sweep(), name="podium-janitor")
        _log.info("distributed mode: queue %s, lease %.1f s", self.shown_url, settings.lease)

    async def close(self) -> None:
        janitor, self._janitor = self._janitor, None
        if janitor is not None:
            janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await janitor
        await self.watcher.close()
        await self.queue.close()

    async def workers(self) -> list[WorkerInfo]:
        return await self.queue.list_workers()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease / 2)
            try:
                for job in await self.queue.reclaim_expired(lease=self.settings.lease):
                    _log.info("job %s: claim expired; now %s", job.id, job.state.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("janitor: %s", exc)
