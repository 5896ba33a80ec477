"""The daemon's ASGI app wired to a Runtime, for in-process tests over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from podium.runtime import Runtime
from podium.server import AppState, GuardSettings, create_app

__all__ = ["BASE", "PORT", "TOKEN", "api_client"]

TOKEN = "test-token-0123456789abcdef"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def api_client(
    runtime: Runtime,
    *,
    on_shutdown: Callable[[], None] | None = None,
    raise_app_exceptions: bool = True,
) -> httpx.AsyncClient:
    """An authorised client of the app, sending the Host a daemon on PORT would accept."""
    state = AppState(runtime=runtime, request_shutdown=on_shutdown)
    guard = GuardSettings(
        token=TOKEN,
        allowed_hosts=frozenset({f"127.0.0.1:{PORT}", f"localhost:{PORT}"}),
        allowed_origins=frozenset({BASE, f"http://localhost:{PORT}"}),
    )
    transport = httpx.ASGITransport(
        app=create_app(state, guard), raise_app_exceptions=raise_app_exceptions
    )
    return httpx.AsyncClient(
        transport=transport,
        base_url=BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
