"""Records as JSON on the wire (HTTP API) and back, so the Client returns what Runtime does.

Agents: ``AgentRecord.to_dict()`` except that ``model`` is the model in use (the
resolved id once known) and ``requested_model`` what was asked for.
Requests: ``RequestRecord.to_dict()`` (the ``poll``/``wait`` shape) plus the
fields it leaves out (``prompt``, ``seq``, ``timeout``, ``meta``).
Events: ``Event.to_dict()``. Unknown keys are ignored when reading, so a newer
daemon can add fields without breaking an older client.
"""

from __future__ import annotations

from typing import Any

from ._options import AgentOptions
from ._records import (
    AgentRecord,
    AgentStatus,
    Event,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
    Usage,
)

__all__ = [
    "agent_from_json",
    "agent_to_json",
    "event_from_json",
    "info_to_json",
    "request_from_json",
    "request_to_json",
]


def agent_to_json(agent: AgentRecord) -> dict[str, Any]:
    return info_to_json(agent.to_dict())


def info_to_json(data: dict[str, Any]) -> dict[str, Any]:
    """An agent dict (or ``Runtime.info``'s) with ``model`` / ``requested_model`` as above."""
    out = dict(data)
    out["requested_model"] = data.get("model")
    out["model"] = data.get("resolved_model") or data.get("model")
    return out


def agent_from_json(data: dict[str, Any]) -> AgentRecord:
    return AgentRecord(
        name=data["name"],
        backend=data["backend"],
        model=data.get("requested_model"),
        resolved_model=data.get("resolved_model"),
        system_prompt=data.get("system_prompt"),
        cwd=data["cwd"],
        session_id=data["session_id"],
        has_session=bool(data.get("has_session")),
        forked_from=data.get("forked_from"),
        forked_from_session=data.get("forked_from_session"),
        status=AgentStatus(data["status"]),
        created_at=float(data["created_at"]),
        updated_at=float(data.get("updated_at", data["created_at"])),
        request_count=int(data.get("request_count", 0)),
        cost_usd=float(data.get("cost_usd") or 0.0),
        unpriced_requests=int(data.get("unpriced_requests") or 0),
        usage=_usage(data.get("usage")),
        pid=data.get("pid"),
        last_request_id=data.get("last_request_id"),
        options=AgentOptions.from_stored(data.get("options")),
    )


def request_to_json(request: RequestRecord) -> dict[str, Any]:
    return {
        **request.to_dict(),
        "seq": request.seq,
        "prompt": request.prompt,
        "timeout": request.timeout,
        "meta": request.meta,
    }


def request_from_json(data: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        id=data["id"],
        agent=data["agent"],
        seq=int(data.get("seq", 0)),
        prompt=data.get("prompt", ""),
        state=RequestState(data["status"]),
        source=RequestSource(data.get("source", RequestSource.USER.value)),
        relay_from=data.get("relay_from"),
        result=data.get("result"),
        error=data.get("error"),
        usage=_usage(data.get("usage")),
        # null: the model has no price (``meta["cost_unknown"]`` says so too).
        cost_usd=float(data.get("cost_usd") or 0.0),
        model=data.get("model"),
        timeout=data.get("timeout"),
        submitted_at=float(data.get("submitted_at", 0.0)),
        started_at=data.get("started_at"),
        completed_at=data.get("completed_at"),
        api_retries=int(data.get("api_retries", 0)),
        meta=dict(data.get("meta") or {}),
    )


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        id=int(data["id"]),
        ts=float(data["ts"]),
        kind=EventKind(data["kind"]),
        agent=data.get("agent"),
        request_id=data.get("request_id"),
        data=dict(data.get("data") or {}),
    )


def _usage(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    known = Usage.__dataclass_fields__
    return Usage(**{k: int(v) for k, v in data.items() if k in known})
