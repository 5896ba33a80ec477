"""Which of a turn's writes wait for the disk: the request queued (its id is a promise)
before ``ask`` returns, and the request finished (its answer) before anyone hears of it;
its start and its activity do not, so that no fsync holds up the CLI mid-turn. Checked
on the SQL the store runs for a real Claude Code turn against the fake API, the
synchronous setting read at each COMMIT, and the store's own syncs of the WAL file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import RequestState, UsageError, WaitTimeout
from podium.runtime import Runtime
from podium.store import SQLiteStore
from podium.testing import FakeAnthropic, Rule

FULL, NORMAL = 2, 1


class _Recorder:
    """The store's connection, noting each transaction's statements and its durability;
    ``log`` has them in order with the store's syncs of a file and what the test marks."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.current: list[str] = []
        self.commits: list[tuple[int, list[str]]] = []
        self.log: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            synchronous = int(self._db.execute("PRAGMA synchronous").fetchone()[0])
            self.commits.append((synchronous, self.current))
            self.log.append(f"commit {synchronous}: {' | '.join(self.current)}")
            self.current = []
        elif not sql.startswith(("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE")):
            self.current.append(sql.split("(")[0].strip() + " " + " ".join(map(str, args))[:200])
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def synced_between(self, path: Path, first: int, last: int) -> bool:
        """Whether the store synced ``path`` between log lines ``first`` and ``last``."""
        return any(first < i < last for i, line in enumerate(self.log) if line == f"synced {path}")


async def _steady(runtime: Runtime, workdir: Path) -> SQLiteStore:
    """Agent ``steady``, warm (one turn answered); the runtime's SQLite store."""
    await runtime.spawn("steady", cwd=workdir)
    await runtime.wait((await runtime.ask("steady", "warm up")).id)
    store = runtime.store
    assert isinstance(store, SQLiteStore)
    return store


@contextlib.contextmanager
def _recording(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    """The store's statements, commits and syncs of files, noted in order."""
    recorder = _Recorder(store._db)
    fdatasync = os.fdatasync

    def noted_fdatasync(fd: int) -> None:
        fdatasync(fd)
        recorder.log.append(f"synced {os.readlink(f'/proc/self/fd/{fd}')}")

    monkeypatch.setattr(os, "fdatasync", noted_fdatasync)
    store._db = recorder  # type: ignore[assignment]
    try:
        yield recorder
    finally:
        store._db = recorder._db


async def test_a_turn_waits_for_the_disk_when_queued_and_when_finished_only(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_rule(Rule(text="done"))
    store = await _steady(runtime, workdir)
    with _recording(store, monkeypatch) as recorder:
        request = await runtime.ask("steady", "one turn")
        recorder.log.append("ask returned")
        finished = await runtime.wait(request.id, timeout=60)
    assert finished.state is RequestState.COMPLETE

    def durability(marker: str) -> list[int]:
        return [sync for sync, sqls in recorder.commits if any(marker in s for s in sqls)]

    # Queued without waiting in the commit; the WAL file (which holds the commit) is
    # synced before ask gives out the id.
    assert durability("request_queued") == [NORMAL]
    queued = next(i for i, line in enumerate(recorder.log) if "request_queued" in line)
    returned = recorder.log.index("ask returned")
    assert recorder.synced_between(Path(f"{store.path}-wal"), queued, returned), recorder.log
    assert durability("request_finished") == [FULL]
    assert durability("request_started") == [NORMAL]
    assert durability("api_call") == [NORMAL]
    # Nothing else was committed for the turn.
    assert len(recorder.commits) == 4


async def test_an_ask_whose_request_cannot_reach_the_disk_fails_and_never_runs(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_rule(Rule(text="done"))
    store = await _steady(runtime, workdir)

    async def failing_sync() -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store, "sync", failing_sync)
    with pytest.raises(OSError, match="Input/output error"):
        await runtime.ask("steady", "never to be answered")
    monkeypatch.undo()
    # The request that was not known to be on the disk is cancelled, not run.
    (lost,) = [r for r in await runtime.list_requests(agent="steady") if "never" in r.prompt]
    assert lost.state is RequestState.CANCELLED
    after = await runtime.wait((await runtime.ask("steady", "and now")).id, timeout=60)
    assert after.state is RequestState.COMPLETE
    assert not fake.requests_matching(any_content="never to be answered")


async def test_ask_and_wait_syncs_only_when_it_gives_out_a_running_request(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_rule(Rule(text="slow", delay=1.5, content="take your time"))
    fake.add_rule(Rule(text="done"))
    store = await _steady(runtime, workdir)
    with _recording(store, monkeypatch) as recorder:
        # Answered: its end is committed durably (FULL), nothing synced on the side.
        done = await runtime.ask_and_wait("steady", "one turn", wait_timeout=60)
        assert done.result == "done"
        assert not [line for line in recorder.log if line.startswith("synced")]
        assert [sync for sync, _ in recorder.commits][-1] == FULL
        # Not answered in time: the id goes out with the error, once on the disk.
        with pytest.raises(WaitTimeout) as timed_out:
            await runtime.ask_and_wait("steady", "take your time", wait_timeout=0.2)
        recorder.log.append("timed out")
    queued = max(i for i, line in enumerate(recorder.log) if "request_queued" in line)
    raised = recorder.log.index("timed out")
    assert recorder.synced_between(Path(f"{store.path}-wal"), queued, raised), recorder.log
    slow_id = timed_out.value.context["request_id"]
    assert (await runtime.wait(slow_id, timeout=60)).result == "slow"


async def test_ask_and_wait_refuses_a_bad_wait_timeout_before_queueing(
    runtime: Runtime, workdir: Path
) -> None:
    await runtime.spawn("steady", cwd=workdir)
    with pytest.raises(UsageError, match="wait timeout"):
        await runtime.ask_and_wait("steady", "hello", wait_timeout=-1)
    assert await runtime.list_requests(agent="steady") == []
