"""FakeOpenAI: a scriptable OpenAI-compatible chat-completions server.

The same rules, records and server thread as FakeAnthropic, speaking the
chat-completions dialect: ``POST /v1/chat/completions`` (JSON or SSE chunks
ending in ``data: [DONE]``) and ``GET /v1/models``. Rule fields mean the same
as for FakeAnthropic; ``system`` matches the ``system``/``developer``
messages, and a trailing run of ``role: "tool"`` messages is what
``tool_result=True`` and ``content`` see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from podium.testing._asgi import BaseApp, Exchange, Request
from podium.testing._cache import PromptCache, chat_prompt, input_usage
from podium.testing._chat import (
    CHAT_ERROR_TYPES,
    chat_chunks,
    chat_completion_json,
    chat_error_body,
    chat_error_event,
)
from podium.testing._fake_server import FakeServer
from podium.testing._record import RecordedRequest
from podium.testing._responses import Answer, estimate_input_tokens, make_answer
from podium.testing._rules import Rule
from podium.testing._state import State
from podium.testing._turn import Turn, chat_turn

__all__ = ["FakeOpenAI"]

_MODEL_CREATED = 1_700_000_000  # a fixed "created" keeps model listings deterministic


class _ChatApp(BaseApp):
    name = "fake OpenAI API"
    request_id_header = "x-request-id"
    # OpenAI signals overload with 503; its SDK retries that like 429.
    shutdown_status = (503, "server_error")

    def __init__(self, state: State, fake: FakeOpenAI) -> None:
        super().__init__(state)
        self._fake = fake

    def read_turn(self, data: dict[str, Any]) -> Turn:
        return chat_turn(data)

    def make_answer(self, rule: Rule | None, data: dict[str, Any], turn: Turn) -> Answer:
        cached = None
        if self._fake.auto_cache and (rule is None or not rule.is_error):
            cached = self._fake._cache.account(chat_prompt(data), salt=turn.model or "")
        estimate = estimate_input_tokens(None, turn.messages)
        return make_answer(
            rule,
            model=turn.model or "",
            default_text=self._state.default_text,
            last_user=turn.last_user_text,
            # OpenAI reports cache reads only.
            input_usage=input_usage(estimate, cached, report_writes=False),
            error_types=CHAT_ERROR_TYPES,
            id_prefixes=("chatcmpl-", "call_"),
        )

    def error_payload(self, status: int, error_type: str, message: str) -> Any:
        return chat_error_body(status, error_type, message)

    def message_body(self, answer: Answer, data: dict[str, Any]) -> Any:
        return chat_completion_json(answer)

    def stream_events(self, answer: Answer, data: dict[str, Any]) -> Iterable[tuple[bytes, bool]]:
        return chat_chunks(answer, data)

    def stream_error(self, payload: Any) -> bytes:
        return chat_error_event(payload)

    async def route(self, request: Request, turn: Turn, ex: Exchange) -> tuple[int, bool]:
        method, path = request.method, request.path
        if method == "POST" and path == "/v1/chat/completions":
            if not request.data:
                return await self.bad_body(request, ex)
            if not isinstance(request.data.get("messages"), list):
                detail = "'messages' is a required list"
                return await self.send_error(ex, 400, "invalid_request_error", detail)
            return await self.answer_turn(request, turn, ex)
        if method in ("GET", "HEAD") and path in ("/", "", "/v1", "/v1/"):
            return await self.send_json(ex, 200, {})
        if method == "GET" and path == "/v1/models":
            models = [_model_json(m) for m in self._fake.models]
            return await self.send_json(ex, 200, {"object": "list", "data": models})
        if method == "GET" and path.startswith("/v1/models/"):
            model_id = path.removeprefix("/v1/models/")
            if model_id in self._fake.models:
                return await self.send_json(ex, 200, _model_json(model_id))
            detail = f"The model '{model_id}' does not exist"
            return await self.send_error(ex, 404, "invalid_request_error", detail)
        return await self.send_error(ex, 404, "not_found_error", f"fake API has no {method} {path}")


def _model_json(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": "podium"}


class FakeOpenAI(FakeServer):
    """A fake OpenAI-compatible chat-completions API answering from ordered :class:`Rule` s.

    :attr:`base_url` ends in ``/v1``, ready for ``openai.OpenAI(base_url=...)``.
    ``models`` is what ``GET /v1/models`` lists. ``auto_cache``: when a rule
    sets no usage, report ``prompt_tokens_details.cached_tokens`` for the
    longest prompt prefix (whole messages, at least 1024 tokens) an earlier
    request already sent, as OpenAI's automatic prompt caching does.
    Pending answers get a 503 ``server_error`` when the fake stops.
    """

    url_suffix = "/v1"

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        default_text: str = "OK",
        *,
        models: Iterable[str] = ("fake-model",),
        auto_cache: bool = False,
    ) -> None:
        super().__init__(rules, default_text)
        self.models: list[str] = list(models)
        self.auto_cache = auto_cache
        self._cache = PromptCache()

    def _make_app(self) -> BaseApp:
        return _ChatApp(self._state, self)

    def clear_cache(self) -> None:
        """Forget every cached prompt prefix, as if the real cache had expired."""
        self._cache.clear()

    @staticmethod
    def _conversation_text(record: RecordedRequest) -> str:
        return chat_turn({"messages": record.messages}).conversation_text
