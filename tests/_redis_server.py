"""A real ``redis-server`` for tests, on a unix socket in a temporary directory.

Started with AOF on (``appendfsync always``) and ``noeviction``, the settings the
deployment guide asks for, so a restart in the middle of a test loses nothing.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        pytest.fail("redis-server is not installed (CI installs it with apt: redis-server)")
    return path


class RedisServer:
    def __init__(self, directory: Path, *, appendfsync: str = "always") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "redis.sock"
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def argv(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip

    def start(self) -> RedisServer:
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not create its socket within 20 s")
            time.sleep(0.02)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, sig: int = signal.SIGTERM, *, down_for: float = 0.0) -> None:
        self.stop(sig)
        time.sleep(down_for)
        self.start()
