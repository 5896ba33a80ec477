"""Turn a chosen rule into an Answer, and an Answer into Anthropic wire payloads."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podium.testing._rules import ERROR_TYPES, ChatUsage, Rule, ToolCall, Usage

__all__ = [
    "Answer",
    "error_body",
    "estimate_input_tokens",
    "make_answer",
    "message_json",
    "sse_events",
    "text_chunks",
]

_CHUNK = 24  # characters per text_delta; small enough that streaming is visible


def _hex() -> str:
    return uuid.uuid4().hex[:24]


def estimate_input_tokens(system: Any, messages: Any) -> int:
    """Rough and deterministic, like the real count: about four characters a token."""
    return max(1, len(json.dumps([system, messages], default=str)) // 4)


@dataclass(frozen=True)
class Answer:
    """Everything needed to send one response, decided before any byte goes out."""

    message_id: str
    model: str
    text: str | None
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str
    usage: Usage
    delay: float
    chunk_delay: float
    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    retry_after: float | None = None


def make_answer(
    rule: Rule | None,
    *,
    model: str,
    default_text: str,
    last_user: str,
    input_usage: Usage,
    error_types: Mapping[int, str] = ERROR_TYPES,
    id_prefixes: tuple[str, str] = ("msg_", "toolu_"),
) -> Answer:
    """Decide the whole response from the chosen rule (None: the default answer).

    ``input_usage`` is the prompt side of the estimated usage (its output count
    is filled in here); a rule's own usage replaces it. ``id_prefixes`` are the
    message and tool-call id prefixes of the API being impersonated.
    """
    message_id = f"{id_prefixes[0]}{_hex()}"
    if rule is not None and rule.status is not None:
        error_type = rule.error_type or error_types.get(rule.status, "api_error")
        return Answer(
            message_id=message_id,
            model=model,
            text=None,
            tool_calls=(),
            stop_reason="",
            usage=Usage(0, 0),
            delay=rule.delay,
            chunk_delay=0.0,
            status=rule.status,
            error_type=error_type,
            error_message=rule.error_message or f"fake {error_type}",
            retry_after=rule.retry_after,
        )
    calls = tuple(
        c if c.id else ToolCall(name=c.name, input=c.input, id=f"{id_prefixes[1]}{_hex()}")
        for c in (rule.tool_calls if rule else ())
    )
    text = rule.render_text(last_user) if rule else None
    if text is None and not calls:
        text = default_text
    out_chars = len(text or "") + sum(len(json.dumps(dict(c.input))) for c in calls)
    scripted = rule.usage if rule else None
    if isinstance(scripted, ChatUsage):
        scripted = scripted.as_usage()
    usage = scripted or dataclasses.replace(input_usage, output_tokens=max(1, out_chars // 4))
    stop = (rule.stop_reason if rule else None) or ("tool_use" if calls else "end_turn")
    return Answer(
        message_id=message_id,
        model=model,
        text=text,
        tool_calls=calls,
        stop_reason=stop,
        usage=usage,
        delay=rule.delay if rule else 0.0,
        chunk_delay=rule.chunk_delay if rule else 0.0,
    )


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _content_blocks(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.text is not None and (answer.text or not answer.tool_calls):
        blocks.append({"type": "text", "text": answer.text})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.input)}
        for c in answer.tool_calls
    )
    return blocks


def message_json(answer: Answer) -> dict[str, Any]:
    """The non-streaming response body."""
    return {
        "id": answer.message_id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": _content_blocks(answer),
        "stop_reason": answer.stop_reason,
        "stop_sequence": None,
        "usage": answer.usage.to_dict(),
    }


def _sse(event: str, **data: Any) -> bytes:
    payload = {"type": event, **data}
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


def text_chunks(text: str) -> Sequence[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]


def sse_events(answer: Answer) -> Iterator[tuple[bytes, bool]]:
    """Yield (event bytes, pause_before) pairs; pauses fall between text chunks."""
    head: dict[str, Any] = message_json(answer)
    head.update(content=[], stop_reason=None, usage=answer.usage.to_dict() | {"output_tokens": 1})
    yield _sse("message_start", message=head), False
    yield _sse("ping"), False
    for index, block in enumerate(_content_blocks(answer)):
        if block["type"] == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in text_chunks(block["text"])]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        yield _sse("content_block_start", index=index, content_block=start), False
        for n, delta in enumerate(deltas):
            yield _sse("content_block_delta", index=index, delta=delta), n > 0
        yield _sse("content_block_stop", index=index), False
    stop = {"stop_reason": answer.stop_reason, "stop_sequence": None}
    yield _sse("message_delta", delta=stop, usage=answer.usage.to_dict()), False
    yield _sse("message_stop"), False
