"""The approval inbox: ``ask``-mode tool uses waiting for a person's decision.

A waiting tool use is an :class:`ApprovalRecord` in the store (so every front
lists it) and a future here (so the decision reaches the CLI that asked). It
ends exactly once: allowed or denied by a person, denied when its
``approval_timeout`` runs out, or denied (``cancelled``) when its request ends
first. Each end is recorded on the record and as an ``approval_decided`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from .._approvals import (
    ApprovalDecided,
    ApprovalRecord,
    ApprovalState,
    check_approval_id,
    new_approval_id,
    summarise_input,
)
from .._names import check_name
from .._option_values import DEFAULT_APPROVAL_TIMEOUT
from .._records import EventKind
from ..backends import PermissionAnswer

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = ["ApprovalDesk"]

_log = logging.getLogger("podium.runtime")
_REASON_LIMIT = 2000


class ApprovalDesk:
    """The runtime's pending approvals and the decisions that end them."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiting: dict[str, asyncio.Future[ApprovalRecord]] = {}
        self._request_of: dict[str, str | None] = {}
        self._deciding: set[str] = set()

    # --- asked by an agent's CLI (through its actor) ----------------------------------

    async def ask(
        self,
        *,
        agent: str,
        request_id: str | None,
        tool: str,
        tool_input: dict[str, Any],
        control_id: str,
        timeout: float | None,
    ) -> PermissionAnswer:
        """Record the tool use as pending and wait for its decision."""
        runtime = self._runtime
        seconds = timeout or DEFAULT_APPROVAL_TIMEOUT
        record = ApprovalRecord(
            id=new_approval_id(),
            agent=agent,
            request_id=request_id,
            control_id=control_id,
            tool=tool,
            input=summarise_input(tool_input),
            state=ApprovalState.PENDING,
            created_at=time.time(),
            timeout=seconds,
        )
        future: asyncio.Future[ApprovalRecord] = asyncio.get_running_loop().create_future()
        self._waiting[record.id] = future
        self._request_of[record.id] = request_id
        try:
            await runtime.store.save_approval(record)
            await runtime.emit(
                EventKind.APPROVAL_REQUESTED,
                agent=agent,
                request_id=request_id,
                data=record.to_dict(),
            )
            try:
                decided = await asyncio.wait_for(asyncio.shield(future), seconds)
            except TimeoutError:
                decided = await self._timed_out(record, future)
        except asyncio.CancelledError:
            # The CLI withdrew its question (its turn was interrupted) or the
            # process is going away: the record must not stay pending.
            if not future.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        self._end(record.id, ApprovalState.CANCELLED, "the turn ended", "podium")
                    )
            raise
        finally:
            self._waiting.pop(record.id, None)
            self._request_of.pop(record.id, None)
        return _answer(decided)

    async def _timed_out(
        self, record: ApprovalRecord, future: asyncio.Future[ApprovalRecord]
    ) -> ApprovalRecord:
        reason = (
            f"denied: nobody allowed or denied this {record.tool} call within "
            f"{record.timeout:g} s (the agent's approval_timeout)"
        )
        try:
            return await self._end(record.id, ApprovalState.TIMED_OUT, reason, "timeout")
        except ApprovalDecided:
            # Decided at the same moment: that decision stands.
            return await future

    # --- decided by a person ----------------------------------------------------------

    async def allow(self, approval_id: str) -> ApprovalRecord:
        return await self._end(check_approval_id(approval_id), ApprovalState.ALLOWED, None, "user")

    async def deny(self, approval_id: str, reason: str | None = None) -> ApprovalRecord:
        text = (reason or "").strip()[:_REASON_LIMIT] or None
        return await self._end(check_approval_id(approval_id), ApprovalState.DENIED, text, "user")

    async def list(
        self, *, pending_only: bool = True, agent: str | None = None, limit: int | None = 200
    ) -> list[ApprovalRecord]:
        if agent is not None:
            check_name(agent)
        states = [ApprovalState.PENDING] if pending_only else None
        return await self._runtime.store.list_approvals(states=states, agent=agent, limit=limit)

    async def get(self, approval_id: str) -> ApprovalRecord:
        return await self._runtime.store.get_approval(check_approval_id(approval_id))

    # --- ended by podium --------------------------------------------------------------

    async def end_request(self, request_id: str, why: str) -> None:
        """Deny what a request still waits on: it was cancelled, killed or ended."""
        waiting = [a for a, r in self._request_of.items() if r == request_id]
        for approval_id in waiting:
            with contextlib.suppress(ApprovalDecided):
                await self._end(approval_id, ApprovalState.CANCELLED, why, "podium")

    async def end_orphans(self) -> None:
        """At start: approvals left pending by a runtime that stopped have nobody
        waiting on them any more (their CLI went with it)."""
        for approval in await self._runtime.store.list_approvals(states=[ApprovalState.PENDING]):
            if approval.id not in self._waiting:
                with contextlib.suppress(ApprovalDecided):
                    await self._end(
                        approval.id, ApprovalState.CANCELLED, "podium restarted", "podium"
                    )

    # --- the one way an approval ends -------------------------------------------------

    async def _end(
        self, approval_id: str, state: ApprovalState, reason: str | None, by: str
    ) -> ApprovalRecord:
        runtime = self._runtime
        future = self._waiting.get(approval_id)
        if approval_id in self._deciding or (future is not None and future.done()):
            raise _already(await runtime.store.get_approval(approval_id))
        self._deciding.add(approval_id)
        try:
            record = await runtime.store.get_approval(approval_id)
            if not record.pending:
                raise _already(record)
            decided = record.replace(
                state=state, reason=reason, decided_at=time.time(), decided_by=by
            )
            await runtime.store.save_approval(decided)
            if future is not None and not future.done():
                future.set_result(decided)
            try:
                await runtime.emit(
                    EventKind.APPROVAL_DECIDED,
                    agent=decided.agent,
                    request_id=decided.request_id,
                    data={
                        "id": decided.id,
                        "tool": decided.tool,
                        "state": decided.state.value,
                        "reason": decided.reason,
                        "decided_by": by,
                    },
                )
            except Exception:
                # Decided and stored: a lost event must not undo the decision.
                _log.exception("approval %s: could not record its decision event", approval_id)
            return decided
        finally:
            self._deciding.discard(approval_id)


def _already(record: ApprovalRecord) -> ApprovalDecided:
    return ApprovalDecided(
        f"approval {record.id} is already {record.state.value}",
        approval_id=record.id,
        state=record.state.value,
    )


def _answer(record: ApprovalRecord) -> PermissionAnswer:
    if record.state is ApprovalState.ALLOWED:
        return PermissionAnswer(allow=True)
    if record.state is ApprovalState.DENIED:
        why = f": {record.reason}" if record.reason else ""
        return PermissionAnswer(allow=False, message=f"The user denied this tool use{why}")
    return PermissionAnswer(allow=False, message=f"Tool use not approved: {record.reason}")
