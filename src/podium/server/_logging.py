"""Daemon logging: timestamped lines on stderr (daemon.log when backgrounded), secrets masked.

Nothing podium logs should contain a secret in the first place; the mask is the
second line of defence for whatever a library or an exception message prints.
"""

from __future__ import annotations

import logging
import os
import sys

from ..isolation._credentials import DEFAULT_SECRETS, RedactingFormatter

__all__ = ["add_secret", "configure_logging"]

_SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


def add_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line, event or error."""
    DEFAULT_SECRETS.add(value)


def configure_logging(level: str = "info") -> None:
    for key, value in os.environ.items():
        if key.upper().endswith(_SECRET_SUFFIXES):
            add_secret(value)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries: warnings only (httpx logs every call at INFO)
    numeric = logging.getLevelName(level.upper())
    for name in ("podium", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(numeric if isinstance(numeric, int) else logging.INFO)
