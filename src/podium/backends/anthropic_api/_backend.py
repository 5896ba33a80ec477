"""The anthropic-api backend: the Messages API directly, history kept by podium."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import anthropic

from ..._backend_info import BACKENDS, BackendName
from .._api_backend import APIBackend, ProviderContext
from .._api_types import Route
from ._batches import DEFAULT_BATCH_POLL, DEFAULT_BATCH_WINDOW, Batcher
from ._provider import AnthropicProvider

if TYPE_CHECKING:
    from ...pricing import PriceTable

__all__ = ["AnthropicAPIBackend"]


def _seconds(env_name: str, given: float | None, default: float) -> float:
    if given is not None:
        return given
    raw = os.environ.get(env_name)
    return float(raw) if raw else default


class AnthropicAPIBackend(APIBackend):
    """Agents as conversations with the Messages API (prompt caching, Batch API).

    Credentials and endpoint come from the agent's environment
    (``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN``, ``ANTHROPIC_BASE_URL``) or
    its ``base_url`` option. ``batch_window`` / ``batch_poll`` (defaults from
    ``PODIUM_BATCH_WINDOW`` / ``PODIUM_BATCH_POLL``) pace batch mode.
    """

    name = BackendName.ANTHROPIC_API.value
    sdk = BACKENDS[BackendName.ANTHROPIC_API].sdk

    def __init__(
        self,
        *,
        prices: PriceTable | None = None,
        env: dict[str, str] | None = None,
        batch_window: float | None = None,
        batch_poll: float | None = None,
    ) -> None:
        super().__init__(prices=prices, env=env)
        self.batch_window = _seconds("PODIUM_BATCH_WINDOW", batch_window, DEFAULT_BATCH_WINDOW)
        self.batch_poll = _seconds("PODIUM_BATCH_POLL", batch_poll, DEFAULT_BATCH_POLL)

    def build_provider(self, route: Route, context: ProviderContext) -> AnthropicProvider:
        api_key = context.secret("ANTHROPIC_API_KEY")
        auth_token = None if api_key else context.secret("ANTHROPIC_AUTH_TOKEN")
        base_url = route.base_url or context.secret("ANTHROPIC_BASE_URL")
        batcher: Batcher | None = None
        if context.options.batch and (api_key or auth_token):
            # One batch collector per endpoint, credential and event loop: turns of
            # different agents that share them go out in the same batch.
            key = ("batcher", base_url, api_key or auth_token, id(asyncio.get_running_loop()))
            batcher = context.shared.get(key)
            if batcher is None:

                def client() -> anthropic.AsyncAnthropic:
                    return anthropic.AsyncAnthropic(
                        api_key=api_key, auth_token=auth_token, base_url=base_url, max_retries=0
                    )

                batcher = Batcher(client, window=self.batch_window, poll_interval=self.batch_poll)
                context.shared[key] = batcher
        return AnthropicProvider(
            api_key=api_key,
            auth_token=auth_token,
            base_url=base_url,
            prices=context.prices,
            batcher=batcher,
        )
