"""PODIUM_HOME holds the token and every transcript: private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._threaded_daemon import ThreadedDaemon


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _too_open(home: Path) -> list[str]:
    found = []
    for path in [home, *home.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISSOCK(mode) or stat.S_ISLNK(mode):
            continue  # reachable only through the private directories above them
        if stat.S_IMODE(mode) & 0o077:
            found.append(f"{path.relative_to(home)} {stat.S_IMODE(mode):o}")
    return found


def test_home_and_its_files_are_private_under_umask_000(tmp_path: Path, open_umask: None) -> None:
    home = tmp_path / "home"
    daemon = ThreadedDaemon(home).start()
    try:
        with daemon.client() as client:
            client.spawn("alpha")
            assert client.ask("alpha", "hi", wait=True).result == "hi"
    finally:
        daemon.stop()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "token").exists()
    assert _too_open(home) == []
