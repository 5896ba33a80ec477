"""Redis store: the Store protocol for distributed mode, shared by every host.

Records are the same JSON documents SQLiteStore keeps, and every method answers
exactly as SQLiteStore does (one contract suite runs against both). Layout under
``<prefix>:``::

    agent:<name>                      hash: data (JSON), status, seq (last used), rev
    agents                            zset: every name ever added, by first insertion
    agents:order                      counter behind that order
    agents:live                       set: names whose status is not killed
    req:<id>                          hash: data (JSON), agent, state, seq, submitted_at, rev
    reqs                              zset: every request id, by submitted_at
    reqs:state:<state>                zset: by submitted_at
    reqs:agent:<agent>                zset: by submitted_at
    reqs:agent:<agent>:state:<state>  zset: by seq (last_complete_request, filtered lists)
    events                            stream, entry ids 0-<n>: n is Event.id
    events:seq                        counter behind n
    approval:<id>, approvals          see ``_redis_approvals``
    op:<token>                        marks a finished insert for a while (see _OP_TTL_MS)

Every change is one Lua script, so it is atomic; with AOF (``appendfsync
always``) it is durable when the call returns. Read-modify-write updates compute
the new record in Python (one JSON conversion, shared with SQLite) and commit it
with a compare-and-set on ``rev``, retrying when another writer got there first.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._errors import AgentExists, AgentNotFound, PodiumError, RequestNotFound, UsageError
from .._names import new_request_id
from .._records import AgentRecord, AgentStatus, Event, EventKind, RequestRecord, RequestState
from .._redis_conn import connect_redis, redacted_url
from .._wire import agent_from_json, agent_to_json, request_from_json, request_to_json
from ._redis_approvals import RedisApprovals

if TYPE_CHECKING:
    from ._protocol import Store

__all__ = ["RedisStore", "StoreError", "StoreUnavailable"]


class StoreError(PodiumError):
    """The store's engine refused or failed a call."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """The store's engine could not be reached (after retrying)."""

    code = "store_unavailable"


# The client retries a command through a dropped connection (connect_redis), so a
# script that ran but whose reply was lost runs again. Inserts carry a token and
# remember it this long, far beyond the ~30 s of retrying, so a rerun returns the
# first result instead of adding a second agent, request or event.
_OP_TTL_MS = 10 * 60 * 1000
# Compare-and-set retries: each failed round means another writer committed, so
# running out means pathological contention on one record, not a slow server.
_MAX_CAS_ATTEMPTS = 1000
# Stream entries read per XRANGE when filtering events by agent.
_EVENT_PAGE = 500

_KILLED = AgentStatus.KILLED.value

_ADD_AGENT = """
if redis.call('EXISTS', KEYS[5]) == 1 then return 1 end
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= ARGV[4] then return 0 end
-- A killed agent's name may be reused; its seq field stays, so request ids never repeat.
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'status', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
end
if ARGV[3] == ARGV[4] then
  redis.call('SREM', KEYS[4], ARGV[1])
else
  redis.call('SADD', KEYS[4], ARGV[1])
end
redis.call('SET', KEYS[5], '1', 'PX', ARGV[5])
return 1
"""

_UPDATE_AGENT = """
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then return -1 end
if rev ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'status', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
if ARGV[4] == ARGV[5] then
  redis.call('SREM', KEYS[2], ARGV[1])
else
  redis.call('SADD', KEYS[2], ARGV[1])
end
return 1
"""

_LIST_AGENTS = """
local names
if ARGV[2] == '1' then
  names = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  names = redis.call('SMEMBERS', KEYS[2])
