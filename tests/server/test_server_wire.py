"""Records survive the trip to JSON and back, so the Client returns what the Runtime does."""

from __future__ import annotations

import dataclasses
import json

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
from podium._wire import (
    agent_from_json,
    agent_to_json,
    event_from_json,
    request_from_json,
    request_to_json,
)

AGENT = AgentRecord(
    name="beta",
    backend="claude-code",
    model="haiku",
    resolved_model="claude-haiku-4-5",
    system_prompt="be brief",
    cwd="/tmp/x",
    session_id="s-1",
    has_session=True,
    forked_from="alpha",
    forked_from_session="s-0",
    status=AgentStatus.IDLE,
    created_at=1.5,
    updated_at=2.5,
    request_count=3,
    cost_usd=0.25,
    usage=Usage(input_tokens=1, output_tokens=2, cache_read_input_tokens=3),
    pid=123,
    last_request_id="beta-000003-deadbeef",
    options=AgentOptions(tools=("Read",)),
)
REQUEST = RequestRecord(
    id="beta-000003-deadbeef",
    agent="beta",
    seq=3,
    prompt='say "hi"\nünï 🚀',
    state=RequestState.FAILED,
    source=RequestSource.RELAY,
    relay_from="alpha-000001-cafebabe",
    result=None,
    error="boom",
    usage=Usage(output_tokens=7),
    cost_usd=0.01,
    model="claude-haiku-4-5",
    timeout=30.0,
    submitted_at=1.0,
    started_at=2.0,
    completed_at=3.0,
    api_retries=2,
    meta={"k": "v"},
)


def roundtrip(data: dict[str, object]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(data))
    return loaded


def test_agent_roundtrip_and_model_fields() -> None:
    data = agent_to_json(AGENT)
    assert data["model"] == "claude-haiku-4-5"
    assert data["requested_model"] == "haiku"
    assert agent_from_json(roundtrip(data)) == AGENT
    unresolved = AGENT.replace(resolved_model=None)
    assert agent_to_json(unresolved)["model"] == "haiku"
    assert agent_from_json(roundtrip(agent_to_json(unresolved))) == unresolved


def test_request_roundtrip_keeps_the_poll_shape() -> None:
    data = request_to_json(REQUEST)
    for key, value in REQUEST.to_dict().items():
        assert data[key] == value
    assert request_from_json(roundtrip(data)) == REQUEST


def test_event_roundtrip_and_unknown_keys_are_ignored() -> None:
    event = Event(id=9, ts=1.0, kind=EventKind.RELAY, agent="a", request_id=None, data={"x": 1})
    assert event_from_json({**roundtrip(event.to_dict()), "future_field": True}) == event
    assert request_from_json({**request_to_json(REQUEST), "future_field": 1}) == REQUEST


def test_usage_and_agent_dicts_hold_every_field() -> None:
    # Spelled out for speed: a field added to the record must not be left out.
    usage = Usage(
        input_tokens=1, output_tokens=2, cache_creation_input_tokens=3, cache_read_input_tokens=4
    )
    assert usage.to_dict() == dataclasses.asdict(usage)
    assert set(AGENT.to_dict()) >= {f.name for f in dataclasses.fields(AGENT)}
