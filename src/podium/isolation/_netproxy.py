"""The daemon side of a sandbox's network: an allow-listed CONNECT relay on a unix socket.

A sandboxed agent has no network of its own (``bwrap --unshare-net`` leaves it a
private loopback and nothing else). Its only way out is one unix socket bound into
the sandbox. Behind it, in the daemon, this relay reads one HTTP proxy tunnel request
(``CONNECT host:port HTTP/1.1``), and opens a TCP connection only if ``host:port`` is
on the agent's allow-list: its model API plus ``IsolationSpec.allow_hosts``. It then
answers ``200`` and copies bytes both ways until either side closes. Any other target
gets ``403``; anything that is not a CONNECT gets ``405``. The allow-list is enforced
here, outside the sandbox, because whatever runs inside may talk to the socket directly.

TLS passes through untouched (SNI and certificate checks stay between the client and
the server), so HTTPS to a real API host works exactly like HTTP to a local fake.
Host names are resolved here, by the daemon; the sandbox has no DNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from ._protocol import IsolationError

__all__ = ["NetRelay", "RelayPool", "api_target", "parse_target"]

_HEADER_LIMIT = 8192
_HEADER_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 15.0
_CHUNK = 64 * 1024


def parse_target(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a normalised ``(host, port)``."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise IsolationError(f"network target {value!r} is not host:port", target=value)
    port = int(port_text)
    if not 0 < port < 65536:
        raise IsolationError(f"network target {value!r} has an invalid port", target=value)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() or c in "/@" for c in host):
        raise IsolationError(f"network target {value!r} has an invalid host", target=value)
    return host.lower(), port


def format_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def api_target(base_url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of a model API base URL; the port defaults by scheme.

    Errors never repeat the URL: it may carry credentials.
    """
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise IsolationError("the model API base URL is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise IsolationError(
            "the model API base URL carries credentials; a sandboxed agent cannot use "
            "them (give the key as ANTHROPIC_API_KEY instead)"
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise IsolationError("the model API base URL has an invalid port") from None
    return scheme, parts.hostname.lower(), port, parts.path.rstrip("/")


class NetRelay:
    """Listens on ``socket_path``; tunnels to allow-listed ``host:port`` targets only."""

    def __init__(self, socket_path: Path, allow: Iterable[str]) -> None:
        self.socket_path = socket_path
        self.allow: frozenset[tuple[str, int]] = frozenset(parse_target(a) for a in allow)
        self.tunnels = 0
        """Connections that were let through."""
        self.refused = 0
        """Requests that were refused (not allowed, malformed, unreachable)."""
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        """Serving, in the event loop that is running now."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self._loop is current and self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        if self.running:
            return
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.socket_path))
        self._loop = asyncio.get_running_loop()
        os.chmod(self.socket_path, 0o600)

    async def close(self) -> None:
        server, self._server = self._server, None
        if self._loop is not asyncio.get_running_loop():
            # Started by an event loop that is gone: nothing of it can be awaited here.
            server = None
            self._handlers.clear()
        if server is not None:
            server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5.0)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # close() ends open tunnels this way; the handler is top-level, so it
            # finishes quietly instead of leaving a cancelled task to the server.
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _refuse(self, writer: asyncio.StreamWriter, status: str) -> None:
        self.refused += 1
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEADER_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await self._refuse(writer, "400 Bad Request")
            return
        words = header.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(words) != 3 or words[0].upper() != "CONNECT":
            await self._refuse(writer, "405 Method Not Allowed")
            return
        try:
            target = parse_target(words[1])
        except IsolationError:
            await self._refuse(writer, "400 Bad Request")
            return
        if target not in self.allow:
            await self._refuse(writer, "403 Forbidden")
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*target, limit=_CHUNK), _CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            await self._refuse(writer, "502 Bad Gateway")
            return
        self.tunnels += 1
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            up_writer.close()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Bytes from ``source`` to ``sink`` until EOF, then half-close ``sink``."""
    try:
        while True:
            data = await source.read(_CHUNK)
            if not data:
                break
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()


class RelayPool:
    """The relays of one isolator, keyed by socket path, shared by its workspaces.

    ``ensure`` is idempotent (prepare runs again before every process start and
    after a daemon restart); one lock per event loop serialises starts and stops.
    """

    def __init__(self) -> None:
        self._relays: dict[Path, NetRelay] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {k: v for k, v in self._locks.items() if not k.is_closed()}
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def get(self, socket_path: Path) -> NetRelay | None:
        return self._relays.get(socket_path)

    def active(self) -> list[Path]:
        """Socket paths of the relays this pool holds."""
        return list(self._relays)

    async def stop_all(self) -> None:
        for path in self.active():
            await self.stop(path)

    async def ensure(
        self,
        socket_path: Path,
        allow: Iterable[str],
        *,
        before_start: Callable[[], None] | None = None,
        after_start: Callable[[], None] | None = None,
    ) -> NetRelay:
        """The running relay at ``socket_path`` with exactly ``allow``; (re)started if not."""
        allow = tuple(allow)
        wanted = frozenset(parse_target(a) for a in allow)
        async with self._lock():
            relay = self._relays.get(socket_path)
            if relay is None or not relay.running or relay.allow != wanted:
                if relay is not None:
                    await relay.close()
                if before_start is not None:
                    before_start()
                relay = NetRelay(socket_path, allow)
                await relay.start()
                if after_start is not None:
                    after_start()
                self._relays[socket_path] = relay
            return relay

    async def stop(self, socket_path: Path) -> None:
        """Close the relay, remove its socket and (if empty) its directory."""
        async with self._lock():
            relay = self._relays.pop(socket_path, None)
            if relay is not None:
                await relay.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        with contextlib.suppress(OSError):
            socket_path.parent.rmdir()
