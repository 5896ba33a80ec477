"""The approval inbox as :class:`~podium.Client` methods (mixed into it)."""

from __future__ import annotations

from urllib.parse import quote

from ._approvals import ApprovalRecord, check_approval_id
from ._daemon_api import DaemonAPI

__all__ = ["ApprovalCalls"]


class ApprovalCalls(DaemonAPI):
    """``approvals``, ``get_approval``, ``allow``, ``deny``: what ``ask``-mode agents wait on."""

    def approvals(
        self, *, pending_only: bool = True, agent: str | None = None, limit: int = 200
    ) -> list[ApprovalRecord]:
        """The inbox, oldest first: pending approvals (``pending_only=False``: decided
        ones too), of one agent or all."""
        params = {"state": "pending" if pending_only else "all", "agent": agent, "limit": limit}
        return [ApprovalRecord.from_dict(a) for a in self._call("GET", "/approvals", params=params)]

    def get_approval(self, approval_id: str) -> ApprovalRecord:
        return ApprovalRecord.from_dict(self._call("GET", f"/approvals/{_approval(approval_id)}"))

    def allow(self, approval_id: str) -> ApprovalRecord:
        """Allow the tool use: the agent's CLI runs it. ``ApprovalDecided`` if it was
        decided already (or timed out, or its request ended)."""
        path = f"/approvals/{_approval(approval_id)}/allow"
        return ApprovalRecord.from_dict(self._call("POST", path))

    def deny(self, approval_id: str, reason: str | None = None) -> ApprovalRecord:
        """Deny the tool use; the model reads ``reason`` as the tool's result."""
        path = f"/approvals/{_approval(approval_id)}/deny"
        return ApprovalRecord.from_dict(self._call("POST", path, body={"reason": reason}))


def _approval(approval_id: str) -> str:
    return quote(check_approval_id(approval_id), safe="")
