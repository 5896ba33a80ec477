"""The one place that knows how to reach a daemon URL (TCP or unix socket).

HTTP/1.1 written here over a socket, not ``http.client`` and not httpx: every
``podium`` command pays for its imports, and ``http.client`` (which imports the
``email`` package) costs a command more than its whole round trip to a warm daemon
does; httpx (with httpcore, h11, anyio) costs several times that. The daemon is the
only peer: requests carry a Content-Length body or none, answers come with a
Content-Length, chunked (event streams), or until the connection closes. Idle
connections are kept alive for a client's later calls.
"""

from __future__ import annotations

import io
import json
import socket
import threading

from ._ctrl_c import wait_readable
from ._frozen import Frozen
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

    from _typeshed import WriteableBuffer

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

# Bounds on what the daemon may send back before a body, so a wrong peer cannot make
# the client buffer without end.
_MAX_LINE = 65536
_MAX_HEADERS = 100


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


class _BrokenAnswer(Exception):
    """What came back is not HTTP/1.1 as the daemon speaks it."""


def _address(url: str) -> tuple[str | tuple[str, int], str]:
    """Where ``url``'s daemon listens (a socket path or host and port), and its Host header."""
    if url.startswith(UNIX_PREFIX):
        return url[len(UNIX_PREFIX) :], "localhost"
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].rpartition("@")[2]
    if authority.startswith("["):  # an IPv6 literal: [::1]:8080
        host, _, tail = authority[1:].partition("]")
        port = tail.removeprefix(":")
    else:
        host, _, port = authority.partition(":")
    if scheme.lower() != "http" or not sep or not host or not (port.isdigit() or port == ""):
        raise HTTPFailure(f"not an http:// or unix:// URL: {url}")
    return (host, int(port) if port else 80), authority


def _chunked(headers: dict[str, str]) -> bool:
    return "chunked" in headers.get("transfer-encoding", "").lower()


def _delimited(headers: dict[str, str]) -> bool:
    """Whether the answer says where its body ends (else it runs until the close)."""
    return _chunked(headers) or "content-length" in headers


