"""Which of a turn's commits wait for the disk: the request queued (its id is a promise)
and the request finished (its answer) do; its start and its activity do not, so that no
fsync holds up the CLI mid-turn. Checked on the SQL the store runs for a real Claude
Code turn against the fake API, the synchronous setting read at each COMMIT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podium import RequestState
from podium.runtime import Runtime
from podium.store import SQLiteStore
from podium.testing import FakeAnthropic, Rule

FULL, NORMAL = 2, 1


class _Recorder:
    """The store's connection, noting each transaction's statements and its durability."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.current: list[str] = []
        self.commits: list[tuple[int, list[str]]] = []

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            synchronous = int(self._db.execute("PRAGMA synchronous").fetchone()[0])
            self.commits.append((synchronous, self.current))
            self.current = []
        elif not sql.startswith(("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE")):
            self.current.append(sql.split("(")[0].strip() + " " + " ".join(map(str, args))[:200])
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_a_turn_waits_for_the_disk_when_queued_and_when_finished_only(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(text="done"))
    await runtime.spawn("steady", cwd=workdir)
    await runtime.wait((await runtime.ask("steady", "warm up")).id)
    store = runtime.store
    assert isinstance(store, SQLiteStore)
    recorder = _Recorder(store._db)
    store._db = recorder  # type: ignore[assignment]
    try:
        request = await runtime.ask("steady", "one turn")
        finished = await runtime.wait(request.id, timeout=60)
    finally:
        store._db = recorder._db
    assert finished.state is RequestState.COMPLETE

    def durability(marker: str) -> list[int]:
        return [sync for sync, sqls in recorder.commits if any(marker in s for s in sqls)]

    assert durability("request_queued") == [FULL]
    assert durability("request_finished") == [FULL]
    assert durability("request_started") == [NORMAL]
    assert durability("api_call") == [NORMAL]
    # Nothing else was committed for the turn.
    assert len(recorder.commits) == 4
