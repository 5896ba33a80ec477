"""Open a job queue from a URL: ``sqlite:…`` for one host, ``redis://…`` for many."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from .._errors import UsageError
from .._redis_conn import REDIS_SCHEMES, redacted_url
from ._protocol import JobQueue
from ._redis import RedisQueue
from ._sqlite import SQLiteQueue

__all__ = ["open_queue"]

_FORMS = (
    "sqlite:///absolute/path.db, sqlite:relative/path.db, redis://[:password@]host[:port][/db], "
    "rediss://… or unix:///path/to/redis.sock"
)


def open_queue(url: str, *, prefix: str = "podium") -> JobQueue:
    """The queue ``url`` names. ``prefix`` namespaces the Redis keys (SQLite ignores it)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///abs/path.db has an empty host and an absolute path;
        # sqlite:relative.db has no "//" at all. sqlite://name.db would put the
        # file name in the host part: refuse it rather than guess.
        path = unquote(parts.path)
        if parts.netloc or not path or path.endswith("/") or parts.query or parts.fragment:
            raise _bad(url, "a SQLite queue URL names one file")
        return SQLiteQueue(Path(path))
    if scheme in REDIS_SCHEMES:
        return RedisQueue.from_url(url, prefix=prefix)
    raise _bad(url, "unknown scheme")


def _bad(url: str, why: str) -> UsageError:
    shown = redacted_url(url)
    return UsageError(f"not a job queue URL: {shown!r} ({why}); use {_FORMS}", url=shown)
