"""Which model API environment the daemon's agents use, compared without sharing values.

The daemon keeps the environment of the command that started it (often an
autostart by the first ``podium`` command of the day); agents' CLIs inherit that
environment. A user who later exports another key or base URL would silently go
on using the old one. So the daemon records, in its ``daemon.json``:

* ``credential_source``: the name of the variable its CLIs authenticate with, in
  the CLI's own order (:data:`CREDENTIAL_VARS`), or ``"none"``;
* ``api_base_url``: ``ANTHROPIC_BASE_URL`` with any user:password removed, or ``None``
  (the CLI's default, ``https://api.anthropic.com``);
* ``env_digest``: an HMAC-SHA256, keyed by the daemon's token, of every relevant
  variable (:func:`api_environment`).

A command computes the same digest over its own environment with the token it
reads anyway: equal digests mean the same values, and no value is ever written,
sent or logged. Stdlib only: every CLI command imports this.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit, urlunsplit

from ._frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CREDENTIAL_VARS",
    "DEFAULT_API_BASE_URL",
    "ApiEnvironment",
    "api_environment",
    "same_environment",
]

CREDENTIAL_VARS: tuple[str, ...] = (
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
)
"""Credential variables in the order the Claude Code CLI prefers them."""
DEFAULT_API_BASE_URL = "https://api.anthropic.com"


def api_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that decide which account and endpoint a CLI uses (empty = unset)."""
    return {
        name: value
        for name, value in env.items()
        if value and (name.startswith("ANTHROPIC_") or name == "CLAUDE_CODE_OAUTH_TOKEN")
    }


def _shown_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class ApiEnvironment(Frozen):
    """What a process's environment says about the model API, values left out.

    A frozen record, not a dataclass: commands import this (see :mod:`podium._frozen`).
    """

    __slots__ = (  # noqa: RUF023 (the fields in order)
        "credential_source",
        "api_base_url",
        "env_digest",
    )
    credential_source: str
    """The credential variable used (:data:`CREDENTIAL_VARS` order), or ``"none"``."""
    api_base_url: str | None
    """``ANTHROPIC_BASE_URL`` without user:password; ``None``: the CLI's default."""
    env_digest: str
    """HMAC-SHA256 (hex) of :func:`api_environment`, keyed by the daemon's token."""

    def __init__(
        self, *, credential_source: str, api_base_url: str | None, env_digest: str
    ) -> None:
        self._set(
            credential_source=credential_source, api_base_url=api_base_url, env_digest=env_digest
        )

    @classmethod
    def of(cls, env: Mapping[str, str], token: str) -> ApiEnvironment:
        relevant = api_environment(env)
        source = next((name for name in CREDENTIAL_VARS if name in relevant), "none")
        base = relevant.get("ANTHROPIC_BASE_URL")
        canonical = json.dumps(sorted(relevant.items()), separators=(",", ":"))
        digest = hmac.new(token.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        return cls(
            credential_source=source,
            api_base_url=None if base is None else _shown_url(base),
            env_digest=digest,
        )

    def describe(self) -> str:
        """``ANTHROPIC_API_KEY at https://...``: for one line of a message."""
        return f"{self.credential_source} at {self.api_base_url or DEFAULT_API_BASE_URL}"


def same_environment(env: Mapping[str, str], token: str | None, digest: str | None) -> bool | None:
    """Whether ``env``'s model API environment is the one a daemon recorded as ``digest``
    (keyed by its ``token``); ``None``: unknown (no token, or a daemon that kept none)."""
    if token is None or digest is None:
        return None
    return hmac.compare_digest(ApiEnvironment.of(env, token).env_digest, digest)
