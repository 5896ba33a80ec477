"""``podium serve``: the runtime plus its HTTP API, in the foreground, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import stat
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from .._apienv import ApiEnvironment
from .._errors import DaemonError
from .._http import UNIX_PREFIX
from .._records import EventKind
from .._version import __version__
from ..backends import BACKEND_NAMES, Backend
from ..orchestration import RunEngine
from ..runtime import Runtime, RuntimeConfig
from ..store import Store
from ._app import AppState, create_app
from ._guard import GuardSettings, loopback_names
from ._logging import add_secret, configure_logging
from ._state import (
    DaemonInfo,
    load_or_create_token,
    log_file,
    remove_daemon_info,
    run_lock,
    write_daemon_info,
)

if TYPE_CHECKING:
    from ..distributed import ClusterSettings, Coordinator

__all__ = ["BACKEND_FACTORY_ENV", "serve", "serve_async"]

BACKEND_FACTORY_ENV = "PODIUM_BACKEND_FACTORY"
"""Testing hook: ``module:callable`` returning the ``{name: Backend}`` dict the daemon uses."""

_log = logging.getLogger("podium.server")
# Time for a daemon that is shutting down to let go of the state directory.
_LOCK_WAIT = 5.0
# Time for the queue (Redis) to answer when the daemon starts.
_QUEUE_WAIT = 20.0


class _Server(uvicorn.Server):
    """uvicorn without its signal handling, and with podium's wind-down first in its
    shutdown.

    uvicorn re-raises a caught SIGTERM once it has stopped serving, which would
    kill the process before the runtime stops its agents; serve_async handles
    the signals itself instead. And uvicorn's shutdown gives the calls in flight a
    grace period, then cancels them: a long poll or a wait for an agent's turn would
    hold the exit that long and end in an error, so they are ended first.
    """

    wind_down: Callable[[], Awaitable[None]] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection meanwhile (uvicorn's own first step)
        try:
            if self.wind_down is not None:
                await self.wind_down()
        except Exception:
            # Whatever went wrong, the connections are still closed and the app's
            # lifespan ends; serve_async closes the runtime after.
            _log.exception("winding down failed")
        await super().shutdown(sockets)


@dataclass(frozen=True)
class _Listener:
    sock: socket.socket
    url: str
    guard: GuardSettings


def load_backends() -> dict[str, Backend] | None:
    """The backends named by ``$PODIUM_BACKEND_FACTORY``, or None for the default."""
    spec = os.environ.get(BACKEND_FACTORY_ENV, "").strip()
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise DaemonError(f"{BACKEND_FACTORY_ENV} must look like 'module:callable', got {spec!r}")
    try:
        factory: Callable[[], Any] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise DaemonError(f"{BACKEND_FACTORY_ENV}={spec!r} cannot be loaded: {exc}") from exc
    try:
        backends = factory()
    except Exception as exc:  # a broken hook must stop the daemon with its reason
        raise DaemonError(f"{BACKEND_FACTORY_ENV}={spec!r} failed: {exc!r}") from exc
    if not isinstance(backends, dict) or not backends:
        raise DaemonError(f"{BACKEND_FACTORY_ENV}={spec!r} did not return a dict of backends")
    return backends


def _listen(host: str, port: int, socket_path: Path | None, token: str) -> _Listener:
    """Bind before serving: port 0 becomes a real port we can announce, with no race."""
    if socket_path is not None:
        path = socket_path.expanduser().resolve()
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(path.stat().st_mode):
                path.unlink()  # left by a daemon that died; our run lock says none is alive
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        path.chmod(0o600)
        hosts, origins = loopback_names("localhost", None)
        url = f"{UNIX_PREFIX}{path}"
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this. Without it, a keep-alive response written
        # in two parts waits ~40 ms for the client's delayed ACK (measured here).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        bound = sock.getsockname()[1]
        hosts, origins = loopback_names(host, bound)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://[{shown}]:{bound}" if ":" in shown else f"http://{shown}:{bound}"
    sock.listen(128)
    sock.setblocking(False)
    guard = GuardSettings(token=token, allowed_hosts=hosts, allowed_origins=origins)
    return _Listener(sock=sock, url=url, guard=guard)


async def serve_async(
    *,
    home: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    socket_path: Path | None = None,
    backends: dict[str, Backend] | None = None,
    install_signals: bool = True,
    queue_url: str | None = None,
    cluster: ClusterSettings | None = None,
) -> None:
    """Serve until POST /v1/shutdown (or SIGTERM/SIGINT with ``install_signals``).

    On the way out every agent process is stopped and daemon.json removed.
    ``queue_url``: distributed mode — records in Redis (for a Redis URL), every turn
    run by ``podium worker`` processes taking jobs from that queue.
    """
    config = RuntimeConfig.from_env(home=home)
    home = config.home
    lock = run_lock(home, wait=_LOCK_WAIT)
    if lock is None:
        raise DaemonError(f"a podium daemon is already running for {home}", home=str(home))
    try:
        await _serve_locked(
            config, host, port, socket_path, backends, install_signals, queue_url, cluster
        )
    finally:
        lock.close()


async def _serve_locked(
    config: RuntimeConfig,
    host: str,
    port: int,
    socket_path: Path | None,
    backends: dict[str, Backend] | None,
    install_signals: bool,
    queue_url: str | None,
    cluster: ClusterSettings | None,
) -> None:
    chosen = backends if backends is not None else load_backends()
    token = load_or_create_token(config.home)
    add_secret(token)
    listener = _listen(host, port, socket_path, token)
    try:
        await _run(config, listener, chosen, install_signals, queue_url, cluster)
    finally:
        listener.sock.close()
        if socket_path is not None:
            with contextlib.suppress(OSError):
                socket_path.expanduser().resolve().unlink()
        remove_daemon_info(config.home, pid=os.getpid())
        _log.info("stopped")


async def _run(
    config: RuntimeConfig,
    listener: _Listener,
    backends: dict[str, Backend] | None,
    install_signals: bool,
    queue_url: str | None = None,
    cluster: ClusterSettings | None = None,
) -> None:
    coordinator: Coordinator | None = None
    store: Store | None = None
    if queue_url is not None:
        from .. import distributed

        coordinator = distributed.Coordinator.open(queue_url, home=config.home, settings=cluster)
        # Workers run the real backends; here each name becomes a queue.
        names = tuple(backends or BACKEND_NAMES)
        remote: dict[str, Backend] = {**coordinator.backends(names)}
        backends = remote
        store = coordinator.store
    runtime = Runtime(config, backends=dict(backends) if backends else None, store=store)
    state = AppState(runtime=runtime, coordinator=coordinator)
    uv_config = uvicorn.Config(
        create_app(state, listener.guard),
        lifespan="off",
        log_config=None,
        access_log=False,
        # Served on loopback or a unix socket, behind the token: no proxy's
        # X-Forwarded-* headers are trusted (nor parsed on every request).
        proxy_headers=False,
        # Long polls in flight get this long before they are cut at shutdown.
        timeout_graceful_shutdown=3,
        timeout_keep_alive=5,
    )
    server = _Server(uv_config)
    server.wind_down = state.wind_down
    state.request_shutdown = _stopper(server)
    if install_signals:
        # Before the runtime starts: a SIGTERM from now on still closes it properly.
        _install_signals(server)
    try:
        if coordinator is not None:
            await _start_coordinator(coordinator)
        await runtime.start()
        runs = RunEngine(runtime)
        await runs.start()
        state.runs = runs
        serving = asyncio.create_task(server.serve(sockets=[listener.sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            # What its agents' CLIs inherit, so a command run with other values can say so.
            api = ApiEnvironment.of({**os.environ, **config.env}, listener.guard.token)
            info = DaemonInfo(
                pid=os.getpid(),
                url=listener.url,
                started_at=state.started_at,
                version=__version__,
                credential_source=api.credential_source,
                api_base_url=api.api_base_url,
                env_digest=api.env_digest,
            )
            write_daemon_info(config.home, info)
            await runtime.emit(EventKind.DAEMON_STARTED, data={"pid": info.pid, "url": info.url})
            _log.info(
                "podium %s listening on %s (pid %d, home %s)",
                __version__,
                listener.url,
                info.pid,
                config.home,
            )
        await serving
    finally:
        try:
            # Done already if the server shut down; not if it never served.
            await state.wind_down()
        finally:
            try:
                await runtime.close()
            finally:
                if coordinator is not None:
                    await coordinator.close()


async def _start_coordinator(coordinator: Coordinator) -> None:
    try:
        await asyncio.wait_for(coordinator.start(), _QUEUE_WAIT)
    except TimeoutError:
        raise DaemonError(
            f"cannot reach the queue at {coordinator.shown_url} within {_QUEUE_WAIT:g} s",
            queue=coordinator.shown_url,
        ) from None


def _stopper(server: _Server) -> Callable[[], None]:
    def stop() -> None:
        server.should_exit = True

    return stop


def _install_signals(server: _Server) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if server.should_exit and sig is signal.SIGINT:
            server.force_exit = True  # a second Ctrl-C: stop waiting for open requests
        _log.info("received %s: shutting down", sig.name)
        server.should_exit = True  # the server's shutdown winds the daemon down first

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


def serve(
    *,
    home: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    socket_path: Path | None = None,
    log_level: str = "info",
    queue_url: str | None = None,
    cluster: ClusterSettings | None = None,
) -> int:
    """Entry point of ``podium serve``; returns the process exit code."""
    config_home = RuntimeConfig.from_env(home=home).home
    configure_logging(log_level)
    started = time.monotonic()
    try:
        asyncio.run(
            serve_async(
                home=config_home,
                host=host,
                port=port,
                socket_path=socket_path,
                queue_url=queue_url,
                cluster=cluster,
            )
        )
    except DaemonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _log.debug(
        "served for %.1f s; log file when backgrounded: %s",
        time.monotonic() - started,
        log_file(config_home),
    )
    return 0
