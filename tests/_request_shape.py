"""What every front shows of a request: the keys the CLI, the HTTP API and the real-CLI
sessions are checked to carry."""

from __future__ import annotations

__all__ = ["REQUEST_KEYS"]

REQUEST_KEYS = frozenset(
    {
        "id",
        "agent",
        "status",
        "result",
        "error",
        "usage",
        "cost_usd",
        "submitted_at",
        "started_at",
        "completed_at",
    }
)
