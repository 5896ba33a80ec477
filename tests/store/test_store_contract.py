"""One contract for every Store: SQLite and Redis must answer every call alike.

Each test without ``redis`` in its name runs against both (see conftest). The
Redis-only tests at the end cover what SQLite cannot meet: a server restart, key
prefixes, and an insert whose script is run twice by the client's retry.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

import podium.store
from podium._errors import AgentExists, AgentNotFound, RequestNotFound, UsageError
from podium._names import parse_request_id
from podium._options import AgentOptions
from podium._records import (
    AgentRecord,
    AgentStatus,
    Event,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
    Usage,
)
from podium._redis_conn import connect_redis
from podium.store import RedisStore, SQLiteStore, Store, StoreUnavailable, open_store
from podium.store import _redis as redis_store
from tests._redis_server import RedisServer
from tests.store.conftest import OpenStore

LIVE_STATUSES = [s for s in AgentStatus if s is not AgentStatus.KILLED]


def agent_record(
    name: str,
    *,
    created_at: float = 1000.0,
    status: AgentStatus = AgentStatus.IDLE,
    session: str | None = None,
) -> AgentRecord:
    return AgentRecord(
        name=name,
        backend="claude_code",
        model="haiku",
        resolved_model=None,
        system_prompt="be brief",
        cwd="/srv/project",
        session_id=session or f"session-{name}",
        has_session=False,
        forked_from=None,
        forked_from_session=None,
        status=status,
        created_at=created_at,
        updated_at=created_at,
        options=AgentOptions(tools=("Read", "Edit"), max_turns=3, env={"A": "1"}),
    )


async def add_requests(store: Store, agent: str, *submitted: float) -> list[RequestRecord]:
    return [
        await store.add_request(agent=agent, prompt=f"prompt {t}", submitted_at=t)
        for t in submitted
    ]


def ids(requests: list[RequestRecord]) -> list[str]:
    return [r.id for r in requests]


# --- agents -----------------------------------------------------------------------------


async def test_add_then_get_find_and_list(store: Store) -> None:
    agent = agent_record("alpha")
    assert await store.add_agent(agent) == agent
    assert await store.get_agent("alpha") == agent
    assert await store.find_agent("alpha") == agent
    assert await store.list_agents() == [agent]
    assert await store.list_agents(include_killed=True) == [agent]


async def test_unknown_agent(store: Store) -> None:
    assert await store.find_agent("ghost") is None
    assert await store.list_agents() == []
    with pytest.raises(AgentNotFound) as info:
        await store.get_agent("ghost")
    assert info.value.context == {"agent": "ghost"}
    with pytest.raises(AgentNotFound) as info:
        await store.update_agent("ghost", status=AgentStatus.BUSY)
    assert info.value.context == {"agent": "ghost"}


@pytest.mark.parametrize("status", LIVE_STATUSES)
async def test_add_agent_refuses_a_live_name(store: Store, status: AgentStatus) -> None:
    first = agent_record("alpha", status=status)
    await store.add_agent(first)
    with pytest.raises(AgentExists) as info:
        await store.add_agent(agent_record("alpha", session="other"))
    assert info.value.context == {"agent": "alpha"}
    assert await store.list_agents(include_killed=True) == [first]


async def test_killed_agent_is_hidden_but_kept(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    await store.add_agent(agent_record("beta", created_at=1001.0))
    killed = await store.update_agent("alpha", status=AgentStatus.KILLED, pid=None)
    assert killed.status is AgentStatus.KILLED
    assert await store.find_agent("alpha") is None
    with pytest.raises(AgentNotFound):
        await store.get_agent("alpha")
    assert [a.name for a in await store.list_agents()] == ["beta"]
    assert await store.list_agents(include_killed=True) == [killed, await store.get_agent("beta")]
    # A killed record can still be updated (and so brought back), as SQLite allows.
    revived = await store.update_agent("alpha", status=AgentStatus.HIBERNATED)
    assert await store.get_agent("alpha") == revived
    assert [a.name for a in await store.list_agents()] == ["alpha", "beta"]


async def test_killed_agent_can_be_born_again(store: Store) -> None:
    agent = agent_record("alpha")
    await store.add_agent(agent)
    await add_requests(store, "alpha", 1.0, 2.0)
    await store.update_agent("alpha", status=AgentStatus.KILLED)

    reborn = agent_record("alpha", created_at=2000.0, session="second-life")
    assert await store.add_agent(reborn) == reborn
    assert await store.get_agent("alpha") == reborn
    assert await store.list_agents(include_killed=True) == [reborn]
    # The sequence keeps counting, so no request id is ever used twice.
    (third,) = await add_requests(store, "alpha", 3.0)
    assert third.seq == 3
    assert [r.seq for r in await store.list_requests(agent="alpha")] == [1, 2, 3]
    # The reborn agent is live again: its name is taken.
    with pytest.raises(AgentExists):
        await store.add_agent(agent_record("alpha"))


async def test_concurrent_add_agent_of_one_name_has_one_winner(store: Store) -> None:
    records = [agent_record("alpha", session=f"s{i}") for i in range(10)]
    results = await asyncio.gather(*(store.add_agent(r) for r in records), return_exceptions=True)
    winners = [r for r in results if isinstance(r, AgentRecord)]
    assert len(winners) == 1
    assert all(isinstance(r, AgentExists) for r in results if r not in winners)
    assert await store.get_agent("alpha") == winners[0]
    assert await store.list_agents(include_killed=True) == winners


async def test_list_agents_by_created_at_then_insertion(store: Store) -> None:
    for name, created in [("delta", 30.0), ("alpha", 20.0), ("carol", 10.0), ("bravo", 20.0)]:
        await store.add_agent(agent_record(name, created_at=created))
    await store.update_agent("carol", status=AgentStatus.KILLED)
    assert [a.name for a in await store.list_agents()] == ["alpha", "bravo", "delta"]
    assert [a.name for a in await store.list_agents(include_killed=True)] == [
        "carol",
        "alpha",
        "bravo",
        "delta",
    ]


async def test_update_agent(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=2)
    updated = await store.update_agent(
        "alpha",
        status=AgentStatus.BUSY,
        pid=4242,
        request_count=3,
        cost_usd=0.25,
        usage=usage,
        resolved_model="claude-haiku-4-5",
        has_session=True,
        last_request_id="alpha-000003-0badcafe",
    )
    assert updated.status is AgentStatus.BUSY
    assert (updated.pid, updated.request_count, updated.usage) == (4242, 3, usage)
    assert updated.updated_at != 1000.0  # stamped by the store
    assert await store.get_agent("alpha") == updated
    with pytest.raises(TypeError):
        await store.update_agent("alpha", no_such_field=1)
    assert await store.get_agent("alpha") == updated


async def test_concurrent_update_agent_keeps_every_change(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    await asyncio.gather(
        store.update_agent("alpha", pid=7),
        store.update_agent("alpha", request_count=9),
        store.update_agent("alpha", cost_usd=1.5),
        store.update_agent("alpha", status=AgentStatus.BUSY),
    )
    agent = await store.get_agent("alpha")
    assert (agent.pid, agent.request_count, agent.cost_usd, agent.status) == (
        7,
        9,
        1.5,
        AgentStatus.BUSY,
    )


# --- requests ---------------------------------------------------------------------------


async def test_add_request_numbers_and_stores_fields(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    await store.add_agent(agent_record("beta"))
    first = await store.add_request(agent="alpha", prompt="hello", submitted_at=5.5)
    second = await store.add_request(
        agent="alpha",
        prompt="relayed",
        submitted_at=6.25,
        source=RequestSource.RELAY,
        relay_from=first.id,
        model="sonnet",
        timeout=30.0,
        meta={"run": "r1", "task": ["a", "b"]},
    )
    other = await store.add_request(agent="beta", prompt="hi", submitted_at=7.0)
    assert [first.seq, second.seq, other.seq] == [1, 2, 1]
    assert parse_request_id(first.id) == ("alpha", 1)
    assert parse_request_id(second.id) == ("alpha", 2)
    assert first.state is RequestState.QUEUED
    assert (first.prompt, first.submitted_at) == ("hello", 5.5)
    assert second.source is RequestSource.RELAY
    assert (second.relay_from, second.model, second.timeout) == (first.id, "sonnet", 30.0)
    assert second.meta == {"run": "r1", "task": ["a", "b"]}
    for request in (first, second, other):
        assert await store.get_request(request.id) == request


async def test_add_request_needs_a_known_agent(store: Store) -> None:
    with pytest.raises(AgentNotFound) as info:
        await store.add_request(agent="ghost", prompt="hello", submitted_at=1.0)
    assert info.value.context == {"agent": "ghost"}
    assert await store.list_requests() == []


async def test_add_request_for_a_killed_agent_is_the_callers_call(store: Store) -> None:
    # The store keeps killed records; the runtime checks liveness before it asks.
    await store.add_agent(agent_record("alpha"))
    await add_requests(store, "alpha", 1.0)
    await store.update_agent("alpha", status=AgentStatus.KILLED)
    (request,) = await add_requests(store, "alpha", 2.0)
    assert request.seq == 2


async def test_concurrent_add_request_numbers_are_unique(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    await store.add_agent(agent_record("beta"))
    made = await asyncio.gather(
        *(
            store.add_request(agent=name, prompt=f"p{i}", submitted_at=float(i))
            for i in range(20)
            for name in ("alpha", "beta")
        )
    )
    for name in ("alpha", "beta"):
        mine = [r for r in made if r.agent == name]
        assert sorted(r.seq for r in mine) == list(range(1, 21))
        assert len({r.id for r in mine}) == 20
        assert {r.id for r in await store.list_requests(agent=name)} == {r.id for r in mine}
        assert all(parse_request_id(r.id) == (name, r.seq) for r in mine)


async def test_unknown_request(store: Store) -> None:
    with pytest.raises(RequestNotFound) as info:
        await store.get_request("alpha-000001-00000000")
    assert info.value.context == {"request_id": "alpha-000001-00000000"}
    with pytest.raises(RequestNotFound) as info:
        await store.update_request("alpha-000001-00000000", state=RequestState.RUNNING)
    assert info.value.context == {"request_id": "alpha-000001-00000000"}


async def test_update_request_moves_it_between_states(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    (request,) = await add_requests(store, "alpha", 1.0)
    running = await store.update_request(request.id, state=RequestState.RUNNING, started_at=2.0)
    assert running == request.replace(state=RequestState.RUNNING, started_at=2.0)
    assert await store.get_request(request.id) == running
    assert await store.list_requests(states=[RequestState.QUEUED]) == []
    assert await store.list_requests(states=[RequestState.RUNNING]) == [running]
    assert await store.list_requests(agent="alpha", states=[RequestState.RUNNING]) == [running]

    done = await store.update_request(
        request.id,
        state=RequestState.COMPLETE,
        result="42",
        usage=Usage(output_tokens=3),
        cost_usd=0.01,
        completed_at=3.0,
    )
    assert await store.get_request(request.id) == done
    assert await store.list_requests(states=[RequestState.RUNNING]) == []
    assert await store.list_requests(agent="alpha", states=[RequestState.RUNNING]) == []
    assert await store.list_requests(states=[RequestState.COMPLETE]) == [done]
    assert await store.last_complete_request("alpha") == done
    assert await store.list_requests() == [done]


async def test_concurrent_update_request_keeps_every_change(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    (request,) = await add_requests(store, "alpha", 1.0)
    await asyncio.gather(
        store.update_request(request.id, api_retries=2),
        store.update_request(request.id, started_at=5.0),
        store.update_request(request.id, state=RequestState.RUNNING),
        store.update_request(request.id, meta={"k": "v"}),
    )
    now = await store.get_request(request.id)
    assert (now.api_retries, now.started_at, now.state, now.meta) == (
        2,
        5.0,
        RequestState.RUNNING,
        {"k": "v"},
    )
    assert await store.list_requests(states=[RequestState.RUNNING]) == [now]


async def test_list_requests_filters_order_and_limits(store: Store) -> None:
    for name in ("a", "b", "c"):
        await store.add_agent(agent_record(name))
    # submitted_at is the caller's and need not follow seq; ties order by seq.
    a1, a2, a3 = await add_requests(store, "a", 10.0, 7.0, 7.0)
    b1, b2 = await add_requests(store, "b", 5.0, 20.0)
    (c1,) = await add_requests(store, "c", 7.0)
    a1 = await store.update_request(a1.id, state=RequestState.COMPLETE)
    b2 = await store.update_request(b2.id, state=RequestState.COMPLETE)
    a3 = await store.update_request(a3.id, state=RequestState.FAILED)
    queued, complete, failed = RequestState.QUEUED, RequestState.COMPLETE, RequestState.FAILED

    assert ids(await store.list_requests()) == ids([b1, c1, a2, a3, a1, b2])
    assert ids(await store.list_requests(agent="a")) == ids([a2, a3, a1])
    assert ids(await store.list_requests(agent="nobody")) == []
    assert ids(await store.list_requests(states=[complete])) == ids([a1, b2])
    assert ids(await store.list_requests(states=[queued, failed])) == ids([b1, c1, a2, a3])
    assert ids(await store.list_requests(states=[failed, failed])) == ids([a3])
    assert ids(await store.list_requests(states=[])) == []
    assert ids(await store.list_requests(agent="a", states=[complete, failed])) == ids([a3, a1])
    assert ids(await store.list_requests(agent="b", states=[failed])) == []

    # A limit keeps the newest, still oldest first; ties at the edge by seq.
    assert ids(await store.list_requests(limit=2)) == ids([a1, b2])
    assert ids(await store.list_requests(limit=3)) == ids([a3, a1, b2])
    assert ids(await store.list_requests(limit=4)) == ids([a2, a3, a1, b2])
    assert ids(await store.list_requests(limit=100)) == ids([b1, c1, a2, a3, a1, b2])
    assert ids(await store.list_requests(limit=0)) == []
    assert ids(await store.list_requests(limit=-1)) == ids([b1, c1, a2, a3, a1, b2])
    assert ids(await store.list_requests(agent="a", limit=2)) == ids([a3, a1])
    assert ids(await store.list_requests(states=[queued, failed], limit=3)) == ids([c1, a2, a3])
    assert ids(await store.list_requests(agent="a", states=[queued, complete], limit=1)) == ids(
        [a1]
    )


async def test_last_complete_request(store: Store) -> None:
    await store.add_agent(agent_record("alpha"))
    await store.add_agent(agent_record("beta"))
    assert await store.last_complete_request("alpha") is None
    assert await store.last_complete_request("nobody") is None
    r1, r2, r3, r4 = await add_requests(store, "alpha", 50.0, 10.0, 60.0, 70.0)
    (other,) = await add_requests(store, "beta", 99.0)
    await store.update_request(other.id, state=RequestState.COMPLETE)
    assert await store.last_complete_request("alpha") is None
    await store.update_request(r1.id, state=RequestState.COMPLETE)
    # The highest seq wins, whatever the submission times say.
    r2 = await store.update_request(r2.id, state=RequestState.COMPLETE, result="two")
    await store.update_request(r3.id, state=RequestState.FAILED)
    await store.update_request(r4.id, state=RequestState.RUNNING)
    assert await store.last_complete_request("alpha") == r2


# --- events -----------------------------------------------------------------------------


async def test_event_ids_grow_by_one_and_fields_round_trip(store: Store) -> None:
    first = await store.append_event(EventKind.DAEMON_STARTED)
    second = await store.append_event(
        EventKind.REQUEST_QUEUED,
        agent="alpha",
        request_id="alpha-000001-0badcafe",
        data={"prompt_chars": 5, "nested": {"list": [1, 2.5, None, "x"]}},
    )
    third = await store.append_event(EventKind.ERROR, agent="", data={})
    assert [first.id, second.id, third.id] == [1, 2, 3]
    assert (first.agent, first.request_id, first.data) == (None, None, {})
    assert third.agent == ""
    assert await store.events() == [first, second, third]


async def test_events_after_agent_and_limit(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small pages, so filtering by agent has to read on past the first one.
    monkeypatch.setattr(redis_store, "_EVENT_PAGE", 2)
    agents = ["a", "b", None, "b", "b", "a", None, "b", "a", "a"]
    made = [await store.append_event(EventKind.RELAY, agent=agent) for agent in agents]
    assert [e.id for e in made] == list(range(1, 11))

    def numbers(events: list[Event]) -> list[int]:
        return [e.id for e in events]

    assert numbers(await store.events()) == list(range(1, 11))
    assert numbers(await store.events(after=3)) == list(range(4, 11))
    assert numbers(await store.events(after=-5)) == list(range(1, 11))
    assert numbers(await store.events(after=10)) == []
    assert numbers(await store.events(after=99)) == []
    assert numbers(await store.events(limit=3)) == [1, 2, 3]
    assert numbers(await store.events(after=8, limit=5)) == [9, 10]
    assert numbers(await store.events(limit=0)) == []
    assert numbers(await store.events(limit=-1)) == list(range(1, 11))
    assert numbers(await store.events(agent="a")) == [1, 6, 9, 10]
    assert numbers(await store.events(agent="a", limit=2)) == [1, 6]
    assert numbers(await store.events(agent="a", after=1, limit=2)) == [6, 9]
    assert numbers(await store.events(agent="b", after=4)) == [5, 8]
    assert numbers(await store.events(agent="b", after=4, limit=1)) == [5]
    assert numbers(await store.events(agent="nobody")) == []
    assert await store.events(after=5, agent="a") == [made[5], made[8], made[9]]


async def test_events_log_mirrors_events(open_store: OpenStore, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    store = open_store(events_log=log)
    made = [
        await store.append_event(EventKind.SPAWNED, agent="alpha", data={"model": "haiku"}),
        await store.append_event(EventKind.KILLED, agent="alpha"),
    ]
    await store.close()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [e.to_dict() for e in made]


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "activity"])
async def test_batch_writes_are_kept_alike_even_when_the_block_raises(
    open_store: OpenStore, tmp_path: Path, durable: bool
) -> None:
    # A batch only saves commits: what it writes reads, reopens and is logged as
    # the same calls made one by one; a failing call inside undoes only itself.
    # A batch that need not wait for the disk (a turn's activity) keeps it all too.
    log = tmp_path / "events.jsonl"
    store = open_store(events_log=log)
    await store.add_agent(agent_record("alpha"))
    with store.batch(durable=durable):
        (request,) = await add_requests(store, "alpha", 1.0)
        with pytest.raises(AgentNotFound):
            await store.add_request(agent="ghost", prompt="p", submitted_at=2.0)
        running = await store.update_request(request.id, state=RequestState.RUNNING)
        busy = await store.update_agent("alpha", status=AgentStatus.BUSY)
        first = await store.append_event(EventKind.REQUEST_STARTED, agent="alpha")
    made: list[Event] = []

    async def failing_block() -> None:
        with store.batch(durable=durable):
            made.append(await store.append_event(EventKind.KILLED, agent="alpha"))
            raise RuntimeError("the block fails")

    with pytest.raises(RuntimeError):
        await failing_block()
    (second,) = made
    # Waiting for the disk changes nothing of what is stored; a second wait has none.
    await store.sync()
    await store.sync()
    assert await store.get_request(request.id) == running
    await store.close()

    again = open_store()
    assert await again.get_request(request.id) == running
    assert await again.get_agent("alpha") == busy
    assert await again.events() == [first, second]
    assert (await add_requests(again, "alpha", 3.0))[0].seq == 2
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [first.to_dict(), second.to_dict()]


# --- durability across reopening --------------------------------------------------------


async def test_reopened_store_has_everything(open_store: OpenStore) -> None:
    store = open_store()
    agent = await store.add_agent(agent_record("alpha"))
    (request,) = await add_requests(store, "alpha", 1.0)
    event = await store.append_event(EventKind.SPAWNED, agent="alpha")
    await store.close()

    again = open_store()
    assert await again.get_agent("alpha") == agent
    assert await again.get_request(request.id) == request
    assert await again.events() == [event]
    (following,) = await add_requests(again, "alpha", 2.0)
    assert following.seq == 2
    assert (await again.append_event(EventKind.KILLED)).id == 2


# --- Redis only -------------------------------------------------------------------------


def redis_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def test_redis_survives_a_server_restart(redis_server: RedisServer) -> None:
    store = RedisStore.from_url(redis_server.url, prefix=redis_prefix())
    try:
        agent = await store.add_agent(agent_record("alpha"))
        (request,) = await add_requests(store, "alpha", 1.0)
        event = await store.append_event(EventKind.SPAWNED, agent="alpha")
        # Killed without a chance to save: only the AOF brings the data back.
        redis_server.restart(signal.SIGKILL)

        assert await store.get_agent("alpha") == agent
        assert await store.get_request(request.id) == request
        assert await store.events() == [event]
        (following,) = await add_requests(store, "alpha", 2.0)
        assert following.seq == 2
        assert (await store.append_event(EventKind.KILLED)).id == 2
        updated = await store.update_agent("alpha", status=AgentStatus.BUSY)
        assert await store.list_agents() == [updated]
        with pytest.raises(AgentExists):
            await store.add_agent(agent_record("alpha"))
    finally:
        await store.close()


async def test_redis_prefixes_do_not_meet(redis_server: RedisServer) -> None:
    one = RedisStore.from_url(redis_server.url, prefix=redis_prefix())
    two = RedisStore.from_url(redis_server.url, prefix=redis_prefix())
    try:
        await one.add_agent(agent_record("alpha"))
        await add_requests(one, "alpha", 1.0)
        await one.append_event(EventKind.SPAWNED)
        assert await two.find_agent("alpha") is None
        assert await two.list_requests() == []
        assert await two.events() == []
        await two.add_agent(agent_record("alpha"))
        (request,) = await add_requests(two, "alpha", 1.0)
        assert request.seq == 1
    finally:
        await one.close()
        await two.close()


async def test_redis_rerun_of_an_insert_returns_the_first_result(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the client's retry does when a reply is lost: the same script, same token.
    tokens = iter(["agent", "agent", "request", "request", "event", "event"])
    monkeypatch.setattr(redis_store, "_op_token", lambda: next(tokens))
    store = RedisStore.from_url(redis_server.url, prefix=redis_prefix())
    try:
        agent = agent_record("alpha")
        await store.add_agent(agent)
        assert await store.add_agent(agent) == agent
        first = await store.add_request(agent="alpha", prompt="once", submitted_at=1.0)
        again = await store.add_request(agent="alpha", prompt="once", submitted_at=1.0)
        assert again == first
        assert await store.list_requests() == [first]
        event = await store.append_event(EventKind.SPAWNED, agent="alpha")
        assert (await store.append_event(EventKind.SPAWNED, agent="alpha")).id == event.id
        assert [e.id for e in await store.events()] == [1]
    finally:
        await store.close()


async def test_redis_unreachable_is_a_podium_error(tmp_path: Path) -> None:
    url = f"unix://{tmp_path / 'missing.sock'}"
    client = connect_redis(url, retries=0)
    store = RedisStore(client, prefix=redis_prefix(), where=url)
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.get_agent("alpha")
        assert info.value.context["operation"] == "find_agent"
        assert info.value.context["store"] == url
    finally:
        await store.close()
        await client.aclose()


async def test_open_store_by_url(redis_server: RedisServer, tmp_path: Path) -> None:
    sqlite = open_store(None, sqlite_path=tmp_path / "podium.db")
    assert isinstance(sqlite, SQLiteStore)
    await sqlite.close()
    redis = open_store(redis_server.url, sqlite_path=tmp_path / "unused.db", prefix=redis_prefix())
    assert isinstance(redis, RedisStore)
    assert await redis.list_agents() == []
    await redis.close()
    with pytest.raises(UsageError):
        open_store("http://example.invalid/", sqlite_path=tmp_path / "podium.db")
    with pytest.raises(UsageError):
        RedisStore.from_url(redis_server.url, prefix="")
    with pytest.raises(AttributeError):
        _ = podium.store.NoSuchStore  # type: ignore[attr-defined]


# --- approvals ------------------------------------------------------------------------------


def approval_record(approval_id: str, *, agent: str = "w", created_at: float = 1000.0) -> Any:
    from podium._approvals import ApprovalRecord, ApprovalState

    return ApprovalRecord(
        id=approval_id,
        agent=agent,
        request_id=f"{agent}-000001-0123abcd",
        control_id="toolu_1",
        tool="Write",
        input={"file_path": "notes.txt", "content": "hi"},
        state=ApprovalState.PENDING,
        created_at=created_at,
        timeout=600.0,
    )


async def test_approvals_are_saved_updated_and_listed_oldest_first(store: Store) -> None:
    from podium._approvals import ApprovalNotFound, ApprovalState

    first = await store.save_approval(approval_record("ap-000000000001", created_at=1.0))
    second = await store.save_approval(approval_record("ap-000000000002", created_at=2.0))
    other = await store.save_approval(approval_record("ap-000000000003", agent="v", created_at=3.0))
    assert await store.get_approval(first.id) == first
    with pytest.raises(ApprovalNotFound, match="ap-00000000000f"):
        await store.get_approval("ap-00000000000f")
    decided = first.replace(state=ApprovalState.DENIED, reason="no", decided_at=5.0)
    await store.save_approval(decided)
    assert await store.get_approval(first.id) == decided
    assert await store.list_approvals() == [decided, second, other]
    assert await store.list_approvals(states=[ApprovalState.PENDING]) == [second, other]
    assert await store.list_approvals(agent="w") == [decided, second]
    assert await store.list_approvals(limit=2) == [second, other]
    assert await store.list_approvals(states=[]) == []
