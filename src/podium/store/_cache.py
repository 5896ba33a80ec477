"""Records the SQLite store has read or written, kept decoded.

A turn reads and rewrites its agent and its request several times; decoding the
stored JSON each time was most of the store's CPU in a turn. The cache holds only
what this connection has seen of the committed state:

* another connection's commit (another process on the same file) changes SQLite's
  ``PRAGMA data_version`` for this one, and the cache is emptied at the next read;
* a rolled back transaction empties it too (what it wrote was cached already).

Records are frozen; the cache hands out the same objects it keeps.
"""

from __future__ import annotations

from collections import OrderedDict

from .._records import AgentRecord, RequestRecord

__all__ = ["RecordCache"]

# Requests: the ones under way and just ended are what gets read again.
_MAX_REQUESTS = 256


class RecordCache:
    def __init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        self._requests: OrderedDict[str, RequestRecord] = OrderedDict()
        self._version: int | None = None

    def check(self, data_version: int) -> None:
        """Forget everything if the database changed under another connection."""
        if data_version != self._version:
            self.forget()
            self._version = data_version

    def forget(self) -> None:
        self.agents.clear()
        self._requests.clear()

    def request(self, request_id: str) -> RequestRecord | None:
        return self._requests.get(request_id)

    def keep_request(self, request: RequestRecord) -> None:
        self._requests[request.id] = request
        self._requests.move_to_end(request.id)
        if len(self._requests) > _MAX_REQUESTS:
            self._requests.popitem(last=False)
