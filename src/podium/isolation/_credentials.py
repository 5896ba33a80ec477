"""Secrets kept out of everything podium writes: logs, events, records, errors.

An API key given to a worker (``api_key_env`` in a team) reaches its CLI only
through the process environment (``Runtime.set_secret_env``). It must never be
stored, logged, emitted or put in an argv. Code that handles secrets is written
not to do that; this module is the second line of defence for what a library, an
exception message or the CLI's own stderr might echo back.

``SecretRegistry`` holds the secret *values* the daemon knows (in memory only) and
scrubs them out of any string, bytes or JSON-like value; :func:`redact` does the
same for a one-off list. ``DEFAULT_SECRETS`` is the daemon-wide registry the log
formatter and event emission consult.

Values shorter than :data:`MIN_SECRET_LENGTH` are not registered: masking them
would mangle innocent text ("abc" inside "abcdef") while protecting nothing a
real key needs.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_SECRETS",
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFormatter",
    "SecretRegistry",
    "redact",
]

MASK = "***"
"""What a secret is replaced with (the daemon log's mask too)."""
MIN_SECRET_LENGTH = 8


def _usable(values: Iterable[str | None]) -> list[str]:
    return [v for v in values if v and len(v) >= MIN_SECRET_LENGTH]


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so a secret that contains another is masked whole.
    ordered = sorted(set(secrets), key=lambda s: (-len(s), s))
    if not ordered:
        return None
    return re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str, secrets: Iterable[str | None], *, mask: str = MASK) -> str:
    """``text`` with every occurrence of every (long enough) secret replaced by ``mask``."""
    pattern = _pattern(_usable(secrets))
    return text if pattern is None else pattern.sub(mask, text)


class SecretRegistry:
    """Secret values known to this process, and the scrubbing of them. Thread-safe.

    Secrets can be registered under an owner (an agent name) so that killing the
    agent forgets its key: ``add(value, owner="marie")`` then ``forget("marie")``.
    """

    def __init__(self, *, mask: str = MASK) -> None:
        self.mask = mask
        self._lock = threading.Lock()
        self._by_owner: dict[str, set[str]] = {}
        self._pattern: re.Pattern[str] | None = None
        self._bytes_pattern: re.Pattern[bytes] | None = None

    # --- registering ---------------------------------------------------------------------

    def add(self, value: str | None, *, owner: str = "") -> bool:
        """Register one secret value; returns False if it is too short to be masked."""
        usable = _usable([value])
        if not usable:
            return False
        with self._lock:
            self._by_owner.setdefault(owner, set()).update(usable)
            self._rebuild()
        return True

    def add_env(self, env: Mapping[str, str], *, owner: str = "") -> None:
        """Register every value of a secret environment (e.g. ``{"ANTHROPIC_API_KEY": ...}``)."""
        usable = _usable(env.values())
        if not usable:
            return
        with self._lock:
            self._by_owner.setdefault(owner, set()).update(usable)
            self._rebuild()

    def forget(self, owner: str) -> None:
        """Drop the secrets registered under ``owner``; others that share a value stay."""
        with self._lock:
            if self._by_owner.pop(owner, None) is not None:
                self._rebuild()

    def clear(self) -> None:
        with self._lock:
            self._by_owner.clear()
            self._rebuild()

    def __len__(self) -> int:
        with self._lock:
            return len(self._values())

    def _values(self) -> set[str]:
        return set().union(*self._by_owner.values()) if self._by_owner else set()

    def _rebuild(self) -> None:
        values = self._values()
        self._pattern = _pattern(values)
        self._bytes_pattern = (
            None if self._pattern is None else re.compile(self._pattern.pattern.encode("utf-8"))
        )

    # --- scrubbing -----------------------------------------------------------------------

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(self.mask, text)

    def redact_bytes(self, data: bytes) -> bytes:
        pattern = self._bytes_pattern
        return data if pattern is None else pattern.sub(self.mask.encode("utf-8"), data)

    def redact_value(self, value: Any) -> Any:
        """A JSON-like value (event data, a record dict) with secrets masked everywhere.

        Strings are scrubbed, dict keys included; containers are copied, never
        changed in place; other values are returned as they are.
        """
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {
                (self.redact(k) if isinstance(k, str) else k): self.redact_value(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.redact_value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(v) for v in value)
        return value

    def contains(self, text: str | bytes) -> bool:
        """Whether ``text`` holds any registered secret."""
        if isinstance(text, bytes):
            found_b = self._bytes_pattern
            return found_b is not None and found_b.search(text) is not None
        found = self._pattern
        return found is not None and found.search(text) is not None


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output (message, arguments, traceback) never holds a secret."""

    def __init__(
        self, fmt: str | None = None, *, secrets: SecretRegistry | None = None, **kwargs: Any
    ) -> None:
        super().__init__(fmt, **kwargs)
        self.secrets = DEFAULT_SECRETS if secrets is None else secrets

    def format(self, record: logging.LogRecord) -> str:
        return self.secrets.redact(super().format(record))


DEFAULT_SECRETS = SecretRegistry()
"""The daemon's registry: ``Runtime.set_secret_env`` values are added here."""
