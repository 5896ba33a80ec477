"""A real podium daemon (uvicorn + runtime) served from a thread of the test process.

The model is replaced by :class:`EchoBackend` (only the model); everything else
is the production code path of ``podium serve``, minus signal handling, which
only works in the main thread. daemon.json, the token and the run lock are
written in ``home`` exactly as a daemon process would write them.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from podium._client import Client
from podium.server import read_token, running_daemon, serve_async
from podium.server._state import DaemonInfo
from tests._echo_backend import EchoBackend

__all__ = ["ThreadedDaemon"]


class ThreadedDaemon:
    def __init__(self, home: Path, *, socket_path: Path | None = None) -> None:
        self.home = home
        self.socket_path = socket_path
        self.echo = EchoBackend()
        self.failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.info: DaemonInfo | None = None

    def _run(self) -> None:
        try:
            asyncio.run(
                serve_async(
                    home=self.home,
                    socket_path=self.socket_path,
                    backends={"claude-code": self.echo},
                    install_signals=False,
                )
            )
        except BaseException as exc:  # reported by start()/stop(); a thread cannot raise
            self.failure = exc

    def start(self) -> ThreadedDaemon:
        self._thread = threading.Thread(target=self._run, name="podium-test-daemon", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while True:
            info = running_daemon(self.home)
            if info is not None and info.pid == os.getpid():
                self.info = info
                return self
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"test daemon did not start: {self.failure!r}")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        assert self.info is not None
        return self.info.url

    @property
    def token(self) -> str:
        token = read_token(self.home)
        assert token is not None
        return token

    def client(self) -> Client:
        return Client(self.url, self.token)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._thread.is_alive():
            with self.client() as client:
                client.shutdown()
            self._thread.join(20)
        assert not self._thread.is_alive(), "test daemon did not stop"
        self._thread = None
        if self.failure is not None:
            raise self.failure
