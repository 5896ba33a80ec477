"""An Answer as OpenAI chat-completions wire payloads (JSON body, SSE chunks, error)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from podium.testing._responses import Answer, text_chunks
from podium.testing._rules import Usage

__all__ = [
    "CHAT_ERROR_TYPES",
    "chat_chunks",
    "chat_completion_json",
    "chat_error_body",
    "chat_error_event",
    "chat_usage_json",
    "finish_reason",
]

# Status -> OpenAI error type, used when a rule gives a status but no type.
CHAT_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
    529: "server_error",
}
# Status -> the machine-readable ``code`` OpenAI adds to some errors.
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}

# Rules speak Anthropic's stop reasons by default; anything else passes through.
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}
_FINGERPRINT = "fp_fake"


def finish_reason(answer: Answer) -> str:
    return _FINISH.get(answer.stop_reason, answer.stop_reason)


def chat_error_body(status: int, error_type: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": error_type,
            "param": None,
            "code": _ERROR_CODES.get(status),
        }
    }


def chat_usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage: ``prompt_tokens`` counts the cached part too."""
    prompt = usage.prompt_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_calls(answer: Answer) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(dict(c.input))},
        }
        for c in answer.tool_calls
    ]


def chat_completion_json(answer: Answer) -> dict[str, Any]:
    """The non-streaming response body."""
    message: dict[str, Any] = {
        "role": "assistant",
        # A turn that only calls tools has no content, as with the real API.
        "content": answer.text if answer.text or not answer.tool_calls else None,
        "refusal": None,
    }
    if answer.tool_calls:
        message["tool_calls"] = _tool_calls(answer)
    return {
        "id": answer.message_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "system_fingerprint": _FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(answer),
            }
        ],
        "usage": chat_usage_json(answer.usage),
    }


def _wants_usage(data: Mapping[str, Any]) -> bool:
    options = data.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def chat_chunks(answer: Answer, data: Mapping[str, Any]) -> Iterator[tuple[bytes, bool]]:
    """Yield (SSE bytes, pause_before) pairs, ending with ``data: [DONE]``.

    With ``stream_options.include_usage`` every chunk carries ``usage: null``
    and one last chunk with no choices carries the usage, as the real API does.
    """
    with_usage = _wants_usage(data)
    base = {
        "id": answer.message_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": answer.model,
        "system_fingerprint": _FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        payload: dict[str, Any] = base | {"choices": [choice]}
        if with_usage:
            payload["usage"] = None
        return _sse(payload)

    yield chunk({"role": "assistant", "content": "", "refusal": None}), False
    if answer.text:
        for n, piece in enumerate(text_chunks(answer.text)):
            yield chunk({"content": piece}), n > 0
    for index, call in enumerate(_tool_calls(answer)):
        head = {"index": index, "id": call["id"], "type": "function"}
        head["function"] = {"name": call["function"]["name"], "arguments": ""}
        yield chunk({"tool_calls": [head]}), False
        arguments = {"index": index, "function": {"arguments": call["function"]["arguments"]}}
        yield chunk({"tool_calls": [arguments]}), False
    yield chunk({}, finish_reason(answer)), False
    if with_usage:
        yield _sse(base | {"choices": [], "usage": chat_usage_json(answer.usage)}), False
    yield b"data: [DONE]\n\n", False


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def chat_error_event(payload: Any) -> bytes:
    """An error inside a stream whose 200 already went out; the SDK raises on it."""
    return _sse(payload)
