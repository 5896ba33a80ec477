"""Controlling the background daemon from other processes: up, down, and who is running.

None of this imports the server itself (FastAPI, the runtime): every CLI command
goes through here on its way to the daemon, and must stay quick to start. Only
:func:`running_daemon` is on every command's way; what starting and stopping
need (``subprocess``, ``signal``, :mod:`._procs`) is imported when they run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from .._errors import DaemonError, PodiumError
from .._http import DaemonHTTP, HTTPFailure
from ._state import (
    DaemonInfo,
    ensure_home,
    exclusive_lock,
    is_running,
    log_file,
    read_daemon_info,
    read_token,
    remove_daemon_info,
    start_lock_file,
)

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "autostart_disabled",
    "running_daemon",
    "start_daemon",
    "stop_daemon",
]

# A cold Python start with the SDK imported takes seconds on a slow machine.
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 15.0
# After SIGTERM, how long the daemon gets to stop its agents before SIGKILL.
_TERM_GRACE = 10.0
_LOG_TAIL_LINES = 20


def autostart_disabled() -> bool:
    return os.environ.get("PODIUM_NO_AUTOSTART", "").strip().lower() in ("1", "true", "yes", "on")


def start_timeout() -> float:
    try:
        return float(os.environ.get("PODIUM_START_TIMEOUT", DEFAULT_START_TIMEOUT))
    except ValueError:
        return DEFAULT_START_TIMEOUT


def running_daemon(home: Path) -> DaemonInfo | None:
    """The live daemon for ``home``, cleaning up a stale daemon.json on the way."""
    info = read_daemon_info(home)
    if not is_running(home):
        if info is not None:
            # Its process is gone (crash, SIGKILL, reboot): the file is only misleading now.
            remove_daemon_info(home, pid=info.pid)
        return None
    return info


def start_daemon(
    home: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    socket_path: Path | None = None,
    timeout: float | None = None,
    extra_argv: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[DaemonInfo, bool]:
    """Start a detached daemon unless one runs; returns (its info, whether we started it).

    ``extra_argv``: more ``podium serve`` options; ``extra_env``: for values that must
    not show in the process list (a Redis URL with its password).
    """
    timeout = start_timeout() if timeout is None else timeout
    ensure_home(home)
    # Two commands autostarting at once must end up with one daemon, not a race.
    with exclusive_lock(start_lock_file(home)):
        info = running_daemon(home) or _await_other(home, timeout)
        if info is not None:
            return info, False
        argv = [sys.executable, "-m", "podium", "serve"]
        if host is not None:
            argv += ["--host", host]
        if port is not None:
            argv += ["--port", str(port)]
        if socket_path is not None:
            argv += ["--socket", str(socket_path)]
        argv += extra_argv or []
        return _spawn_and_wait(home, argv, timeout, extra_env or {}), True


def _await_other(home: Path, timeout: float) -> DaemonInfo | None:
    """A daemon holds the lock but has no daemon.json yet (starting, e.g. a foreground serve)."""
    deadline = time.monotonic() + timeout
    while is_running(home):
        info = read_daemon_info(home)
        if info is not None:
            return info
        if time.monotonic() >= deadline:
            raise DaemonError(
                f"another podium daemon holds {home} but never announced itself; "
                "stop it or remove its process",
                home=str(home),
            )
        time.sleep(0.05)
    return None


def _spawn_and_wait(
    home: Path, argv: list[str], timeout: float, extra_env: dict[str, str]
) -> DaemonInfo:
    import subprocess

    from ._procs import adopt, kill_tree, wait_exit

    log_path = log_file(home)
    env = {**os.environ, **extra_env, "PODIUM_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    # 0600 like every other file here: the log names agents, paths and prompts' sizes.
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(log_fd, "ab") as log:
        offset = log.tell()
        log.write(f"--- podium up: starting daemon at {time.ctime()} ---\n".encode())
        log.flush()
        # Its own session: the daemon outlives this command and its terminal's signals.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=home,
            env=env,
            start_new_session=True,
        )
    adopt(proc)
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise DaemonError(
                f"the daemon exited with code {code} while starting; "
                f"the end of {log_path}:\n{_log_tail(log_path, offset)}",
                log=str(log_path),
            )
        info = read_daemon_info(home)
        if info is not None and info.pid == proc.pid and _healthy(info.url):
            return info
        if time.monotonic() >= deadline:
            kill_tree(proc.pid)
            wait_exit(proc.pid, 5.0)
            raise DaemonError(
                f"the daemon did not answer on /v1/health within {timeout:g} s "
                f"(it was stopped); the end of {log_path}:\n{_log_tail(log_path, offset)}",
                log=str(log_path),
            )
        time.sleep(0.05)


def _healthy(url: str) -> bool:
    try:
        with DaemonHTTP(url, token=None, timeout=2.0) as http:
            return http.request("GET", "/v1/health").status == 200
    except HTTPFailure:
        return False


def _log_tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(f"    {line}" for line in lines) or "    (empty)"


def stop_daemon(home: Path, *, timeout: float = DEFAULT_STOP_TIMEOUT) -> DaemonInfo | None:
    """Stop the daemon for ``home`` and everything it started; None if none was running.

    Asks politely (POST /v1/shutdown), then SIGTERM, then SIGKILL for the whole tree.
    """
    import signal

    from ._procs import descendants, kill_tree, pid_alive, wait_exit

    info = running_daemon(home)
    if info is None:
        if is_running(home):
            raise DaemonError(
                f"a podium daemon holds {home} but has no daemon.json; it may still be "
                "starting: try again",
                home=str(home),
            )
        return None
    pid = info.pid
    tree = descendants(pid)
    _ask_shutdown(info.url, read_token(home))
    if not wait_exit(pid, timeout):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        if not wait_exit(pid, _TERM_GRACE):
            kill_tree(pid)
            wait_exit(pid, 5.0)
    # A clean shutdown stops every agent; anything of the daemon's still here did not listen.
    for child in tree:
        if pid_alive(child):
            kill_tree(child)
    remove_daemon_info(home, pid=pid)
    return info


def _ask_shutdown(url: str, token: str | None) -> None:
    try:
        with DaemonHTTP(url, token=token, timeout=5.0) as http:
            http.request("POST", "/v1/shutdown")
    except (HTTPFailure, PodiumError):
        pass  # unreachable or hung: the signals below will do
