"""``podium mcp`` as a process: over stdio (how an agent's CLI starts it) and streamable HTTP.

The daemon is real (in a thread, EchoBackend as the model); the server is the
installed command, configured by environment variables or flags. Over HTTP the
daemon's gate stands in front: no token, a foreign Host or Origin and an
oversized body are refused before the MCP server sees the call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from mcp import Client as McpClient
from mcp import StdioServerParameters
from podium import Client
from podium.mcp import TOOL_NAMES
from podium.server import read_token
from podium.server._guard import MAX_BODY_BYTES
from tests._threaded_daemon import ThreadedDaemon

from ._mcp_helpers import state

COMMAND = [sys.executable, "-m", "podium", "mcp"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    return {**env, "PODIUM_HOME": str(home), "PODIUM_NO_AUTOSTART": "1", **extra}


async def test_stdio_server_takes_identity_and_limits_from_the_environment(
    daemon: ThreadedDaemon, client: Client, home: Path, workdir: Path
) -> None:
    params = StdioServerParameters(
        command=COMMAND[0],
        args=COMMAND[1:],
        env={
            "PODIUM_HOME": str(home),
            "PODIUM_NO_AUTOSTART": "1",
            "PODIUM_MCP_MAX_AGENTS": "1",
            "PODIUM_MCP_SCOPE": "stdio-test",
        },
        cwd=workdir,
    )
    async with McpClient(params) as session:
        assert [t.name for t in (await session.list_tools()).tools] == list(TOOL_NAMES)
        first = await session.call_tool("spawn_agent", {"name": "solo"})
        assert not first.is_error, first.content
        second = await session.call_tool("spawn_agent", {"name": "duo"})
        assert second.is_error
        error = json.loads(second.content[0].text)["error"]  # type: ignore[union-attr]
        assert error["code"] == "limit_exceeded"
        assert error["context"]["max_agents"] == 1
        answer = await session.call_tool("ask_agent", {"agent": "solo", "prompt": "over stdio"})
        assert json.loads(answer.content[0].text)["result"] == "over stdio"  # type: ignore[union-attr]
    agent = client.get_agent("solo")
    assert agent.options.mcp.scope == "stdio-test"
    # An outside client's agents work where the client was started.
    assert agent.cwd == str(workdir.resolve())


def test_bad_settings_stop_the_server_at_start_with_one_clear_line(home: Path) -> None:
    for extra, fragment in (
        ({"PODIUM_MCP_MAX_AGENTS": "many"}, "PODIUM_MCP_MAX_AGENTS='many' is not a whole number"),
        ({"PODIUM_MCP_BUDGET_USD": "-2"}, "PODIUM_MCP_BUDGET_USD must be greater than 0, got -2.0"),
        (
            {"PODIUM_AGENT": "Not A Name"},
            "calling agent name (PODIUM_AGENT) 'Not A Name' is not allowed: use lowercase letters, "
            "digits, '-' and '_', starting with a letter",
        ),
    ):
        done = subprocess.run(
            COMMAND,
            env=_env(home, **extra),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 2, (done.stdout, done.stderr)
        (line,) = done.stderr.strip().splitlines()
        assert line == f"error: {fragment}"


def test_cli_refuses_a_bad_transport_and_a_remote_host_without_leave(home: Path) -> None:
    done = subprocess.run(
        [*COMMAND, "--transport", "carrier-pigeon"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--transport must be stdio or http, got 'carrier-pigeon'" in done.stderr
    done = subprocess.run(
        [*COMMAND, "--transport", "http", "--host", "10.1.2.3", "--port", "0"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "refusing to serve MCP on 10.1.2.3: it is not a loopback address" in done.stderr


@pytest.fixture
def http_server(daemon: ThreadedDaemon, home: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [*COMMAND, "--transport", "http", "--port", "0", "--max-agents", "3"],
        env=_env(home),
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "podium MCP server listening on http://127.0.0.1:" in line, line
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(20)


async def test_http_server_needs_the_daemon_token(http_server: str, home: Path) -> None:
    token = read_token(home)
    assert token is not None
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=10) as web:
        refused = await web.post(http_server, json=body, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["context"]["reason"] == "unauthorized"
        wrong_host = await web.post(
            http_server,
            json=body,
            headers={**headers, "Host": "evil.example:80", "Authorization": f"Bearer {token}"},
        )
        assert wrong_host.status_code == 400

    auth = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with auth, McpClient(streamable_http_client(http_server, http_client=auth)) as session:
        listed = await session.call_tool("list_agents", {})
        data = json.loads(listed.content[0].text)  # type: ignore[union-attr]
        assert data["limits"]["max_agents"] == 3
        spawned = await session.call_tool("spawn_agent", {"name": "webbed"})
        assert not spawned.is_error
        started = time.monotonic()
        task = json.loads(
            (await session.call_tool("assign_task", {"agent": "webbed", "prompt": "sleep:0.5"}))
            .content[0]
            .text  # type: ignore[union-attr]
        )
        waited = await session.call_tool("wait_for", {"request_ids": [task["request_id"]]})
        assert json.loads(waited.content[0].text)["pending"] == []  # type: ignore[union-attr]
        assert time.monotonic() - started >= 0.5


class _Session:
    """An MCP session over HTTP that keeps what its client sent, to replay calls by hand."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.web = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            event_hooks={"request": [self._remember]},
        )

    async def _remember(self, request: httpx2.Request) -> None:
        if request.method == "POST":
            body = json.loads(request.content)
            if body.get("method") == "tools/call":
                self.calls.append((dict(request.headers), body))

    def spawn_call(self, name: str, **extra: str) -> tuple[dict[str, Any], dict[str, str]]:
        """(body, headers) of a spawn_agent call made as the client made its last call."""
        sent, last = self.calls[-1]
        skip = ("host", "content-length", "connection", "accept-encoding", "user-agent")
        headers = {k: v for k, v in sent.items() if k.lower() not in skip}
        for key in headers:
            if key.lower() == "mcp-name":  # names the tool; must match the body
                headers[key] = "spawn_agent"
        params = {**last["params"], "name": "spawn_agent", "arguments": {"name": name, **extra}}
        return {**last, "id": 99, "params": params}, headers


