"""The client's HTTP connection to a daemon: kept alive, and recovering when the daemon
closed it while idle (uvicorn does after a few seconds), over real sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from podium._http import DaemonHTTP, HTTPFailure


class _OneAnswerPerConnection:
    """A listener that answers each connection's first request with keep-alive, then
    closes it, as a daemon does to a connection left idle past its keep-alive time."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                body = b'{"n": %d}' % self.connections
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[_OneAnswerPerConnection]:
    listener = _OneAnswerPerConnection()
    try:
        yield listener
    finally:
        listener.close()


def test_a_connection_the_daemon_closed_is_replaced(server: _OneAnswerPerConnection) -> None:
    with DaemonHTTP(server.url, token="t", timeout=10) as http:
        assert http.request("GET", "/v1/health").json() == {"n": 1}
        # The server closed that connection after answering; the next call meets it
        # closed and must go again on a new one instead of failing.
        assert http.request("POST", "/v1/x", content=b"{}").json() == {"n": 2}
        assert http.request("GET", "/v1/health").json() == {"n": 3}


def test_nothing_listening_is_a_failure_not_a_retry_loop() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        DaemonHTTP(f"http://127.0.0.1:{port}", token=None, timeout=5) as http,
        pytest.raises(HTTPFailure),
    ):
        http.request("GET", "/v1/health")


def test_one_client_serves_concurrent_calls_from_many_threads() -> None:
    """The MCP server shares one client across its thread pool: calls in flight at the
    same time each need their own connection (one connection carries one at a time)."""
    callers = 4
    all_in_flight = threading.Barrier(callers, timeout=10)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            all_in_flight.wait()  # answers only once every caller's request arrived
            body = self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with DaemonHTTP(f"http://127.0.0.1:{httpd.server_port}", token=None, timeout=10) as http:
            for _round in range(2):  # the second round reuses the kept-alive connections
                with ThreadPoolExecutor(callers) as pool:
                    texts = list(
                        pool.map(lambda i: http.request("GET", f"/call/{i}").text, range(callers))
                    )
                assert texts == [f"/call/{i}" for i in range(callers)]
    finally:
        httpd.shutdown()
        httpd.server_close()
