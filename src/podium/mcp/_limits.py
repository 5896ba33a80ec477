"""Who is calling, whom it may drive, and the limits every call is checked against.

Every agent spawned through the MCP server carries ``options["podium_mcp"]``:
its own name, scope, spawn depth, who spawned it and whether it was given
leave to spawn. That record lives in the daemon, so a limit cannot be dodged
by restarting an MCP server process, and it is read fresh for every call.

A fork copies its parent's options, this record included; a record naming
another agent therefore marks a copy, which sits one level below its parent
and has no leave to spawn.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import UsageError
from .._records import AgentRecord

__all__ = [
    "MCP_META",
    "Caller",
    "LimitExceeded",
    "OutOfScope",
    "check_budget",
    "check_may_spawn",
    "check_slots",
    "identify_caller",
    "is_member",
    "placement",
    "spawn_cap",
    "usd",
]

MCP_META = "podium_mcp"
"""The agent option holding how an agent came to be (see the module docstring)."""


class LimitExceeded(UsageError):
    """A call would go over a limit (agents, depth, leave, budget); nothing was done."""

    code = "limit_exceeded"


class OutOfScope(UsageError):
    """The agent or request named is not one this MCP server may drive."""

    code = "out_of_scope"


@dataclass(frozen=True, kw_only=True)
class Caller:
    """The agent on whose behalf a tool runs (``name`` None: an outside MCP client)."""

    name: str | None
    depth: int
    may_spawn: bool
    scope: str
    cwd: str
    record: AgentRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.name,
            "depth": self.depth,
            "may_spawn": self.may_spawn,
            "scope": self.scope,
        }


def _meta(agent: AgentRecord) -> Mapping[str, Any] | None:
    meta = agent.options.get(MCP_META)
    return meta if isinstance(meta, Mapping) else None


def placement(agent: AgentRecord) -> tuple[str | None, int, bool]:
    """(scope, depth, leave to spawn) of an agent; scope None if not spawned through MCP."""
    meta = _meta(agent)
    if meta is None:
        return None, 0, True
    scope = meta.get("scope")
    depth = meta.get("depth")
    depth = depth if isinstance(depth, int) and not isinstance(depth, bool) else 0
    if meta.get("agent") != agent.name:
        # A fork: a copy of its parent's record, one level down and without leave.
        return (scope if isinstance(scope, str) else None), depth + 1, False
    return (scope if isinstance(scope, str) else None), depth, meta.get("leave") is True


def is_member(agent: AgentRecord, scope: str) -> bool:
    """True for an agent spawned (or forked) in ``scope`` below its root."""
    found, depth, _ = placement(agent)
    return found == scope and depth >= 1


def identify_caller(
    agents: Iterable[AgentRecord], *, named: str | None, scope: str, parent_pid: int | None = None
) -> Caller:
    """The calling agent, from the process tree first, then from the configured name.

    The CLI that started this stdio server is our parent process, and the
    daemon records every agent's process id: that identifies the caller even
    when a fork inherited its parent's configuration. A name that matches no
    live agent is refused; no name at all means an outside client at depth 0.
    """
    live = list(agents)
    ppid = os.getppid() if parent_pid is None else parent_pid
    record = next((a for a in live if a.pid is not None and a.pid == ppid), None)
    if record is None and named is not None:
        record = next((a for a in live if a.name == named), None)
        if record is None:
            raise OutOfScope(
                f"this MCP server acts for agent {named!r}, which does not exist (any more)",
                agent=named,
            )
    if record is None:
        return Caller(name=None, depth=0, may_spawn=True, scope=scope, cwd=os.getcwd())
    found, depth, leave = placement(record)
    return Caller(
        name=record.name,
        depth=depth,
        may_spawn=leave,
        scope=found or scope,
        cwd=record.cwd,
        record=record,
    )


def check_may_spawn(caller: Caller, max_depth: int, *, what: str = "spawn") -> None:
    """Depth and leave: a worker spawns only with leave, and never at or past max depth."""
    who = f"agent {caller.name!r}" if caller.name else "this client"
    if caller.depth >= max_depth:
        raise LimitExceeded(
            f"cannot {what}: {who} is at spawn depth {caller.depth} and the maximum spawn "
            f"depth is {max_depth}; nothing was started",
            limit="max_depth",
            depth=caller.depth,
            max_depth=max_depth,
            agent=caller.name,
        )
    if not caller.may_spawn:
        raise LimitExceeded(
            f"cannot {what}: {who} was not given leave to spawn (spawn_agent allow_spawn=true); "
            "nothing was started",
            limit="leave",
            agent=caller.name,
        )


def check_slots(live_members: int, max_agents: int, wanted: int = 1) -> None:
    if live_members + wanted > max_agents:
        raise LimitExceeded(
            f"cannot spawn: {live_members} agent(s) of this scope are alive and the limit is "
            f"{max_agents}; kill one first (kill_agent). Nothing was started",
            limit="max_agents",
            alive=live_members,
            max_agents=max_agents,
        )


def usd(value: float) -> str:
    """Dollars as people write them: two decimals, more only when they matter."""
    return f"${value:.2f}" if abs(value - round(value, 2)) < 1e-9 else f"${value:.4f}"


def check_budget(spent: float, budget: float | None, *, what: str) -> float | None:
    """What is left of the budget; refuses once nothing is left. None: no budget."""
    if budget is None:
        return None
    left = budget - spent
    if left <= 1e-9:
        raise LimitExceeded(
            f"cannot {what}: the budget of {usd(budget)} is spent ({usd(spent)} so far); "
            "nothing was started",
            limit="budget_usd",
            budget_usd=budget,
            spent_usd=round(spent, 6),
        )
    return left


def spawn_cap(
    requested: float | None, call_budget: float | None, left: float | None
) -> float | None:
    """The new agent's --max-budget-usd: what it asked for, within the per-call cap and budget.

    Asking for more than the per-call cap is refused rather than silently cut.
    """
    if requested is not None and call_budget is not None and requested > call_budget + 1e-9:
        raise LimitExceeded(
            f"cannot spawn: max_budget_usd {usd(requested)} is over the per-call cap of "
            f"{usd(call_budget)}; nothing was started",
            limit="call_budget_usd",
            requested_usd=requested,
            call_budget_usd=call_budget,
        )
    caps = [c for c in (requested, call_budget, left) if c is not None]
    return min(caps) if caps else None
