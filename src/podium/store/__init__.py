"""Storage behind one protocol: SQLite is the embedded default, Redis the distributed one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._errors import UsageError
from ._protocol import Store
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._redis import RedisStore, StoreError, StoreUnavailable

__all__ = [
    "RedisStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]

# Importing the Redis client costs more than the rest of the runtime put together;
# only distributed mode pays for it.
_REDIS_NAMES = frozenset({"RedisStore", "StoreError", "StoreUnavailable"})
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def __getattr__(name: str) -> Any:
    if name in _REDIS_NAMES:
        from . import _redis

        return getattr(_redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(
    url: str | None,
    *,
    sqlite_path: Path,
    events_log: Path | None = None,
    prefix: str = "podium",
) -> Store:
    """The store for ``url``: None (or empty) opens SQLite at ``sqlite_path``;
    redis://, rediss:// or unix:// opens Redis with keys under ``prefix``."""
    if not url:
        return SQLiteStore(sqlite_path, events_log=events_log)
    if urlsplit(url).scheme not in _REDIS_SCHEMES:
        from .._redis_conn import redacted_url

        raise UsageError(
            f"not a store URL: {redacted_url(url)!r} "
            "(expected redis://, rediss:// or unix://, or none for SQLite)",
            url=redacted_url(url),
        )
    from ._redis import RedisStore

    return RedisStore.from_url(url, prefix=prefix, events_log=events_log)
