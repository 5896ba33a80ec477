"""Activity events as people read them: one line per event, and each agent's current step.

Shared by the daemon (``GET /v1/activity``, the dashboard) and the command line
(``podium watch``, ``podium logs``, the live status of ``podium ask``), so it
imports nothing heavy. Events are taken as their JSON dicts (``Event.to_dict``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACTIVITY_KINDS", "Step", "StepTracker", "describe_event"]

ACTIVITY_KINDS = frozenset(
    {
        "tool_started",
        "tool_finished",
        "subagent_started",
        "subagent_finished",
        "api_call",
        "api_retry",
        "text",
        "told",
    }
)


def _seconds(value: Any) -> str:
    return f"{value:.1f}s" if isinstance(value, int | float) else "?"


def _tokens(usage: Any) -> str:
    if not isinstance(usage, dict):
        return ""
    read = usage.get("input_tokens", 0) or 0
    cached = (usage.get("cache_read_input_tokens", 0) or 0) + (
        usage.get("cache_creation_input_tokens", 0) or 0
    )
    out = usage.get("output_tokens", 0) or 0
    return f" in={read + cached} out={out}"


def describe_event(kind: str, data: dict[str, Any]) -> str | None:
    """A short readable account of an activity or request event; None for other kinds."""
    tool = data.get("tool") or "tool"
    if kind == "tool_started":
        text = data.get("input") or ""
        return f"{tool}: {text}" if text else f"{tool}"
    if kind == "tool_finished":
        verdict = "done" if data.get("ok", True) else "failed"
        return f"{tool} {verdict} in {_seconds(data.get('seconds'))}"
    if kind == "subagent_started":
        kind_name = data.get("subagent_type") or "sub-agent"
        return f"sub-agent {kind_name} started: {data.get('description') or ''}".rstrip(": ")
    if kind == "subagent_finished":
        verdict = "done" if data.get("ok", True) else "failed"
        return f"sub-agent {verdict} in {_seconds(data.get('seconds'))}"
    if kind == "api_call":
        return f"API call {data.get('model') or ''}{_tokens(data.get('usage'))}".strip()
    if kind == "api_retry":
        delay = data.get("retry_delay_ms")
        wait = f", retrying in {delay / 1000:.1f}s" if isinstance(delay, int | float) else ""
        status = data.get("error_status")
        error = data.get("error") or ""
        return (
            f"API retry {data.get('attempt', '?')}/{data.get('max_retries', '?')}: "
            f"{status or ''} {error}".rstrip()
            + wait
        )
    if kind == "text":
        return f"writing: {data.get('text') or ''}"
    if kind == "told":
        return f"told: {data.get('text') or ''}"
    if kind == "request_started":
        return "started"
    if kind == "request_finished":
        line = f"finished: {data.get('state', '?')}"
        if data.get("error"):
            line += f" ({str(data['error'])[:120]})"
        return line
    return None


@dataclass(kw_only=True)
class Step:
    """What one agent's running request is doing now."""

    request_id: str | None
    text: str
    kind: str
    since: float
    retries: int = 0
    first_event_id: int = 0
    """The id of the request's first event seen (its start): where to replay it from."""
    tools: dict[str, str] = field(default_factory=dict)
    """Running tool calls: tool_use id -> their description (a parallel call shows once)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "step": self.text,
            "kind": self.kind,
            "since": self.since,
            "retries": self.retries,
            "first_event_id": self.first_event_id,
            "running_tools": len(self.tools),
        }


class StepTracker:
    """Each busy agent's current step, kept up to date from the events as they come."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        self.last_event_id = 0

    def feed(self, event: dict[str, Any]) -> Step | None:
        """Take one event; the agent's step after it (None when it has none)."""
        self.last_event_id = max(self.last_event_id, int(event.get("id") or 0))
        agent, kind = event.get("agent"), event.get("kind")
        if not agent or not isinstance(kind, str):
            return None
        data = event.get("data") or {}
        ts = float(event.get("ts") or time.time())
        if kind == "request_finished":
            self.steps.pop(agent, None)
            return None
        step = self.steps.get(agent)
        if kind == "request_started" or step is None:
            if kind not in ACTIVITY_KINDS and kind != "request_started":
                return step
            step = Step(
                request_id=event.get("request_id"),
                text="waiting for the model",
                kind="request_started",
                since=ts,
                first_event_id=int(event.get("id") or 0),
            )
            self.steps[agent] = step
        text = describe_event(kind, data)
        if kind == "tool_started":
            step.tools[str(data.get("tool_use_id"))] = text or ""
        elif kind in ("tool_finished", "subagent_finished"):
            step.tools.pop(str(data.get("tool_use_id")), None)
            # Back to the model, or to a tool still running beside it.
            text = next(reversed(step.tools.values()), "waiting for the model")
        elif kind == "api_retry":
            step.retries += 1
        elif kind in ("api_call", "told", "subagent_started"):
            return step  # the tool running, or the model thinking, stays the step
        if text is not None and kind != "request_started":
            step.text, step.kind, step.since = text, kind, ts
        return step
