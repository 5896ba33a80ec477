"""SQLite store: the embedded default. One file in WAL mode under the state directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .._approvals import ApprovalNotFound, ApprovalRecord, ApprovalState
from .._errors import AgentExists, AgentNotFound, RequestNotFound
from .._home import private_file
from .._names import new_request_id
from .._records import AgentRecord, AgentStatus, Event, EventKind, RequestRecord, RequestState
from .._wire import agent_from_json, agent_to_json, request_from_json, request_to_json
from ._cache import RecordCache

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    status TEXT NOT NULL,
    next_seq INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_agent ON requests(agent, seq);
CREATE INDEX IF NOT EXISTS requests_by_state ON requests(state);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    agent TEXT,
    request_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_agent ON events(agent, id);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals(state, created_at);
"""


# Records are stored as the same JSON documents the HTTP API sends: one
# conversion, tested once, for both.
def _agent_to_json(agent: AgentRecord) -> str:
    return json.dumps(agent_to_json(agent))


def _agent_from_json(text: str) -> AgentRecord:
    return agent_from_json(json.loads(text))


def _request_to_json(request: RequestRecord) -> str:
    return json.dumps(request_to_json(request))


def _request_from_json(text: str) -> RequestRecord:
    return request_from_json(json.loads(text))


