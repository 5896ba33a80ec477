"""The raw-ASGI skeleton both fakes share: recording, scripted turns, delays, shutdown.

Written against raw ASGI rather than a framework's streaming response so a
fake controls exactly when the first byte goes out and notices a client that
disconnects while a delayed answer is still pending. A subclass supplies the
wire format (:class:`BaseApp`'s abstract methods) and the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from podium.testing._responses import Answer
from podium.testing._rules import Rule
from podium.testing._state import State
from podium.testing._turn import Turn

__all__ = ["BaseApp", "Exchange", "Request", "retry_after_header"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Exchange:
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
        await self.raw(status, json.dumps(payload).encode(), "application/json", headers)

    async def raw(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        await self.start(
            status, headers | {"content-type": content_type, "content-length": str(len(data))}
        )
        await self.body(data)


def retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request, as the routes see it."""

    seq: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    data: dict[str, Any]  # the JSON body when it is an object, else {}
    bad_json: bool

    @property
    def base_url(self) -> str:
        """How the client reached us (for URLs the API hands back, like a results_url)."""
        return f"http://{self.headers.get('host', '127.0.0.1')}"


class BaseApp(ABC):
    """Shared request handling; subclasses give the routes and the wire format."""

    name = "fake API"
    request_id_header = "request-id"
    # What a pending answer gets when the server stops under it.
    shutdown_status = (529, "overloaded_error")

    def __init__(self, state: State) -> None:
        self._state = state
        self._active: set[Exchange] = set()

    # ------------------------------------------------------------ the wire format

    @abstractmethod
    def read_turn(self, data: dict[str, Any]) -> Turn: ...

    @abstractmethod
    async def route(self, request: Request, turn: Turn, ex: Exchange) -> tuple[int, bool]:
        """Answer ``request``; returns (status sent, whether the whole answer went out)."""

    @abstractmethod
    def make_answer(self, rule: Rule | None, data: dict[str, Any], turn: Turn) -> Answer: ...

    @abstractmethod
    def error_payload(self, status: int, error_type: str, message: str) -> Any: ...

    @abstractmethod
    def message_body(self, answer: Answer, data: dict[str, Any]) -> Any: ...

    @abstractmethod
    def stream_events(self, answer: Answer, data: dict[str, Any]) -> Iterable[tuple[bytes, bool]]:
        """(event bytes, pause before it) pairs; ``chunk_delay`` applies where True."""

    @abstractmethod
    def stream_error(self, payload: Any) -> bytes:
        """An error event for a stream whose headers already went out."""

    # ------------------------------------------------------------ ASGI

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
        exchange = Exchange(receive, send)
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

    async def _handle(self, scope: Scope, ex: Exchange) -> None:
        received_at = time.time()
        raw = await ex.read_body()
        if raw is None:
            return
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        turn = self.read_turn(data)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        seq = self._state.open_record(
            method=scope["method"],
            path=scope["path"],
            query=query,
            headers=headers,
            body=body,
            model=turn.model,
            system_text=turn.system_text,
            messages=turn.messages,
            last_user_text=turn.last_user_text,
            stream=data.get("stream") is True,
            received_at=received_at,
            tool_names=turn.tool_names,
            has_tool_result=turn.has_tool_result,
        )
        request = Request(seq, scope["method"], scope["path"], query, headers, data, bad_json)
        status: int | None = None
        completed = False
        try:
            status, completed = await self.route(request, turn, ex)
        finally:
            final: dict[str, Any] = {"finished_at": time.time(), "completed": completed}
            if status is not None:
                final["status"] = status
            self._state.update_record(seq, **final)

    # ------------------------------------------------------------ helpers for routes

    def response_headers(self) -> dict[str, str]:
        return {self.request_id_header: f"req_{uuid.uuid4().hex[:24]}"}

    async def send_json(self, ex: Exchange, status: int, payload: Any) -> tuple[int, bool]:
        await ex.json(status, payload, self.response_headers())
        return status, True

    async def send_error(
        self, ex: Exchange, status: int, error_type: str, message: str
    ) -> tuple[int, bool]:
        return await self.send_json(ex, status, self.error_payload(status, error_type, message))

    async def bad_body(self, request: Request, ex: Exchange) -> tuple[int, bool]:
        detail = "invalid JSON" if request.bad_json else "request body must be a JSON object"
        return await self.send_error(ex, 400, "invalid_request_error", detail)

    async def answer_turn(self, request: Request, turn: Turn, ex: Exchange) -> tuple[int, bool]:
        """Answer a model turn from the rules: delay, then an error, a stream or a body."""
        index, rule = self._state.choose(turn.view)
        answer = self.make_answer(rule, request.data, turn)
        self._state.update_record(
            request.seq,
            rule_index=index,
            status=answer.status,
            response_text=answer.text,
            tool_calls=answer.tool_calls,
        )
        headers = self.response_headers()
        ex.watch()
        if not await ex.pause(answer.delay):
            return await self._give_up(ex, headers) or answer.status, False
        if answer.status != 200:
            if answer.retry_after is not None:
                headers["retry-after"] = retry_after_header(answer.retry_after)
            payload = self.error_payload(
                answer.status, answer.error_type or "api_error", answer.error_message or ""
            )
            await ex.json(answer.status, payload, headers)
            return answer.status, True
        if request.data.get("stream") is True:
            if await self._stream(answer, request.data, ex, headers):
                return 200, True
            await self._give_up(ex, headers)
            return 200, False
        await ex.json(200, self.message_body(answer, request.data), headers)
        return 200, True

    async def _give_up(self, ex: Exchange, headers: dict[str, str]) -> int | None:
        """End an aborted exchange with the API's overload error; returns the status sent."""
        if not ex.aborted:
            return None  # the client is gone; there is nobody to answer
        status, error_type = self.shutdown_status
        payload = self.error_payload(status, error_type, f"{self.name} is shutting down")
        if not ex.started:
            await ex.json(status, payload, headers)
            return status
        await ex.body(self.stream_error(payload))
        return None

    async def _stream(
        self, answer: Answer, data: dict[str, Any], ex: Exchange, headers: dict[str, str]
    ) -> bool:
        await ex.start(
            200,
            headers
            | {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"},
        )
        for event, pause in self.stream_events(answer, data):
            if pause and not await ex.pause(answer.chunk_delay):
                return False
            if ex.gone.is_set():
                return False
            await ex.body(event, more=True)
        if ex.gone.is_set():
            return False
        await ex.body(b"")
        return True
