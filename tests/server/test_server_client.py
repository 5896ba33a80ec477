"""Client against a real daemon (uvicorn on a free port, or a unix socket) in a thread.

EchoBackend replaces the model only; HTTP, guard, runtime and store are real.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from podium import (
    AgentRecord,
    AgentStatus,
    Client,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
)
from podium._errors import (
    AgentExists,
    AgentNotFound,
    DaemonError,
    InvalidModel,
    InvalidName,
    InvalidPrompt,
    NoAnswerYet,
    RequestNotFound,
    WaitTimeout,
)
from podium.server import _serve, daemon_file, read_daemon_info, serve_async, token_file
from tests._threaded_daemon import ThreadedDaemon


def test_from_home_finds_the_daemon(daemon: ThreadedDaemon) -> None:
    with Client.from_home(daemon.home, autostart=False) as client:
        health = client.health()
    assert health["status"] == "ok"
    assert health["pid"] == os.getpid()


def test_full_round_trip(daemon: ThreadedDaemon, tmp_path: Path) -> None:
    with daemon.client() as client:
        agent = client.spawn("alpha", model="haiku", cwd=tmp_path, system_prompt="terse")
        assert isinstance(agent, AgentRecord)
        assert agent.cwd == str(tmp_path)
        assert agent.model == "haiku"
        assert agent.resolved_model == "echo-haiku"
        assert agent.system_prompt == "terse"
        done = client.ask("alpha", "hello", wait=True)
        assert isinstance(done, RequestRecord)
        assert done.state is RequestState.COMPLETE
        assert done.result == "hello"
        assert done.prompt == "hello"
        assert done.usage.input_tokens == 5
        queued = client.ask("alpha", "again", timeout=60)
        assert queued.timeout == 60
        assert client.wait(queued.id).result == "again"
        assert client.poll(queued.id).state is RequestState.COMPLETE
        beta = client.fork("alpha", "beta")
        assert beta.forked_from == "alpha"
        assert client.info("beta")["lineage"] == ["alpha"]
        assert client.get_agent("beta").forked_from == "alpha"
        relayed = client.relay("alpha", "beta", "check this", wait=True)
        assert relayed.source is RequestSource.RELAY
        assert relayed.result is not None
        assert "again" in relayed.result
        sent = client.broadcast("all", exclude=["beta"])
        assert [r.agent for r in sent] == ["alpha"]
        assert len(client.requests(agent="alpha")) == 3
        assert client.list_requests(agent="alpha", limit=1)[0].seq == 3
        assert {a.name for a in client.list_agents()} == {"alpha", "beta"}
        events = client.events(agent="beta")
        assert events[0].kind is EventKind.FORKED
        assert client.kill("beta").status is AgentStatus.KILLED
        assert client.kill_all() == ["alpha"]


def test_spawn_defaults_cwd_to_the_callers_directory(
    daemon: ThreadedDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with daemon.client() as client:
        assert client.spawn("alpha").cwd == str(tmp_path.resolve())


def test_errors_come_back_as_their_own_classes(daemon: ThreadedDaemon) -> None:
    with daemon.client() as client:
        client.spawn("alpha")
        with pytest.raises(AgentExists) as exists:
            client.spawn("alpha")
        assert exists.value.context == {"agent": "alpha"}
        with pytest.raises(AgentNotFound):
            client.ask("ghost", "hi")
        with pytest.raises(InvalidModel):
            client.spawn("beta", model="gpt-4")
        with pytest.raises(RequestNotFound):
            client.poll("alpha-000099-deadbeef")
        with pytest.raises(NoAnswerYet):
            client.relay("alpha", "alpha", "go")
        for bad in ("../x", "a b", "", "a" * 200):
            with pytest.raises(InvalidName):
                client.spawn(bad)
            with pytest.raises(InvalidName):
                client.info(bad)
        with pytest.raises(InvalidName):
            client.poll("../../etc/passwd")
        with pytest.raises(InvalidPrompt):
            client.ask("alpha", "  ")


def test_two_megabyte_prompt_arrives_byte_for_byte(daemon: ThreadedDaemon) -> None:
    prompt = ("quotes \" ' and\nnewlines ünï 🚀 " * 80_000)[: 2 * 1024 * 1024]
    with daemon.client() as client:
        client.spawn("alpha")
        done = client.ask("alpha", prompt, wait=True)
    assert daemon.echo.prompts[-1] == prompt
    assert done.result == prompt


def test_wait_timeout_keeps_the_request_running(daemon: ThreadedDaemon) -> None:
    with daemon.client() as client:
        client.spawn("alpha")
        with pytest.raises(WaitTimeout) as timed_out:
            client.ask("alpha", "sleep:1", wait=True, wait_timeout=0.2)
        request_id = timed_out.value.context["request_id"]
        with pytest.raises(WaitTimeout):
            client.wait(request_id, timeout=0.1)
        assert client.wait(request_id, timeout=10).state is RequestState.COMPLETE
        running = client.ask("alpha", "sleep:30")
        time.sleep(0.2)
        client.cancel(running.id)
        assert client.wait(running.id, timeout=10).state is RequestState.CANCELLED


def test_long_wait_does_not_block_other_clients(daemon: ThreadedDaemon) -> None:
    with daemon.client() as client:
        client.spawn("alpha")
        request_id = client.ask("alpha", "sleep:2").id
    result: dict[str, str] = {}

    def waiter() -> None:
        with daemon.client() as own:
            result["status"] = own.wait(request_id).state.value

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    with daemon.client() as other:
        other.health()
        other.list_agents()
    assert time.monotonic() - started < 1.0
    thread.join(10)
    assert result == {"status": "complete"}


def test_events_long_poll(daemon: ThreadedDaemon) -> None:
    with daemon.client() as client:
        client.spawn("alpha")
        last = client.events()[-1].id
        started = time.monotonic()
        assert client.events(after=last, wait=0.3) == []
        assert time.monotonic() - started >= 0.25


def test_wrong_token_and_unreachable_daemon(daemon: ThreadedDaemon) -> None:
    with Client(daemon.url, "wrong") as client, pytest.raises(DaemonError) as refused:
        client.list_agents()
    assert "token" in refused.value.message
    assert refused.value.context == {"reason": "unauthorized"}
    with Client("http://127.0.0.1:9", "t") as client, pytest.raises(DaemonError) as down:
        client.health()
    assert "http://127.0.0.1:9" in down.value.message


def test_foreign_host_and_origin_over_a_real_socket(daemon: ThreadedDaemon) -> None:
    with httpx.Client(base_url=daemon.url, trust_env=False) as http:
        assert http.get("/v1/health", headers={"Host": "evil.example"}).status_code == 400
        assert http.get("/v1/health", headers={"Origin": "http://evil.example"}).status_code == 403
        assert http.get("/v1/health", headers={"Origin": daemon.url}).status_code == 200


def test_oversized_body_over_a_real_socket_gets_413(daemon: ThreadedDaemon) -> None:
    body = b"x" * (17 * 1024 * 1024)
    with httpx.Client(base_url=daemon.url, trust_env=False, timeout=30) as http:
        response = http.post(
            "/v1/agents", content=body, headers={"Authorization": f"Bearer {daemon.token}"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["context"]["reason"] == "body_too_large"


def test_files_are_private_and_daemon_json_goes_away(home: Path) -> None:
    daemon = ThreadedDaemon(home).start()
    try:
        info = read_daemon_info(home)
        assert info is not None
        assert info.url.startswith("http://127.0.0.1:")
        for path in (daemon_file(home), token_file(home)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
    finally:
        daemon.stop()
    assert not daemon_file(home).exists()
    assert token_file(home).exists()  # the token is kept for the next start


def test_token_file_is_reused_and_made_private(home: Path) -> None:
    home.mkdir(mode=0o700)
    token_file(home).write_text("my-chosen-token-123456\n")
    token_file(home).chmod(0o644)
    daemon = ThreadedDaemon(home).start()
    try:
        assert daemon.token == "my-chosen-token-123456"
        assert stat.S_IMODE(token_file(home).stat().st_mode) == 0o600
        with daemon.client() as client:
            client.list_agents()
    finally:
        daemon.stop()


def test_second_daemon_on_the_same_home_is_refused(
    daemon: ThreadedDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_serve, "_LOCK_WAIT", 0.2)
    with pytest.raises(DaemonError, match="already running"):
        asyncio.run(serve_async(home=daemon.home, backends={}, install_signals=False))
    with daemon.client() as client:
        client.health()  # the first one is untouched


def test_unix_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sock = tmp_path / "podium.sock"
    daemon = ThreadedDaemon(home, socket_path=sock).start()
    try:
        assert daemon.url == f"unix://{sock}"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        with Client.from_home(home, autostart=False) as client:
            client.spawn("alpha")
            assert client.ask("alpha", "over a socket", wait=True).result == "over a socket"
    finally:
        daemon.stop()
    assert not sock.exists()
