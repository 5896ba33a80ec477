"""What podium knows about each backend, in one place: every other module asks here.

A backend's *descriptor* says what its agents can be given (a model name rule,
an endpoint, batch mode, a fallback chain) and where its credentials come from,
without importing the backend itself (whose SDK costs a noticeable fraction of a
second to load).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from ._errors import UsageError

__all__ = [
    "API_BACKENDS",
    "BACKENDS",
    "BACKEND_NAMES",
    "BackendInfo",
    "BackendName",
    "backend_info",
]


class BackendName(enum.StrEnum):
    CLAUDE_CODE = "claude-code"
    ANTHROPIC_API = "anthropic-api"
    OPENAI = "openai"


@dataclass(frozen=True, kw_only=True)
class BackendInfo:
    """One backend as the rest of podium sees it."""

    name: BackendName
    summary: str
    key_env: str
    """The variable its credential travels in; an agent's ``api_key_env`` is put there."""
    base_url_env: str
    """The variable naming its endpoint when the agent has no ``base_url``."""
    api: bool
    """An HTTP API whose conversation podium keeps (no process, no tools): it takes
    ``base_url``, prompt caching, streaming and ``max_tokens``."""
    open_model_names: bool
    """Models are named by the server (``llama3.2:1b``); else Claude aliases and ids only."""
    batch: bool
    """Turns can go through a batch API at a discount."""
    fallback_chain: bool
    """Falls back along a chain that may cross to another API backend; else to one
    other model of its own (the CLI's ``--fallback-model``)."""
    sdk: str
    """The import name of the package it runs on."""


BACKENDS: Mapping[BackendName, BackendInfo] = {
    BackendName.CLAUDE_CODE: BackendInfo(
        name=BackendName.CLAUDE_CODE,
        summary="the Claude Code CLI, with tools and files",
        key_env="ANTHROPIC_API_KEY",
        base_url_env="ANTHROPIC_BASE_URL",
        api=False,
        open_model_names=False,
        batch=False,
        fallback_chain=False,
        sdk="claude_agent_sdk",
    ),
    BackendName.ANTHROPIC_API: BackendInfo(
        name=BackendName.ANTHROPIC_API,
        summary="the Messages API: prompt caching, Batch API",
        key_env="ANTHROPIC_API_KEY",
        base_url_env="ANTHROPIC_BASE_URL",
        api=True,
        open_model_names=False,
        batch=True,
        fallback_chain=True,
        sdk="anthropic",
    ),
    BackendName.OPENAI: BackendInfo(
        name=BackendName.OPENAI,
        summary="any OpenAI-compatible server: OpenAI, Ollama, vLLM, llama.cpp",
        key_env="OPENAI_API_KEY",
        base_url_env="OPENAI_BASE_URL",
        api=True,
        open_model_names=True,
        batch=False,
        fallback_chain=True,
        sdk="openai",
    ),
}

BACKEND_NAMES: tuple[str, ...] = tuple(name.value for name in BackendName)
API_BACKENDS: frozenset[BackendName] = frozenset(n for n, info in BACKENDS.items() if info.api)


def backend_info(name: object) -> BackendInfo:
    """The descriptor of backend ``name``; a :class:`UsageError` naming the known ones."""
    try:
        return BACKENDS[BackendName(str(name))]
    except ValueError:
        raise UsageError(
            f"unknown backend {name!r}; use one of {', '.join(BACKEND_NAMES)}",
            backend=str(name)[:64],
        ) from None
