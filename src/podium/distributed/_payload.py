"""What a turn looks like on the queue: the job's payload and its result, both JSON.

The coordinator sends everything a worker host needs to start (or resume) the
agent's process and run one prompt; the worker sends back the turn's result.
Secrets never travel: a worker takes its credentials from its own environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._options import AgentOptions
from .._records import Usage
from ..backends import SessionSpec, StartMode, TurnResult
from ..isolation._credentials import DEFAULT_SECRETS
from ..queue import DEFAULT_LANE

__all__ = [
    "NOOP_KIND",
    "TURN_KIND",
    "TurnJob",
    "fork_blob_key",
    "lane_for",
    "session_blob_key",
    "turn_payload",
    "turn_result_from_json",
    "turn_result_to_json",
]

TURN_KIND = "turn"
NOOP_KIND = "noop"
"""A job that does nothing (for ``payload["hold"]`` seconds): probes and benchmarks."""


def session_blob_key(session_id: str) -> str:
    """Where a session's transcript is kept centrally (its latest complete turn)."""
    return f"session:{session_id}"


def fork_blob_key(session_id: str) -> str:
    """The parent's transcript as it was when the fork ``session_id`` was made."""
    return f"fork:{session_id}"


def lane_for(spec: SessionSpec) -> str:
    """Run tasks go to their profile's lane, so hosts can specialise; the rest to default."""
    profile = spec.options.profile
    return f"profile:{profile}" if profile else DEFAULT_LANE


# Names that hold credentials by convention; a value the daemon knows as a secret
# is left out whatever its name.
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)


def _public_env(env: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in env.items()
        if not _SECRET_NAME.search(key) and not DEFAULT_SECRETS.contains(value)
    }


def turn_payload(
    spec: SessionSpec, prompt: str, *, backend: str, mode: StartMode, timeout: float | None
) -> dict[str, Any]:
    return {
        "backend": backend,
        "agent": spec.agent,
        "session_id": spec.session_id,
        "mode": mode.value,
        "cwd": str(spec.cwd),
        "model": spec.model,
        "system_prompt": spec.system_prompt,
        "parent_session_id": spec.parent_session_id,
        "options": spec.options.to_dict(),
        "env": _public_env(spec.env),
        "launcher": list(spec.launcher),
        "prompt": prompt,
        "timeout": timeout,
    }


@dataclass(frozen=True, kw_only=True)
class TurnJob:
    """A turn payload read back on the worker, checked field by field."""

    backend: str
    agent: str
    session_id: str
    mode: StartMode
    cwd: Path
    model: str | None
    system_prompt: str | None
    parent_session_id: str | None
    options: AgentOptions
    env: dict[str, str]
    launcher: tuple[str, ...]
    prompt: str
    timeout: float | None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TurnJob:
        def text(key: str, *, optional: bool = False) -> Any:
            value = payload.get(key)
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise ValueError(f"turn payload: {key!r} must be a string, got {value!r}")
            return value

        options = payload.get("options") or {}
        env = payload.get("env") or {}
        launcher = payload.get("launcher") or []
        timeout = payload.get("timeout")
        if not isinstance(options, dict) or not isinstance(env, dict):
            raise ValueError("turn payload: 'options' and 'env' must be objects")
        if not isinstance(launcher, list) or not all(isinstance(a, str) for a in launcher):
            raise ValueError("turn payload: 'launcher' must be a list of strings")
        if timeout is not None and not isinstance(timeout, int | float):
            raise ValueError(f"turn payload: 'timeout' must be a number, got {timeout!r}")
        return cls(
            backend=text("backend"),
            agent=text("agent"),
            session_id=text("session_id"),
            mode=StartMode(text("mode")),
            cwd=Path(text("cwd")),
            model=text("model", optional=True),
            system_prompt=text("system_prompt", optional=True),
            parent_session_id=text("parent_session_id", optional=True),
            options=AgentOptions.from_stored(options),
            env={str(k): str(v) for k, v in env.items()},
            launcher=tuple(launcher),
            prompt=text("prompt"),
            timeout=float(timeout) if timeout is not None else None,
        )


def turn_result_to_json(result: TurnResult) -> dict[str, Any]:
    return {
        "text": result.text,
        "is_error": result.is_error,
        "error": result.error,
        "usage": result.usage.to_dict(),
        "cost_usd": result.cost_usd,
        "model": result.model,
        "session_id": result.session_id,
        "num_turns": result.num_turns,
        "duration_ms": result.duration_ms,
        "subtype": result.subtype,
        "api_error_status": result.api_error_status,
        "interrupted": result.interrupted,
        "meta": dict(result.meta),
    }


def turn_result_from_json(data: dict[str, Any]) -> TurnResult:
    usage = data.get("usage")
    return TurnResult(
        text=str(data.get("text") or ""),
        is_error=bool(data.get("is_error")),
        error=data.get("error"),
        usage=Usage.from_api(usage) if isinstance(usage, dict) else Usage(),
        cost_usd=None if data.get("cost_usd") is None else float(data["cost_usd"]),
        model=data.get("model"),
        session_id=data.get("session_id"),
        num_turns=int(data.get("num_turns") or 0),
        duration_ms=int(data.get("duration_ms") or 0),
        subtype=data.get("subtype"),
        api_error_status=data.get("api_error_status"),
        interrupted=bool(data.get("interrupted")),
        meta=dict(data.get("meta") or {}),
    )
