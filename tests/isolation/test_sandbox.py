"""The bubblewrap sandbox, with the real CLI against the fake API.

Every claim is checked from outside the sandbox: files on disk, a TCP listener
that never accepts, the fake's own request log; never from what the model says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from podium import RequestState
from podium._options import AgentOptions
from podium.isolation import IsolationError, IsolationMode, IsolationSpec, Workspace, isolator_for
from podium.isolation._netproxy import NetRelay, api_target, parse_target
from podium.isolation._sandbox import (
    API_PORT,
    PROXY_PORT,
    SandboxIsolator,
    sandbox_network,
    sandbox_unavailable_reason,
)
from podium.isolation._sandbox import ISOLATOR as SANDBOX_ISOLATOR
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, ToolCall
from tests.e2e._helpers import alive

UNAVAILABLE = sandbox_unavailable_reason()
needs_bwrap = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))
SPEC = IsolationSpec(mode=IsolationMode.SANDBOX)


class Listener:
    """A TCP listener on the host that records every connection it accepts."""

    def __init__(self, host: str = "0.0.0.0", *, first_chunk_only: bool = False) -> None:
        self.first_chunk_only = first_chunk_only
        self.sock = socket.create_server((host, 0))
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.settimeout(10)
                chunks = []
                with contextlib.suppress(OSError):
                    while data := conn.recv(4096):
                        chunks.append(data)
                        if self.first_chunk_only:
                            break
                self.received.append(b"".join(chunks))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    allowed, forbidden = Listener(), Listener()
    try:
        yield allowed, forbidden
    finally:
        allowed.close()
        forbidden.close()


def sandbox_processes(marker: Path) -> list[int]:
    """Processes whose command line names ``marker`` (bwrap and the helper do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(marker).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def host_address() -> str:
    """A non-loopback address of this machine, if it has one (else loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


# --------------------------------------------------------------------------- pure parts


def test_targets_parse_and_normalise() -> None:
    assert parse_target("API.example.com:443") == ("api.example.com", 443)
    assert parse_target("[::1]:8080") == ("::1", 8080)
    for bad in ("example.com", "example.com:0", "example.com:http", ":80", "a b:80"):
        with pytest.raises(IsolationError):
            parse_target(bad)
    assert api_target("http://127.0.0.1:9999/base/") == ("http", "127.0.0.1", 9999, "/base")
    assert api_target("https://api.anthropic.com") == ("https", "api.anthropic.com", 443, "")
    for bad in ("ftp://example.com", "https://user:secret@example.com", "http://:80"):
        with pytest.raises(IsolationError) as caught:
            api_target(bad)
        assert "secret" not in str(caught.value)


def test_network_plan_for_http_and_https_apis() -> None:
    local = sandbox_network("http://127.0.0.1:9999/v", ())
    assert local.allow == ("127.0.0.1:9999",)
    assert local.forward == "127.0.0.1:9999"
    assert not local.proxy
    assert local.env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{API_PORT}/v"
    assert "HTTPS_PROXY" not in local.env

    remote = sandbox_network(None, ("pypi.org:443",))
    assert remote.allow == ("api.anthropic.com:443", "pypi.org:443")
    assert remote.forward is None
    assert remote.proxy
    assert "ANTHROPIC_BASE_URL" not in remote.env  # the CLI's default, reached via the proxy
    assert remote.env["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"


def test_registered_for_its_mode() -> None:
    assert isinstance(isolator_for(IsolationMode.SANDBOX), SandboxIsolator)
    assert isolator_for("sandbox").mode is IsolationMode.SANDBOX


async def _connect_via(sock: Path, target: str) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
    await writer.drain()
    return await reader.readuntil(b"\r\n\r\n"), writer


async def test_relay_tunnels_only_allowed_targets(
    tmp_path: Path, listeners: tuple[Listener, Listener]
) -> None:
    allowed, forbidden = listeners
    relay = NetRelay(tmp_path / "r.sock", [f"127.0.0.1:{allowed.port}"])
    await relay.start()
    try:
        reply, writer = await _connect_via(relay.socket_path, f"127.0.0.1:{allowed.port}")
        assert reply.startswith(b"HTTP/1.1 200")
        writer.write(b"through")
        await writer.drain()
        writer.close()
        reply, writer = await _connect_via(relay.socket_path, f"127.0.0.1:{forbidden.port}")
        assert reply.startswith(b"HTTP/1.1 403")
        writer.close()
        reader, writer = await asyncio.open_unix_connection(str(relay.socket_path))
        writer.write(b"GET http://example.com/ HTTP/1.1\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 405")
        writer.close()
        for _ in range(100):
            if allowed.received:
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.close()
    assert allowed.received == [b"through"]
    assert forbidden.accepted == 0
    assert (relay.tunnels, relay.refused) == (1, 2)
    assert not relay.socket_path.exists()


@needs_bwrap
async def test_prepare_is_idempotent_and_release_stops_the_relay(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    iso = SandboxIsolator()
    kwargs: dict[str, Any] = {
        "agent": "w",
        "project": project,
        "state_dir": tmp_path / "state",
        "results_dir": tmp_path / "results",
        "spec": SPEC,
        "api_base_url": "http://127.0.0.1:9",
    }
    ws = await iso.prepare(**kwargs)
    again = await iso.prepare(**kwargs)
    assert again.launcher == ws.launcher
    assert Workspace.from_dict(ws.to_dict()) == ws
    relay = iso.relay(ws)
    assert relay is not None
    assert relay.running
    assert (tmp_path / "results").is_dir()
    await iso.release(ws)
    assert not relay.running
    assert not relay.socket_path.exists()
    with pytest.raises(IsolationError):
        await iso.prepare(**{**kwargs, "results_dir": project})


# --------------------------------------------------------------------------- real CLI


@pytest.fixture
async def sandboxed(
    runtime: Runtime, fake: FakeAnthropic, tmp_path: Path, listeners: tuple[Listener, Listener]
) -> AsyncIterator[tuple[SandboxIsolator, Workspace]]:
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("the project\n")
    iso = SandboxIsolator()
    allowed, _ = listeners
    ws = await iso.prepare(
        agent="worker",
        project=project,
        state_dir=runtime.config.home / "agents" / "worker",
        results_dir=tmp_path / "results" / "worker",
        spec=IsolationSpec(mode=IsolationMode.SANDBOX, allow_hosts=(f"127.0.0.1:{allowed.port}",)),
        api_base_url=fake.base_url,
    )
    try:
        yield iso, ws
    finally:
        await iso.release(ws)


async def spawn_in(runtime: Runtime, ws: Workspace, **options: object) -> None:
    # A workspace prepared by hand: the Python API may place an agent in one.
    typed = AgentOptions.from_dict(options, backend="claude-code").replace(workspace=ws)
    await runtime.spawn("worker", cwd=ws.cwd, options=typed)


@pytest.mark.cli
async def test_agent_in_the_sandbox_answers_through_the_relay(
    runtime: Runtime, fake: FakeAnthropic, sandboxed: tuple[SandboxIsolator, Workspace]
) -> None:
    iso, ws = sandboxed
    fake.add_rule(Rule(content="ping", text="pong from the fake"))
    await spawn_in(runtime, ws, tools=[])
    agent = await runtime.get_agent("worker")
    assert agent.pid is not None
    # The CLI runs inside bwrap: the daemon's child is bwrap, not the CLI.
    assert Path(f"/proc/{agent.pid}/exe").resolve().name == "bwrap"
    request = await runtime.wait((await runtime.ask("worker", "ping")).id, timeout=90)
    assert request.result == "pong from the fake"
    assert fake.message_requests()
    relay = iso.relay(ws)
    assert relay is not None
    assert relay.tunnels >= 1
    assert len(sandbox_processes(relay.socket_path)) >= 2  # bwrap and the helper, live
    # Killing the agent ends everything in its sandbox, the network helper included.
    await runtime.kill("worker")
    assert not [pid for pid in sandbox_processes(relay.socket_path) if alive(pid)]


@pytest.mark.cli
async def test_tools_write_results_not_the_project_and_reach_nothing_else(
    runtime: Runtime,
    fake: FakeAnthropic,
    sandboxed: tuple[SandboxIsolator, Workspace],
    listeners: tuple[Listener, Listener],
) -> None:
    _, ws = sandboxed
    allowed, forbidden = listeners
    out = ws.results_dir
    host_marker = Path("/tmp") / f"podium-host-{uuid.uuid4().hex}"
    host_marker.write_text("host only\n")
    inner_marker = f"podium-inner-{uuid.uuid4().hex}"
    connect = (
        "exec 3<>/dev/tcp/127.0.0.1/{proxy} && "
        "printf 'CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\n' >&3 && "
        'read -r status <&3 && read -r blank <&3 && echo "$status" > {out}/{name}.txt && '
        "printf 'hello-from-sandbox' >&3; exec 3>&-"
    )
    script = "\n".join(
        [
            f"echo written > {out}/written.txt",
            f"echo bad 2> {out}/project_err.txt > {ws.project}/forbidden.txt"
            f"; echo $? > {out}/project_rc.txt",
            # Direct connections: the host's listener is not on the sandbox's loopback,
            # and no other address is routed at all.
            f"(exec 3<>/dev/tcp/127.0.0.1/{forbidden.port}) 2> {out}/direct_lo_err.txt"
            f"; echo $? > {out}/direct_lo_rc.txt",
            f"(exec 3<>/dev/tcp/{host_address()}/{forbidden.port}) 2> {out}/direct_ip_err.txt"
            f"; echo $? > {out}/direct_ip_rc.txt",
            # Through the relay: allowed, then not allowed.
            connect.format(proxy=PROXY_PORT, port=allowed.port, out=out, name="proxy_allowed"),
            connect.format(proxy=PROXY_PORT, port=forbidden.port, out=out, name="proxy_denied"),
            f"test -e {host_marker} && echo visible > {out}/tmp.txt || echo hidden > {out}/tmp.txt",
            f"touch /tmp/{inner_marker} && echo made >> {out}/tmp.txt",
            f"echo done > {out}/finished.txt",
        ]
    )
    fake.add_rule(
        Rule(
            content="do the work",
            tool_result=False,
            tool_calls=[ToolCall(name="Bash", input={"command": script, "timeout": 60000})],
        )
    )
    fake.add_rule(Rule(tool_result=True, text="work done"))
    try:
        await spawn_in(runtime, ws, tools=["Bash"], allowed_tools=["Bash"])
        request = await runtime.wait((await runtime.ask("worker", "do the work")).id, timeout=120)
    finally:
        host_marker.unlink()
    assert request.result == "work done"
    assert (out / "finished.txt").read_text() == "done\n", "the scripted Bash call did not run"

    # The results directory is writable, the project is not.
    assert (out / "written.txt").read_text() == "written\n"
    assert not (ws.project / "forbidden.txt").exists()
    assert (out / "project_rc.txt").read_text().strip() != "0"
    assert "Read-only file system" in (out / "project_err.txt").read_text()
    assert sorted(p.name for p in ws.project.iterdir()) == ["README.md"]

    # No socket outside the allowance: direct attempts fail, the relay refuses.
    assert (out / "direct_lo_rc.txt").read_text().strip() != "0"
    assert (out / "direct_ip_rc.txt").read_text().strip() != "0"
    assert (out / "proxy_denied.txt").read_text().startswith("HTTP/1.1 403")
    # ... while the allowance itself works through the same path.
    assert (out / "proxy_allowed.txt").read_text().startswith("HTTP/1.1 200")
    for _ in range(100):
        if allowed.received:
            break
        await asyncio.sleep(0.05)
    assert allowed.received == [b"hello-from-sandbox"]
    forbidden.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        forbidden.sock.accept()  # nothing even waiting in the backlog
    assert forbidden.accepted == 0

    # A private /tmp: the host's files are not there, and nothing leaks out.
    assert (out / "tmp.txt").read_text() == "hidden\nmade\n"
    assert not (Path("/tmp") / inner_marker).exists()


@pytest.mark.cli
async def test_an_https_api_is_reached_through_the_proxy_with_tls_intact(
    runtime: Runtime, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """A real API host is ``https://``: the CLI tunnels through ``CONNECT`` and its TLS
    handshake arrives at the host's end unchanged (here a plain listener, so the turn
    itself fails; what matters is what reached it)."""
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    address = host_address()
    if address == "127.0.0.1":
        pytest.skip("no non-loopback address to stand in for a remote API host")
    api = Listener(first_chunk_only=True)
    project = tmp_path / "project"
    project.mkdir()
    iso = SandboxIsolator()
    ws = await iso.prepare(
        agent="worker",
        project=project,
        state_dir=runtime.config.home / "agents" / "worker",
        results_dir=tmp_path / "results",
        spec=SPEC,
        api_base_url=f"https://{address}:{api.port}",
    )
    try:
        assert ws.env["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"
        assert ws.env["ANTHROPIC_BASE_URL"] == f"https://{address}:{api.port}"  # unchanged
        await spawn_in(runtime, ws, tools=[])
        request = await runtime.wait((await runtime.ask("worker", "ping")).id, timeout=120)
        relay = iso.relay(ws)
        assert relay is not None
        tunnels = relay.tunnels
    finally:
        await iso.release(ws)
        api.close()
    assert request.state is RequestState.FAILED
    assert tunnels >= 1
    assert api.received
    assert all(chunk[:2] == b"\x16\x03" for chunk in api.received)  # TLS ClientHello
    assert not fake.message_requests()


@needs_bwrap
async def test_limits_apply_inside(tmp_path: Path) -> None:
    """The launcher alone (no CLI): rlimits, no capabilities, a read-only root."""
    project = tmp_path / "p"
    project.mkdir()
    iso = SandboxIsolator()
    ws = await iso.prepare(
        agent="w",
        project=project,
        state_dir=tmp_path / "s",
        results_dir=tmp_path / "r",
        spec=IsolationSpec(mode=IsolationMode.SANDBOX, memory_mb=1024, pids=64),
        api_base_url="http://127.0.0.1:9",
    )
    probe = "ulimit -v; ulimit -u; ulimit -n; grep CapEff /proc/self/status; touch /x 2>&1; pwd"
    try:
        proc = await asyncio.create_subprocess_exec(
            *ws.launcher,
            "bash",
            "-c",
            probe,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await iso.release(ws)
    assert proc.returncode == 0, stderr
    lines = stdout.decode().splitlines()
    assert lines[:3] == [str(1024 * 1024), "64", "4096"]
    assert lines[3].split() == ["CapEff:", "0000000000000000"]
    assert "Read-only file system" in lines[4]
    assert lines[5] == str(ws.cwd)  # where the workspace says, not where bwrap was started


# --- through the runtime and a run, no hand-built launcher -------------------------------------


@pytest.mark.cli
async def test_runtime_spawns_a_sandboxed_agent_from_its_spec(
    runtime: Runtime, fake: FakeAnthropic, tmp_path: Path
) -> None:
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    project = tmp_path / "project"
    project.mkdir()
    fake.add_rule(Rule(content="ping", text="pong from the sandbox"))
    await runtime.spawn("boxed", cwd=project, isolation=SPEC, options={"tools": []})
    try:
        agent = await runtime.get_agent("boxed")
        assert agent.pid is not None
        assert Path(f"/proc/{agent.pid}/exe").resolve().name == "bwrap"
        assert Path(agent.cwd) == project.resolve()  # transcripts are filed by it
        request = await runtime.wait((await runtime.ask("boxed", "ping")).id, timeout=90)
        assert request.result == "pong from the sandbox", request.error
        assert fake.message_requests()
        ws = agent.options.workspace
        relay = SANDBOX_ISOLATOR.relay(ws)
        assert relay is not None
        assert relay.tunnels >= 1  # the answer came through the relay, the only way out
    finally:
        await runtime.kill("boxed")


@pytest.mark.cli
async def test_a_sandboxed_agent_runs_on_the_users_own_login(
    home: Path, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """The user's Claude Code configuration is shown to the sandbox (and only it): the
    login, CLAUDE.md and the transcript live there, as they would outside."""
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    from podium.runtime import RuntimeConfig
    from tests.runtime.test_user_config import ACCESS, MEMORY, log_in, no_key_env

    user_config = Path(os.environ["HOME"]) / ".claude"
    creds = log_in(user_config.parent)
    before = creds.read_bytes()
    project = tmp_path / "project"
    project.mkdir()
    fake.add_rule(Rule(content="ping", text="pong on your login"))
    async with Runtime(RuntimeConfig(home=home, env=no_key_env(fake))) as rt:
        agent = await rt.spawn("boxed", cwd=project, isolation=SPEC, options={"tools": []})
        try:
            assert agent.options.billing == "subscription max (Agent SDK credit)"
            done = await rt.wait((await rt.ask("boxed", "ping")).id, timeout=90)
            assert done.result == "pong on your login", done.error
            assert list(user_config.glob("projects/*/*.jsonl"))
        finally:
            await rt.kill("boxed")
    [call] = fake.requests_matching("ping")
    assert call.headers.get("authorization") == f"Bearer {ACCESS}"
    assert MEMORY in json.dumps(call.body)
    assert creds.read_bytes() == before


SANDBOX_TEAM = """\
[team]
name = "boxed"
orchestrator = "lead.md"

