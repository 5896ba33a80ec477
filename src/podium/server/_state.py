"""The daemon's files under ``$PODIUM_HOME``: daemon.json, token, locks, log.

Whether a daemon is running is decided by an ``flock`` the serving process holds
for its whole life: the kernel drops it when the process dies, even by SIGKILL,
so a stale daemon.json is recognised without trusting a pid that may have been
reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import time
from pathlib import Path

from .._frozen import Frozen
from .._home import private_dir, private_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

__all__ = [
    "DaemonInfo",
    "daemon_file",
    "ensure_home",
    "exclusive_lock",
    "is_running",
    "load_or_create_token",
    "log_file",
    "read_daemon_info",
    "read_token",
    "remove_daemon_info",
    "run_lock",
    "start_lock_file",
    "token_file",
    "try_lock",
    "write_daemon_info",
]


class DaemonInfo(Frozen):
    """What daemon.json says about the running daemon.

    A frozen record (every command reads one, so not a dataclass: see :mod:`podium._frozen`).
    """

    __slots__ = (  # noqa: RUF023 (the fields in order: daemon.json's keys)
        "pid",
        "url",
        "started_at",
        "version",
        "credential_source",
        "api_base_url",
        "env_digest",
    )
    pid: int
    url: str
    started_at: float
    version: str
    credential_source: str | None
    """The model API environment its agents inherit (see :mod:`podium._apienv`);
    ``None`` from a daemon that did not record it."""
    api_base_url: str | None
    env_digest: str | None

    def __init__(
        self,
        *,
        pid: int,
        url: str,
        started_at: float,
        version: str,
        credential_source: str | None = None,
        api_base_url: str | None = None,
        env_digest: str | None = None,
    ) -> None:
        self._set(
            pid=pid,
            url=url,
            started_at=started_at,
            version=version,
            credential_source=credential_source,
            api_base_url=api_base_url,
            env_digest=env_digest,
        )

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DaemonInfo:
        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            pid=int(data["pid"]),
            url=str(data["url"]),
            started_at=float(data["started_at"]),
            version=str(data["version"]),
            credential_source=text("credential_source"),
            api_base_url=text("api_base_url"),
            env_digest=text("env_digest"),
        )


def daemon_file(home: Path) -> Path:
    return home / "daemon.json"


def token_file(home: Path) -> Path:
    return home / "token"


def log_file(home: Path) -> Path:
    return home / "daemon.log"


def _run_lock_file(home: Path) -> Path:
    return home / "daemon.lock"


def start_lock_file(home: Path) -> Path:
    return home / "start.lock"


def ensure_home(home: Path) -> Path:
    # 0700: the directory holds the token and every agent's transcripts.
    return private_dir(home)


# --- daemon.json ---------------------------------------------------------------------------


def write_daemon_info(home: Path, info: DaemonInfo) -> None:
    """Atomically: readers see the old file or the new one, never half of one."""
    import tempfile  # only the daemon writes this file; readers must start quickly

    ensure_home(home)
    # mkstemp creates the file 0600.
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".daemon.", suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(info.to_dict(), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, daemon_file(home))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_daemon_info(home: Path) -> DaemonInfo | None:
    """The recorded daemon, or None if there is no (readable) daemon.json."""
    try:
        data = json.loads(daemon_file(home).read_text(encoding="utf-8"))
        return DaemonInfo.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_daemon_info(home: Path, *, pid: int | None = None) -> None:
    """Remove daemon.json; with ``pid``, only if it still describes that process."""
    path = daemon_file(home)
    if pid is not None:
        info = read_daemon_info(home)
        if info is not None and info.pid != pid:
            return  # a newer daemon owns it now
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --- token ---------------------------------------------------------------------------------


def read_token(home: Path) -> str | None:
    try:
        token = token_file(home).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None


def load_or_create_token(home: Path) -> str:
    """The token in ``home/token`` (made private if it was not), or a new random one."""
    ensure_home(home)
    path = token_file(home)
    token = read_token(home)
    if token is not None:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
        return token
    # Imported here: every command reads the token; only a new daemon makes one.
    import secrets
    import tempfile

    token = secrets.token_urlsafe(32)
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".token.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.replace(tmp, path)
    return token


# --- locks ---------------------------------------------------------------------------------


def try_lock(path: Path) -> IO[bytes] | None:
    """Take an exclusive flock without waiting; the open file is the lock (close to release)."""
    handle = private_file(path).open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def run_lock(home: Path, *, wait: float) -> IO[bytes] | None:
    """The lock a serving daemon holds for its lifetime; None if another daemon has it."""
    ensure_home(home)
    deadline = time.monotonic() + wait
    while True:
        handle = try_lock(_run_lock_file(home))
        if handle is not None or time.monotonic() >= deadline:
            return handle
        time.sleep(0.1)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Block until we hold ``path``'s flock (serialises concurrent ``podium up``)."""
    with private_file(path).open("ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def is_running(home: Path) -> bool:
    """True while some process holds the daemon's run lock for ``home``."""
    path = _run_lock_file(home)
    if not path.exists():
        return False
    handle = try_lock(path)
    if handle is None:
        return True
    handle.close()
    return False
