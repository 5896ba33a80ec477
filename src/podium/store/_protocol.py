"""The narrow storage interface every implementation (SQLite, later Redis) satisfies."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .._approvals import ApprovalRecord, ApprovalState
from .._records import AgentRecord, Event, EventKind, RequestRecord, RequestState

__all__ = ["Store"]


class Store(Protocol):
    """Durable registry of agents, requests and events.

    Every write is durable when the call returns: callers report work done only
    after the store has it.
    """

    async def close(self) -> None: ...

    def batch(self, *, durable: bool = True) -> AbstractContextManager[None]:
        """Writes made inside the block (which must not suspend) are durable when it
        ends, together: one commit instead of one each. If the block raises, what
        it wrote is kept, as if each write had been made on its own.

        ``durable=False`` (a turn's activity while it runs): the writes survive the
        process crashing at once, and the machine crashing from the next durable
        commit on (at the latest the request's end), without waiting for the disk."""
        ...

    async def sync(self) -> None:
        """Return once every write committed so far is durable, those of
        ``batch(durable=False)`` too. Suspends (the wait runs off the event loop), so
        a caller can let other work go on meanwhile: an ask hands its request to the
        agent, then waits for the disk before it gives out the id."""
        ...

    # agents
    async def add_agent(self, agent: AgentRecord) -> AgentRecord:
        """Insert a new agent. Raises AgentExists if a live agent has the name."""
        ...

    async def get_agent(self, name: str) -> AgentRecord:
        """Raises AgentNotFound (killed agents count as not found)."""
        ...

    async def find_agent(self, name: str) -> AgentRecord | None: ...

    async def list_agents(self, *, include_killed: bool = False) -> list[AgentRecord]: ...

    async def update_agent(self, name: str, **changes: Any) -> AgentRecord: ...

    # requests
    async def add_request(
        self,
        *,
        agent: str,
        prompt: str,
        submitted_at: float,
        **fields: Any,
    ) -> RequestRecord:
        """Insert a queued request with the agent's next sequence number."""
        ...

    async def get_request(self, request_id: str) -> RequestRecord:
        """Raises RequestNotFound."""
        ...

    async def update_request(self, request_id: str, **changes: Any) -> RequestRecord: ...

    async def list_requests(
        self,
        *,
        agent: str | None = None,
        states: Iterable[RequestState] | None = None,
        limit: int | None = None,
    ) -> list[RequestRecord]:
        """Oldest first."""
        ...

    async def last_complete_request(self, agent: str) -> RequestRecord | None: ...

    # events
    async def append_event(
        self,
        kind: EventKind,
        *,
        agent: str | None = None,
        request_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event: ...

    async def events(
        self, *, after: int = 0, agent: str | None = None, limit: int = 1000
    ) -> list[Event]: ...

    # approvals (ask-mode tool uses waiting for a decision)
    async def save_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        """Insert or replace the approval under its id."""
        ...

    async def get_approval(self, approval_id: str) -> ApprovalRecord:
        """Raises ApprovalNotFound."""
        ...

    async def list_approvals(
        self,
        *,
        states: Iterable[ApprovalState] | None = None,
        agent: str | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRecord]:
        """Oldest first; ``limit``: the newest that many."""
        ...
