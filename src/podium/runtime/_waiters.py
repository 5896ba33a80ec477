"""Whoever waits for a request's end: told of it with the finished record, not by reading."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .._errors import DaemonStopping, WaitTimeout
from .._records import RequestRecord

__all__ = ["Waiters"]


class Waiters:
    """Futures for the ends of requests, by request id."""

    def __init__(self) -> None:
        # None: the daemon is stopping, the request has not ended.
        self._futures: dict[str, list[asyncio.Future[RequestRecord | None]]] = {}
        self._ended = False

    def resolve(self, request: RequestRecord) -> None:
        """``request`` has ended: every waiter for it gets this record."""
        for waiter in self._futures.pop(request.id, []):
            if not waiter.done():
                waiter.set_result(request)

    def resume(self) -> None:
        """Started again after a stop: waits wait as before."""
        self._ended = False

    def end_all(self) -> None:
        """The daemon is stopping: every wait, now or later, for a request that has not
        ended raises DaemonStopping (the request itself is left as it is)."""
        self._ended = True
        for waiters in self._futures.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait(
        self,
        read: Callable[[str], Awaitable[RequestRecord]],
        request_id: str,
        timeout: float | None,
    ) -> RequestRecord:
        """The request once it has ended (``read`` reads it); WaitTimeout after
        ``timeout`` s, which cancels nothing."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # In place before the read: an end recorded earlier is read, a later one
            # hands its record to the waiter (no read after it).
            finished: asyncio.Future[RequestRecord | None]
            finished = asyncio.get_running_loop().create_future()
            self._futures.setdefault(request_id, []).append(finished)
            try:
                request = await read(request_id)
                if request.done:
                    return request
                if self._ended:
                    raise _stopping(request_id)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is None or remaining > 0:
                    try:
                        told = await asyncio.wait_for(finished, remaining)
                    except TimeoutError:
                        told = await read(request_id)
                    if told is None:
                        raise _stopping(request_id)
                    request = told
                if request.done:
                    return request
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeout(
                        f"request {request_id} is still {request.state.value} after {timeout:g} s",
                        request_id=request_id,
                        state=request.state.value,
                    )
            finally:
                waiters = self._futures.get(request_id)
                if waiters is not None and finished in waiters:
                    waiters.remove(finished)
                    if not waiters:
                        del self._futures[request_id]


def _stopping(request_id: str) -> DaemonStopping:
    return DaemonStopping(
        f"the daemon is shutting down before request {request_id} ended; "
        f"`podium wait {request_id}` once it is started again",
        request_id=request_id,
    )
