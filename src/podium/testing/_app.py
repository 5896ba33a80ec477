"""The ASGI app that impersonates the Anthropic API: Messages, token counting, Batches."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from podium._errors import UsageError
from podium.testing._asgi import BaseApp, Exchange, Request
from podium.testing._batches import (
    BatchStore,
    batch_json,
    parse_batch_requests,
    result_line,
)
from podium.testing._cache import PromptCache, anthropic_prompt, input_usage
from podium.testing._responses import (
    Answer,
    error_body,
    estimate_input_tokens,
    make_answer,
    message_json,
    sse_events,
)
from podium.testing._rules import Rule
from podium.testing._state import State
from podium.testing._text import strip_reminders
from podium.testing._turn import Turn, anthropic_turn

__all__ = ["FakeApp", "Responder"]

_BATCH_PATH = re.compile(r"/v1/messages/batches/([^/]+)(?:/(cancel|results))?")
_JSON_BODY_PATHS = ("/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches")
_DEFAULT_PAGE, _MAX_PAGE = 20, 1000


class Responder:
    """Rules + usage estimate -> Answer; shared by live turns and batch processing.

    ``cache`` is None unless automatic prompt-cache usage is on (see _cache).
    """

    def __init__(self, state: State, cache: PromptCache | None) -> None:
        self._state = state
        self.cache = cache

    def make_answer(self, rule: Rule | None, data: dict[str, Any], turn: Turn) -> Answer:
        cached = None
        # An error answer never reaches the model, so it neither reads nor writes the cache.
        if self.cache is not None and (rule is None or not rule.is_error):
            cached = self.cache.account(anthropic_prompt(data), salt=turn.model or "")
        estimate = estimate_input_tokens(data.get("system"), turn.messages)
        return make_answer(
            rule,
            model=turn.model or "",
            default_text=self._state.default_text,
            last_user=strip_reminders(turn.last_user_text),
            input_usage=input_usage(estimate, cached),
        )

    def answer_params(self, params: dict[str, Any]) -> tuple[int | None, Answer]:
        """Answer one batch request as a non-streaming POST /v1/messages would be."""
        turn = anthropic_turn(params)
        index, rule = self._state.choose(turn.view)
        return index, self.make_answer(rule, params, turn)


class FakeApp(BaseApp):
    name = "fake Anthropic API"

    def __init__(self, state: State, responder: Responder, batches: BatchStore) -> None:
        super().__init__(state)
        self._responder = responder
        self._batches = batches

    # ------------------------------------------------------------ wire format

    def read_turn(self, data: dict[str, Any]) -> Turn:
        return anthropic_turn(data)

    def make_answer(self, rule: Rule | None, data: dict[str, Any], turn: Turn) -> Answer:
        return self._responder.make_answer(rule, data, turn)

    def error_payload(self, status: int, error_type: str, message: str) -> Any:
        return error_body(error_type, message)

    def message_body(self, answer: Answer, data: dict[str, Any]) -> Any:
        return message_json(answer)

    def stream_events(self, answer: Answer, data: dict[str, Any]) -> Iterable[tuple[bytes, bool]]:
        return sse_events(answer)

    def stream_error(self, payload: Any) -> bytes:
        return f"event: error\ndata: {json.dumps(payload)}\n\n".encode()

    # ------------------------------------------------------------ routes

    async def route(self, request: Request, turn: Turn, ex: Exchange) -> tuple[int, bool]:
        method, path = request.method, request.path
        if method == "POST" and path in _JSON_BODY_PATHS and not request.data:
            return await self.bad_body(request, ex)
        if method == "POST" and path == "/v1/messages":
            return await self.answer_turn(request, turn, ex)
        if method == "POST" and path == "/v1/messages/count_tokens":
            tokens = estimate_input_tokens(request.data.get("system"), turn.messages)
            return await self.send_json(ex, 200, {"input_tokens": tokens})
        if path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/"):
            return await self._batch_route(request, ex)
        return await self.send_json(ex, *self._other(method, path))

    @staticmethod
    def _other(method: str, path: str) -> tuple[int, Any]:
        """Minimal answers for probes the CLI may make besides model turns."""
        if method in ("GET", "HEAD") and path in ("/", ""):
            return 200, {}
        if method == "GET" and path == "/v1/models":
            return 200, {"data": [], "has_more": False, "first_id": None, "last_id": None}
        if method == "GET" and path.startswith("/v1/models/"):
            model_id = path.removeprefix("/v1/models/")
            return 200, {
                "type": "model",
                "id": model_id,
                "display_name": model_id,
                "created_at": "2025-01-01T00:00:00Z",
            }
        return 404, error_body("not_found_error", f"fake API has no {method} {path}")

    # ------------------------------------------------------------ batches

    async def _batch_route(self, request: Request, ex: Exchange) -> tuple[int, bool]:
        method, path = request.method, request.path
        if path == "/v1/messages/batches":
            if method == "POST":
                return await self._create_batch(request, ex)
            if method == "GET":
                return await self._list_batches(request, ex)
        match = _BATCH_PATH.fullmatch(path)
        action = match.group(2) if match else None
        expected = {None: ("GET", "DELETE"), "cancel": ("POST",), "results": ("GET",)}[action]
        if match is None or method not in expected:
            return await self.send_json(ex, *self._other(method, path))
        batch_id = match.group(1)
        self._batches.advance(self._responder.answer_params)
        try:
            if action == "cancel":
                batch = self._batches.cancel(batch_id)
            elif method == "DELETE":
                batch = self._batches.delete(batch_id)
            else:
                batch = self._batches.get(batch_id)
        except UsageError as exc:
            return await self.send_error(ex, 400, "invalid_request_error", exc.message)
        if batch is None:
            return await self.send_error(ex, 404, "not_found_error", f"no batch {batch_id}")
        if method == "DELETE":
            return await self.send_json(ex, 200, {"id": batch.id, "type": "message_batch_deleted"})
        if action == "results":
            if not batch.ended:
                detail = f"batch {batch_id} has not ended; results are not available yet"
                return await self.send_error(ex, 400, "invalid_request_error", detail)
            lines = "".join(json.dumps(result_line(r)) + "\n" for r in batch.requests)
            await ex.raw(200, lines.encode(), "application/x-jsonl", self.response_headers())
            return 200, True
        return await self.send_json(ex, 200, batch_json(batch, request.base_url))

    async def _create_batch(self, request: Request, ex: Exchange) -> tuple[int, bool]:
        try:
            requests = parse_batch_requests(request.data)
        except UsageError as exc:
            return await self.send_error(ex, 400, "invalid_request_error", exc.message)
        batch = self._batches.create(requests)
        return await self.send_json(ex, 200, batch_json(batch, request.base_url))

    async def _list_batches(self, request: Request, ex: Exchange) -> tuple[int, bool]:
        self._batches.advance(self._responder.answer_params)
        newest_first = self._batches.all()[::-1]
        query = request.query
        try:
            limit = int(query.get("limit", _DEFAULT_PAGE))
        except ValueError:
            limit = 0
        if not 1 <= limit <= _MAX_PAGE:
            detail = f"limit: must be an integer from 1 to {_MAX_PAGE}"
            return await self.send_error(ex, 400, "invalid_request_error", detail)
        ids = [b.id for b in newest_first]
        if "before_id" in query:
            end = ids.index(query["before_id"]) if query["before_id"] in ids else 0
            start, has_more = max(0, end - limit), end - limit > 0
        else:
            after = query.get("after_id")
            start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
            end = start + limit
            has_more = end < len(ids)
        page = newest_first[start:end]
        return await self.send_json(
            ex,
            200,
            {
                "data": [batch_json(b, request.base_url) for b in page],
                "has_more": has_more,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
            },
        )
