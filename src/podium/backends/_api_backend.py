"""What every HTTP-API backend shares: podium keeps the history, so fork is a copy.

A subclass says how to build its provider from an endpoint and credentials;
everything else (sessions, forks, moving a session between hosts, handing a
conversation to another backend) is the same for all of them. Fallback routes
may name another API backend: their providers are built here too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._backend_info import BackendName
from .._errors import BackendError
from .._options import AgentOptions
from ._api_session import APISession
from ._api_types import Provider, Route
from ._history import history_bytes, history_path, read_history, write_history
from ._protocol import ChatMessage, SessionSpec

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = ["APIBackend", "ProviderContext"]


class ProviderContext:
    """What building a provider may draw on: the agent's environment and options,
    and state shared by every session of one backend (e.g. the batch collector)."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        options: AgentOptions,
        prices: PriceTable,
        shared: dict[Any, Any],
    ) -> None:
        self.env = env
        self.options = options
        self.prices = prices
        self.shared = shared

    def secret(self, *names: str) -> str | None:
        for name in names:
            value = self.env.get(name)
            if value:
                return value
        return None


class APIBackend:
    """Base of the HTTP-API backends. Subclasses set ``name``, ``sdk`` and build_provider."""

    name: str = ""
    sdk: str = ""
    """The import name of the SDK the backend needs (checked by ``check``)."""

    def __init__(self, *, prices: PriceTable | None = None, env: dict[str, str] | None = None):
        self._prices = prices
        self._env = dict(os.environ) if env is None else dict(env)
        self._shared: dict[Any, Any] = {}

    # --- what subclasses provide ----------------------------------------------------------

    def build_provider(self, route: Route, context: ProviderContext) -> Provider:
        raise NotImplementedError

    # --- Backend ------------------------------------------------------------------------

    def prices(self) -> PriceTable:
        if self._prices is None:
            from ..pricing import load_price_table

            self._prices = load_price_table()
        return self._prices

    def check(self) -> None:
        if importlib.util.find_spec(self.sdk) is None:
            raise BackendError(
                f"the {self.name} backend needs the {self.sdk!r} package; "
                f"install it with: pip install {self.sdk}",
                backend=self.name,
            )

    def session(self, spec: SessionSpec) -> APISession:
        self.check()
        env = {**self._env, **spec.env}

        def provider(route: Route) -> Provider:
            backend = self if route.backend == self.name else _other_backend(route.backend, self)
            context = ProviderContext(
                env=env, options=spec.options, prices=self.prices(), shared=backend._shared
            )
            return backend.build_provider(route, context)

        return APISession(spec, backend=self.name, providers=provider, prices=self.prices)

    def session_exists(self, spec: SessionSpec) -> bool:
        return history_path(spec.state_dir).exists()

    async def prepare_fork(
        self,
        *,
        parent: SessionSpec,
        child_session_id: str,
        child_state_dir: Path,
        child_cwd: Path,
    ) -> bool:
        data = history_bytes(parent.state_dir)
        if not data:
            return False
        write_history(child_state_dir, data)
        return True

    # --- moving sessions between hosts (distributed mode) -------------------------------

    def export_session(self, spec: SessionSpec) -> bytes | None:
        return history_bytes(spec.state_dir)

    def import_session(self, spec: SessionSpec, data: bytes | None, *, session_id: str) -> None:
        # One history per state directory, whichever session id it is filed under:
        # a fork's snapshot of its parent becomes the child's own history.
        write_history(spec.state_dir, data)

    # --- handing a conversation to another backend ------------------------------------------

    def export_conversation(self, spec: SessionSpec) -> list[ChatMessage] | None:
        return read_history(spec.state_dir)

    def import_conversation(self, spec: SessionSpec, messages: Sequence[ChatMessage]) -> None:
        write_history(spec.state_dir, list(messages))

    async def aclose(self) -> None:
        """Stop what sessions share: batch collectors still polling, fallback backends."""
        shared, self._shared = self._shared, {}
        for value in shared.values():
            if isinstance(value, dict):
                for backend in value.values():
                    await backend.aclose()
            elif hasattr(value, "aclose"):
                await value.aclose()


def _other_backend(name: str, asking: APIBackend) -> APIBackend:
    # A fallback to another API backend: one instance per name per asking backend,
    # so its shared state (clients, batches) lives as long as the asker.
    cache: dict[str, APIBackend] = asking._shared.setdefault("fallback-backends", {})
    backend = cache.get(name)
    if backend is None:
        if name == BackendName.ANTHROPIC_API:
            from .anthropic_api import AnthropicAPIBackend

            backend = AnthropicAPIBackend(prices=asking.prices(), env=asking._env)
        elif name == BackendName.OPENAI:
            from .openai_compat import OpenAIBackend

            backend = OpenAIBackend(prices=asking.prices(), env=asking._env)
        else:
            raise BackendError(
                f"fallback backend {name!r} is not an API backend (use anthropic-api or openai)",
                backend=asking.name,
            )
        cache[name] = backend
    return backend
