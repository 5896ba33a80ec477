"""Runtime settings and the state directory layout."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import UsageError
from .._home import default_home
from ._memory import default_max_warm

__all__ = ["UNLIMITED", "RuntimeConfig", "StallPolicy", "default_home"]

# Ten minutes idle before a warm process (~190 MB) is stopped; its session stays
# resumable, so the cost of waking is one process start (~0.5 s).
DEFAULT_IDLE_TIMEOUT = 600.0
# A turn that runs longer than this is interrupted unless the request says otherwise.
DEFAULT_REQUEST_TIMEOUT = 1800.0
# A turn whose CLI writes nothing (no stream line, no transcript growth) this long is stalled.
DEFAULT_STALL_TIMEOUT = 600.0
# Below this much available memory no further CLI process is started: waiting beats
# the kernel's OOM killer picking a process at random.
DEFAULT_MIN_FREE_MB = 256
UNLIMITED = -1
"""``max_warm`` for "no limit on warm processes"."""


class StallPolicy:
    """What happens to a stalled turn: retried once, or failed at once."""

    RETRY = "retry"
    FAIL = "fail"
    ALL = (RETRY, FAIL)


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    home: Path = field(default_factory=default_home)
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every agent process (e.g. ANTHROPIC_BASE_URL)."""
    max_warm: int = 0
    """Live CLI processes across all agents: 0 = derived from total memory, -1 = no limit."""
    min_free_mb: int = DEFAULT_MIN_FREE_MB
    """No process starts while MemAvailable is below this (0 = no floor)."""
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    """Seconds without progress before a turn counts as stalled (0 = never)."""
    stall_policy: str = StallPolicy.RETRY

    def __post_init__(self) -> None:
        if isinstance(self.max_warm, bool) or not isinstance(self.max_warm, int):
            raise UsageError(f"max_warm must be a whole number, got {self.max_warm!r}")
        if self.max_warm < UNLIMITED:
            raise UsageError(
                f"max_warm must be >= 0 (0: the default) or unlimited, got {self.max_warm}",
                setting="max_warm",
            )
        if isinstance(self.min_free_mb, bool) or not isinstance(self.min_free_mb, int):
            raise UsageError(f"min_free_mb must be a whole number, got {self.min_free_mb!r}")
        if self.min_free_mb < 0:
            raise UsageError(f"min_free_mb must be >= 0, got {self.min_free_mb}")
        stall = self.stall_timeout
        if isinstance(stall, bool) or not isinstance(stall, int | float):
            raise UsageError(f"stall_timeout must be a number of seconds, got {stall!r}")
        if not math.isfinite(stall) or stall < 0:
            raise UsageError(f"stall_timeout must be a finite number >= 0, got {stall!r}")
        if self.stall_policy not in StallPolicy.ALL:
            raise UsageError(
                f"stall_policy must be one of {', '.join(StallPolicy.ALL)}, "
                f"got {self.stall_policy!r}",
                setting="stall_policy",
            )

    @property
    def warm_limit(self) -> int | None:
        """The resolved ``max_warm``: a number of processes, or None for no limit."""
        if self.max_warm == UNLIMITED:
            return None
        return self.max_warm or default_max_warm()

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
        if "PODIUM_MAX_WARM" in os.environ:
            values["max_warm"] = parse_max_warm(os.environ["PODIUM_MAX_WARM"])
        if "PODIUM_MIN_FREE_MB" in os.environ:
            values["min_free_mb"] = _env_int("PODIUM_MIN_FREE_MB")
        if "PODIUM_STALL_TIMEOUT" in os.environ:
            values["stall_timeout"] = _env_float("PODIUM_STALL_TIMEOUT")
        if "PODIUM_STALL_POLICY" in os.environ:
            values["stall_policy"] = os.environ["PODIUM_STALL_POLICY"].strip().lower()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def parse_max_warm(text: str) -> int:
    """``PODIUM_MAX_WARM``: a whole number (0 or empty: the default), or ``unlimited``."""
    value = text.strip().lower()
    if value in ("", "0"):
        return 0
    if value in ("unlimited", "none", "-1"):
        return UNLIMITED
    try:
        number = int(value)
    except ValueError:
        raise UsageError(
            f"PODIUM_MAX_WARM must be a whole number or 'unlimited', got {text!r}",
            variable="PODIUM_MAX_WARM",
        ) from None
    if number < 0:
        raise UsageError(
            f"PODIUM_MAX_WARM must be >= 0 or 'unlimited', got {text!r}",
            variable="PODIUM_MAX_WARM",
        )
    return number


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except ValueError:
        raise UsageError(
            f"{name} must be a whole number, got {os.environ[name]!r}", variable=name
        ) from None


def _env_float(name: str) -> float:
    try:
        return float(os.environ[name])
    except ValueError:
        raise UsageError(
            f"{name} must be a number of seconds, got {os.environ[name]!r}", variable=name
        ) from None
