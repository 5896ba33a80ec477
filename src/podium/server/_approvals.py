"""The approval inbox over HTTP (``/v1/approvals``): what ``ask``-mode agents wait on.

``GET /v1/approvals`` lists the pending approvals (``?state=all``: every one,
decided too); ``POST /v1/approvals/{id}/allow`` and ``.../deny`` (body
``{"reason": "..."}``) decide one. Deciding twice, or after it timed out or its
request ended, answers 409 ``approval_decided``. Every change is also an event
(``approval_requested``, ``approval_decided``) on ``GET /v1/events``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .._approvals import ApprovalRecord, ApprovalState, check_approval_id
from .._names import check_name
from ._app import RuntimeDep, error_responses
from ._models import _Body

__all__ = ["ApprovalOut", "DenyBody", "router"]

router = APIRouter(prefix="/v1", tags=["approvals"])


async def _approval_id(approval_id: str) -> str:
    # Checked like a request id: "../x" is an invalid id, not "not found".
    return check_approval_id(approval_id)


ApprovalId = Annotated[str, Depends(_approval_id)]


class DenyBody(_Body):
    reason: str | None = Field(
        default=None, max_length=2000, description="what the model is told (its tool result)"
    )


class ApprovalOut(BaseModel):
    id: str = Field(description="ap-<12 hex>")
    agent: str
    request_id: str | None
    control_id: str = Field(description="the CLI's id for the tool use")
    tool: str
    input: dict[str, Any] = Field(description="the tool's input: long texts cut, secrets masked")
    state: ApprovalState
    created_at: float
    timeout: float = Field(description="seconds it waits before it is denied")
    decided_at: float | None
    reason: str | None
    decided_by: str | None = Field(description="user, timeout or podium (its request ended)")


def _ok(record: ApprovalRecord) -> JSONResponse:
    return JSONResponse(record.to_dict())


@router.get(
    "/approvals",
    summary="The approval inbox: tool uses of ask-mode agents waiting for a decision",
    response_model=list[ApprovalOut],
    responses=error_responses(),
)
async def list_approvals(
    runtime: RuntimeDep,
    state: Annotated[
        Literal["pending", "all"], Query(description="pending (default) or all")
    ] = "pending",
    agent: Annotated[str | None, Query(description="only this agent's")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> JSONResponse:
    if agent is not None:
        check_name(agent)
    found = await runtime.approvals.list(pending_only=state == "pending", agent=agent, limit=limit)
    return JSONResponse([a.to_dict() for a in found])


@router.get(
    "/approvals/{approval_id}",
    summary="One approval, pending or decided",
    response_model=ApprovalOut,
    responses=error_responses(404),
)
async def get_approval(approval_id: ApprovalId, runtime: RuntimeDep) -> JSONResponse:
    return _ok(await runtime.approvals.get(approval_id))


@router.post(
    "/approvals/{approval_id}/allow",
    summary="Allow the tool use: the agent's CLI runs it",
    response_model=ApprovalOut,
    responses=error_responses(404, 409),
)
async def allow(approval_id: ApprovalId, runtime: RuntimeDep) -> JSONResponse:
    return _ok(await runtime.approvals.allow(approval_id))


@router.post(
    "/approvals/{approval_id}/deny",
    summary="Deny the tool use: the model reads the reason as the tool's result",
    response_model=ApprovalOut,
    responses=error_responses(404, 409),
)
async def deny(
    approval_id: ApprovalId, runtime: RuntimeDep, body: DenyBody | None = None
) -> JSONResponse:
    return _ok(await runtime.approvals.deny(approval_id, body.reason if body else None))
