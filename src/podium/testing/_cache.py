"""Prompt-cache accounting: which part of a prompt a real API would have cached.

Deterministic by construction: a prompt is cut into segments (a tool, a system
block, a content block; for chat APIs a whole message) in the order the API
reads them, each prefix gets a running hash and a token count from the fakes'
usual estimate (about four characters of JSON a token), and a prefix counts as
cached once an earlier request wrote it. Nothing expires; :meth:`PromptCache.clear`
stands in for the real cache's time-to-live running out.

Anthropic semantics (explicit breakpoints): the prefix ending at the *last*
segment that carries ``cache_control`` is the cacheable part. The longest
prefix of it, ending at any segment boundary, that an earlier request wrote is
*read*; the rest up to the last breakpoint is *written*; prefixes at every
breakpoint are remembered. The real API looks back about 20 blocks from a
breakpoint for a hit; the fake looks back all the way. Prefixes under
``MIN_CACHEABLE_TOKENS`` (1024, the real minimum for most models) are never
cached, so a short prompt reports no cache fields at all.

OpenAI semantics (automatic): every message boundary is a breakpoint, only
reads are reported (``cached_tokens``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podium.testing._rules import Usage

__all__ = [
    "MIN_CACHEABLE_TOKENS",
    "CacheUsage",
    "Prompt",
    "PromptCache",
    "anthropic_prompt",
    "chat_prompt",
    "input_usage",
]

MIN_CACHEABLE_TOKENS = 1024
_CHARS_PER_TOKEN = 4  # the same estimate as estimate_input_tokens


@dataclass(frozen=True)
class CacheUsage:
    """How one prompt splits: ``total = uncached + written + read``."""

    total: int
    written: int
    read: int


@dataclass(frozen=True)
class Prompt:
    """A prompt as segments plus the indexes of segments that end a cacheable prefix."""

    segments: tuple[Any, ...]
    breakpoints: tuple[int, ...]


def _without_cache_control(block: Any) -> Any:
    # Moving a breakpoint does not change the cached content, so the marker
    # itself stays out of the hash.
    if isinstance(block, Mapping):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _marked(block: Any) -> bool:
    return isinstance(block, Mapping) and block.get("cache_control") is not None


def anthropic_prompt(data: Mapping[str, Any]) -> Prompt:
    """Segments in the API's cache order: tools, then system, then messages."""
    segments: list[Any] = []
    breakpoints: list[int] = []

    def add(segment: Any, marked: bool) -> None:
        if marked:
            breakpoints.append(len(segments))
        segments.append(segment)

    tools = data.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        add({"tool": _without_cache_control(tool)}, _marked(tool))
    system = data.get("system")
    if isinstance(system, list):
        for block in system:
            add({"system": _without_cache_control(block)}, _marked(block))
    elif system:
        add({"system": system}, False)
    messages = data.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        role, content = message.get("role"), message.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for block in blocks:
            add({"role": role, "block": _without_cache_control(block)}, _marked(block))
    return Prompt(tuple(segments), tuple(breakpoints))


def chat_prompt(data: Mapping[str, Any]) -> Prompt:
    """Tools then messages, every boundary a breakpoint (OpenAI caches automatically)."""
    tools = data.get("tools")
    messages = data.get("messages")
    segments = [{"tool": t} for t in (tools if isinstance(tools, list) else [])]
    segments += list(messages if isinstance(messages, list) else [])
    return Prompt(tuple(segments), tuple(range(len(segments))))


class PromptCache:
    """Prefixes written so far, shared by every request to one fake (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, int] = {}

    def clear(self) -> None:
        """Forget every cached prefix, as if the cache's time-to-live had passed."""
        with self._lock:
            self._written.clear()

    def account(self, prompt: Prompt, *, salt: str) -> CacheUsage | None:
        """Read and write ``prompt``'s cacheable prefix; None when nothing is cacheable.

        ``salt`` (the model) keeps caches apart, as the real ones are per model.
        """
        if not prompt.breakpoints:
            return None
        hashes: list[str] = []
        tokens: list[int] = []
        running = hashlib.sha256(salt.encode())
        chars = 0
        for segment in prompt.segments:
            text = json.dumps(segment, sort_keys=True, default=str)
            running.update(text.encode())
            chars += len(text)
            hashes.append(running.hexdigest())
            tokens.append(chars // _CHARS_PER_TOKEN)
        last = max(prompt.breakpoints)
        if tokens[last] < MIN_CACHEABLE_TOKENS:
            return None
        with self._lock:
            read = next((tokens[i] for i in range(last, -1, -1) if hashes[i] in self._written), 0)
            for i in prompt.breakpoints:
                if tokens[i] >= MIN_CACHEABLE_TOKENS:
                    self._written[hashes[i]] = tokens[i]
        return CacheUsage(total=tokens[-1], written=tokens[last] - read, read=read)

    def __len__(self) -> int:
        with self._lock:
            return len(self._written)


def input_usage(estimate: int, cached: CacheUsage | None, *, report_writes: bool = True) -> Usage:
    """The prompt side of a usage: the plain estimate, or its cached split.

    Without ``report_writes`` (OpenAI) a first sight counts as plain input.
    """
    if cached is None:
        return Usage(estimate, 0)
    written = cached.written if report_writes else 0
    return Usage(cached.total - cached.read - written, 0, written, cached.read)
