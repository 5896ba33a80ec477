"""The Redis store's approvals (see ``_redis`` for the rest of the layout)::

    approval:<id>     string: the record's JSON
    approvals         zset: every approval id, by created_at

Each save writes both keys in one MULTI, so a listing never sees half of it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

import redis.asyncio as aioredis

from .._approvals import ApprovalNotFound, ApprovalRecord, ApprovalState

__all__ = ["RedisApprovals"]


class RedisApprovals:
    """Mixed into :class:`~podium.store._redis.RedisStore`."""

    _client: aioredis.Redis

    def _key(self, *parts: str) -> str:
        raise NotImplementedError

    def _errors(self, operation: str) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    async def save_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        with self._errors("save_approval"):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self._key("approval", approval.id), json.dumps(approval.to_dict()))
                pipe.zadd(self._key("approvals"), {approval.id: approval.created_at})
                await pipe.execute()
        return approval

    async def get_approval(self, approval_id: str) -> ApprovalRecord:
        with self._errors("get_approval"):
            data = await self._client.get(self._key("approval", approval_id))
        if data is None:
            raise ApprovalNotFound(f"no approval with id {approval_id!r}", approval_id=approval_id)
        return ApprovalRecord.from_dict(json.loads(data))

    async def list_approvals(
        self,
        *,
        states: Iterable[ApprovalState] | None = None,
        agent: str | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRecord]:
        wanted = None if states is None else {ApprovalState(s) for s in states}
        if limit == 0 or wanted == set():
            return []
        with self._errors("list_approvals"):
            ids: list[Any] = await self._client.zrange(self._key("approvals"), 0, -1)
            keys = [self._key("approval", _text(i)) for i in ids]
            found = await self._client.mget(keys) if keys else []
        records = sorted(
            (r for r in _records(found) if _matches(r, wanted, agent)),
            key=lambda r: (r.created_at, r.id),
        )
        return records if limit is None or limit < 0 else records[-limit:]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _records(found: Iterable[Any]) -> Iterator[ApprovalRecord]:
    for data in found:
        if data is not None:
            yield ApprovalRecord.from_dict(json.loads(data))


def _matches(record: ApprovalRecord, states: set[ApprovalState] | None, agent: str | None) -> bool:
    return (states is None or record.state in states) and (agent is None or record.agent == agent)
