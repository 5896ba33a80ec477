"""The JSON shapes the tools answer with: agents, requests, runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._records import AgentRecord, RequestRecord
from ._limits import over_cap, own_placement, placement

if TYPE_CHECKING:
    from ..orchestration import RunRecord

__all__ = ["agent_json", "request_json", "run_json"]


def agent_json(agent: AgentRecord, *, over_budget: bool = False) -> dict[str, Any]:
    _, depth, leave = placement(agent)
    own = own_placement(agent)
    return {
        "name": agent.name,
        "status": agent.status.value,
        "model": agent.resolved_model or agent.model,
        "worker": own.worker if own is not None else None,
        "depth": depth,
        "may_spawn": leave,
        "spawned_by": own.spawned_by if own is not None else None,
        "forked_from": agent.forked_from,
        "request_count": agent.request_count,
        "cost_usd": agent.cost_usd,
        # cost_usd leaves these out: it is a floor, not the total, when this is > 0.
        "unpriced_requests": agent.unpriced_requests,
        "last_request_id": agent.last_request_id,
        # True once one of its requests cost more than its per-call cap: no more work.
        "over_budget": over_budget,
    }


def request_json(request: RequestRecord, *, cap: float | None = None) -> dict[str, Any]:
    """A request; ``cap`` is the per-call cap it was given (None: none)."""
    cost = request.cost_usd if request.cost_known else None
    over = over_cap(request.id, request.agent, cost, cap) if request.done else None
    out = {
        "request_id": request.id,
        "agent": request.agent,
        "state": request.state.value,
        "done": request.done,
        "result": request.result,
        "error": request.error,
        # None, not 0, when the model that answered has no price.
        "cost_usd": cost,
        "call_cap_usd": cap,
        "over_budget": over is not None,
    }
    if over is not None:
        out["over_budget_notice"] = over.notice()
    return out


def run_json(run: RunRecord, *, report: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": run.id,
        "state": run.state.value,
        "done": run.done,
        "cost_usd": run.cost_usd,
        "budget_usd": run.budget_usd,
        "tasks": [
            {
                "task_id": t.task_id,
                "worker": t.worker,
                "state": t.state.value,
                "cost_usd": t.cost_usd,
            }
            for t in run.tasks
        ],
    }
    if run.done:
        out["error"] = run.error
        out["report"] = report
    return out
