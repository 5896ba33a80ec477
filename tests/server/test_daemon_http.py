"""The client's HTTP connection to a daemon: kept alive, and recovering when the daemon
closed it while idle (uvicorn does after a few seconds), over real sockets."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


class _Scripted:
    """Answers each connection with the next scripted bytes, then closes it; records the
    requests as received (head and body)."""

    def __init__(self, answers: list[bytes], *, unix_path: str | None = None) -> None:
        if unix_path is None:
            self.sock = socket.create_server(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.sock.listen()
            self.url = f"unix://{unix_path}"
        self.answers = list(answers)
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0].lower()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(data.split(b"\r\n\r\n", 1)[1]) < length:
                    data += conn.recv(65536)
                self.requests.append(data)
                conn.sendall(self.answers.pop(0))

    def close(self) -> None:
        self.sock.close()


def test_a_chunked_answer_is_read_whole_and_a_stream_line_by_line() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"8;ext=1\r\ndata: a\n\r\n"  # a chunk extension, ignored
        b"3\r\n\nda\r\n"  # a line split across chunks
        b"7\r\nta: b\n\n\r\n"
        b"0\r\nX-Trailer: t\r\n\r\n"
    )
    server = _Scripted([chunked, chunked])
    try:
        with DaemonHTTP(server.url, token="t", timeout=10) as http:
            assert http.request("GET", "/x").body == b"data: a\n\ndata: b\n\n"
            lines = list(http.stream_lines("/v1/events", params={"follow": True}))
        assert lines == [b"data: a\n", b"\n", b"data: b\n", b"\n"]
        assert server.requests[1].startswith(b"GET /v1/events?follow=true HTTP/1.1\r\n")
    finally:
        server.close()


def test_what_the_client_sends_is_plain_http_1_1() -> None:
    answer = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    server = _Scripted([answer])
    try:
        with DaemonHTTP(server.url, token="tok", timeout=10) as http:
            response = http.request(
                "POST", "/v1/agents", content=b'{"name":"a"}', headers={"X-A": "1"}
            )
        assert (response.status, response.json()) == (201, {})
        head, body = server.requests[0].split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /v1/agents HTTP/1.1"
        port = server.url.rsplit(":", 1)[1]
        assert f"Host: 127.0.0.1:{port}" in lines
        assert "Authorization: Bearer tok" in lines
        assert "Content-Length: 12" in lines
        assert "X-A: 1" in lines
        assert body == b'{"name":"a"}'
    finally:
        server.close()


def test_an_answer_without_length_runs_until_the_close_and_a_short_one_fails() -> None:
    server = _Scripted(
        [
            b"HTTP/1.1 200 OK\r\n\r\nall of it",
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\ncut short",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
            b"SSH-2.0-OpenSSH\r\n",
        ]
    )
    try:
        with DaemonHTTP(server.url, token=None, timeout=10) as http:
            assert http.request("GET", "/a").body == b"all of it"
            for _ in range(3):
                with pytest.raises(HTTPFailure):
                    http.request("GET", "/b")
    finally:
        server.close()


def test_a_line_break_in_a_header_or_path_is_refused_before_sending() -> None:
    server = _Scripted([b"HTTP/1.1 204 No Content\r\n\r\n"])
    try:
        with DaemonHTTP(server.url, token="t", timeout=10) as http:
            with pytest.raises(HTTPFailure, match="line break"):
                http.request("GET", "/x", headers={"X-Evil": "a\r\nInjected: 1"})
            with pytest.raises(HTTPFailure, match="line break"):
                http.request("GET", "/x HTTP/1.1\r\nInjected: 1\r\n\r\nGET /y")
            assert http.request("GET", "/ok").status == 204
        assert len(server.requests) == 1
    finally:
        server.close()


def test_a_unix_socket_daemon_and_urls_that_are_not_a_daemon(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sock")
    server = _Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], unix_path=path)
    try:
        with DaemonHTTP(f"unix://{path}", token=None, timeout=10) as http:
            assert http.request("GET", "/v1/health").body == b"ok"
        assert b"\r\nHost: localhost\r\n" in server.requests[0]
    finally:
        server.close()
    for url in ("https://127.0.0.1:1", "127.0.0.1:8080", "http://", "http://h:port"):
        with DaemonHTTP(url, token=None, timeout=5) as http, pytest.raises(HTTPFailure):
            http.request("GET", "/v1/health")


def test_ctrl_c_in_the_middle_of_an_answer_closes_its_connection() -> None:
    # The rest of a half-read answer would be taken for the next call's answer.
    listener = socket.create_server(("127.0.0.1", 0))
    closed_by_client = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while b"\r\n\r\n" not in conn.recv(65536):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            conn.settimeout(10)
            if conn.recv(65536) == b"":
                closed_by_client.set()

    threading.Thread(target=serve, daemon=True).start()

    def ctrl_c(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    try:
        with DaemonHTTP(
            f"http://127.0.0.1:{listener.getsockname()[1]}", token=None, timeout=10
        ) as http:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(KeyboardInterrupt) as caught:
                http.request("GET", "/v1/slow", timeout=10)
            # At once, while the interrupt (and the frames it holds) still lives: not
            # whenever the connection happens to be collected.
            assert closed_by_client.wait(5)
            assert caught.traceback
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        listener.close()
