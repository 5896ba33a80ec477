"""The backends every runtime and worker offers unless told otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..pricing import PriceTable
    from ._protocol import Backend

__all__ = ["default_backends"]


def default_backends(*, prices: PriceTable | None = None) -> dict[str, Backend]:
    """One of each backend. Imported here: the SDKs behind them cost a noticeable
    fraction of a second, which processes that only talk to a daemon never pay."""
    from .anthropic_api import AnthropicAPIBackend
    from .claude_code import ClaudeCodeBackend
    from .openai_compat import OpenAIBackend

    backends: list[Backend] = [
        ClaudeCodeBackend(),
        AnthropicAPIBackend(prices=prices),
        OpenAIBackend(prices=prices),
    ]
    return {backend.name: backend for backend in backends}
