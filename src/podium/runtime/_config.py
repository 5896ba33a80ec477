"""Runtime settings and the state directory layout."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .._home import default_home

__all__ = ["RuntimeConfig", "default_home"]

# Ten minutes idle before a warm process (~190 MB) is stopped; its session stays
# resumable, so the cost of waking is one process start (~0.5 s).
DEFAULT_IDLE_TIMEOUT = 600.0
# A turn that runs longer than this is interrupted unless the request says otherwise.
DEFAULT_REQUEST_TIMEOUT = 1800.0


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    home: Path = field(default_factory=default_home)
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every agent process (e.g. ANTHROPIC_BASE_URL)."""

    @property
    def db_path(self) -> Path:
        return self.home / "podium.db"

    @property
    def events_log(self) -> Path:
        return self.home / "events.jsonl"

    def agent_dir(self, name: str, session_id: str) -> Path:
        return self.home / "agents" / name / session_id

    @classmethod
    def from_env(cls, **overrides: object) -> RuntimeConfig:
        values: dict[str, object] = {}
        if "PODIUM_IDLE_TIMEOUT" in os.environ:
            values["idle_timeout"] = float(os.environ["PODIUM_IDLE_TIMEOUT"])
        if "PODIUM_REQUEST_TIMEOUT" in os.environ:
            values["request_timeout"] = float(os.environ["PODIUM_REQUEST_TIMEOUT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
