"""One agent's conversation with an HTTP model API, kept by podium.

There is no process: a session is the history file plus an API client. A turn
sends the whole visible conversation, retries what the API says is worth
retrying (honouring ``retry-after``), walks the fallback chain when a model is
overloaded, and appends the exchange only once it is complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import BackendError, ProcessDied
from .._records import Usage
from ._api_types import APIFailure, Completion, CompletionRequest, Provider, Route
from ._history import append_exchange, read_history
from ._protocol import ChatMessage, EventSink, SessionSpec, TurnResult

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_MAX_TOKENS", "APISession", "routes_for"]

DEFAULT_MAX_TOKENS = 8192
DEFAULT_MAX_RETRIES = 4
# Never wait longer than this for one retry, whatever the server asks.
_MAX_RETRY_DELAY = 60.0
# With somewhere else to go, an overloaded model gets this many more tries first.
_OVERLOAD_RETRIES_BEFORE_FALLBACK = 2

ProviderFactory = Callable[[Route], Provider]


def routes_for(backend: str, spec: SessionSpec) -> list[Route]:
    """The agent's own model first, then its fallback chain (``options.fallback``)."""
    opts = spec.options
    routes = [Route(backend=backend, model=spec.model, base_url=opts.base_url)]
    for entry in opts.fallback:
        target = entry.backend.value if entry.backend is not None else backend
        base_url = entry.base_url
        if base_url is None and target == backend:
            base_url = opts.base_url
        routes.append(Route(backend=target, model=entry.model, base_url=base_url))
    return routes


