"""The contract suite's stores: each test runs once on SQLite and once on Redis.

Redis is a real ``redis-server`` (one per test module, AOF on), each test under
a prefix of its own so tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from podium.store import RedisStore, SQLiteStore, Store
from tests._redis_server import RedisServer  # the module-scoped server: tests/conftest.py

OpenStore = Callable[..., Store]


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_store(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenStore]:
    """Opens stores over one and the same data (a file, or a server and prefix)."""
    opened: list[Store] = []
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    # Only the Redis half starts (or reuses) the module's server.
    server: RedisServer | None = (
        request.getfixturevalue("redis_server") if store_kind == "redis" else None
    )

    def open_(*, events_log: Path | None = None) -> Store:
        store: Store
        if server is None:
            store = SQLiteStore(tmp_path / "podium.db", events_log=events_log)
        else:
            store = RedisStore.from_url(server.url, prefix=prefix, events_log=events_log)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store()
