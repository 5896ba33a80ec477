"""Chat completions through the ``openai`` SDK, for any server that speaks them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

from ..._errors import BackendError
from ..._records import Usage
from .._api_types import APIFailure, Completion, CompletionRequest, parse_retry_after

if TYPE_CHECKING:
    from ...pricing import PriceTable

__all__ = ["OpenAIProvider", "chat_usage"]

# Servers that need no key (Ollama, llama.cpp, vLLM without --api-key) still get
# one, because the SDK insists on sending some Authorization header.
_NO_KEY = "no-key"


def chat_usage(data: Any) -> Usage:
    """OpenAI counts cached tokens inside ``prompt_tokens``; podium's ``input_tokens``
    excludes them (as Anthropic does), so the same price formula fits both."""
    if data is None:
        return Usage()
    prompt = int(getattr(data, "prompt_tokens", 0) or 0)
    details = getattr(data, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return Usage(
        input_tokens=max(0, prompt - cached),
        output_tokens=int(getattr(data, "completion_tokens", 0) or 0),
        cache_read_input_tokens=cached,
    )


def _failure(exc: Exception, *, model: str) -> APIFailure:
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body, dict) else {}
        message = error.get("message") if isinstance(error, dict) else None
        return APIFailure(
            f"HTTP {exc.status_code}: {message or exc.message}",
            status=exc.status_code,
            retry_after=parse_retry_after(exc.response.headers),
            model=model,
        )
    if isinstance(exc, openai.APIConnectionError):
        return APIFailure(f"cannot reach the server: {exc}", status=None, model=model)
    return APIFailure(f"{type(exc).__name__}: {exc}", status=None, retryable=False, model=model)


def chat_messages(request: CompletionRequest) -> list[dict[str, Any]]:
    # Chat servers cache prompt prefixes on their own: no markers to set.
    system = "\n\n".join(request.system)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    return messages


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        prices: PriceTable,
        default_model: str | None,
    ) -> None:
        if not api_key and not base_url:
            raise BackendError(
                "the openai backend needs OPENAI_API_KEY for api.openai.com, or a base URL "
                "(--base-url or OPENAI_BASE_URL) of an OpenAI-compatible server such as "
                "Ollama, vLLM or llama.cpp",
                backend=self.name,
            )
        self._client = openai.AsyncOpenAI(
            api_key=api_key or _NO_KEY, base_url=base_url, max_retries=0
        )
        self._prices = prices
        self._default_model = default_model

    def resolve_model(self, model: str | None) -> str:
        chosen = model or self._default_model
        if not chosen:
            raise BackendError(
                "the openai backend needs a model: pass --model (e.g. gpt-4o-mini, or the "
                "name the server gives it, such as llama3.2) or set OPENAI_MODEL",
                backend=self.name,
            )
        return chosen

    async def complete(self, request: CompletionRequest, *, batch: bool) -> Completion:
        messages = chat_messages(request)
        try:
            if request.stream:
                return await self._streamed(request, messages)
            response = await self._client.chat.completions.create(
                model=request.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=request.max_tokens,
            )
        except (openai.OpenAIError, ValueError, TypeError) as exc:
            # ValueError/TypeError: the SDK refusing a request before sending it.
            raise _failure(exc, model=request.model) from exc
        choice = response.choices[0] if response.choices else None
        return Completion(
            text=(choice.message.content or "") if choice is not None else "",
            usage=chat_usage(response.usage),
            model=response.model or request.model,
            stop_reason=choice.finish_reason if choice is not None else None,
        )

    async def _streamed(
        self, request: CompletionRequest, messages: list[dict[str, Any]]
    ) -> Completion:
        parts: list[str] = []
        usage: Any = None
        model = request.model
        finish: str | None = None
        stream = await self._client.chat.completions.create(  # type: ignore[call-overload]
            model=request.model,
            messages=messages,
            max_tokens=request.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                    finish = choice.finish_reason or finish
        return Completion(
            text="".join(parts), usage=chat_usage(usage), model=model, stop_reason=finish
        )

    async def aclose(self) -> None:
        await self._client.close()
