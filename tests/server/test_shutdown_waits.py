"""The runtime's part in a daemon's shutdown: what ends the waits of calls in flight
(the daemon end to end: tests/cli/test_cli_shutdown.py). EchoBackend replaces the model."""

from __future__ import annotations

import asyncio

import pytest

from podium import DaemonStopping, EventKind, RequestState
from podium.runtime import Runtime


async def test_waits_for_requests_that_have_not_ended_raise_daemon_stopping(
    runtime: Runtime,
) -> None:
    await runtime.spawn("alpha")
    first = await runtime.ask("alpha", "done soon")
    first = await runtime.wait(first.id, timeout=20)
    busy = await runtime.ask("alpha", "sleep:60")
    queued = await runtime.ask("alpha", "second")
    waiting = asyncio.create_task(runtime.wait(queued.id))
    await asyncio.sleep(0.05)
    assert not waiting.done()

    runtime.end_waits()

    with pytest.raises(DaemonStopping) as raised:
        await waiting
    assert raised.value.context["request_id"] == queued.id
    assert f"podium wait {queued.id}" in raised.value.message
    with pytest.raises(DaemonStopping):  # a wait that begins later too
        await runtime.wait(busy.id)
    # An ended request is still answered; nothing was cancelled.
    assert (await runtime.wait(first.id)).state is RequestState.COMPLETE
    assert (await runtime.poll(queued.id)).state is RequestState.QUEUED
    await runtime.cancel(busy.id)


async def test_a_long_poll_held_while_stopping_gets_the_last_events_in_one_answer(
    runtime: Runtime,
) -> None:
    await runtime.spawn("alpha")
    after = (await runtime.events())[-1].id
    runtime.hold_waits()
    poll = asyncio.create_task(runtime.events(after=after, wait=30))
    await runtime.emit(EventKind.REQUEST_FINISHED, agent="alpha", data={"state": "interrupted"})
    await asyncio.sleep(0.05)
    assert not poll.done()  # held: more of the daemon's last events may come
    await runtime.emit(EventKind.DAEMON_STOPPED)

    runtime.end_waits()

    found = await asyncio.wait_for(poll, 5)
    assert [event.kind for event in found] == [EventKind.REQUEST_FINISHED, EventKind.DAEMON_STOPPED]
    # Nothing more will come: the next long poll is told so at once.
    with pytest.raises(DaemonStopping):
        await runtime.events(after=found[-1].id, wait=30)
    # A poll that does not wait is answered as ever.
    assert await runtime.events(after=found[-1].id) == []


async def test_a_follow_of_one_agent_ends_with_the_daemons_last_event_too(
    runtime: Runtime,
) -> None:
    await runtime.spawn("alpha")
    await runtime.spawn("beta")
    after = (await runtime.events())[-1].id
    runtime.hold_waits()
    poll = asyncio.create_task(runtime.events(after=after, agent="alpha", wait=30))
    await runtime.emit(EventKind.REQUEST_FINISHED, agent="alpha", data={"state": "interrupted"})
    await runtime.emit(EventKind.REQUEST_FINISHED, agent="beta", data={"state": "interrupted"})
    await runtime.emit(EventKind.DAEMON_STOPPED)

    runtime.end_waits()

    found = await asyncio.wait_for(poll, 5)
    # alpha's events, not beta's, then the daemon's last word (which names no agent).
    assert [(event.kind, event.agent) for event in found] == [
        (EventKind.REQUEST_FINISHED, "alpha"),
        (EventKind.DAEMON_STOPPED, None),
    ]
    with pytest.raises(DaemonStopping):
        await runtime.events(after=found[-1].id, agent="alpha", wait=30)
    # Before the daemon stopped, a filtered log shows only the agent's own events.
    assert await runtime.events(after=found[-1].id, agent="alpha") == []


async def test_a_runtime_started_again_after_a_stop_waits_again(runtime: Runtime) -> None:
    await runtime.spawn("alpha")
    runtime.hold_waits()
    await runtime.emit(EventKind.DAEMON_STOPPED)
    runtime.end_waits()
    await runtime.close()

    await runtime.start()

    after = (await runtime.events())[-1].id
    request = await runtime.ask("alpha", "after the restart")
    assert (await runtime.wait(request.id, timeout=20)).state is RequestState.COMPLETE
    poll = asyncio.create_task(runtime.events(after=after, agent="alpha", wait=0.3))
    found = await asyncio.wait_for(poll, 5)
    # The events of this start, the agent's own: no DaemonStopping, no old last word.
    assert found
    assert {event.agent for event in found} == {"alpha"}
