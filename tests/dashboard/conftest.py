"""Fixtures for the dashboard tests: Debian's Chromium driven headless by Playwright,
and real podium daemons (uvicorn + runtime in a thread of the test process).

The browser is the system's ``chromium`` (CI installs Debian's package); Playwright
only drives it, nothing is downloaded. Only the model is replaced: by EchoBackend,
or by podium's fake Anthropic API behind the real Claude Code CLI.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from podium.server import serve_async
from podium.testing import FakeAnthropic, fake_api_env
from tests._threaded_daemon import ThreadedDaemon

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
REPO = Path(__file__).resolve().parents[2]

# Generous: a CI machine may be slow, and a live update only has to arrive.
expect.set_options(timeout=15_000)


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium); "
            "the dashboard tests drive it headless"
        )
    return path


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile directory."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Page:
    return browser.pages[0] if browser.pages else browser.new_page()


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """Uncaught exceptions and console errors (a CSP violation is one) of the page."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    return errors


@pytest.fixture
def echo_daemon(home: Path) -> Iterator[ThreadedDaemon]:
    """A real daemon whose model is EchoBackend (each turn costs $0.001)."""
    running = ThreadedDaemon(home).start()
    try:
        yield running
    finally:
        running.stop()


class CliDaemon(ThreadedDaemon):
    """A real daemon with its default backends: the Claude Code CLI (pointed at the fake)."""

    def _run(self) -> None:
        try:
            asyncio.run(serve_async(home=self.home, install_signals=False))
        except BaseException as exc:  # reported by start()/stop()
            self.failure = exc


@pytest.fixture
def cli_daemon(
    home: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThreadedDaemon]:
    # Agent processes inherit the daemon's environment: the fake API, and only it.
    for key, value in fake_api_env(fake.base_url).items():
        monkeypatch.setenv(key, value)
    running = CliDaemon(home).start()
    try:
        yield running
    finally:
        running.stop()


def open_dashboard(page: Page, daemon: ThreadedDaemon, *, query: str = "") -> None:
    page.goto(f"{daemon.url}/dashboard/{query}#token={daemon.token}")


def api_requests(page: Page) -> list[Any]:
    """Every request the page sends to the API (/v1/...), recorded from now on."""
    seen: list[Any] = []
    page.on("request", lambda request: seen.append(request) if "/v1/" in request.url else None)
    return seen


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