end
local out = {}
for _, name in ipairs(names) do
  local data = redis.call('HGET', ARGV[1] .. name, 'data')
  if data then
    out[#out + 1] = redis.call('ZSCORE', KEYS[1], name) or '0'
    out[#out + 1] = data
  end
end
return out
"""

# Shared by the scripts that write a request: its four index entries.
_REQUEST_INDEX = """
local function index(p, id, agent, state, seq, submitted)
  redis.call('ZADD', p .. 'reqs', submitted, id)
  redis.call('ZADD', p .. 'reqs:state:' .. state, submitted, id)
  redis.call('ZADD', p .. 'reqs:agent:' .. agent, submitted, id)
  redis.call('ZADD', p .. 'reqs:agent:' .. agent .. ':state:' .. state, seq, id)
end
local function unindex(p, id, agent, state)
  redis.call('ZREM', p .. 'reqs:state:' .. state, id)
  redis.call('ZREM', p .. 'reqs:agent:' .. agent, id)
  redis.call('ZREM', p .. 'reqs:agent:' .. agent .. ':state:' .. state, id)
end
"""

# ARGV: 1 key prefix, 2 expected last seq, 3 data, 4 agent, 5 seq, 6 state,
# 7 submitted_at, 8 id, 9 op ttl
_ADD_REQUEST = (
    _REQUEST_INDEX
    + """
local done = redis.call('GET', KEYS[2])
if done then return {'done', redis.call('HGET', ARGV[1] .. 'req:' .. done, 'data')} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local last = redis.call('HGET', KEYS[1], 'seq') or '0'
if last ~= ARGV[2] then return {'conflict', last} end
redis.call('HSET', KEYS[1], 'seq', ARGV[5])
redis.call('HSET', KEYS[3], 'data', ARGV[3], 'agent', ARGV[4], 'seq', ARGV[5],
           'state', ARGV[6], 'submitted_at', ARGV[7], 'rev', 1)
index(ARGV[1], ARGV[8], ARGV[4], ARGV[6], ARGV[5], ARGV[7])
redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[9])
return {'ok'}
"""
)

# ARGV: 1 key prefix, 2 expected rev, 3 data, 4 agent, 5 seq, 6 state, 7 submitted_at, 8 id
_UPDATE_REQUEST = (
    _REQUEST_INDEX
    + """
local cur = redis.call('HMGET', KEYS[1], 'rev', 'agent', 'state')
if not cur[1] then return -1 end
if cur[1] ~= ARGV[2] then return 0 end
unindex(ARGV[1], ARGV[8], cur[2], cur[3])
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'agent', ARGV[4], 'seq', ARGV[5],
           'state', ARGV[6], 'submitted_at', ARGV[7])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
index(ARGV[1], ARGV[8], ARGV[4], ARGV[6], ARGV[5], ARGV[7])
return 1
"""
)

# KEYS: index zsets. ARGV: 1 request key prefix, 2 limit (-1: all).
# With a limit, each index gives its newest ``limit`` ids plus every id tied
# with the oldest of them: the caller sorts by (submitted_at, seq) and cuts.
_LIST_REQUESTS = """
local limit = tonumber(ARGV[2])
local seen, out = {}, {}
local function take(id)
  if seen[id] then return end
  seen[id] = true
  local data = redis.call('HGET', ARGV[1] .. id, 'data')
  if data then out[#out + 1] = data end
end
for _, key in ipairs(KEYS) do
  if limit < 0 then
    for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do take(id) end
  else
    local top = redis.call('ZREVRANGE', key, 0, limit - 1, 'WITHSCORES')
    for i = 1, #top, 2 do take(top[i]) end
    if #top == 2 * limit then
      local edge = top[#top]
      for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, edge, edge)) do take(id) end
    end
  end