async def test_http_server_refuses_a_foreign_origin_and_changes_nothing(
    http_server: str, home: Path, client: Client
) -> None:
    token = read_token(home)
    assert token is not None
    mcp_session = _Session(http_server, token)
    own_origin = http_server.removesuffix("/mcp")
    streams = streamable_http_client(http_server, http_client=mcp_session.web)
    async with mcp_session.web, McpClient(streams) as session:
        await session.call_tool("list_agents", {})
        body, headers = mcp_session.spawn_call("intruder")
        before = state(client)
        async with httpx.AsyncClient(timeout=10) as web:
            # The session's own kind of call, sent from a web page's origin (CSRF).
            refused = await web.post(
                http_server, json=body, headers={**headers, "Origin": "http://evil.example"}
            )
            assert refused.status_code == 403
            assert refused.json() == {
                "error": {
                    "code": "daemon_error",
                    "message": "cross-origin request from 'http://evil.example' refused",
                    "context": {"reason": "bad_origin"},
                }
            }
            assert state(client) == before
            # The very same call from the server's own origin does spawn: the refusal
            # was the Origin's doing, not a malformed call.
            accepted = await web.post(
                http_server, json=body, headers={**headers, "Origin": own_origin}
            )
            assert accepted.status_code == 200, accepted.text
    assert [a.name for a in client.list_agents()] == ["intruder"]


async def test_http_server_refuses_an_oversized_body_and_changes_nothing(
    http_server: str, home: Path, client: Client
) -> None:
    token = read_token(home)
    assert token is not None
    mcp_session = _Session(http_server, token)
    streams = streamable_http_client(http_server, http_client=mcp_session.web)
    async with mcp_session.web, McpClient(streams) as session:
        await session.call_tool("list_agents", {})
        body, headers = mcp_session.spawn_call("bloated", system_prompt="x" * (MAX_BODY_BYTES + 1))
        before = state(client)
        async with httpx.AsyncClient(timeout=60) as web:
            refused = await web.post(http_server, json=body, headers=headers)
        assert refused.status_code == 413
        assert refused.json()["error"] == {
            "code": "daemon_error",
            "message": f"request body is larger than {MAX_BODY_BYTES} bytes",
            "context": {"reason": "body_too_large"},
        }
        assert state(client) == before
        # The session goes on: a call of a sensible size still works.
        spawned = await session.call_tool("spawn_agent", {"name": "slim"})
        assert not spawned.is_error, spawned.content
    assert [a.name for a in client.list_agents()] == ["slim"]
