"""The per-agent options of the API backends, checked before anything is created.

Options arrive from the CLI, HTTP bodies, MCP calls and profile files, so each
is validated here once, with an error that names the option and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._errors import UsageError
from .._names import check_model

__all__ = ["API_BACKENDS", "check_api_options", "check_base_url", "parse_fallback"]

API_BACKENDS = frozenset({"anthropic-api", "openai"})
_FALLBACK_KEYS = frozenset({"backend", "model", "base_url"})


def check_base_url(url: object, *, what: str = "base_url") -> str:
    if not isinstance(url, str) or not url:
        raise UsageError(f"{what} must be a URL such as http://127.0.0.1:11434/v1, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"{what} {url!r} is not an http(s) URL (e.g. http://127.0.0.1:11434/v1)"
        )
    if parts.username or parts.password:
        # A key in the URL would be stored and shown with the agent; keys go in the env.
        raise UsageError(f"{what} must not carry credentials; put the key in the environment")
    return url


def parse_fallback(entry: object, *, backend: str) -> dict[str, Any]:
    """One fallback: ``"MODEL"`` (same backend), ``"BACKEND=MODEL"``, or a mapping
    with ``model`` and optional ``backend`` / ``base_url``."""
    if isinstance(entry, str):
        named, sep, rest = entry.partition("=")
        entry = {"backend": named, "model": rest} if sep else {"model": entry}
    if not isinstance(entry, Mapping):
        raise UsageError(
            f"fallback entry {entry!r} must be a model name, BACKEND=MODEL, "
            "or a mapping with model (and backend, base_url)"
        )
    unknown = sorted(set(entry) - _FALLBACK_KEYS)
    if unknown:
        raise UsageError(
            f"fallback entry has unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_FALLBACK_KEYS))}"
        )
    target: object = entry.get("backend") or backend
    model: object = entry.get("model")
    if not isinstance(target, str) or not isinstance(model, str) or not model:
        raise UsageError(f"fallback entry {dict(entry)!r} needs a model name")
    if backend not in API_BACKENDS and target != backend:
        raise UsageError(
            f"a {backend} agent falls back to another model of its own (the CLI's "
            f"--fallback-model), not to the {target} backend"
        )
    if target != backend and target not in API_BACKENDS:
        raise UsageError(
            f"fallback backend {target!r}: an agent can fall back to "
            f"{', '.join(sorted(API_BACKENDS))} or to another model of its own backend"
        )
    check_model(model, backend=target)
    out: dict[str, Any] = {"model": model}
    if target != backend:
        out["backend"] = target
    if entry.get("base_url") is not None:
        out["base_url"] = check_base_url(entry["base_url"], what="fallback base_url")
    return out


def _positive_int(options: Mapping[str, Any], key: str) -> None:
    value = options.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise UsageError(f"option {key!r} must be a whole number >= 0, got {value!r}")


def check_api_options(options: Mapping[str, Any], *, backend: str) -> dict[str, Any]:
    """The options with the API ones checked and normalised (fallbacks as mappings)."""
    out = dict(options)
    if out.get("base_url") is not None:
        if backend not in API_BACKENDS:
            raise UsageError(
                f"base_url applies to the {' and '.join(sorted(API_BACKENDS))} backends, "
                f"not {backend}"
            )
        check_base_url(out["base_url"])
    for key in ("cache", "stream", "batch"):
        if key in out and not isinstance(out[key], bool):
            raise UsageError(f"option {key!r} must be true or false, got {out[key]!r}")
    if out.get("batch") and backend != "anthropic-api":
        raise UsageError(f"batch mode needs the anthropic-api backend, not {backend}")
    _positive_int(out, "max_tokens")
    _positive_int(out, "max_retries")
    if out.get("max_tokens") == 0:
        raise UsageError("option 'max_tokens' must be at least 1")
    key_env = out.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not key_env.isidentifier()):
        raise UsageError(f"option 'api_key_env' must name an environment variable, got {key_env!r}")
    chain = out.get("fallback")
    if chain is not None:
        if isinstance(chain, str | Mapping) or not isinstance(chain, list | tuple):
            chain = [chain]
        out["fallback"] = [parse_fallback(entry, backend=backend) for entry in chain]
        if backend not in API_BACKENDS and len(out["fallback"]) > 1:
            raise UsageError(f"a {backend} agent takes one fallback model, not a chain")
    return out
