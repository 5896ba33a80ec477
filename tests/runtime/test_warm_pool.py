"""The warm pool: at most ``max_warm`` live CLI processes, LRU hibernation, fair waiting.

Real CLI processes against the fake API; only the machine's available memory is
stood in for (it cannot be made low here without starving the other tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium._errors import UsageError
from podium._records import AgentStatus, Event, EventKind, RequestState
from podium.runtime import Runtime, RuntimeConfig
from podium.runtime._config import UNLIMITED, parse_max_warm
from podium.runtime._memory import MB
from podium.runtime._pool import WarmPool
from podium.testing import FakeAnthropic, Rule
from tests.conftest import make_config

_STARTS = (EventKind.PROCESS_STARTED, EventKind.RESTARTED)


async def _runtime(home: Path, fake: FakeAnthropic, **settings: object) -> Runtime:
    rt = Runtime(make_config(home, fake, **settings))
    await rt.start()
    return rt


@pytest.fixture
async def pool_of_two(home: Path, fake: FakeAnthropic) -> AsyncIterator[Runtime]:
    rt = await _runtime(home, fake, max_warm=2)
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def pool_of_one(home: Path, fake: FakeAnthropic) -> AsyncIterator[Runtime]:
    rt = await _runtime(home, fake, max_warm=1)
    try:
        yield rt
    finally:
        await rt.close()


def _max_live(events: list[Event]) -> int:
    """The most processes live at once, replayed from the event log."""
    live: set[str] = set()
    most = 0
    for event in events:
        if event.kind in _STARTS and event.agent:
            live.add(event.agent)
        elif event.kind in (EventKind.HIBERNATED, EventKind.PROCESS_EXITED) and event.agent:
            live.discard(event.agent)
        most = max(most, len(live))
    return most


async def test_the_least_recently_used_idle_agent_is_hibernated_first(
    pool_of_two: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    rt = pool_of_two
    fake.add_rule(Rule(text="ok"))
    await rt.spawn("alpha", cwd=workdir)
    await rt.spawn("beta", cwd=workdir)
    # alpha is used after beta's start: beta is now the least recently used.
    done = await rt.wait((await rt.ask("alpha", "hello")).id, timeout=60)
    assert done.state is RequestState.COMPLETE, done.error

    await rt.spawn("gamma", cwd=workdir)
    assert (await rt.get_agent("beta")).status is AgentStatus.HIBERNATED
    assert (await rt.get_agent("alpha")).status is AgentStatus.IDLE
    assert (await rt.get_agent("gamma")).status is AgentStatus.IDLE

    # Then alpha (used before gamma started) goes for beta's next turn.
    again = await rt.wait((await rt.ask("beta", "back again")).id, timeout=60)
    assert again.state is RequestState.COMPLETE, again.error
    assert (await rt.get_agent("alpha")).status is AgentStatus.HIBERNATED
    assert (await rt.get_agent("gamma")).status is AgentStatus.IDLE

    events = await rt.events(limit=10_000)
    hibernated = [e.agent for e in events if e.kind is EventKind.HIBERNATED]
    assert hibernated == ["beta", "alpha"]
    assert _max_live(events) <= 2
    status = await rt.pool_status()
    assert status["warm"] == 2
    assert status["max_warm"] == 2
    assert status["hibernated"] == 1
    assert status["hibernations"] == 2


async def test_agents_waiting_for_a_slot_are_served_in_arrival_order_not_by_one_agent(
    pool_of_one: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    rt = pool_of_one
    fake.add_rule(Rule(text="done: {last_user}"))
    for name in ("ant", "bee", "cat"):
        await rt.spawn(name, cwd=workdir, start=False)
    # ant has two requests queued; bee and cat one each, asked after ant's first.
    asks = [
        await rt.ask("ant", "ant one"),
        await rt.ask("ant", "ant two"),
        await rt.ask("bee", "bee one"),
        await rt.ask("cat", "cat one"),
    ]
    finished = [await rt.wait(r.id, timeout=120) for r in asks]
    for request in finished:
        assert request.state is RequestState.COMPLETE, request.error
    order = [r.prompt for r in sorted(finished, key=lambda r: r.started_at or 0.0)]
    # ant gives its slot up after its first turn: its second waits behind bee and cat.
    assert order == ["ant one", "bee one", "cat one", "ant two"]
    waited = {r.prompt: r.meta.get("slot_wait") for r in finished}
    assert waited["bee one"] is not None
    assert waited["bee one"]["reason"] == "max_warm"
    assert waited["bee one"]["max_warm"] == 1
    assert _max_live(await rt.events(limit=10_000)) == 1


async def test_a_hibernated_agent_resumes_its_conversation_when_its_slot_comes_back(
    pool_of_one: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    rt = pool_of_one
    fake.add_rule(Rule(content="secret word", text="noted: PINEAPPLE"))
    fake.add_rule(Rule(text="ok"))
    await rt.spawn("keeper", cwd=workdir)
    first = await rt.wait((await rt.ask("keeper", "the secret word is PINEAPPLE")).id, timeout=60)
    assert first.state is RequestState.COMPLETE, first.error

    await rt.spawn("other", cwd=workdir)  # takes the only slot
    assert (await rt.get_agent("keeper")).status is AgentStatus.HIBERNATED

    second = await rt.wait((await rt.ask("keeper", "what was the word?")).id, timeout=60)
    assert second.state is RequestState.COMPLETE, second.error
    last = fake.requests_matching("what was the word")[-1]
    text = str(last.messages)
    assert "the secret word is PINEAPPLE" in text
    assert "noted: PINEAPPLE" in text
    assert (await rt.get_agent("other")).status is AgentStatus.HIBERNATED
    kinds = [e.kind for e in await rt.events(agent="keeper", limit=1000)]
    assert EventKind.RESTARTED in kinds


async def test_below_the_memory_floor_a_process_waits_and_says_why(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    rt = await _runtime(home, fake, max_warm=4, min_free_mb=512)
    available = {"bytes": 100 * MB}
    # Stands in for /proc/meminfo: this machine's memory cannot be made scarce here.
    rt.pool._available = lambda: available["bytes"]
    try:
        fake.add_rule(Rule(text="ok"))
        await rt.spawn("thrifty", cwd=workdir, start=False)
        request = await rt.ask("thrifty", "hello")
        for _ in range(600):
            waiting = [
                e for e in await rt.events(limit=1000) if e.kind is EventKind.WAITING_FOR_SLOT
            ]
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "no waiting_for_slot event"
        assert waiting[0].data["reason"] == "memory"
        assert waiting[0].data["min_free_mb"] == 512
        assert "below the floor of 512 MB" in waiting[0].data["message"]
        queued = await rt.poll(request.id)
        assert queued.state is RequestState.QUEUED
        assert queued.meta["slot_wait"]["reason"] == "memory"
        assert (await rt.pool_status())["waiting"] == 1

        available["bytes"] = 4096 * MB
        done = await rt.wait(request.id, timeout=60)
        assert done.state is RequestState.COMPLETE, done.error
        assert done.meta["slot_wait"]["reason"] == "memory"
        assert "waited_s" in done.meta["slot_wait"]
    finally:
        await rt.close()


async def test_unlimited_pool_keeps_every_agent_warm(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    rt = await _runtime(home, fake, max_warm=UNLIMITED)
    try:
        for name in ("one", "two", "three"):
            await rt.spawn(name, cwd=workdir)
        status = await rt.pool_status()
        assert status["max_warm"] is None
        assert status["warm"] == 3
        assert status["hibernated"] == 0
    finally:
        await rt.close()


def test_max_warm_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_max_warm("") == 0
    assert parse_max_warm("0") == 0
    assert parse_max_warm("12") == 12
    assert parse_max_warm("unlimited") == UNLIMITED
    with pytest.raises(UsageError, match="PODIUM_MAX_WARM must be a whole number"):
        parse_max_warm("lots")
    with pytest.raises(UsageError, match="PODIUM_MAX_WARM must be >= 0"):
        parse_max_warm("-3")
    monkeypatch.setenv("PODIUM_MAX_WARM", "0")
    config = RuntimeConfig.from_env()
    limit = config.warm_limit
    assert limit is not None
    assert 2 <= limit <= 512
    monkeypatch.setenv("PODIUM_MAX_WARM", "7")
    assert RuntimeConfig.from_env().warm_limit == 7
    monkeypatch.setenv("PODIUM_MIN_FREE_MB", "x")
    with pytest.raises(UsageError, match="PODIUM_MIN_FREE_MB must be a whole number"):
        RuntimeConfig.from_env()
    monkeypatch.delenv("PODIUM_MIN_FREE_MB")
    monkeypatch.setenv("PODIUM_STALL_POLICY", "shrug")
    with pytest.raises(UsageError, match="stall_policy must be one of retry, fail"):
        RuntimeConfig.from_env()
    monkeypatch.setenv("PODIUM_STALL_POLICY", "fail")
    monkeypatch.setenv("PODIUM_STALL_TIMEOUT", "-1")
    with pytest.raises(UsageError, match="stall_timeout must be a finite number >= 0"):
        RuntimeConfig.from_env()


async def test_below_the_memory_floor_an_idle_agent_is_hibernated_to_make_room(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    rt = await _runtime(home, fake, max_warm=4, min_free_mb=512)
    try:
        fake.add_rule(Rule(text="ok"))
        await rt.spawn("sleeper", cwd=workdir)
        await rt.spawn("needy", cwd=workdir, start=False)
        # Stands in for /proc/meminfo: memory is short while sleeper's process lives.
        rt.pool._available = lambda: 4096 * MB if rt.pool.warm == 0 else 100 * MB
        done = await rt.wait((await rt.ask("needy", "hello")).id, timeout=60)
        assert done.state is RequestState.COMPLETE, done.error
        assert done.meta["slot_wait"]["reason"] == "memory"
        # There were free slots: only the memory floor made sleeper go.
        assert (await rt.get_agent("sleeper")).status is AgentStatus.HIBERNATED
    finally:
        await rt.close()


async def test_a_higher_priority_waiter_gets_the_next_slot_then_arrival_order() -> None:
    pool = WarmPool(1, min_free_mb=0)
    asked: list[str] = []
    pool.evict = asked.append
    await pool.acquire("holder")
    granted: list[str] = []

    async def wait_for(agent: str, priority: int) -> None:
        await pool.acquire(agent, priority=priority)
        granted.append(agent)

    waiters = [
        asyncio.create_task(wait_for(agent, priority))
        for agent, priority in (("early", 0), ("urgent", 5), ("late", 0))
    ]
    await asyncio.sleep(0)
    assert asked == []  # the holder is busy: nobody to hibernate yet
    pool.idle("holder")  # its turn ended: it is asked to make room
    assert asked == ["holder"]
    pool.release("holder")  # hibernated
    for count in (1, 2):
        while len(granted) < count:
            await asyncio.sleep(0.01)
        pool.release(granted[-1])  # each one's process ends in turn
    await asyncio.gather(*waiters)
    assert granted == ["urgent", "early", "late"]