class APISession:
    """A BackendSession over an HTTP API. Used from one task at a time (the actor's)."""

    def __init__(
        self,
        spec: SessionSpec,
        *,
        backend: str,
        providers: ProviderFactory,
        prices: Callable[[], PriceTable],
    ) -> None:
        self.spec = spec
        self._backend = backend
        self._providers = providers
        self._prices = prices
        self._routes = routes_for(backend, spec)
        self._clients: dict[Route, Provider] = {}
        self._history: list[ChatMessage] = []
        self._model: str | None = None
        self._started = False
        self._closed = asyncio.Event()
        self._inner: asyncio.Task[TurnResult] | None = None
        self._interrupted = False
        opts = spec.options
        self._max_tokens = opts.max_tokens or DEFAULT_MAX_TOKENS
        self._max_retries = DEFAULT_MAX_RETRIES if opts.max_retries is None else opts.max_retries
        self._cache = opts.cache
        self._stream = opts.stream
        self._batch = opts.batch
        self._system = tuple(
            text
            for text in (spec.system_prompt, opts.append_system_prompt)
            if isinstance(text, str) and text.strip()
        )

    # --- BackendSession -----------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None

    @property
    def alive(self) -> bool:
        return self._started and not self._closed.is_set()

    @property
    def stderr_tail(self) -> str:
        return ""

    @property
    def resolved_model(self) -> str | None:
        return self._model

    async def start(self) -> None:
        self._history = read_history(self.spec.state_dir)
        # Building the first client checks the credentials and the model now,
        # so a spawn with a missing key fails at once and names it.
        provider = self._provider(self._routes[0])
        self._model = provider.resolve_model(self._routes[0].model)
        self._started = True

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        if not self.alive:
            raise ProcessDied(f"session of {self.spec.agent!r} is closed", agent=self.spec.agent)
        self._interrupted = False
        inner = asyncio.create_task(self._turn(prompt, on_event))
        self._inner = inner
        started = time.monotonic()
        try:
            return await inner
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the caller is being cancelled, not just this turn
            return self._interrupted_result(started)
        finally:
            self._inner = None

    async def interrupt(self) -> None:
        if self._inner is not None and not self._inner.done():
            self._interrupted = True
            self._inner.cancel()

    async def wait_exit(self) -> int:
        await self._closed.wait()
        return 0

    async def close(self) -> None:
        if self._inner is not None:
            self._inner.cancel()
        self._closed.set()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    # --- one turn -----------------------------------------------------------------------

    def _provider(self, route: Route) -> Provider:
        client = self._clients.get(route)
        if client is None:
            client = self._providers(route)
            self._clients[route] = client
        return client

    async def _turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        started = time.monotonic()
        messages = (*self._history, ChatMessage("user", prompt))
        fallbacks: list[dict[str, Any]] = []
        for index, route in enumerate(self._routes):
            has_next = index + 1 < len(self._routes)
            try:
                provider = self._provider(route)
                request = CompletionRequest(
                    model=provider.resolve_model(route.model),
                    system=self._system,
                    messages=messages,
                    max_tokens=self._max_tokens,
                    cache=self._cache,
                    stream=self._stream,
                )
                completion = await self._with_retries(
                    provider, request, on_event, has_fallback=has_next
                )
                await on_event(
                    "api_call",
                    {
                        "model": completion.model or request.model,
                        "backend": provider.name,
                        "usage": completion.usage.to_dict(),
                    },
                )
            except APIFailure as exc:
                if has_next and (exc.overloaded or exc.status is None):
                    taken = {
                        "from": route.describe(),
                        "to": self._routes[index + 1].describe(),
                        "status": exc.status,
                        "reason": exc.message[:500],
                    }
                    fallbacks.append(taken)
                    await on_event("model_fallback", taken)
                    continue
                return self._failed(exc, route, fallbacks, started)
            except BackendError as exc:
                # Misconfigured fallback (no key for it, no model): say which one.
                failure = APIFailure(f"{route.describe()}: {exc.message}", status=None)
                return self._failed(failure, route, fallbacks, started)
            return self._succeeded(prompt, completion, route, fallbacks, started)
        raise AssertionError("the route list is never empty")

    async def _with_retries(
        self,
        provider: Provider,
        request: CompletionRequest,
        on_event: EventSink,
        *,
        has_fallback: bool,
    ) -> Completion:
        attempt = 0
        while True:
            try:
                return await provider.complete(request, batch=self._batch)
            except APIFailure as exc:
                limit = self._max_retries
                if has_fallback and exc.overloaded:
                    limit = min(limit, _OVERLOAD_RETRIES_BEFORE_FALLBACK)
                if not exc.retryable or attempt >= limit:
                    raise
                attempt += 1
                delay = exc.retry_after
                if delay is None:
                    delay = min(8.0, 0.5 * 2 ** (attempt - 1))
                delay = min(delay, _MAX_RETRY_DELAY)
                await on_event(
                    "api_retry",
                    {
                        "attempt": attempt,
                        "max_retries": limit,
                        "retry_delay_ms": int(delay * 1000),
                        "error_status": exc.status,
                        "error": exc.message[:500],
                        "model": request.model,
                        "backend": provider.name,
                    },
                )
                await asyncio.sleep(delay)

    def _succeeded(
        self,
        prompt: str,
        completion: Completion,
        route: Route,
        fallbacks: Sequence[dict[str, Any]],
        started: float,
    ) -> TurnResult:
        # Written before the result is reported: a turn the caller saw is never lost.
        append_exchange(self.spec.state_dir, prompt, completion.text)
        self._history = [
            *self._history,
            ChatMessage("user", prompt),
            ChatMessage("assistant", completion.text),
        ]
        if route is self._routes[0]:
            self._model = completion.model or self._model
        batched = completion.batch_id is not None
        cost = self._prices().cost(completion.model, completion.usage, batch=batched)
        meta: dict[str, Any] = {"backend": route.backend}
        if fallbacks:
            meta["fallbacks"] = list(fallbacks)
        if batched:
            meta["batch_id"] = completion.batch_id
        if cost is None:
            meta["cost_unknown"] = True
        return TurnResult(
            text=completion.text,
            is_error=False,
            error=None,
            usage=completion.usage,
            cost_usd=cost,
            model=completion.model,
            session_id=self.spec.session_id,
            num_turns=1,
            duration_ms=int((time.monotonic() - started) * 1000),
            subtype="success",
            meta=meta,
        )

    def _failed(
        self,
        exc: APIFailure,
        route: Route,
        fallbacks: Sequence[dict[str, Any]],
        started: float,
    ) -> TurnResult:
        meta: dict[str, Any] = {"backend": route.backend}
        if fallbacks:
            meta["fallbacks"] = list(fallbacks)
        return TurnResult(
            text="",
            is_error=True,
            error=f"{route.describe()} failed: {exc.message}",
            usage=Usage(),
            cost_usd=0.0,
            model=route.model,
            session_id=self.spec.session_id,
            duration_ms=int((time.monotonic() - started) * 1000),
            subtype="error_api",
            api_error_status=exc.status,
            meta=meta,
        )

    def _interrupted_result(self, started: float) -> TurnResult:
        return TurnResult(
            text="",
            is_error=True,
            error="interrupted",
            usage=Usage(),
            cost_usd=0.0,
            model=self._model,
            session_id=self.spec.session_id,
            duration_ms=int((time.monotonic() - started) * 1000),
            subtype="error_during_execution",
            interrupted=True,
        )
