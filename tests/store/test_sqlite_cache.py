"""The SQLite store keeps records decoded between calls; what it answers is still what
is committed: another connection's commit is seen at once, and a transaction that is
rolled back leaves nothing of its writes behind in what the store answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium._records import AgentStatus, RequestRecord, RequestState
from podium.store import SQLiteStore
from tests.store.test_store_contract import agent_record


async def test_a_write_by_another_connection_is_seen_at_once(tmp_path: Path) -> None:
    path = tmp_path / "podium.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    try:
        await first.add_agent(agent_record("alpha"))
        request = await first.add_request(agent="alpha", prompt="hello", submitted_at=1.0)
        # Both read (and keep) the records...
        assert (await first.get_agent("alpha")).status is AgentStatus.IDLE
        assert (await second.get_agent("alpha")).status is AgentStatus.IDLE
        assert (await second.get_request(request.id)).state is RequestState.QUEUED
        # ...then one changes them: the other answers with the change.
        await first.update_agent("alpha", status=AgentStatus.BUSY, request_count=4)
        await first.update_request(request.id, state=RequestState.RUNNING)
        agent = await second.get_agent("alpha")
        assert (agent.status, agent.request_count) == (AgentStatus.BUSY, 4)
        assert (await second.get_request(request.id)).state is RequestState.RUNNING
        # And back: its own update starts from the other's, nothing is lost.
        await second.update_agent("alpha", cost_usd=1.5)
        agent = await first.get_agent("alpha")
        assert (agent.status, agent.request_count, agent.cost_usd) == (AgentStatus.BUSY, 4, 1.5)
        await second.update_agent("alpha", status=AgentStatus.KILLED)
        assert await first.find_agent("alpha") is None
    finally:
        await first.close()
        await second.close()


class _FailingCommit:
    """The store's connection, with the next COMMIT failing (as a full disk would)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.fail = True

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise OSError("disk full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_writes_of_a_batch_that_could_not_commit_are_not_answered(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "podium.db")
    try:
        await store.add_agent(agent_record("alpha"))
        request = await store.add_request(agent="alpha", prompt="hello", submitted_at=1.0)
        connection = _FailingCommit(store._db)
        store._db = connection  # type: ignore[assignment]
        written: list[RequestRecord] = []

        async def failing_batch() -> None:
            with store.batch():
                await store.update_agent("alpha", status=AgentStatus.BUSY)
                await store.update_request(request.id, state=RequestState.RUNNING)
                written.append(
                    await store.add_request(agent="alpha", prompt="later", submitted_at=2.0)
                )

        with pytest.raises(OSError, match="disk full"):
            await failing_batch()
        store._db = connection._db
        (late,) = written
        # Rolled back: the records are as last committed, the new request is not there.
        assert (await store.get_agent("alpha")).status is AgentStatus.IDLE
        assert (await store.get_request(request.id)).state is RequestState.QUEUED
        assert [r.id for r in await store.list_requests(agent="alpha")] == [request.id]
        assert late.id != request.id
        with pytest.raises(Exception, match="no request"):
            await store.get_request(late.id)
    finally:
        await store.close()
