"""An agent's actor outlives any error: the request fails naming the cause, the
mailbox behind it is served in order, cancel still works.

The real CLI against the fake API. A full disk cannot be had safely here, so the
store's write raises what a full disk raises (OSError ENOSPC from the event log,
sqlite3.OperationalError from SQLite) once; everything else is real.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from podium._records import EventKind, RequestState
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule

pytestmark = pytest.mark.cli


def _fill_disk_once(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    store = runtime.store
    fired = False
    if where == "event log":
        append = store.append_event

        async def append_event(kind: EventKind, **fields: Any) -> Any:
            nonlocal fired
            if kind is EventKind.REQUEST_STARTED and not fired:
                fired = True
                raise OSError(errno.ENOSPC, "No space left on device")
            return await append(kind, **fields)

        monkeypatch.setattr(store, "append_event", append_event)
    else:
        update = store.update_request

        async def update_request(request_id: str, **changes: Any) -> Any:
            nonlocal fired
            # The turn has been answered; recording its end hits the full disk.
            if changes.get("state") is RequestState.COMPLETE and not fired:
                fired = True
                raise sqlite3.OperationalError("database or disk is full")
            return await update(request_id, **changes)

        monkeypatch.setattr(store, "update_request", update_request)


@pytest.mark.parametrize("where", ["event log", "sqlite"])
async def test_disk_full_fails_the_request_naming_it_and_the_agent_keeps_serving_in_order(
    runtime: Runtime,
    fake: FakeAnthropic,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    fake.add_rule(Rule(content="first job", text="first answer"))
    fake.add_rule(Rule(content="second job", text="second answer"))
    fake.add_rule(Rule(content="slow job", text="never sent", delay=60, times=1))
    fake.add_rule(Rule(content="last job", text="last answer"))
    await runtime.spawn("steady", cwd=workdir)
    _fill_disk_once(runtime, monkeypatch, where)

    first = await runtime.ask("steady", "first job")
    second = await runtime.ask("steady", "second job")

    failed = await runtime.wait(first.id, timeout=60)
    assert failed.state is RequestState.FAILED
    assert failed.error is not None
    assert "no space left on device" in failed.error
    assert f"PODIUM_HOME ({runtime.config.home})" in failed.error

    # The ask queued behind it is served, after it.
    answered = await runtime.wait(second.id, timeout=60)
    assert answered.state is RequestState.COMPLETE, answered.error
    assert answered.result == "second answer"
    assert answered.started_at is not None
    assert failed.completed_at is not None
    assert answered.started_at >= failed.completed_at

    # Cancel still reaches the agent's running turn.
    slow = await runtime.ask("steady", "slow job")
    for _ in range(1200):
        if fake.requests_matching("slow job"):
            break
        await asyncio.sleep(0.05)
    assert (await runtime.poll(slow.id)).state is RequestState.RUNNING
    await runtime.cancel(slow.id)
    cancelled = await runtime.wait(slow.id, timeout=60)
    assert cancelled.state is RequestState.CANCELLED

    last = await runtime.wait((await runtime.ask("steady", "last job")).id, timeout=60)
    assert last.state is RequestState.COMPLETE, last.error
    assert last.result == "last answer"
