"""An agent's turn to hold a warm slot: waiting for it, and saying why it waits."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from .._backend_info import BackendName
from .._errors import PodiumError
from .._records import AgentRecord, EventKind, RequestRecord
from ._pool import WaitReason

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = ["POOLED_BACKENDS", "request_priority", "take_slot"]

# Backends whose agents hold a process of their own; the API backends hold none.
POOLED_BACKENDS = frozenset({BackendName.CLAUDE_CODE.value})


def request_priority(request: RequestRecord | None) -> int:
    """A run task's priority (its plan's), carried in the request's meta; else 0."""
    if request is None:
        return 0
    value = request.meta.get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def take_slot(runtime: Runtime, agent: AgentRecord, request: RequestRecord | None) -> None:
    """Wait for a warm slot for ``agent``'s process (no wait for an API backend).

    While it waits, the request's meta says why (``slot_wait``) and a
    ``waiting_for_slot`` event is emitted each time the reason changes.
    """
    if agent.backend not in POOLED_BACKENDS:
        return
    reasons: list[dict[str, Any]] = []

    async def on_wait(reason: WaitReason) -> None:
        reasons.append(reason.to_dict())
        await runtime.emit(
            EventKind.WAITING_FOR_SLOT,
            agent=agent.name,
            request_id=request.id if request else None,
            data=reason.to_dict(),
        )
        if request is not None:
            with contextlib.suppress(PodiumError):
                current = await runtime.store.get_request(request.id)
                await runtime.store.update_request(
                    request.id, meta={**current.meta, "slot_wait": reason.to_dict()}
                )

    waited = await runtime.pool.acquire(
        agent.name, priority=request_priority(request), on_wait=on_wait
    )
    if reasons and request is not None:
        with contextlib.suppress(PodiumError):
            current = await runtime.store.get_request(request.id)
            await runtime.store.update_request(
                request.id,
                meta={
                    **current.meta,
                    "slot_wait": {**reasons[-1], "waited_s": round(waited, 3)},
                },
            )
