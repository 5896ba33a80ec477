"""Daemon state files, stale detection, autostart switches and the backend hook.

No daemon process and no model here: these are the pieces `up`, `down` and the
Client rely on to decide whether a daemon is running.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium import Client
from podium._errors import DaemonError
from podium._home import default_home as light_default_home
from podium.runtime import default_home as runtime_default_home
from podium.server import _serve, daemon_file, read_daemon_info, running_daemon
from podium.server._guard import loopback_names
from podium.server._procs import pid_alive
from podium.server._state import DaemonInfo, remove_daemon_info, run_lock, write_daemon_info


def _info(pid: int = 4242) -> DaemonInfo:
    return DaemonInfo(pid=pid, url="http://127.0.0.1:1234", started_at=1.0, version="0.1.0")


def test_daemon_json_is_written_atomically_and_privately(tmp_path: Path) -> None:
    write_daemon_info(tmp_path, _info())
    assert read_daemon_info(tmp_path) == _info()
    assert stat.S_IMODE(daemon_file(tmp_path).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"]  # no temp file left


def test_stale_daemon_json_is_detected_and_removed(tmp_path: Path) -> None:
    # Written by a daemon that died: nobody holds the run lock any more.
    write_daemon_info(tmp_path, _info(pid=os.getpid()))
    assert running_daemon(tmp_path) is None
    assert not daemon_file(tmp_path).exists()


def test_daemon_json_counts_only_while_the_run_lock_is_held(tmp_path: Path) -> None:
    lock = run_lock(tmp_path, wait=0)
    assert lock is not None
    try:
        write_daemon_info(tmp_path, _info())
        assert running_daemon(tmp_path) == _info()
        assert run_lock(tmp_path, wait=0) is None  # a second daemon cannot take it
    finally:
        lock.close()
    assert running_daemon(tmp_path) is None


@pytest.mark.parametrize("content", ["", "{", "[]", '{"pid": "x"}', '{"pid": 1}'])
def test_unreadable_daemon_json_means_none(tmp_path: Path, content: str) -> None:
    daemon_file(tmp_path).write_text(content)
    assert read_daemon_info(tmp_path) is None


def test_remove_daemon_info_spares_a_newer_daemons_file(tmp_path: Path) -> None:
    write_daemon_info(tmp_path, _info(pid=1))
    remove_daemon_info(tmp_path, pid=2)
    assert daemon_file(tmp_path).exists()
    remove_daemon_info(tmp_path, pid=1)
    assert not daemon_file(tmp_path).exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PODIUM_HOME": "~/podium-home", "XDG_STATE_HOME": "/tmp/xdg"}, "~/podium-home"),
        ({"XDG_STATE_HOME": "/tmp/xdg"}, "/tmp/xdg/podium"),
        ({}, "~/.local/state/podium"),
    ],
)
def test_default_home_prefers_podium_home_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    monkeypatch.delenv("PODIUM_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert light_default_home() == Path(expected).expanduser()
    assert runtime_default_home is light_default_home  # one definition, re-exported


def test_no_autostart_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    with pytest.raises(DaemonError) as error:
        Client.from_home(tmp_path)
    assert "daemon not reachable" in error.value.message
    assert "podium up" in error.value.message
    monkeypatch.delenv("PODIUM_NO_AUTOSTART")
    with pytest.raises(DaemonError, match="daemon not reachable"):
        Client.from_home(tmp_path, autostart=False)


def test_backend_factory_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_serve.BACKEND_FACTORY_ENV, raising=False)
    assert _serve.load_backends() is None
    monkeypatch.setenv(_serve.BACKEND_FACTORY_ENV, "tests._echo_backend:backends")
    backends = _serve.load_backends()
    assert backends is not None
    assert list(backends) == ["claude-code"]
    bad_specs = (
        "nocolon",
        "no_such_module_xyz:f",
        "tests._echo_backend:missing",
        "json:dumps",
        "os:getcwd",
    )
    for bad in bad_specs:
        monkeypatch.setenv(_serve.BACKEND_FACTORY_ENV, bad)
        with pytest.raises(DaemonError, match=_serve.BACKEND_FACTORY_ENV):
            _serve.load_backends()


def test_loopback_names() -> None:
    hosts, origins = loopback_names("127.0.0.1", 5000)
    assert hosts == {"127.0.0.1:5000", "localhost:5000"}
    assert origins == {"http://127.0.0.1:5000", "http://localhost:5000"}
    hosts, _ = loopback_names("::1", 5000)
    assert "[::1]:5000" in hosts
    hosts, origins = loopback_names("localhost", None)
    assert hosts == {"127.0.0.1", "localhost"}
    assert origins == set()


def test_a_zombie_counts_as_dead() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(proc.pid)  # exited but not yet reaped
    finally:
        proc.wait()


def test_daemon_json_shape(tmp_path: Path) -> None:
    write_daemon_info(tmp_path, _info())
    assert set(json.loads(daemon_file(tmp_path).read_text())) == {
        "pid",
        "url",
        "started_at",
        "version",
        # The model API environment its agents use: names, a URL and a keyed digest.
        "credential_source",
        "api_base_url",
        "env_digest",
    }


def test_daemon_json_of_an_older_daemon_still_reads(tmp_path: Path) -> None:
    old = {"pid": 4242, "url": "http://127.0.0.1:1234", "started_at": 1.0, "version": "0.1.0"}
    daemon_file(tmp_path).write_text(json.dumps(old))
    info = read_daemon_info(tmp_path)
    assert info == _info()
    assert info is not None
    assert info.env_digest is None  # unknown: no environment warning can be given
