"""The dashboard: a static page (HTML, CSS, JavaScript modules) served by the daemon.

``GET /`` and ``GET /dashboard`` redirect to ``/dashboard/``, which serves
``dashboard/index.html``; ``GET /dashboard/<file>`` serves the other files of
that directory. There is no build step: the files ship as they are, inside the
package. They hold no secret, so the guard lets them through without the token
(Host and Origin are still checked); the page reads the token from its URL
fragment (``/dashboard/#token=...``, which browsers never send to the server)
and sends it as ``Authorization: Bearer`` on every API call it makes.
"""

from __future__ import annotations

import functools
from importlib import resources
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from .._errors import UsageError
from ._http_errors import error_response

__all__ = ["DASHBOARD_PATH", "dashboard_router", "dashboard_url"]

DASHBOARD_PATH = "/dashboard/"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything the page needs comes from the daemon itself; it may only talk to it.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A new podium version may ship new files under the same names.
    "Cache-Control": "no-cache",
}

dashboard_router = APIRouter(include_in_schema=False)


@functools.cache
def _files() -> dict[str, tuple[bytes, str]]:
    """Name -> (content, media type) for every file the dashboard directory ships."""
    folder = resources.files(__package__ or "podium.server").joinpath("dashboard")
    found: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return found


def _serve(name: str) -> Response:
    found = _files().get(name)
    if found is None:
        return error_response(404, UsageError.code, f"no dashboard file {name!r}")
    content, media_type = found
    return Response(content=content, media_type=media_type, headers=_HEADERS)


@dashboard_router.api_route("/", methods=["GET", "HEAD"])
@dashboard_router.api_route("/dashboard", methods=["GET", "HEAD"])
async def to_dashboard() -> RedirectResponse:
    # Browsers keep the fragment (#token=...) across a redirect whose Location has none.
    return RedirectResponse(DASHBOARD_PATH, status_code=307)


@dashboard_router.api_route(DASHBOARD_PATH, methods=["GET", "HEAD"])
async def dashboard_index() -> Response:
    return _serve("index.html")


@dashboard_router.api_route(DASHBOARD_PATH + "{name}", methods=["GET", "HEAD"])
async def dashboard_file(name: str) -> Response:
    # Only names listed in the package directory: no path ever reaches the file system.
    return _serve(name)


def dashboard_url(base_url: str, token: str) -> str:
    """The page's address on the daemon at ``base_url``, the token in its fragment."""
    return f"{base_url.rstrip('/')}{DASHBOARD_PATH}#token={quote(token, safe='')}"