[workers.alice]
profile = "writer.md"
isolation = "sandbox"
"""


@pytest.mark.cli
async def test_a_run_task_in_a_sandbox_completes_and_writes_its_results(
    runtime: Runtime, fake: FakeAnthropic, tmp_path: Path
) -> None:
    from podium.orchestration import RunEngine, RunState, TaskState

    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("the project\n")
    team_dir = tmp_path / "team"
    team_dir.mkdir()
    (team_dir / "lead.md").write_text("You lead.\n")
    (team_dir / "writer.md").write_text("---\ntools: Bash\n---\nYou run commands.\n")
    (team_dir / "podium.toml").write_text(SANDBOX_TEAM)
    engine = RunEngine(runtime)
    await engine.start()
    # The worker's results folder is the only writable place of the run's directory in
    # its sandbox; the command finds it by pattern (the run id is not known yet).
    pattern = engine.runs_root / "*" / "results" / "alice"
    script = (
        f'for out in {pattern}; do echo from-the-sandbox > "$out/note.txt"; done; '
        f"echo no > {project}/note.txt; true"
    )
    fake.add_rule(
        Rule(
            content=r"(?m)^PODIUM TASK note$",
            tool_result=False,
            tool_calls=[ToolCall(name="Bash", input={"command": script, "timeout": 60000})],
        )
    )
    fake.add_rule(Rule(tool_result=True, text="Wrote the note."))
    fake.add_rule(Rule(content="PODIUM SYNTHESIS", text="The note is written."))
    plan = {"tasks": [{"task_id": "note", "worker": "alice", "description": "Write a note."}]}
    try:
        run = await engine.submit("Write a note.", team=team_dir, cwd=project, plan=plan)
        run = await engine.wait(run.id, timeout=120)
        run_dir = engine.run_dir(run.id)
    finally:
        await engine.close()

    assert run.state is RunState.COMPLETE, (run.error, [t.reason for t in run.tasks])
    (task,) = run.tasks
    assert task.state is TaskState.COMPLETE
    results = run_dir / "results" / "alice"
    artifact = json.loads((results / "note.json").read_text())
    assert artifact["agent"] == task.agent
    # What the sandboxed tool wrote landed in the run's results; the project is untouched.
    assert (results / "note.txt").read_text() == "from-the-sandbox\n"
    assert sorted(p.name for p in project.iterdir()) == ["README.md"]
    agents = await runtime.store.list_agents(include_killed=True)
    agent = next(a for a in agents if a.name == artifact["agent"])  # retired with the run
    ws = agent.options.workspace
    assert ws.mode is IsolationMode.SANDBOX
    assert ws.results_dir == results.resolve()


PLANTED = {
    "OPENAI_API_KEY": "sk-planted-openai-0123456789",
    "GITHUB_TOKEN": "ghp_planted_github_0123456789",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-secret-0123456789",
}


@pytest.mark.cli
async def test_the_sandbox_gets_an_allow_list_not_the_daemons_environment(
    home: Path, fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import make_config

    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    # Secrets in the daemon's own environment, as a developer's shell would hold them;
    # the runtime's backend takes that environment when it is made.
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    runtime = Runtime(make_config(home, fake))
    await runtime.start()
    project = tmp_path / "project"
    project.mkdir()
    results = tmp_path / "results"
    # What the agent's tools can see: their environment, and every process's in the
    # sandbox (bwrap and the network helper included).
    script = (
        f"env > {results}/env.txt; "
        f"for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ; done > {results}/proc.txt "
        "2>/dev/null; true"
    )
    fake.add_rule(
        Rule(
            content="print the environment",
            tool_result=False,
            tool_calls=[ToolCall(name="Bash", input={"command": script, "timeout": 60000})],
        )
    )
    fake.add_rule(Rule(tool_result=True, text="printed"))
    try:
        await runtime.spawn(
            "boxed",
            cwd=project,
            isolation=SPEC,
            results_dir=results,
            options={
                "tools": ["Bash"],
                "allowed_tools": ["Bash"],
                "env": {"DECLARED_SETTING": "declared-value"},
            },
            secret_env={"WORKER_TOKEN": "the-workers-own-secret-0123"},
        )
        asked = await runtime.ask("boxed", "print the environment")
        request = await runtime.wait(asked.id, timeout=120)
    finally:
        await runtime.close()
    assert request.result == "printed", request.error
    env = dict(
        line.split("=", 1) for line in (results / "env.txt").read_text().splitlines() if "=" in line
    )
    everything = (results / "env.txt").read_text() + (results / "proc.txt").read_text()
    assert (results / "proc.txt").read_text(), "no process environment was readable"
    for name, value in PLANTED.items():
        assert name not in env
        assert value not in everything, name
    # The agent's own environment is there, and what the CLI needs.
    assert env["DECLARED_SETTING"] == "declared-value"
    assert env["WORKER_TOKEN"] == "the-workers-own-secret-0123"
    assert env["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert env["ANTHROPIC_API_KEY"]
    assert env["LANG"] == "C.UTF-8"
    assert "PATH" in env
    assert "PODIUM_HOME" not in env  # the daemon's own settings stay outside too
