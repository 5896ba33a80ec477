"""Non-urgent turns through the Message Batches API: half the price, later answers.

Turns submitted within one short window go out as one batch; the batch is polled
until it ends and each result is handed back to the turn that asked, by its
``custom_id``. A turn abandoned meanwhile (interrupted, cancelled) simply drops
its result; a batch nobody waits for any more is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic

from .._api_types import APIFailure, Completion

__all__ = ["DEFAULT_BATCH_POLL", "DEFAULT_BATCH_WINDOW", "Batcher"]

DEFAULT_BATCH_WINDOW = 2.0
"""Seconds a batch stays open for more turns after its first one."""
DEFAULT_BATCH_POLL = 10.0
"""Seconds between looks at a running batch."""

_log = logging.getLogger("podium.backends.batches")


@dataclass
class _Pending:
    params: dict[str, Any]
    future: asyncio.Future[Completion]


class Batcher:
    """Collects batch turns for one endpoint and credential, on one event loop."""

    def __init__(
        self,
        client_factory: Callable[[], anthropic.AsyncAnthropic],
        *,
        window: float = DEFAULT_BATCH_WINDOW,
        poll_interval: float = DEFAULT_BATCH_POLL,
    ) -> None:
        self._client_factory = client_factory
        self._client: anthropic.AsyncAnthropic | None = None
        self.window = window
        self.poll_interval = poll_interval
        self._open: dict[str, _Pending] = {}
        self._closer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, params: dict[str, Any]) -> Completion:
        custom_id = uuid.uuid4().hex
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._open[custom_id] = _Pending(params, future)
        if self._closer is None:
            self._closer = asyncio.create_task(self._close_window())
        return await future

    async def _close_window(self) -> None:
        await asyncio.sleep(self.window)
        batch, self._open, self._closer = self._open, {}, None
        task = asyncio.create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _client_now(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def _run(self, batch: dict[str, _Pending]) -> None:
        # Imported here: the provider module builds batchers, so it imports this one.
        from ._provider import api_failure, completion_from_message

        waiting = {cid: p for cid, p in batch.items() if not p.future.done()}
        if not waiting:
            return
        client = self._client_now()
        model = str(next(iter(waiting.values())).params.get("model"))
        batch_id: str | None = None
        try:
            created = await client.messages.batches.create(
                requests=[
                    {"custom_id": cid, "params": p.params}  # type: ignore[typeddict-item]
                    for cid, p in waiting.items()
                ]
            )
            batch_id = created.id
            status = created.processing_status
            while status != "ended":
                if all(p.future.done() for p in waiting.values()):
                    await client.messages.batches.cancel(batch_id)
                    return
                await asyncio.sleep(self.poll_interval)
                status = (await client.messages.batches.retrieve(batch_id)).processing_status
            async for entry in await client.messages.batches.results(batch_id):
                pending = waiting.pop(entry.custom_id, None)
                if pending is None or pending.future.done():
                    continue
                result = entry.result
                if result.type == "succeeded":
                    pending.future.set_result(
                        completion_from_message(result.message, batch_id=batch_id)
                    )
                elif result.type == "errored":
                    error = result.error.error
                    pending.future.set_exception(
                        APIFailure(
                            f"batch {batch_id}: {error.type}: {error.message}",
                            status=None,
                            retryable=error.type in ("overloaded_error", "api_error"),
                            batch_id=batch_id,
                        )
                    )
                else:
                    pending.future.set_exception(
                        APIFailure(
                            f"batch {batch_id}: the request was {result.type}",
                            status=None,
                            retryable=result.type == "expired",
                            batch_id=batch_id,
                        )
                    )
            for pending in waiting.values():
                if not pending.future.done():
                    pending.future.set_exception(
                        APIFailure(
                            f"batch {batch_id} ended without a result for this turn",
                            status=None,
                            retryable=False,
                            batch_id=batch_id,
                        )
                    )
        except anthropic.AnthropicError as exc:
            failure = api_failure(exc, model=model)
            for pending in waiting.values():
                if not pending.future.done():
                    pending.future.set_exception(failure)
        except asyncio.CancelledError:
            if batch_id is not None:
                with contextlib.suppress(anthropic.AnthropicError):
                    await client.messages.batches.cancel(batch_id)
            raise

    async def aclose(self) -> None:
        for task in [*self._running, *([self._closer] if self._closer else [])]:
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(BaseException):
                await task
        if self._client is not None:
            await self._client.close()
            self._client = None
