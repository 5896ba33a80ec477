"""The dashboard's files over HTTP: served without the token, the API still guarded.

The daemon's app itself mounts the dashboard (``create_app``); nothing in these
tests adds it.
"""

from __future__ import annotations

import re
from importlib import resources

import httpx
import pytest

from podium.server import AppState, GuardSettings, create_app
from podium.server._dashboard import dashboard_url
from tests._asgi_api import BASE, PORT, TOKEN
from tests._threaded_daemon import ThreadedDaemon

FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "live.js": "text/javascript",
    "inbox.js": "text/javascript",
    "graph.js": "text/javascript",
    "format.js": "text/javascript",
    "activity.js": "text/javascript",
    "timeline.js": "text/javascript",
    "review.js": "text/javascript",
    "style.css": "text/css",
}


@pytest.fixture
def http(echo_daemon: ThreadedDaemon) -> httpx.Client:
    return httpx.Client(base_url=echo_daemon.url, timeout=10)


def test_files_are_served_without_the_token_with_a_strict_policy(http: httpx.Client) -> None:
    with http:
        index = http.get("/dashboard/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        policy = index.headers["content-security-policy"]
        assert "connect-src 'self'" in policy
        assert "script-src 'self'" in policy
        assert index.headers["x-content-type-options"] == "nosniff"
        assert index.headers["referrer-policy"] == "no-referrer"
        for name, media_type in FILES.items():
            response = http.get(f"/dashboard/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith(media_type), name
            head = http.head(f"/dashboard/{name}")
            assert head.status_code == 200, name
            assert head.content == b""


def test_the_page_loads_nothing_from_elsewhere() -> None:
    folder = resources.files("podium.server").joinpath("dashboard")
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    assert names == sorted(FILES)
    for name in names:
        # The SVG namespace is a name, not an address: nothing is fetched from it.
        text = folder.joinpath(name).read_text(encoding="utf-8")
        text = text.replace('"http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(https?:)?//[a-z0-9-]+(\.[a-z0-9-]+)+[/:]", text), name
        assert "http://" not in text, name
        assert "https://" not in text, name


def test_root_redirects_and_unknown_files_are_404(http: httpx.Client) -> None:
    with http:
        for path in ("/", "/dashboard"):
            response = http.get(path)
            assert response.status_code == 307, path
            assert response.headers["location"] == "/dashboard/"
        missing = http.get("/dashboard/nope.js")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "no dashboard file 'nope.js'"
        assert http.get("/dashboard/..%2Fpyproject.toml").status_code == 404


def test_the_api_still_needs_the_token(http: httpx.Client, echo_daemon: ThreadedDaemon) -> None:
    with http:
        assert http.get("/v1/agents").status_code == 401
        # Only reading the files is open: anything else needs the token as before.
        assert http.post("/dashboard/").status_code == 401
        authorised = {"Authorization": f"Bearer {echo_daemon.token}"}
        assert http.get("/v1/agents", headers=authorised).status_code == 200
        # The page's own origin may call the API; another origin may not, files included.
        own = {**authorised, "Origin": echo_daemon.url}
        assert http.get("/v1/agents", headers=own).status_code == 200
        evil = {"Origin": "http://evil.example"}
        assert http.get("/dashboard/", headers=evil).status_code == 403
        assert http.get("/dashboard/", headers={"Host": "evil.example"}).status_code == 400


def test_dashboard_url_puts_the_token_in_the_fragment() -> None:
    assert dashboard_url("http://127.0.0.1:8765/", "a+b/c") == (
        "http://127.0.0.1:8765/dashboard/#token=a%2Bb%2Fc"
    )


async def test_the_daemons_app_serves_the_dashboard_as_created() -> None:
    # create_app as the daemon calls it: no extra router added by anyone.
    guard = GuardSettings(
        token=TOKEN,
        allowed_hosts=frozenset({f"127.0.0.1:{PORT}"}),
        allowed_origins=frozenset({BASE}),
    )
    app = create_app(AppState(runtime=None), guard)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        index = await http.get("/dashboard/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="app.js"' in index.text
        for name, media_type in FILES.items():
            response = await http.get(f"/dashboard/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith(media_type), name
            assert response.content, name
        redirected = await http.get("/")
        assert redirected.status_code == 307
        assert redirected.headers["location"] == "/dashboard/"
