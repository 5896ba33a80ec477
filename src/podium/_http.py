"""The one place that knows how to reach a daemon URL (TCP or unix socket) with httpx."""

from __future__ import annotations

import httpx

from ._version import __version__

__all__ = ["UNIX_PREFIX", "http_client"]

UNIX_PREFIX = "unix://"
"""A daemon on a unix socket is named ``unix:///abs/path.sock`` in daemon.json."""


def http_client(url: str, *, token: str | None, timeout: float) -> httpx.Client:
    headers = {"User-Agent": f"podium/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # trust_env=False: a user's HTTP(S)_PROXY must never see loopback traffic or the token.
    if url.startswith(UNIX_PREFIX):
        return httpx.Client(
            base_url="http://localhost",
            transport=httpx.HTTPTransport(uds=url[len(UNIX_PREFIX) :]),
            headers=headers,
            timeout=timeout,
            trust_env=False,
        )
    return httpx.Client(base_url=url, headers=headers, timeout=timeout, trust_env=False)