end
return out
"""

_LAST_COMPLETE = """
local ids = redis.call('ZREVRANGE', KEYS[1], 0, 0)
if #ids == 0 then return false end
return redis.call('HGET', ARGV[1] .. ids[1], 'data')
"""

# ARGV: 1 op ttl, then the entry's field/value pairs.
_APPEND_EVENT = """
local done = redis.call('GET', KEYS[3])
if done then return tonumber(done) end
local n = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], '0-' .. n, unpack(ARGV, 2))
redis.call('SET', KEYS[3], n, 'PX', ARGV[1])
return n
"""


def _op_token() -> str:
    return uuid.uuid4().hex


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _float(value: float) -> str:
    # repr round-trips exactly; Redis parses it as the same double.
    return repr(float(value))


class RedisStore(RedisApprovals):
    """Agents, requests, events and approvals in one Redis database, under ``prefix``.

    Several prefixes can share a server (tests give each store its own). The
    client is the caller's unless the store made it (:meth:`from_url`), in which
    case :meth:`close` closes it.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "podium",
        events_log: Path | None = None,
        where: str = "redis",
    ) -> None:
        if not prefix:
            raise UsageError("a Redis store needs a non-empty key prefix")
        self.prefix = prefix
        self._client = client
        self._owns_client = False
        self._where = where
        self._events_log = events_log
        # The same host-local JSONL mirror of events SQLiteStore writes.
        self._log_file: IO[str] | None = (
            events_log.open("a", encoding="utf-8") if events_log else None
        )
        self._add_agent = client.register_script(_ADD_AGENT)
        self._update_agent = client.register_script(_UPDATE_AGENT)
        self._list_agents = client.register_script(_LIST_AGENTS)
        self._add_request = client.register_script(_ADD_REQUEST)
        self._update_request = client.register_script(_UPDATE_REQUEST)
        self._list_requests = client.register_script(_LIST_REQUESTS)
        self._last_complete = client.register_script(_LAST_COMPLETE)
        self._append_event = client.register_script(_APPEND_EVENT)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "podium", events_log: Path | None = None
    ) -> RedisStore:
        store = cls(
            connect_redis(url), prefix=prefix, events_log=events_log, where=redacted_url(url)
        )
        store._owns_client = True
        return store

    async def close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._owns_client:
            await self._client.aclose()

    def batch(self, *, durable: bool = True) -> contextlib.AbstractContextManager[None]:
        """Each write is its own command here, as durable as the server's persistence
        settings make it: a batch changes nothing."""
        return contextlib.nullcontext()

    async def sync(self) -> None:
        """Nothing to wait for: each write was as durable as the server makes it."""

    # --- plumbing -----------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @contextlib.contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Redis's exceptions as podium's, naming the operation and the server."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(
                f"the Redis store at {self._where} could not be reached ({operation}): {exc}",
                store=self._where,
                prefix=self.prefix,
                operation=operation,
            ) from exc
        except RedisError as exc:
            raise StoreError(
                f"the Redis store at {self._where} failed {operation}: {exc}",
                store=self._where,
                prefix=self.prefix,
                operation=operation,
            ) from exc

    def _contention(self, operation: str, **context: Any) -> StoreError:
        return StoreError(
            f"{operation} lost {_MAX_CAS_ATTEMPTS} races in a row to other writers",
            store=self._where,
            operation=operation,
            **context,
        )

    # --- agents -------------------------------------------------------------------------

    async def add_agent(self, agent: AgentRecord) -> AgentRecord:
        with self._errors("add_agent"):
            added = await self._add_agent(
                keys=[
                    self._key("agent", agent.name),
                    self._key("agents"),
                    self._key("agents", "order"),
                    self._key("agents", "live"),
                    self._key("op", _op_token()),
                ],
                args=[
                    agent.name,
                    json.dumps(agent_to_json(agent)),
                    agent.status.value,
                    _KILLED,
                    _OP_TTL_MS,
                ],
            )
        if int(added) != 1:
            raise AgentExists(f"agent {agent.name!r} already exists", agent=agent.name)
        return agent

    async def find_agent(self, name: str) -> AgentRecord | None:
        with self._errors("find_agent"):
            data = await self._client.hget(self._key("agent", name), "data")
        if data is None:
            return None
        agent = agent_from_json(json.loads(data))
        return None if agent.status is AgentStatus.KILLED else agent

    async def get_agent(self, name: str) -> AgentRecord:
        agent = await self.find_agent(name)
        if agent is None:
            raise AgentNotFound(f"no agent named {name!r}", agent=name)
        return agent

    async def list_agents(self, *, include_killed: bool = False) -> list[AgentRecord]:
        with self._errors("list_agents"):
            flat = await self._list_agents(
                keys=[self._key("agents"), self._key("agents", "live")],
                args=[self._key("agent", ""), "1" if include_killed else "0"],
            )
        # First-insertion order, then a stable sort by created_at: SQLite's order.
        pairs = sorted(
            ((float(flat[i]), agent_from_json(json.loads(flat[i + 1])))
             for i in range(0, len(flat), 2)),
            key=lambda pair: pair[0],
        )  # fmt: skip
        agents = [agent for _, agent in pairs]
        if not include_killed:
            agents = [a for a in agents if a.status is not AgentStatus.KILLED]
        return sorted(agents, key=lambda a: a.created_at)

    async def update_agent(self, name: str, **changes: Any) -> AgentRecord:
        key = self._key("agent", name)
        with self._errors("update_agent"):
            for _ in range(_MAX_CAS_ATTEMPTS):
                data, rev = await self._client.hmget(key, ["data", "rev"])
                if data is None or rev is None:
                    raise AgentNotFound(f"no agent named {name!r}", agent=name)
                agent = agent_from_json(json.loads(data)).replace(updated_at=time.time(), **changes)
                done = await self._update_agent(
                    keys=[key, self._key("agents", "live")],
                    args=[
                        name,
                        _text(rev),
                        json.dumps(agent_to_json(agent)),
                        agent.status.value,
                        _KILLED,
                    ],
                )
                if int(done) == 1:
                    return agent
                if int(done) == -1:
                    raise AgentNotFound(f"no agent named {name!r}", agent=name)
        raise self._contention("update_agent", agent=name)

    # --- requests -----------------------------------------------------------------------

    async def add_request(
        self,
        *,
        agent: str,
        prompt: str,
        submitted_at: float,
        **fields: Any,
    ) -> RequestRecord:
        agent_key = self._key("agent", agent)
        op_key = self._key("op", _op_token())
        with self._errors("add_request"):
            last, status = await self._client.hmget(agent_key, ["seq", "status"])
            if status is None:
                raise AgentNotFound(f"no agent named {agent!r}", agent=agent)
            last_seq = int(last or 0)
            for _ in range(_MAX_CAS_ATTEMPTS):
                seq = last_seq + 1
                request = RequestRecord(
                    id=new_request_id(agent, seq),
                    agent=agent,
                    seq=seq,
                    prompt=prompt,
                    state=RequestState.QUEUED,
                    submitted_at=submitted_at,
                    **fields,
                )
                reply = await self._add_request(
                    keys=[agent_key, op_key, self._key("req", request.id)],
                    args=[
                        self._key(""),
                        str(last_seq),
                        json.dumps(request_to_json(request)),
                        agent,
                        seq,
                        request.state.value,
                        _float(submitted_at),
                        request.id,
                        _OP_TTL_MS,
                    ],
                )
                outcome = _text(reply[0])
                if outcome == "ok":
                    return request
                if outcome == "done":
                    return request_from_json(json.loads(reply[1]))
                if outcome == "missing":
                    raise AgentNotFound(f"no agent named {agent!r}", agent=agent)
                last_seq = int(reply[1])
        raise self._contention("add_request", agent=agent)

    async def get_request(self, request_id: str) -> RequestRecord:
        with self._errors("get_request"):
            data = await self._client.hget(self._key("req", request_id), "data")
        if data is None:
            raise RequestNotFound(f"no request with id {request_id!r}", request_id=request_id)
        return request_from_json(json.loads(data))

    async def update_request(self, request_id: str, **changes: Any) -> RequestRecord:
        key = self._key("req", request_id)
        with self._errors("update_request"):
            for _ in range(_MAX_CAS_ATTEMPTS):
                data, rev = await self._client.hmget(key, ["data", "rev"])
                if data is None or rev is None:
                    raise RequestNotFound(
                        f"no request with id {request_id!r}", request_id=request_id
                    )
                request = request_from_json(json.loads(data)).replace(**changes)
                done = await self._update_request(
                    keys=[key],
                    args=[
                        self._key(""),
                        _text(rev),
                        json.dumps(request_to_json(request)),
                        request.agent,
                        request.seq,
                        request.state.value,
                        _float(request.submitted_at),
                        request_id,
                    ],
                )
                if int(done) == 1:
                    return request
                if int(done) == -1:
                    raise RequestNotFound(
                        f"no request with id {request_id!r}", request_id=request_id
                    )
        raise self._contention("update_request", request_id=request_id)

    async def list_requests(
        self,
        *,
        agent: str | None = None,
        states: Iterable[RequestState] | None = None,
        limit: int | None = None,
    ) -> list[RequestRecord]:
        wanted = None if states is None else [RequestState(s).value for s in states]
        # SQLite's LIMIT: negative means none, zero means nothing.
        cap = -1 if limit is None or limit < 0 else limit
        if cap == 0 or wanted == []:
            return []
        per_index = cap
        if wanted is None:
            keys = [self._key("reqs") if agent is None else self._key("reqs", "agent", agent)]
        elif agent is None:
            keys = [self._key("reqs", "state", s) for s in dict.fromkeys(wanted)]
        else:
            # These indexes are ordered by seq, not submitted_at: read them whole.
            keys = [self._key("reqs", "agent", agent, "state", s) for s in dict.fromkeys(wanted)]
            per_index = -1
        with self._errors("list_requests"):
            found = await self._list_requests(keys=keys, args=[self._key("req", ""), per_index])
        requests = sorted(
            (request_from_json(json.loads(data)) for data in found),
            key=lambda r: (r.submitted_at, r.seq),
        )
        return requests if cap < 0 else requests[-cap:]

    async def last_complete_request(self, agent: str) -> RequestRecord | None:
        with self._errors("last_complete_request"):
            data = await self._last_complete(
                keys=[self._key("reqs", "agent", agent, "state", RequestState.COMPLETE.value)],
                args=[self._key("req", "")],
            )
        return None if data is None else request_from_json(json.loads(data))

    # --- events -------------------------------------------------------------------------

    async def append_event(
        self,
        kind: EventKind,
        *,
        agent: str | None = None,
        request_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        ts = time.time()
        payload = data or {}
        # Absent fields stand for None, so None and "" stay apart.
        fields: list[str] = ["ts", _float(ts), "kind", kind.value, "data", json.dumps(payload)]
        if agent is not None:
            fields += ["agent", agent]
        if request_id is not None:
            fields += ["request_id", request_id]
        with self._errors("append_event"):
            number = await self._append_event(
                keys=[
                    self._key("events", "seq"),
                    self._key("events"),
                    self._key("op", _op_token()),
                ],
                args=[_OP_TTL_MS, *fields],
            )
        event = Event(
            id=int(number), ts=ts, kind=kind, agent=agent, request_id=request_id, data=payload
        )
        if self._log_file is not None:
            self._log_file.write(json.dumps(event.to_dict()) + "\n")
            self._log_file.flush()
        return event

    async def events(
        self, *, after: int = 0, agent: str | None = None, limit: int = 1000
    ) -> list[Event]:
        # SQLite's LIMIT: negative means none, zero means nothing.
        if limit == 0:
            return []
        start = "-" if after < 0 else f"(0-{after}"
        found: list[Event] = []
        with self._errors("events"):
            while True:
                wanted = limit - len(found) if limit > 0 else _EVENT_PAGE
                count = _EVENT_PAGE if agent is not None else wanted
                entries = await self._client.xrange(self._key("events"), start, "+", count=count)
                for entry_id, fields in entries or []:
                    event = _event(entry_id, fields or {})
                    start = f"(0-{event.id}"
                    if agent is None or event.agent == agent:
                        found.append(event)
                        if len(found) == limit:
                            return found
                if not entries or len(entries) < count:
                    return found


def _event(entry_id: bytes | str | None, raw: dict[bytes | str, bytes | str]) -> Event:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    return Event(
        id=int(_text(entry_id or "0-0").partition("-")[2]),
        ts=float(fields["ts"]),
        kind=EventKind(fields["kind"]),
        agent=fields.get("agent"),
        request_id=fields.get("request_id"),
        data=json.loads(fields.get("data", "{}")),
    )


if TYPE_CHECKING:

    def _conforms(store: RedisStore) -> Store:
        return store
