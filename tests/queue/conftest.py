"""The contract suite's queues: each test runs once on SQLite and once on Redis.

Redis is a real ``redis-server`` (one per test module, AOF on), each test under
a prefix of its own so tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from podium.queue import JobQueue, RedisQueue, SQLiteQueue
from tests._redis_server import RedisServer  # the module-scoped server: tests/conftest.py

OpenQueue = Callable[[], JobQueue]


@pytest.fixture(params=["sqlite", "redis"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_queue_handle(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenQueue]:
    """Opens handles on one and the same queue (a file, or a server and prefix):
    each is its own connection, like another process would have."""
    opened: list[JobQueue] = []
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    # Only the Redis half starts (or reuses) the module's server.
    server: RedisServer | None = (
        request.getfixturevalue("redis_server") if engine == "redis" else None
    )

    def open_() -> JobQueue:
        queue: JobQueue
        if server is None:
            queue = SQLiteQueue(tmp_path / "queue.db")
        else:
            queue = RedisQueue.from_url(server.url, prefix=prefix)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        await queue.close()


@pytest.fixture
def queue(open_queue_handle: OpenQueue) -> JobQueue:
    return open_queue_handle()
