"""The openai backend: any OpenAI-compatible chat-completions server."""

from __future__ import annotations

from ..._backend_info import BACKENDS, BackendName
from .._api_backend import APIBackend, ProviderContext
from .._api_types import Route
from ._provider import OpenAIProvider

__all__ = ["OpenAIBackend"]


class OpenAIBackend(APIBackend):
    """Agents as conversations with an OpenAI-compatible server: OpenAI itself,
    Ollama (``http://127.0.0.1:11434/v1``), vLLM, llama.cpp's server.

    Endpoint: the agent's ``base_url`` option, else ``OPENAI_BASE_URL``, else
    OpenAI. Key: the variable named by the ``api_key_env`` option, else
    ``OPENAI_API_KEY`` (local servers need none). Model: ``--model``, else
    ``OPENAI_MODEL``. Cost comes from the price table; a model missing from it
    (any local one, unless added) has an unknown cost, never zero.
    """

    name = BackendName.OPENAI.value
    sdk = BACKENDS[BackendName.OPENAI].sdk

    def build_provider(self, route: Route, context: ProviderContext) -> OpenAIProvider:
        key_env = context.options.api_key_env
        names = (key_env,) if key_env else (BACKENDS[BackendName.OPENAI].key_env,)
        return OpenAIProvider(
            api_key=context.secret(*names),
            base_url=route.base_url or context.secret("OPENAI_BASE_URL"),
            prices=context.prices,
            default_model=context.secret("OPENAI_MODEL"),
        )
