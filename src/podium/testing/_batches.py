"""The Message Batches API of the fake: batches, their lifecycle, their wire shapes.

A batch is ``in_progress`` from creation until its processing time
(``FakeAnthropic.batch_delay``) has passed, and is processed lazily: the first
request that looks at it afterwards (retrieve, list, results, cancel) answers
every request in it with the same rules as ``POST /v1/messages`` and ends it.
With the default delay of 0 that is the first retrieve after creation; with
None it stays ``in_progress`` until ``FakeAnthropic.end_batches()``. Delays
and chunk delays of rules do not apply inside a batch.

Cancelling marks the batch ``canceling``; the next look ends it with every
request ``canceled`` (the fake has no requests in flight to finish first).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from podium._errors import UsageError
from podium.testing._responses import Answer, error_body, message_json
from podium.testing._rules import ToolCall

__all__ = [
    "Answerer",
    "BatchRecord",
    "BatchRequest",
    "BatchStore",
    "batch_json",
    "parse_batch_requests",
    "result_line",
]

_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_EXPIRY = 24 * 3600.0  # the real API gives up on a batch after a day

# Answers one request's params: (index of the rule that answered, the answer).
Answerer = Callable[[dict[str, Any]], tuple[int | None, Answer]]


@dataclass(frozen=True)
class BatchRequest:
    """One request in a batch and, once processed, how it was answered.

    ``result_type`` is None while the batch is in progress, then one of
    ``succeeded``, ``errored``, ``canceled``, ``expired``.
    """

    custom_id: str
    params: dict[str, Any]
    result_type: str | None = None
    rule_index: int | None = None
    status: int | None = None
    response_text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchRecord:
    """A snapshot of one batch, for assertions."""

    id: str
    processing_status: str
    created_at: float
    requests: tuple[BatchRequest, ...]
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    due: float | None = None  # time.monotonic() when processing ends; None = manual

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"

    def count(self, result_type: str) -> int:
        return sum(1 for r in self.requests if r.result_type == result_type)


def parse_batch_requests(data: Mapping[str, Any]) -> list[BatchRequest]:
    """Check a create body as the real API does; a UsageError names the bad request."""
    requests = data.get("requests")
    if not isinstance(requests, list) or not requests:
        raise UsageError("requests: must be a non-empty list")
    parsed: list[BatchRequest] = []
    seen: set[str] = set()
    for i, item in enumerate(requests):
        if not isinstance(item, Mapping):
            raise UsageError(f"requests.{i}: must be an object", index=i)
        custom_id, params = item.get("custom_id"), item.get("params")
        if not isinstance(custom_id, str) or _CUSTOM_ID.fullmatch(custom_id) is None:
            raise UsageError(f"requests.{i}.custom_id: must match [a-zA-Z0-9_-]{{1,64}}", index=i)
        if custom_id in seen:
            raise UsageError(f"requests.{i}.custom_id: duplicate {custom_id!r}", index=i)
        seen.add(custom_id)
        if not isinstance(params, Mapping):
            raise UsageError(f"requests.{i}.params: must be an object", index=i)
        if not isinstance(params.get("model"), str) or not isinstance(params.get("messages"), list):
            raise UsageError(f"requests.{i}.params: needs 'model' and 'messages'", index=i)
        if params.get("stream") is True:
            raise UsageError(f"requests.{i}.params.stream: not supported in a batch", index=i)
        parsed.append(BatchRequest(custom_id=custom_id, params=dict(params)))
    return parsed


def result_line(request: BatchRequest) -> dict[str, Any]:
    """One line of the results file."""
    return {"custom_id": request.custom_id, "result": request.result or {"type": "expired"}}


def _answered(request: BatchRequest, index: int | None, answer: Answer) -> BatchRequest:
    if answer.status != 200:
        error = error_body(answer.error_type or "api_error", answer.error_message or "")
        result: dict[str, Any] = {"type": "errored", "error": error}
    else:
        result = {"type": "succeeded", "message": message_json(answer)}
    return replace(
        request,
        result_type=result["type"],
        rule_index=index,
        status=answer.status,
        response_text=answer.text,
        tool_calls=answer.tool_calls,
        result=result,
    )


def _unanswered(request: BatchRequest, result_type: str) -> BatchRequest:
    return replace(request, result_type=result_type, result={"type": result_type})


class BatchStore:
    """Every batch of one fake, newest last; thread-safe (tests end batches directly).

    Processing happens under the store's lock, so a batch is answered exactly
    once even when a test and the server look at it together.
    """

    def __init__(self, delay: float | None = 0.0) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, BatchRecord] = {}
        self.delay = delay

    def create(self, requests: list[BatchRequest]) -> BatchRecord:
        delay = self.delay
        record = BatchRecord(
            id=f"msgbatch_{uuid.uuid4().hex[:24]}",
            processing_status="in_progress",
            created_at=time.time(),
            requests=tuple(requests),
            due=None if delay is None else time.monotonic() + delay,
        )
        with self._lock:
            self._batches[record.id] = record
        return record

    def get(self, batch_id: str) -> BatchRecord | None:
        with self._lock:
            return self._batches.get(batch_id)

    def all(self) -> list[BatchRecord]:
        with self._lock:
            return list(self._batches.values())

    def advance(self, answer: Answerer, *, force: bool = False) -> None:
        """End every batch that is due (``force``: every unfinished one)."""
        now = time.monotonic()
        with self._lock:
            for batch_id, batch in list(self._batches.items()):
                if batch.processing_status == "canceling":
                    self._end(batch_id, "canceled", None)
                elif batch.processing_status == "in_progress" and (
                    force or (batch.due is not None and batch.due <= now)
                ):
                    self._end(batch_id, "", answer)

    def expire(self) -> None:
        """End every unfinished batch with its requests ``expired``."""
        with self._lock:
            for batch_id, batch in list(self._batches.items()):
                if batch.processing_status != "ended":
                    self._end(batch_id, "expired", None)

    def _end(self, batch_id: str, result_type: str, answer: Answerer | None) -> None:
        batch = self._batches[batch_id]
        if answer is not None:
            requests = tuple(_answered(r, *answer(r.params)) for r in batch.requests)
        else:
            requests = tuple(_unanswered(r, result_type) for r in batch.requests)
        self._batches[batch_id] = replace(
            batch, processing_status="ended", ended_at=time.time(), requests=requests
        )

    def cancel(self, batch_id: str) -> BatchRecord | None:
        """Start cancelling; None when unknown. UsageError once the batch has ended."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None
            if batch.processing_status == "ended":
                raise UsageError(f"batch {batch_id} has already ended", batch_id=batch_id)
            if batch.processing_status == "in_progress":
                batch = replace(
                    batch, processing_status="canceling", cancel_initiated_at=time.time()
                )
                self._batches[batch_id] = batch
            return batch

    def delete(self, batch_id: str) -> BatchRecord | None:
        """Forget an ended batch; None when unknown. UsageError while it is processing."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None
            if batch.processing_status != "ended":
                raise UsageError(
                    f"batch {batch_id} is still processing; cancel it first", batch_id=batch_id
                )
            return self._batches.pop(batch_id)


def _rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def batch_json(batch: BatchRecord, base_url: str) -> dict[str, Any]:
    """The batch object; ``results_url`` points back at this fake once it has ended."""
    ended = batch.processing_status == "ended"
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if ended:
        for kind in ("succeeded", "errored", "canceled", "expired"):
            counts[kind] = batch.count(kind)
    else:
        # As in the real API, requests count as processing until the whole batch ends.
        counts["processing"] = len(batch.requests)
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": batch.processing_status,
        "request_counts": counts,
        "created_at": _rfc3339(batch.created_at),
        "expires_at": _rfc3339(batch.created_at + _EXPIRY),
        "ended_at": _rfc3339(batch.ended_at),
        "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
        "archived_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
    }
