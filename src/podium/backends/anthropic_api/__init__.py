"""The anthropic-api backend: the Messages API with prompt caching and the Batch API."""

from ._backend import AnthropicAPIBackend
from ._batches import Batcher

__all__ = ["AnthropicAPIBackend", "Batcher"]
