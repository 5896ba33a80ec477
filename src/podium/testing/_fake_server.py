"""FakeServer: what every scriptable fake shares, served from a background thread.

A thread with its own event loop lets the same object serve sync tests, async
tests (whose loop must not be blocked by the server) and other programs.
Subclasses (FakeAnthropic, FakeOpenAI) only say which ASGI app to serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

import uvicorn

from podium.testing._asgi import BaseApp
from podium.testing._record import RecordedRequest
from podium.testing._rules import Rule
from podium.testing._state import State
from podium.testing._text import conversation_text

__all__ = ["FakeServer"]

_START_TIMEOUT = 10.0


class FakeServer(ABC):
    """A fake model API answering from ordered :class:`Rule` s.

    Unmatched requests get ``default_text``. Use as a context manager or call
    :meth:`start` / :meth:`stop`. Rules, records and caches outlive a restart.
    """

    # Appended to ``http://host:port`` to make :attr:`base_url` (an SDK's base URL).
    url_suffix = ""

    def __init__(self, rules: Iterable[Rule] | None = None, default_text: str = "OK") -> None:
        self._state = State(rules or (), default_text)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app: BaseApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._base_url: str | None = None

    @abstractmethod
    def _make_app(self) -> BaseApp:
        """A fresh ASGI app over this fake's state (one per start)."""

    # ------------------------------------------------------------ lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL once it accepts connections."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        # Binding here (not in uvicorn) makes port=0 race-free: the port is ours
        # before anyone learns it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this. Without it, a keep-alive response written
        # in two parts waits ~40 ms for the client's delayed ACK (measured here).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        bound_port = sock.getsockname()[1]
        app = self._make_app()
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        failure: list[BaseException] = []
        loops: list[asyncio.AbstractEventLoop] = []

        async def serve() -> None:
            loops.append(asyncio.get_running_loop())
            await server.serve(sockets=[sock])

        def run() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # surfaced to start(); a thread cannot raise
                failure.append(exc)

        name = f"{type(self).__name__.lower()}-{bound_port}"
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if failure or not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=2)
                sock.close()
                cause = failure[0] if failure else None
                raise RuntimeError(f"{type(self).__name__} failed to start") from cause
            time.sleep(0.01)
        self._server, self._thread, self._app, self._loop = server, thread, app, loops[0]
        self._base_url = f"http://{host}:{bound_port}{self.url_suffix}"
        return self._base_url

    def stop(self) -> None:
        """Stop serving. Pending answers end at once with the API's overload error."""
        server, thread, app, loop = self._server, self._thread, self._app, self._loop
        self._server = self._thread = self._app = self._loop = None
        if server is None or thread is None:
            return
        if app is not None and loop is not None and not loop.is_closed():
            # abort_all touches asyncio objects, so it must run on the server's loop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(app.abort_all)
        server.should_exit = True
        thread.join(timeout=10)

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self._base_url

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------ rules

    @property
    def default_text(self) -> str:
        return self._state.default_text

    @default_text.setter
    def default_text(self, value: str) -> None:
        self._state.default_text = value

    @property
    def rules(self) -> list[Rule]:
        return self._state.rules

    def add_rule(self, rule: Rule) -> Rule:
        """Append a rule (checked after the existing ones) and return it."""
        return self._state.add_rule(rule)

    def clear_rules(self) -> None:
        self._state.clear_rules()

    # ------------------------------------------------------------ records

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a snapshot)."""
        return self._state.records()

    def message_requests(self) -> list[RecordedRequest]:
        """Only model turns (the requests rules answer), see RecordedRequest.is_message."""
        return [r for r in self._state.records() if r.is_message]

    def requests_matching(
        self,
        content: str | None = None,
        *,
        model: str | None = None,
        system: str | None = None,
        any_content: str | None = None,
    ) -> list[RecordedRequest]:
        """Model turns whose fields match every given regex (same semantics as Rule)."""

        def ok(pattern: str | None, text: str) -> bool:
            return pattern is None or re.search(pattern, text, re.DOTALL) is not None

        return [
            r
            for r in self.message_requests()
            if ok(content, r.last_user_text)
            and ok(model, r.model or "")
            and ok(system, r.system_text)
            and ok(any_content, self._conversation_text(r))
        ]

    @staticmethod
    def _conversation_text(record: RecordedRequest) -> str:
        """What ``any_content`` sees in a record (the API's own flattening)."""
        return conversation_text(record.system_text, record.messages)

    def wait_for_requests(
        self, n: int, timeout: float = 10.0, *, messages_only: bool = True, finished: bool = False
    ) -> list[RecordedRequest]:
        """Block until ``n`` requests arrived (or finished); raise TimeoutError otherwise.

        Counts model turns only unless ``messages_only`` is False. Do not call
        this from an event loop the fake's client runs on; use
        :meth:`wait_for_requests_async` there.
        """
        predicate = self._counter(n, messages_only=messages_only, finished=finished)
        records = self._state.wait(predicate, timeout)
        if records is None:
            raise TimeoutError(f"fewer than {n} requests reached the fake within {timeout}s")
        return self._select(records, messages_only)

    async def wait_for_requests_async(
        self, n: int, timeout: float = 10.0, *, messages_only: bool = True, finished: bool = False
    ) -> list[RecordedRequest]:
        """Like :meth:`wait_for_requests` without blocking the caller's event loop."""
        predicate = self._counter(n, messages_only=messages_only, finished=finished)
        deadline = time.monotonic() + timeout
        while True:
            records = self._state.records()
            if predicate(records):
                return self._select(records, messages_only)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"fewer than {n} requests reached the fake within {timeout}s")
            await asyncio.sleep(0.02)

    def reset(self) -> None:
        """Forget recorded requests (rules and their ``times`` counts are kept)."""
        self._state.reset_records()

    @staticmethod
    def _select(records: list[RecordedRequest], messages_only: bool) -> list[RecordedRequest]:
        return [r for r in records if r.is_message] if messages_only else records

    @classmethod
    def _counter(
        cls, n: int, *, messages_only: bool, finished: bool
    ) -> Callable[[list[RecordedRequest]], bool]:
        def predicate(records: list[RecordedRequest]) -> bool:
            chosen = cls._select(records, messages_only)
            if finished:
                chosen = [r for r in chosen if r.finished_at is not None]
            return len(chosen) >= n

        return predicate
