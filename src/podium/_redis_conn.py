"""One way to open a Redis connection, for every part of podium that uses Redis.

Commands are retried through a server restart (with AOF on, the data comes
back with it): a coordinator or worker rides out a short outage instead of
failing the work it holds.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._errors import UsageError

__all__ = ["REDIS_SCHEMES", "connect_redis", "redacted_url"]

REDIS_SCHEMES = ("redis", "rediss", "unix")

# About 30 s of retrying (backoff capped at 1 s) before a command gives up.
_RETRIES = 36


def connect_redis(url: str, *, retries: int = _RETRIES) -> aioredis.Redis:
    """A client for ``url`` (redis://, rediss:// or unix:///path/to/socket)."""
    scheme = urlsplit(url).scheme
    if scheme not in REDIS_SCHEMES:
        raise UsageError(
            f"not a Redis URL: {redacted_url(url)!r} (expected redis://, rediss:// or unix://)",
            url=redacted_url(url),
        )
    errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError, ConnectionError]
    # TCP keepalive notices a peer that vanished without closing; a unix socket
    # connection does not take the option at all.
    tcp: dict[str, bool] = {} if scheme == "unix" else {"socket_keepalive": True}
    return aioredis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=errors,
        health_check_interval=15,
        decode_responses=False,
        **tcp,
    )


def redacted_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
