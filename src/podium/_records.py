"""Typed records shared by every layer: agents, requests, usage and events."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from ._backend_info import BACKENDS
from ._options import AgentOptions

__all__ = [
    "TERMINAL_STATES",
    "AgentRecord",
    "AgentStatus",
    "Event",
    "EventKind",
    "RequestRecord",
    "RequestSource",
    "RequestState",
    "Usage",
]


class AgentStatus(enum.StrEnum):
    """Where an agent's process stands. The session survives every state but ``killed``."""

    STARTING = "starting"
    IDLE = "idle"  # warm: a live CLI process waiting for a turn
    BUSY = "busy"
    HIBERNATED = "hibernated"  # no process; the session resumes on the next ask
    CRASHED = "crashed"  # the process died; the session resumes on the next ask
    KILLED = "killed"


class RequestState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the daemon stopped under it


TERMINAL_STATES = frozenset(
    {
        RequestState.COMPLETE,
        RequestState.FAILED,
        RequestState.CANCELLED,
        RequestState.INTERRUPTED,
    }
)


class RequestSource(enum.StrEnum):
    USER = "user"
    RELAY = "relay"
    BROADCAST = "broadcast"
    TASK = "task"


class EventKind(enum.StrEnum):
    SPAWNED = "spawned"
    FORKED = "forked"
    REQUEST_QUEUED = "request_queued"
    REQUEST_STARTED = "request_started"
    REQUEST_FINISHED = "request_finished"
    API_RETRY = "api_retry"
    MODEL_FALLBACK = "model_fallback"
    RELAY = "relay"
    PROCESS_STARTED = "process_started"
    PROCESS_EXITED = "process_exited"
    HIBERNATED = "hibernated"
    WAITING_FOR_SLOT = "waiting_for_slot"
    REQUEST_STALLED = "request_stalled"
    RESTARTED = "restarted"
    KILLED = "killed"
    ERROR = "error"
    DAEMON_STARTED = "daemon_started"
    DAEMON_STOPPED = "daemon_stopped"
    RUN_STARTED = "run_started"
    RUN_PLANNED = "run_planned"
    RUN_FINISHED = "run_finished"
    TASK_STARTED = "task_started"
    TASK_FINISHED = "task_finished"
    # What a running turn does (see backends/_activity.py), and a message told into it.
    TOOL_STARTED = "tool_started"
    TOOL_FINISHED = "tool_finished"
    SUBAGENT_STARTED = "subagent_started"
    SUBAGENT_FINISHED = "subagent_finished"
    API_CALL = "api_call"
    TEXT = "text"
    TOLD = "told"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts for one request (or a sum of them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    @classmethod
    def from_api(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}

        def num(key: str) -> int:
            value = data.get(key)
            return int(value) if isinstance(value, int | float) else 0

        return cls(
            input_tokens=num("input_tokens"),
            output_tokens=num("output_tokens"),
            cache_creation_input_tokens=num("cache_creation_input_tokens"),
            cache_read_input_tokens=num("cache_read_input_tokens"),
        )

    def to_dict(self) -> dict[str, int]:
        # Spelled out: dataclasses.asdict was a fair share of encoding a record.
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }


@dataclass(frozen=True, kw_only=True)
class AgentRecord:
    """A named, durable conversation with one backend."""

    name: str
    backend: str
    model: str | None
    """What the user asked for (an alias such as ``haiku`` or a full id); None = backend default."""
    resolved_model: str | None
    """The model id actually used, as reported by the backend."""
    system_prompt: str | None
    cwd: str
    session_id: str
    has_session: bool
    """True once a turn has been recorded under ``session_id`` (so it can be resumed)."""
    forked_from: str | None
    forked_from_session: str | None
    status: AgentStatus
    created_at: float
    updated_at: float
    request_count: int = 0
    cost_usd: float = 0.0
    """The sum over priced requests; see ``unpriced_requests``."""
    unpriced_requests: int = 0
    """Requests whose model has no price (cost unknown, not zero): ``cost_usd`` is a floor."""
    usage: Usage = field(default_factory=Usage)
    pid: int | None = None
    last_request_id: str | None = None
    options: AgentOptions = field(default_factory=AgentOptions)

    def replace(self, **changes: Any) -> AgentRecord:
        return dataclasses.replace(self, **changes)

    @property
    def billing(self) -> str | None:
        """The pool its turns draw from: ``api-key``, ``subscription ... (Agent SDK
        credit)``, ...; ``None`` if podium could not tell."""
        if self.options.billing is not None:
            return self.options.billing
        # The HTTP API backends only ever send a key.
        info = BACKENDS.get(self.backend)  # type: ignore[call-overload]
        return "api-key" if info is not None and info.api else None

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _AGENT_FIELDS}
        data["status"] = self.status.value
        data["usage"] = self.usage.to_dict()
        data["options"] = self.options.to_dict()
        data["billing"] = self.billing
        return data


# Looked up once: dataclasses.fields() on every to_dict was slow on a turn's path.
_AGENT_FIELDS = tuple(f.name for f in dataclasses.fields(AgentRecord))


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    """One prompt sent to one agent, and what became of it."""

    id: str
    agent: str
    seq: int
    prompt: str
    state: RequestState
    source: RequestSource = RequestSource.USER
    relay_from: str | None = None
    """For relays: the request whose answer was forwarded."""
    result: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model: str | None = None
    timeout: float | None = None
    submitted_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    api_retries: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def cost_known(self) -> bool:
        """False when the model that answered has no price: ``cost_usd`` is then unknown."""
        return not self.meta.get("cost_unknown")

    def replace(self, **changes: Any) -> RequestRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of ``poll``/``wait``, plus a few extra fields."""
        return {
            "id": self.id,
            "agent": self.agent,
            "status": self.state.value,
            "result": self.result,
            "error": self.error,
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd if self.cost_known else None,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "source": self.source.value,
            "relay_from": self.relay_from,
            "model": self.model,
            "api_retries": self.api_retries,
        }


@dataclass(frozen=True, kw_only=True)
class Event:
    """An append-only record of something that happened."""

    id: int
    ts: float
    kind: EventKind
    agent: str | None = None
    request_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "kind": self.kind.value,
            "agent": self.agent,
            "request_id": self.request_id,
            "data": self.data,
        }
