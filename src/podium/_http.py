"""The one place that knows how to reach a daemon URL (TCP or unix socket).

The standard library's ``http.client``, not httpx: every ``podium`` command pays
for its imports, and httpx (with httpcore, h11, anyio) costs several times what
a command's whole round trip to a warm daemon does. Idle connections are kept
alive for a client's later calls.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from urllib.parse import urlencode, urlsplit

from ._frozen import Frozen
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = [
    "UNIX_PREFIX",
    "DaemonHTTP",
    "HTTPFailure",
    "HTTPTimeout",
    "Response",
    "StreamRefused",
]

UNIX_PREFIX = "unix://"
"""A daemon on a unix socket is named ``unix:///abs/path.sock`` in daemon.json."""


class HTTPFailure(Exception):
    """The daemon could not be reached, or the connection broke mid-call."""


class HTTPTimeout(HTTPFailure):
    """The daemon did not answer in time."""


class Response(Frozen):
    """A complete answer: its status and body."""

    __slots__ = ("status", "body")  # noqa: RUF023 (the fields in order)
    status: int
    body: bytes

    def __init__(self, *, status: int, body: bytes) -> None:
        self._set(status=status, body=body)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError if it is not."""
        return json.loads(self.body)


class StreamRefused(HTTPFailure):
    """A stream's request was answered with an error (its response attached)."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class DaemonHTTP:
    """Synchronous HTTP/1.1 to one daemon over kept-alive connections.

    Safe to share between threads (the MCP server calls it from a thread pool):
    each call takes an idle connection, or opens one, and gives it back after.
    """

    def __init__(self, url: str, *, token: str | None, timeout: float) -> None:
        self.url = url
        self._timeout = timeout
        self._headers = {"User-Agent": f"podium/{__version__}"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._idle: list[http.client.HTTPConnection] = []  # each has carried a request
        self._lock = threading.Lock()

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.url.startswith(UNIX_PREFIX):
            return _UnixConnection(self.url[len(UNIX_PREFIX) :], timeout)
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise HTTPFailure(f"not an http:// or unix:// URL: {self.url}")
        return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)

    def _take(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """A connection for one call, and whether it has carried a request before."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        reused = conn is not None
        if conn is None:
            conn = self._new_connection(timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, reused

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append(conn)

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One call; HTTPTimeout / HTTPFailure when no answer came back."""
        if params:
            path = f"{path}?{urlencode(_query(params), doseq=True)}"
        all_headers = {**self._headers, **(headers or {})}
        wait = self._timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn, reused = self._take(wait)
            try:
                return self._send(conn, method, path, content, all_headers)
            except TimeoutError:
                conn.close()
                raise HTTPTimeout(f"no answer within {wait:g} s") from None
            except (ConnectionError, http.client.BadStatusLine) as exc:
                conn.close()
                # The daemon closes an idle kept-alive connection on its side; a request
                # that met the closed socket was never read: it goes once more, on a new one.
                if reused and attempt == 1:
                    continue
                raise HTTPFailure(str(exc) or type(exc).__name__) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise HTTPFailure(str(exc) or type(exc).__name__) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        content: bytes | None,
        headers: dict[str, str],
    ) -> Response:
        conn.request(method, path, body=content, headers=headers)
        reply = conn.getresponse()
        body = reply.read()
        if reply.will_close:
            conn.close()
        else:
            self._give_back(conn)
        return Response(status=reply.status, body=body)

    def stream_lines(
        self,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Iterator[bytes]:
        """GET a streaming answer (Server-Sent Events) on a connection of its own and
        yield its lines as they come; ``timeout`` bounds each read (keep-alives come
        more often). A non-2xx answer is one Response raised as HTTPFailure."""
        if params:
            path = f"{path}?{urlencode(_query(params), doseq=True)}"
        conn = self._new_connection(timeout)
        try:
            conn.request("GET", path, headers={**self._headers, **(headers or {})})
            reply = conn.getresponse()
            if not 200 <= reply.status < 300:
                raise StreamRefused(Response(status=reply.status, body=reply.read()))
            while True:
                line = reply.readline()
                if not line:
                    return
                yield line
        except TimeoutError:
            raise HTTPTimeout(f"no data within {timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise HTTPFailure(str(exc) or type(exc).__name__) from None
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> DaemonHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """Query values as the daemon reads them: booleans as ``true``/``false``."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else value
        for key, value in params.items()
        if value is not None
    }