class SQLiteStore:
    """Records stored as JSON documents with the columns queries need.

    Calls are synchronous under a lock: each is a single short transaction, and
    keeping them on the event loop thread is cheaper than a thread hop per call.
    ``synchronous=FULL`` makes every commit durable, which invariant 5 needs.
    Each commit costs an fsync (most of a write's time): writes that belong
    together (a request's start, its end) can share one with :meth:`batch`.
    """

    def __init__(self, path: Path, *, events_log: Path | None = None) -> None:
        self.path = path
        # Made 0600 before SQLite opens it: its -wal and -shm files copy its mode.
        private_file(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._events_log = events_log
        # Events log lines of the batch under way, written once it is committed.
        self._log_held: list[str] | None = None
        self._log_file = (
            private_file(events_log).open("a", encoding="utf-8") if events_log else None
        )
        # Commits counted as made (``_written``) and as known on the disk (``_synced``):
        # a commit at synchronous=FULL syncs the WAL, and so every commit before it.
        self._written = 0
        self._synced = 0
        self._wal_fd: int | None = None
        self._cache = RecordCache()

    async def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    @contextlib.contextmanager
    def batch(self, *, durable: bool = True) -> Iterator[None]:
        """Commit the writes made inside together, once, when the block ends.

        The block must not suspend (the store's calls never do): everything on the
        event loop thread between its start and end joins the transaction. If it
        raises, what it wrote is still committed, as if each write had committed
        on its own, and the error goes on.

        ``durable=False`` commits without an fsync (synchronous=NORMAL for this one
        transaction): in WAL mode the commit survives the process crashing, and the
        next durable commit's fsync of the same WAL file takes it to the disk too.
        """
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._log_held = []
                try:
                    yield
                except BaseException:
                    # What the block wrote stays, as if each write had committed alone.
                    with contextlib.suppress(sqlite3.Error, OSError):
                        self._end_batch(durable=durable)
                    raise
                self._end_batch(durable=durable)
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")

    async def sync(self) -> None:
        """Wait for the WAL to be on the disk, in a worker thread.

        What a commit at synchronous=FULL does (SQLite syncs the WAL file, which holds
        every commit made so far; a checkpoint syncs it first too), but off the event
        loop and only once asked for. Concurrent calls each sync: the kernel merges them.
        """
        target = self._written
        if self._synced >= target:
            return
        fd = self._wal()
        if fd is not None:
            await asyncio.to_thread(os.fdatasync, fd)
        self._synced = max(self._synced, target)

    def _wal(self) -> int | None:
        # The connection keeps the WAL file (SQLite removes it when the last connection
        # closes); it is reused from its start after a checkpoint, never replaced.
        if self._wal_fd is None:
            try:
                self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None  # nothing written in WAL mode yet
        return self._wal_fd

    def _end_batch(self, *, durable: bool) -> None:
        lines, self._log_held = self._log_held, None
        try:
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
                self._cache.forget()
            raise
        self._written += 1
        if durable:
            self._synced = self._written
        # The events log gets the batch's events once they are committed, in one write.
        if lines and self._log_file is not None:
            self._log_file.write("".join(lines))
            self._log_file.flush()

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        # One transaction of its own, or a savepoint inside a batch.
        if self._db.in_transaction:
            self._db.execute("SAVEPOINT atomic")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK TO atomic")
                self._db.execute("RELEASE atomic")
                self._cache.forget()
                raise
            self._db.execute("RELEASE atomic")
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._cache.forget()
            raise

    def _cached(self) -> RecordCache:
        # Under the lock. Another connection's commit since the last look empties it.
        self._cache.check(int(self._db.execute("PRAGMA data_version").fetchone()[0]))
        return self._cache

    def _read_agent(self, name: str) -> AgentRecord | None:
        # Under the lock: the agent as stored, killed or not.
        cache = self._cached()
        agent = cache.agents.get(name)
        if agent is None:
            row = self._db.execute("SELECT data FROM agents WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            agent = cache.agents[name] = _agent_from_json(row[0])
        return agent

    def _read_request(self, request_id: str) -> RequestRecord:
        # Under the lock.
        cache = self._cached()
        request = cache.request(request_id)
        if request is None:
            row = self._db.execute(
                "SELECT data FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
            if row is None:
                raise RequestNotFound(f"no request with id {request_id!r}", request_id=request_id)
            request = _request_from_json(row[0])
            cache.keep_request(request)
        return request

    # --- agents -------------------------------------------------------------------------

    async def add_agent(self, agent: AgentRecord) -> AgentRecord:
        with self._lock, self._atomic():
            row = self._db.execute(
                "SELECT status FROM agents WHERE name = ?", (agent.name,)
            ).fetchone()
            if row is not None and row[0] != AgentStatus.KILLED.value:
                raise AgentExists(f"agent {agent.name!r} already exists", agent=agent.name)
            # A killed agent's name may be reused; its sequence keeps counting so
            # request ids never repeat.
            self._db.execute(
                "INSERT INTO agents(name, data, status) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET data = excluded.data, "
                "status = excluded.status",
                (agent.name, _agent_to_json(agent), agent.status.value),
            )
            self._cached().agents[agent.name] = agent
        return agent

    async def find_agent(self, name: str) -> AgentRecord | None:
        with self._lock:
            agent = self._read_agent(name)
        return None if agent is None or agent.status is AgentStatus.KILLED else agent

    async def get_agent(self, name: str) -> AgentRecord:
        agent = await self.find_agent(name)
        if agent is None:
            raise AgentNotFound(f"no agent named {name!r}", agent=name)
        return agent

    async def list_agents(self, *, include_killed: bool = False) -> list[AgentRecord]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM agents").fetchall()
        agents = [_agent_from_json(r[0]) for r in rows]
        if not include_killed:
            agents = [a for a in agents if a.status is not AgentStatus.KILLED]
        return sorted(agents, key=lambda a: a.created_at)

    async def update_agent(self, name: str, **changes: Any) -> AgentRecord:
        with self._lock:
            agent = self._read_agent(name)
            if agent is None:
                raise AgentNotFound(f"no agent named {name!r}", agent=name)
            agent = agent.replace(updated_at=time.time(), **changes)
            self._db.execute(
                "UPDATE agents SET data = ?, status = ? WHERE name = ?",
                (_agent_to_json(agent), agent.status.value, name),
            )
            self._cache.agents[name] = agent
        return agent

    # --- requests -----------------------------------------------------------------------

    async def add_request(
        self,
        *,
        agent: str,
        prompt: str,
        submitted_at: float,
        **fields: Any,
    ) -> RequestRecord:
        with self._lock, self._atomic():
            row = self._db.execute(
                "SELECT next_seq FROM agents WHERE name = ?", (agent,)
            ).fetchone()
            if row is None:
                raise AgentNotFound(f"no agent named {agent!r}", agent=agent)
            seq = int(row[0])
            request = RequestRecord(
                id=new_request_id(agent, seq),
                agent=agent,
                seq=seq,
                prompt=prompt,
                state=RequestState.QUEUED,
                submitted_at=submitted_at,
                **fields,
            )
            self._db.execute("UPDATE agents SET next_seq = ? WHERE name = ?", (seq + 1, agent))
            self._db.execute(
                "INSERT INTO requests(id, agent, seq, state, submitted_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request.id,
                    agent,
                    seq,
                    request.state.value,
                    submitted_at,
                    _request_to_json(request),
                ),
            )
            self._cached().keep_request(request)
        return request

    async def get_request(self, request_id: str) -> RequestRecord:
        with self._lock:
            return self._read_request(request_id)

    async def update_request(self, request_id: str, **changes: Any) -> RequestRecord:
        with self._lock:
            request = self._read_request(request_id).replace(**changes)
            self._db.execute(
                "UPDATE requests SET state = ?, data = ? WHERE id = ?",
                (request.state.value, _request_to_json(request), request_id),
            )
            self._cache.keep_request(request)
        return request

    async def list_requests(
        self,
        *,
        agent: str | None = None,
        states: Iterable[RequestState] | None = None,
        limit: int | None = None,
    ) -> list[RequestRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if agent is not None:
            clauses.append("agent = ?")
            params.append(agent)
        if states is not None:
            wanted = [s.value for s in states]
            clauses.append(f"state IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        # With a limit, keep the newest ``limit`` rows but still return them oldest first.
        # Only placeholders and fixed column names are interpolated.
        query = (
            f"SELECT data FROM (SELECT data, submitted_at, seq FROM requests{where} "  # noqa: S608
            "ORDER BY submitted_at DESC, seq DESC LIMIT ?) ORDER BY submitted_at, seq"
        )
        params.append(-1 if limit is None else limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [_request_from_json(r[0]) for r in rows]

    async def last_complete_request(self, agent: str) -> RequestRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM requests WHERE agent = ? AND state = ? ORDER BY seq DESC LIMIT 1",
                (agent, RequestState.COMPLETE.value),
            ).fetchone()
        return _request_from_json(row[0]) if row else None

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
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO events(ts, kind, agent, request_id, data) VALUES (?, ?, ?, ?, ?)",
                (ts, kind.value, agent, request_id, json.dumps(payload)),
            )
            event = Event(
                id=int(cursor.lastrowid or 0),
                ts=ts,
                kind=kind,
                agent=agent,
                request_id=request_id,
                data=payload,
            )
            if self._log_file is not None:
                line = json.dumps(event.to_dict()) + "\n"
                if self._log_held is not None:
                    self._log_held.append(line)
                else:
                    self._log_file.write(line)
                    self._log_file.flush()
        return event

    async def events(
        self, *, after: int = 0, agent: str | None = None, limit: int = 1000
    ) -> list[Event]:
        query = "SELECT id, ts, kind, agent, request_id, data FROM events WHERE id > ?"
        params: list[Any] = [after]
        if agent is not None:
            query += " AND agent = ?"
            params.append(agent)
        query += " ORDER BY id LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [
            Event(
                id=r[0],
                ts=r[1],
                kind=EventKind(r[2]),
                agent=r[3],
                request_id=r[4],
                data=json.loads(r[5]),
            )
            for r in rows
        ]

    # --- approvals ----------------------------------------------------------------------

    async def save_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        with self._lock:
            self._db.execute(
                "INSERT INTO approvals(id, agent, state, created_at, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state, data = excluded.data",
                (
                    approval.id,
                    approval.agent,
                    approval.state.value,
                    approval.created_at,
                    json.dumps(approval.to_dict()),
                ),
            )
        return approval

    async def get_approval(self, approval_id: str) -> ApprovalRecord:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM approvals WHERE id = ?", (approval_id,)
            ).fetchone()
        if row is None:
            raise ApprovalNotFound(f"no approval with id {approval_id!r}", approval_id=approval_id)
        return ApprovalRecord.from_dict(json.loads(row[0]))

    async def list_approvals(
        self,
        *,
        states: Iterable[ApprovalState] | None = None,
        agent: str | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if agent is not None:
            clauses.append("agent = ?")
            params.append(agent)
        if states is not None:
            wanted = [s.value for s in states]
            clauses.append(f"state IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        # The newest ``limit``, returned oldest first (as list_requests).
        query = (
            f"SELECT data FROM (SELECT data, created_at, id FROM approvals{where} "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT ?) ORDER BY created_at, id"
        )
        params.append(-1 if limit is None else limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [ApprovalRecord.from_dict(json.loads(r[0])) for r in rows]
