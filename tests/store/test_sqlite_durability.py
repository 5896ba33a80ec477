"""SQLite's durability setting around batches: every commit waits for the disk
(synchronous=FULL) except a batch of a turn's activity, and only that one."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium import EventKind
from podium.store import SQLiteStore

FULL, NORMAL = 2, 1


def _synchronous(store: SQLiteStore) -> int:
    return int(store._db.execute("PRAGMA synchronous").fetchone()[0])


async def test_only_an_activity_batch_commits_without_waiting_for_the_disk(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "podium.db")
    try:
        assert _synchronous(store) == FULL
        with store.batch(durable=False):
            assert _synchronous(store) == NORMAL
            await store.append_event(EventKind.TOOL_STARTED, agent="alpha")
        assert _synchronous(store) == FULL

        async def failing_block() -> None:
            with store.batch(durable=False):
                await store.append_event(EventKind.TOOL_FINISHED, agent="alpha")
                raise RuntimeError("the block fails")

        with pytest.raises(RuntimeError):
            await failing_block()
        assert _synchronous(store) == FULL  # restored whatever the block did

        with store.batch():
            assert _synchronous(store) == FULL
            # A batch inside an activity batch joins it; one inside a durable one too.
            with store.batch(durable=False):
                assert _synchronous(store) == FULL
                await store.append_event(EventKind.REQUEST_STARTED, agent="alpha")
        kinds = [event.kind for event in await store.events()]
        assert kinds == [EventKind.TOOL_STARTED, EventKind.TOOL_FINISHED, EventKind.REQUEST_STARTED]
    finally:
        await store.close()
