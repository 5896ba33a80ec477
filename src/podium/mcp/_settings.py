"""What one ``podium mcp`` server knows: whom it serves, in which scope, under which limits.

Podium sets these as environment variables when it attaches the server to an
agent (``--mcp-config``); ``podium mcp`` flags override them. Every value is
checked when the server starts, so a typo is one clear error, not a surprise
at the first tool call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._errors import UsageError
from .._home import default_home
from .._names import check_name

__all__ = [
    "DEFAULT_MAX_AGENTS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_SCOPE",
    "ENV_AGENT",
    "ENV_BUDGET",
    "ENV_CALL_BUDGET",
    "ENV_MAX_AGENTS",
    "ENV_MAX_DEPTH",
    "ENV_RUN",
    "ENV_SCOPE",
    "ENV_TEAM",
    "McpSettings",
]

ENV_AGENT = "PODIUM_AGENT"
ENV_RUN = "PODIUM_RUN_ID"
ENV_SCOPE = "PODIUM_MCP_SCOPE"
ENV_TEAM = "PODIUM_TEAM"
ENV_MAX_AGENTS = "PODIUM_MCP_MAX_AGENTS"
ENV_MAX_DEPTH = "PODIUM_MCP_MAX_DEPTH"
ENV_BUDGET = "PODIUM_MCP_BUDGET_USD"
ENV_CALL_BUDGET = "PODIUM_MCP_CALL_BUDGET_USD"

DEFAULT_MAX_AGENTS = 8
# The caller (depth 0) may spawn workers (depth 1); they may not spawn in turn.
DEFAULT_MAX_DEPTH = 1
DEFAULT_SCOPE = "mcp"


@dataclass(frozen=True, kw_only=True)
class McpSettings:
    """The identity and limits of one MCP server. Build with :meth:`from_env` or directly."""

    home: Path
    agent: str | None = None
    """The podium agent whose CLI runs this server; None for an outside client."""
    run_id: str | None = None
    """The agentic run this server works for: its budget and records are the run's."""
    scope: str | None = None
    """Which agents this server may see and drive; default: the run id, else ``mcp``."""
    team: Path | None = None
    """Team file whose workers ``spawn_agent(worker=...)`` and ``run_plan`` use."""
    max_agents: int = DEFAULT_MAX_AGENTS
    max_depth: int = DEFAULT_MAX_DEPTH
    budget_usd: float | None = None
    """Per-run budget: what everything spawned in the scope may spend together."""
    call_budget_usd: float | None = None
    """Per-call cap: the most one spawned agent's process may spend (its --max-budget-usd),
    and the most one request given through the server may spend."""
    autostart: bool = True
    """Start the daemon on first use if it is not running (off when podium attaches it)."""

    def __post_init__(self) -> None:
        if self.agent is not None:
            check_name(self.agent, what="calling agent name")
        if self.scope is not None:
            check_name(self.scope, what="MCP scope")
        if self.run_id is not None:
            from ..orchestration._artifacts import check_run_id

            check_run_id(self.run_id)
        _check_int(self.max_agents, "max agents", minimum=1)
        _check_int(self.max_depth, "max spawn depth", minimum=0)
        for name in ("budget_usd", "call_budget_usd"):
            _check_usd(getattr(self, name), name)

    @property
    def effective_scope(self) -> str:
        return self.scope or self.run_id or DEFAULT_SCOPE

    def with_overrides(self, **changes: Any) -> McpSettings:
        """A copy with every non-None change applied (flags over environment)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> McpSettings:
        source = os.environ if env is None else env

        def text(key: str) -> str | None:
            value = source.get(key, "").strip()
            return value or None

        team = text(ENV_TEAM)
        home = text("PODIUM_HOME")
        for key, what in ((ENV_AGENT, "calling agent name"), (ENV_SCOPE, "MCP scope")):
            value = text(key)
            if value is not None:
                check_name(value, what=f"{what} ({key})")
        return cls(
            home=Path(home).expanduser() if home else default_home(),
            agent=text(ENV_AGENT),
            run_id=text(ENV_RUN),
            scope=text(ENV_SCOPE),
            team=Path(team).expanduser() if team else None,
            max_agents=_env_int(text(ENV_MAX_AGENTS), ENV_MAX_AGENTS, DEFAULT_MAX_AGENTS),
            max_depth=_env_int(text(ENV_MAX_DEPTH), ENV_MAX_DEPTH, DEFAULT_MAX_DEPTH),
            budget_usd=_env_usd(text(ENV_BUDGET), ENV_BUDGET),
            call_budget_usd=_env_usd(text(ENV_CALL_BUDGET), ENV_CALL_BUDGET),
            autostart=source.get("PODIUM_NO_AUTOSTART", "").strip() in ("", "0"),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` return these settings."""
        env = {
            "PODIUM_HOME": str(self.home),
            ENV_MAX_AGENTS: str(self.max_agents),
            ENV_MAX_DEPTH: str(self.max_depth),
        }
        optional = {
            ENV_AGENT: self.agent,
            ENV_RUN: self.run_id,
            ENV_SCOPE: self.scope,
            ENV_TEAM: None if self.team is None else str(self.team),
            ENV_BUDGET: None if self.budget_usd is None else repr(self.budget_usd),
            ENV_CALL_BUDGET: None if self.call_budget_usd is None else repr(self.call_budget_usd),
        }
        env.update({k: v for k, v in optional.items() if v is not None})
        if not self.autostart:
            env["PODIUM_NO_AUTOSTART"] = "1"
        return env

    def limits_json(self) -> dict[str, Any]:
        return {
            "max_agents": self.max_agents,
            "max_depth": self.max_depth,
            "budget_usd": self.budget_usd,
            "call_budget_usd": self.call_budget_usd,
        }


def _check_int(value: Any, what: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"{what} must be a whole number >= {minimum}, got {value!r}")


def _check_usd(value: Any, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{what} must be a number of dollars, got {value!r}")
    if value <= 0:
        raise UsageError(f"{what} must be greater than 0, got {value!r}")


def _env_int(value: str | None, key: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{key}={value!r} is not a whole number") from None
    _check_int(number, key, minimum=1 if key == ENV_MAX_AGENTS else 0)
    return number


def _env_usd(value: str | None, key: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{key}={value!r} is not a number of dollars") from None
    _check_usd(number, key)
    return number
