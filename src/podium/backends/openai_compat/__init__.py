"""The openai backend: OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp)."""

from ._backend import OpenAIBackend

__all__ = ["OpenAIBackend"]
