"""The ASGI app that impersonates the Anthropic Messages API.

Written against raw ASGI rather than a framework's streaming response so the
fake controls exactly when the first byte goes out and notices a client that
disconnects while a delayed answer is still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from podium.testing._responses import (
    Answer,
    error_body,
    estimate_input_tokens,
    make_answer,
    message_json,
    sse_events,
)
from podium.testing._rules import MatchView
from podium.testing._state import State
from podium.testing._text import (
    conversation_text,
    has_tool_result,
    last_user_message,
    message_text,
    request_system_text,
    strip_reminders,
)

__all__ = ["FakeApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Exchange:
    """One request/response: sends, pauses, and whether the client is still there."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        # Set when the client disconnects or the server aborts the exchange.
        self.gone = asyncio.Event()
        self.aborted = False
        self.started = False
        self._watcher: asyncio.Task[None] | None = None

    async def read_body(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def watch(self) -> None:
        async def _watch() -> None:
            while (await self._receive())["type"] != "http.disconnect":
                pass
            self.gone.set()

        self._watcher = asyncio.get_running_loop().create_task(_watch())

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    def abort(self) -> None:
        self.aborted = True
        self.gone.set()

    async def give_up(self, headers: dict[str, str]) -> int | None:
        """End an aborted exchange with a proper Anthropic error; returns the status sent."""
        if not self.aborted:
            return None  # the client is gone; there is nobody to answer
        error = error_body("overloaded_error", "fake Anthropic API is shutting down")
        if not self.started:
            await self.json(529, error, headers)
            return 529
        await self.body(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
        return None

    async def pause(self, seconds: float) -> bool:
        """Sleep, cut short if the client disconnects; True while it is still connected."""
        if seconds > 0 and not self.gone.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        return not self.gone.is_set()

    async def start(self, status: int, headers: dict[str, str]) -> None:
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": raw})

    async def body(self, data: bytes, more: bool = False) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        await self.start(
            status, headers | {"content-type": "application/json", "content-length": str(len(data))}
        )
        await self.body(data)


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class FakeApp:
    def __init__(self, state: State) -> None:
        self._state = state
        self._active: set[_Exchange] = set()

    def abort_all(self) -> None:
        """End pending delays and streams so shutdown does not wait on them.

        Must run on the server's event loop.
        """
        for exchange in list(self._active):
            exchange.abort()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        exchange = _Exchange(receive, send)
        self._active.add(exchange)
        try:
            await self._handle(scope, exchange)
        finally:
            self._active.discard(exchange)
            await exchange.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, ex: _Exchange) -> None:
        received_at = time.time()
        raw = await ex.read_body()
        if raw is None:
            return
        method: str = scope["method"]
        path: str = scope["path"]
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        seq = self._open_record(scope, body, received_at)
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        headers = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
        status: int | None = None
        completed = False
        try:
            if path.startswith("/v1/messages") and method == "POST" and not data:
                status = 400
                detail = "invalid JSON" if bad_json else "request body must be a JSON object"
                await ex.json(status, error_body("invalid_request_error", detail), headers)
            elif method == "POST" and path == "/v1/messages":
                status, completed = await self._messages(seq, data, ex, headers)
                return
            elif method == "POST" and path == "/v1/messages/count_tokens":
                status = 200
                tokens = estimate_input_tokens(data.get("system"), data.get("messages"))
                await ex.json(status, {"input_tokens": tokens}, headers)
            else:
                status, payload = self._other(method, path)
                await ex.json(status, payload, headers)
            completed = True
        finally:
            final: dict[str, Any] = {"finished_at": time.time(), "completed": completed}
            if status is not None:
                final["status"] = status
            self._state.update_record(seq, **final)

    def _open_record(self, scope: Scope, body: Any, received_at: float) -> int:
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        messages = data.get("messages")
        messages = messages if isinstance(messages, list) else []
        last = last_user_message(messages)
        model = data.get("model")
        tools = data.get("tools")
        tool_list = tools if isinstance(tools, list) else []
        return self._state.open_record(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            model=model if isinstance(model, str) else None,
            system_text=request_system_text(data.get("system"), messages),
            messages=messages,
            last_user_text=message_text(last) if last is not None else "",
            stream=data.get("stream") is True,
            received_at=received_at,
            tool_names=tuple(str(t.get("name")) for t in tool_list if isinstance(t, dict)),
            has_tool_result=has_tool_result(last),
        )

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

    async def _messages(
        self, seq: int, data: dict[str, Any], ex: _Exchange, headers: dict[str, str]
    ) -> tuple[int, bool]:
        messages = data.get("messages")
        messages = messages if isinstance(messages, list) else []
        last = last_user_message(messages)
        last_text = message_text(last) if last is not None else ""
        model = str(data.get("model") or "")
        view = MatchView(
            model=model,
            system_text=request_system_text(data.get("system"), messages),
            last_user_text=last_text,
            conversation_text=conversation_text(data.get("system"), messages),
            has_tool_result=has_tool_result(last),
        )
        index, rule = self._state.choose(view)
        answer = make_answer(
            rule,
            model=model,
            default_text=self._state.default_text,
            last_user=strip_reminders(last_text),
            input_tokens=estimate_input_tokens(data.get("system"), messages),
        )
        self._state.update_record(
            seq,
            rule_index=index,
            status=answer.status,
            response_text=answer.text,
            tool_calls=answer.tool_calls,
        )
        ex.watch()
        if not await ex.pause(answer.delay):
            return await ex.give_up(headers) or answer.status, False
        if answer.status != 200:
            return answer.status, await self._error(answer, ex, headers)
        if data.get("stream") is True:
            if await self._stream(answer, ex, headers):
                return 200, True
            await ex.give_up(headers)
            return 200, False
        await ex.json(200, message_json(answer), headers)
        return 200, True

    @staticmethod
    async def _error(answer: Answer, ex: _Exchange, headers: dict[str, str]) -> bool:
        if answer.retry_after is not None:
            headers = headers | {"retry-after": _retry_after(answer.retry_after)}
        payload = error_body(answer.error_type or "api_error", answer.error_message or "")
        await ex.json(answer.status, payload, headers)
        return True

    @staticmethod
    async def _stream(answer: Answer, ex: _Exchange, headers: dict[str, str]) -> bool:
        await ex.start(
            200,
            headers
            | {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
        )
        for event, pause in sse_events(answer):
            if pause and not await ex.pause(answer.chunk_delay):
                return False
            if ex.gone.is_set():
                return False
            await ex.body(event, more=True)
        if ex.gone.is_set():
            return False
        await ex.body(b"")
        return True