class _SocketReader(io.RawIOBase):
    """A socket's bytes for a buffered reader; each read first waits in
    :func:`wait_readable`, which Ctrl-C ends at once on the command line."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        wait_readable(self._sock)
        return self._sock.recv_into(buffer)


class _Connection:
    """One HTTP/1.1 connection: a request goes out, its whole answer is read back."""

    def __init__(self, url: str, timeout: float) -> None:
        self._address, self._host = _address(url)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: IO[bytes] | None = None

    def set_timeout(self, timeout: float) -> None:
        self._timeout = timeout
        if self._sock is not None:
            self._sock.settimeout(timeout)

    def _open(self) -> IO[bytes]:
        if isinstance(self._address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._timeout)
                sock.connect(self._address)
            except BaseException:
                sock.close()
                raise
        else:
            host, port = self._address
            # Bytes skip the idna codec, which getaddrinfo would import for a str host.
            name: str | bytes = host.encode() if host.isascii() else host
            sock = socket.create_connection((name, port), self._timeout)  # type: ignore[arg-type]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._reader = io.BufferedReader(_SocketReader(sock))
        return self._reader

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        if any("\r" in line or "\n" in line for line in lines):
            raise ValueError("a line break in the request line or a header")
        if self._sock is None:
            self._open()
        assert self._sock is not None
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))

    def _line(self) -> bytes:
        assert self._reader is not None
        line = self._reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _BrokenAnswer("a line of the answer is too long")
        return line

    def read_head(self) -> tuple[int, dict[str, str], bool]:
        """The status, the headers (lowercase names), and whether the connection stays open."""
        while True:
            line = self._line()
            if not line:
                # Also what a kept-alive connection the daemon closed while idle gives.
                raise ConnectionResetError("the daemon closed the connection")
            version, _, rest = line.partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or not code.isdigit():
                raise _BrokenAnswer(f"not an HTTP answer: {line[:60]!r}")
            headers: dict[str, str] = {}
            for _ in range(_MAX_HEADERS):
                line = self._line()
                if line in (b"\r\n", b"\n"):
                    break
                name, colon, value = line.decode("latin-1").partition(":")
                if not colon:
                    raise _BrokenAnswer(f"not a header: {line[:60]!r}")
                key = name.strip().lower()
                value = value.strip()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            else:
                raise _BrokenAnswer("too many headers")
            if not 100 <= int(code) < 200:
                keep = version == b"HTTP/1.1" and "close" not in headers.get("connection", "")
                return int(code), headers, keep
            # An interim answer (100 Continue): the real one follows.

    def body_pieces(self, method: str, status: int, headers: dict[str, str]) -> Iterator[bytes]:
        """The answer's body as it arrives; the last piece read means it is complete."""
        assert self._reader is not None
        reader = self._reader
        if method == "HEAD" or status in (204, 304):
            return
        if not _delimited(headers):  # the body runs until the connection closes
            yield from iter(lambda: reader.read1(65536), b"")  # type: ignore[attr-defined]
            return
        if _chunked(headers):
            yield from self._chunks()
            return
        length = headers["content-length"]
        if not length.isdigit():
            raise _BrokenAnswer(f"Content-Length {length[:20]!r}")
        body = reader.read(int(length))
        if len(body) < int(length):
            raise _BrokenAnswer("the answer was cut short")
        yield body

    def _chunks(self) -> Iterator[bytes]:
        assert self._reader is not None
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BrokenAnswer(f"not a chunk size: {size_text[:20]!r}") from None
            if size < 0:
                raise _BrokenAnswer(f"not a chunk size: {size_text[:20]!r}")
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, unused
                return
            data = self._reader.read(size)
            if len(data) < size or self._line() not in (b"\r\n", b"\n"):
                raise _BrokenAnswer("the answer was cut short")
            yield data

    def close(self) -> None:
        reader, sock, self._reader, self._sock = self._reader, self._sock, None, None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()


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
        self._idle: list[_Connection] = []  # each has carried a request
        self._lock = threading.Lock()

    def _take(self, timeout: float) -> tuple[_Connection, bool]:
        """A connection for one call, and whether it has carried a request before."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return _Connection(self.url, timeout), False
        conn.set_timeout(timeout)
        return conn, True

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
            path = f"{path}?{_encode_query(params)}"
        all_headers = {**self._headers, **(headers or {})}
        wait = self._timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn, reused = self._take(wait)
            try:
                conn.send(method, path, all_headers, content)
                status, head, keep = conn.read_head()
                body = b"".join(conn.body_pieces(method, status, head))
            except TimeoutError:
                conn.close()
                raise HTTPTimeout(f"no answer within {wait:g} s") from None
            except ConnectionError as exc:
                conn.close()
                # The daemon closes an idle kept-alive connection on its side; a request
                # that met the closed socket was never read: it goes once more, on a new one.
                if reused and attempt == 1:
                    continue
                raise HTTPFailure(str(exc) or type(exc).__name__) from None
            except (OSError, ValueError, _BrokenAnswer) as exc:
                conn.close()
                raise HTTPFailure(str(exc) or type(exc).__name__) from None
            except BaseException:
                conn.close()  # Ctrl-C mid-answer: the rest of it would poison the next call
                raise
            if keep and _delimited(head):  # its end was known: the next answer starts clean
                with self._lock:
                    self._idle.append(conn)
            else:
                conn.close()
            return Response(status=status, body=body)
        raise AssertionError("unreachable")  # pragma: no cover

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
            path = f"{path}?{_encode_query(params)}"
        conn = _Connection(self.url, timeout)
        try:
            conn.send("GET", path, {**self._headers, **(headers or {})}, None)
            status, head, _ = conn.read_head()
            pieces = conn.body_pieces("GET", status, head)
            if not 200 <= status < 300:
                raise StreamRefused(Response(status=status, body=b"".join(pieces)))
            pending = b""
            for piece in pieces:
                pending += piece
                start = 0
                while (end := pending.find(b"\n", start)) >= 0:
                    yield pending[start : end + 1]
                    start = end + 1
                pending = pending[start:]
            if pending:
                yield pending
        except TimeoutError:
            raise HTTPTimeout(f"no data within {timeout:g} s") from None
        except (OSError, ValueError, _BrokenAnswer) as exc:
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


def _encode_query(params: dict[str, Any]) -> str:
    # Only calls with query parameters pay for urllib.parse (an ask has none).
    from urllib.parse import urlencode

    return urlencode(_query(params), doseq=True)


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """Query values as the daemon reads them: booleans as ``true``/``false``."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else value
        for key, value in params.items()
        if value is not None
    }
