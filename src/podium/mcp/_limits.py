"""Who is calling, whom it may drive, and the limits every call is checked against.

Every agent spawned through the MCP server carries ``options.mcp`` (``podium_mcp``):
its own name, scope, spawn depth, who spawned it and whether it was given
leave to spawn. That record lives in the daemon, so a limit cannot be dodged
by restarting an MCP server process, and it is read fresh for every call.

A fork copies its parent's options, this record included; a record naming
another agent therefore marks a copy, which sits one level below its parent
and has no leave to spawn.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._errors import UsageError
from .._options import McpPlacement
from .._records import AgentRecord

__all__ = [
    "MCP_META",
    "Caller",
    "LimitExceeded",
    "OutOfScope",
    "OverCap",
    "call_cap",
    "check_budget",
    "check_leave_depth",
    "check_may_spawn",
    "check_not_over_cap",
    "check_slots",
    "identify_caller",
    "is_member",
    "over_cap",
    "own_placement",
    "placement",
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


def placement(agent: AgentRecord) -> tuple[str | None, int, bool]:
    """(scope, depth, leave to spawn) of an agent; scope None if not spawned through MCP."""
    meta = agent.options.mcp
    if meta is None:
        return None, 0, True
    if meta.agent != agent.name:
        # A fork: a copy of its parent's record, one level down and without leave.
        return meta.scope, meta.depth + 1, False
    return meta.scope, meta.depth, meta.leave


def own_placement(agent: AgentRecord) -> McpPlacement | None:
    """The agent's own MCP record (``None`` for a fork, which carries its parent's)."""
    meta = agent.options.mcp
    return meta if meta is not None and meta.agent == agent.name else None


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


def check_leave_depth(name: str, depth: int, max_depth: int) -> None:
    """Leave to spawn is only worth giving to an agent that could use it below max depth."""
    if depth >= max_depth:
        raise LimitExceeded(
            f"cannot give {name!r} leave to spawn: it would be at spawn depth {depth}, "
            f"and the maximum spawn depth is {max_depth}; nothing was started",
            limit="max_depth",
            depth=depth,
            max_depth=max_depth,
            agent=name,
        )


def call_cap(
    requested: float | None, call_budget: float | None, left: float | None, *, what: str
) -> float | None:
    """The most one call may spend: what it asked for, within the per-call cap and budget.

    Asking for more than the per-call cap, or than what is left of the budget,
    is refused rather than silently cut: the caller planned with that figure.
    """
    # Both figures go into the refusal, whichever one the request is over.
    figures = {"requested_usd": requested, "call_budget_usd": call_budget}
    if left is not None:
        figures["left_usd"] = round(left, 6)
    if requested is not None and call_budget is not None and requested > call_budget + 1e-9:
        also = "" if left is None else f" ({usd(left)} is left of this scope's budget)"
        raise LimitExceeded(
            f"cannot {what}: max_budget_usd {usd(requested)} is over the per-call cap of "
            f"{usd(call_budget)}{also}; nothing was started",
            limit="call_budget_usd",
            **figures,
        )
    if requested is not None and left is not None and requested > left + 1e-9:
        also = "" if call_budget is None else f" (the per-call cap is {usd(call_budget)})"
        raise LimitExceeded(
            f"cannot {what}: max_budget_usd {usd(requested)} is more than the {usd(left)} "
            f"left of this scope's budget{also}; nothing was started",
            limit="budget_usd",
            **{k: v for k, v in figures.items() if v is not None},
        )
    caps = [c for c in (requested, call_budget, left) if c is not None]
    return min(caps) if caps else None


@dataclass(frozen=True, kw_only=True)
class OverCap:
    """A finished request that cost more than the per-call cap it was given."""

    request_id: str
    agent: str
    cost_usd: float
    cap_usd: float

    def notice(self) -> str:
        return (
            f"request {self.request_id} cost {usd(self.cost_usd)}, over its per-call cap of "
            f"{usd(self.cap_usd)}: agent {self.agent!r} takes no more work in this scope"
        )


def over_cap(request_id: str, agent: str, cost: float | None, cap: float | None) -> OverCap | None:
    """The overrun of one request, None if it kept to its cap (or has none, or no known cost)."""
    if cap is None or cost is None or cost <= cap + 1e-9:
        return None
    return OverCap(request_id=request_id, agent=agent, cost_usd=cost, cap_usd=cap)


def check_not_over_cap(found: OverCap | None, *, what: str) -> None:
    """An agent that overran a per-call cap is given no more work in the scope."""
    if found is None:
        return
    raise LimitExceeded(
        f"cannot {what} {found.agent!r}: its request {found.request_id} cost "
        f"{usd(found.cost_usd)}, over its per-call cap of {usd(found.cap_usd)}, so it takes "
        "no more work in this scope (kill_agent it and spawn another); nothing was started",
        limit="call_cap_usd",
        agent=found.agent,
        request_id=found.request_id,
        cost_usd=round(found.cost_usd, 6),
        call_cap_usd=found.cap_usd,
    )
