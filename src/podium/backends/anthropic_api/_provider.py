"""The Messages API through the ``anthropic`` SDK: caching marks, streaming, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic

from ..._errors import BackendError
from ..._records import Usage
from .._api_types import OVERLOADED, APIFailure, Completion, CompletionRequest, parse_retry_after
from ._batches import Batcher

if TYPE_CHECKING:
    from ...pricing import PriceTable

__all__ = ["DEFAULT_MODEL", "AnthropicProvider", "api_failure", "completion_from_message"]

DEFAULT_MODEL = "sonnet"
_EPHEMERAL = {"type": "ephemeral"}
# An error that arrives inside a 200 stream carries its type, not a status.
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": OVERLOADED,
}


def _error_type(body: object) -> tuple[str | None, str | None]:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            kind, message = error.get("type"), error.get("message")
            return (
                kind if isinstance(kind, str) else None,
                message if isinstance(message, str) else None,
            )
    return None, None


def api_failure(exc: Exception, *, model: str) -> APIFailure:
    """The SDK's exception as podium's, with the status and ``retry-after``."""
    if isinstance(exc, anthropic.APIStatusError):
        kind, message = _error_type(exc.body)
        status = exc.status_code
        if status == 200 and kind is not None:
            status = _STATUS_BY_TYPE.get(kind, 500)
        return APIFailure(
            f"HTTP {status} {kind or 'error'}: {message or exc.message}",
            status=status,
            retry_after=parse_retry_after(exc.response.headers),
            model=model,
        )
    if isinstance(exc, anthropic.APIConnectionError):
        return APIFailure(f"cannot reach the API: {exc}", status=None, model=model)
    return APIFailure(f"{type(exc).__name__}: {exc}", status=None, retryable=False, model=model)


def completion_from_message(message: Any, *, batch_id: str | None = None) -> Completion:
    text = "".join(
        block.text for block in message.content if getattr(block, "type", None) == "text"
    )
    usage = message.usage.model_dump() if message.usage is not None else {}
    return Completion(
        text=text,
        usage=Usage.from_api(usage),
        model=message.model,
        stop_reason=message.stop_reason,
        batch_id=batch_id,
    )


def message_params(request: CompletionRequest) -> dict[str, Any]:
    """The request body. With caching, breakpoints go on every system block and on
    the newest message, so the next turn reads the whole conversation so far from
    the cache (at most 4 breakpoints: system prompt, profile context, the turn)."""
    system = [
        {"type": "text", "text": text, **({"cache_control": _EPHEMERAL} if request.cache else {})}
        for text in request.system[:3]
    ]
    messages: list[dict[str, Any]] = [
        {"role": m.role, "content": m.content} for m in request.messages
    ]
    if request.cache and messages:
        last = messages[-1]
        last["content"] = [{"type": "text", "text": last["content"], "cache_control": _EPHEMERAL}]
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if system:
        params["system"] = system
    return params


class AnthropicProvider:
    name = "anthropic-api"

    def __init__(
        self,
        *,
        api_key: str | None,
        auth_token: str | None,
        base_url: str | None,
        prices: PriceTable,
        batcher: Batcher | None,
    ) -> None:
        if not api_key and not auth_token:
            raise BackendError(
                "the anthropic-api backend needs ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) "
                "in the agent's environment",
                backend=self.name,
            )
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            auth_token=auth_token,
            base_url=base_url,
            # podium retries itself, so each retry is seen, recorded and can fall back.
            max_retries=0,
        )
        self._prices = prices
        self._batcher = batcher

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        return self._client

    def resolve_model(self, model: str | None) -> str:
        return self._prices.resolve(model or DEFAULT_MODEL)

    async def complete(self, request: CompletionRequest, *, batch: bool) -> Completion:
        params = message_params(request)
        if batch and self._batcher is not None:
            return await self._batcher.submit(params)
        try:
            if request.stream:
                async with self._client.messages.stream(**params) as stream:
                    message = await stream.get_final_message()
            else:
                message = await self._client.messages.create(**params)
        except (anthropic.AnthropicError, ValueError, TypeError) as exc:
            # ValueError/TypeError: the SDK refusing a request before sending it.
            raise api_failure(exc, model=request.model) from exc
        return completion_from_message(message)

    async def aclose(self) -> None:
        await self._client.close()
