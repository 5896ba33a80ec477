"""The container mode: the exact ``docker run`` / ``podman run`` argv, engine choice, bad specs.

No container engine runs here, so the argv is checked field by field against the
seed's worker container (read-only code, writable results, tmpfs, memory/CPU/pids
limits, no capabilities, no new privileges, a non-root user, no network but the
relay) with stand-in ``docker`` / ``podman`` executables that record how they were
called. The one test that runs a container for real skips without an engine.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from podium._errors import PodiumError
from podium.isolation import (
    IsolationError,
    IsolationMode,
    IsolationSpec,
    Workspace,
    _protocol,
    isolator_for,
)
from podium.isolation._container import (
    CONTAINER_FORWARDER,
    NOBODY,
    PASSTHROUGH_ENV,
    ContainerIsolator,
    container_argv,
    container_path,
    container_unavailable_reason,
    container_user,
    find_engine,
)
from podium.isolation._netproxy import parse_target
from podium.isolation._sandbox import API_PORT, PROXY_PORT, sandbox_network
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule
from tests.conftest import make_config

SPEC = IsolationSpec(mode=IsolationMode.CONTAINER)
KEY = "sk-ant-container-5e2d-NEVER-IN-ARGV-91ab"
FAKE_API = "http://127.0.0.1:5999"

STUB = """#!{python}
import json, os, sys
log = os.environ.get("STUB_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps({{"argv": sys.argv, "env": dict(os.environ)}}) + "\\n")
sys.stderr.write(os.environ.get("STUB_STDERR", ""))
sys.exit(int(os.environ.get("STUB_EXIT", "0")))
"""


def _stub(bin_dir: Path, name: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(STUB.format(python=sys.executable), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only stand-in engines (none until a test adds one)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("STUB_LOG", str(tmp_path / "engine-calls.jsonl"))
    return bin_dir


@pytest.fixture
def docker(engines: Path) -> Path:
    return _stub(engines, "docker")


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("print('hi')\n")
    cli = tmp_path / "cli" / "claude"
    cli.parent.mkdir()
    cli.write_text("#!/bin/sh\n")
    return {
        "project": project,
        "state": tmp_path / "home" / "agents" / "marie" / "sess",
        "results": tmp_path / "run" / "results" / "marie",
        "cli": cli,
    }


@pytest.fixture
async def isolator(dirs: dict[str, Path]) -> AsyncIterator[ContainerIsolator]:
    iso = ContainerIsolator(verify=False, cli=dirs["cli"])
    yield iso
    await iso._relays.stop_all()


async def _prepare(
    iso: ContainerIsolator,
    dirs: dict[str, Path],
    spec: IsolationSpec = SPEC,
    api: str | None = FAKE_API,
    agent: str = "marie",
) -> Workspace:
    return await iso.prepare(
        agent=agent,
        project=dirs["project"],
        state_dir=dirs["state"],
        results_dir=dirs["results"],
        spec=spec,
        api_base_url=api,
    )


def _calls(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "engine-calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


class Argv:
    """A ``docker run`` argv taken apart: options before the image, the command after."""

    FLAGS = {"--rm", "-i", "--init", "--read-only", "--log-driver=none", "--cap-drop=ALL",
             "--security-opt=no-new-privileges", "--userns=keep-id"}  # fmt: skip

    def __init__(self, argv: tuple[str, ...] | list[str], image: str) -> None:
        self.argv = list(argv)
        assert self.argv[1] == "run"
        self.image_at = self.argv.index(image)
        self.command = self.argv[self.image_at + 1 :]
        self.flags: list[str] = []
        self.options: dict[str, list[str]] = {}
        items = iter(self.argv[2 : self.image_at])
        for item in items:
            if item in self.FLAGS:
                self.flags.append(item)
            else:
                assert item.startswith("-"), item
                self.options.setdefault(item, []).append(next(items))

    def one(self, option: str) -> str:
        [value] = self.options[option]
        return value

    def mounts(self) -> dict[str, dict[str, str]]:
        found = {}
        for value in self.options.get("--mount", []):
            fields = dict(part.partition("=")[::2] for part in value.split(","))
            found[fields["dst"]] = fields
        return found

    def env(self) -> tuple[dict[str, str], list[str]]:
        """``-e NAME=value`` pairs and ``-e NAME`` names."""
        values, names = {}, []
        for item in self.options.get("-e", []):
            name, sep, value = item.partition("=")
            if sep:
                values[name] = value
            else:
                names.append(name)
        return values, names


# --- the argv, field by field -------------------------------------------------------------


async def test_argv_has_every_seed_flag_with_its_value(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    spec = IsolationSpec(mode=IsolationMode.CONTAINER, memory_mb=4096, cpus=1.5, pids=256)
    ws = await _prepare(isolator, dirs, spec)
    argv = Argv(ws.launcher, spec.image)

    assert argv.argv[0] == str(docker)  # the engine found on PATH, by its full path
    assert sorted(argv.flags) == sorted(
        ["--rm", "-i", "--init", "--read-only", "--log-driver=none", "--cap-drop=ALL",
         "--security-opt=no-new-privileges"]
    )  # fmt: skip
    assert argv.one("--name") == "podium-marie"
    # Code read-only, results and state writable, the CLI and the helper read-only.
    mounts = argv.mounts()
    project, results, state = (dirs[k].resolve() for k in ("project", "results", "state"))
    assert mounts["/workspace"] == {
        "type": "bind", "src": str(project), "dst": "/workspace", "readonly": ""
    }  # fmt: skip
    assert mounts["/results"] == {"type": "bind", "src": str(results), "dst": "/results"}
    assert mounts["/podium/state"] == {"type": "bind", "src": str(state), "dst": "/podium/state"}
    assert mounts[str(dirs["cli"])]["src"] == str(dirs["cli"])
    assert "readonly" in mounts[str(dirs["cli"])]
    assert "readonly" in mounts["/run/podium"]
    assert "readonly" in mounts[CONTAINER_FORWARDER]
    assert set(mounts) == {"/workspace", "/results", "/podium/state", str(dirs["cli"]),
                           "/run/podium", CONTAINER_FORWARDER}  # fmt: skip
    assert argv.one("--tmpfs") == "/tmp:rw,noexec,nosuid,size=1g"
    assert argv.one("--memory") == "4096m"
    assert argv.one("--memory-swap") == "4096m"  # no swap beyond the memory limit
    assert argv.one("--cpus") == "1.5"
    assert argv.one("--pids-limit") == "256"
    assert argv.one("--user") == container_user()
    assert not argv.one("--user").startswith("0:")
    assert argv.one("--network") == "none"
    assert argv.one("-w") == "/workspace"
    assert argv.image_at == len(argv.argv) - len(argv.command) - 1

    values, names = argv.env()
    assert values == {
        "CLAUDE_CONFIG_DIR": "/podium/state/claude",
        "HOME": "/podium/state/home",
        "TMPDIR": "/tmp",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{API_PORT}",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    assert names == [n for n in PASSTHROUGH_ENV if n not in values]
    assert "ANTHROPIC_API_KEY" in names  # by name: the engine takes the value from its env

    # The command: the network helper, which then runs the appended CLI argv.
    assert argv.command == [
        "python3", "-I", "-S", CONTAINER_FORWARDER, "--unix", "/run/podium/relay.sock",
        "--forward", f"127.0.0.1:{API_PORT}=127.0.0.1:5999", "--",
    ]  # fmt: skip

    # No secret anywhere: argv, the workspace record, its env.
    assert not any(KEY in item for item in ws.launcher)
    assert KEY not in json.dumps(ws.to_dict())
    assert ws.env == {}
    assert ws.mode is IsolationMode.CONTAINER
    assert ws.cwd == project
    assert ws.project == project
    assert ws.results_dir == results


async def test_limits_left_out_when_not_set(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    spec = IsolationSpec(mode=IsolationMode.CONTAINER, memory_mb=None, cpus=None, pids=None)
    argv = Argv((await _prepare(isolator, dirs, spec)).launcher, spec.image)
    for option in ("--memory", "--memory-swap", "--cpus", "--pids-limit"):
        assert option not in argv.options


async def test_default_argv_has_the_seeds_limits(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    """No limit given: the seed's worker container, value by value."""
    ws = await _prepare(isolator, dirs, IsolationSpec(mode=IsolationMode.CONTAINER))
    argv = Argv(ws.launcher, "podium-worker:latest")
    # Seed: --memory="4g" --memory-swap="4g" (4g = 4096 MiB, and no swap on top).
    assert argv.one("--memory") == "4096m"
    assert argv.one("--memory-swap") == "4096m"
    assert argv.one("--cpus") == "2.0"  # seed: --cpus="2.0"
    assert argv.one("--tmpfs") == "/tmp:rw,noexec,nosuid,size=1g"  # seed, verbatim
    assert {"--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges"} <= set(argv.flags)
    # Additions to the seed, on by default: a process limit and no network but the relay.
    assert argv.one("--pids-limit") == "512"
    assert argv.one("--network") == "none"
    # The caller's uid instead of the seed's fixed 1000:1000 (documented difference).
    assert argv.one("--user") == container_user()


async def test_only_the_results_and_the_agents_own_state_are_writable(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The seed mounts its auth home read-only; podium's config dir is writable (the CLI
    keeps its transcripts there), so no credential may ever be a file in it: keys go by
    environment name. The writable state is this agent's alone."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    ws = await _prepare(isolator, dirs)
    argv = Argv(ws.launcher, SPEC.image)
    writable = {dst for dst, m in argv.mounts().items() if "readonly" not in m}
    assert writable == {"/results", "/podium/state"}
    state = argv.mounts()["/podium/state"]["src"]
    assert Path(state) == dirs["state"].resolve()  # the agent's session dir, not ~/.claude
    assert Path.home() / ".claude" not in Path(state).parents
    values, names = argv.env()
    assert values["CLAUDE_CONFIG_DIR"].startswith("/podium/state/")
    assert "ANTHROPIC_API_KEY" in names
    assert not any(KEY in item for item in ws.launcher)
    assert not [p for p in dirs["state"].rglob("*") if p.is_file() and KEY in p.read_text()]


async def test_https_api_goes_through_the_connect_proxy_with_its_url_unchanged(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    spec = IsolationSpec(mode=IsolationMode.CONTAINER, allow_hosts=("pypi.org:443",))
    ws = await _prepare(isolator, dirs, spec, api="https://api.anthropic.com")
    argv = Argv(ws.launcher, spec.image)
    values, _ = argv.env()
    assert values["ANTHROPIC_BASE_URL"] == "https://api.anthropic.com"
    assert values["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"
    assert "--forward" not in argv.command
    assert argv.command[argv.command.index("--proxy") + 1] == f"127.0.0.1:{PROXY_PORT}"
    relay = isolator.relay(ws)
    assert relay is not None
    assert relay.running
    assert relay.allow == {parse_target("api.anthropic.com:443"), parse_target("pypi.org:443")}


async def test_the_default_api_is_anthropics_over_https(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    ws = await _prepare(isolator, dirs, api=None)
    relay = isolator.relay(ws)
    assert relay is not None
    assert relay.allow == {parse_target("api.anthropic.com:443")}


async def test_the_relay_socket_is_reachable_for_the_container_user(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    ws = await _prepare(isolator, dirs)
    relay = isolator.relay(ws)
    assert relay is not None
    uid = int(container_user().split(":")[0])
    assert relay.socket_path.stat().st_uid == uid
    assert relay.socket_path.parent.stat().st_uid == uid
    assert stat.S_IMODE(relay.socket_path.parent.stat().st_mode) == 0o700
    assert len(str(relay.socket_path)) <= 100


async def test_transcripts_written_inside_are_found_where_the_host_looks(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    from podium.backends.claude_code import transcript_path

    await _prepare(isolator, dirs)
    state = dirs["state"].resolve()
    inside = transcript_path(state / "claude", Path("/workspace"), "s1")
    inside.write_text('{"type":"user"}\n')
    outside = transcript_path(state / "claude", dirs["project"].resolve(), "s1")
    assert outside.read_text() == '{"type":"user"}\n'
    assert os.readlink(outside.parent) == "-workspace"  # relative: valid in the container too
    # Preparing again (a restarted daemon) keeps the link and what it holds.
    await _prepare(isolator, dirs)
    assert outside.read_text() == '{"type":"user"}\n'


def test_user_is_the_callers_or_nobody_for_root() -> None:
    assert container_user(1000, 1001) == "1000:1001"
    assert container_user(0, 0) == NOBODY == "65534:65534"
    assert container_user(0, 1000) == NOBODY


def test_rootless_podman_keeps_the_callers_uid(
    engines: Path, dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    podman = _stub(engines, "podman")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    argv = container_argv(
        engine=str(podman), agent="marie", project=dirs["project"], results_dir=dirs["results"],
        state_dir=dirs["state"], spec=SPEC, network=None, user=container_user(1000, 1000),
    )  # fmt: skip
    parsed = Argv(argv, SPEC.image)
    assert "--userns=keep-id" in parsed.flags
    assert parsed.one("--user") == "1000:1000"
    # No network plan: no relay mounts, the command is the CLI itself (appended).
    assert parsed.command == []
    assert "/run/podium" not in parsed.mounts()
    assert parsed.one("--network") == "none"


def test_container_paths_map_the_project_and_results(dirs: dict[str, Path]) -> None:
    ws = Workspace(
        mode=IsolationMode.CONTAINER, cwd=dirs["project"], project=dirs["project"],
        results_dir=dirs["results"],
    )  # fmt: skip
    assert container_path(ws, dirs["project"]) == "/workspace"
    assert container_path(ws, dirs["project"] / "app" / "db.py") == "/workspace/app/db.py"
    assert container_path(ws, dirs["results"] / "security.json") == "/results/security.json"
    with pytest.raises(IsolationError, match="not visible inside the container"):
        container_path(ws, dirs["state"])


# --- engine selection -------------------------------------------------------------------


def test_engine_first_found_on_path_docker_before_podman(engines: Path) -> None:
    podman = _stub(engines, "podman")
    assert find_engine(None) == str(podman)
    docker = _stub(engines, "docker")
    assert find_engine(None) == str(docker)


def test_engine_named_in_the_spec_wins(engines: Path) -> None:
    _stub(engines, "docker")
    podman = _stub(engines, "podman")
    assert find_engine("podman") == str(podman)


def test_unknown_engine_is_refused_by_name(engines: Path) -> None:
    _stub(engines, "docker")
    with pytest.raises(IsolationError) as caught:
        find_engine("lxc")
    assert caught.value.message == "unknown container engine 'lxc' (known: docker, podman)"
    assert caught.value.context == {"engine": "lxc"}
    assert caught.value.code == "isolation_error"


def test_named_engine_missing_from_path(engines: Path) -> None:
    _stub(engines, "docker")
    with pytest.raises(IsolationError, match=r"^container engine 'podman' is not on PATH$"):
        find_engine("podman")


def test_no_engine_at_all(engines: Path) -> None:
    with pytest.raises(IsolationError) as caught:
        find_engine(None)
    assert caught.value.message == (
        "no container engine on this machine (looked for docker and podman on PATH)"
    )


async def test_prepare_with_no_engine_fails_before_creating_anything(
    isolator: ContainerIsolator, engines: Path, dirs: dict[str, Path]
) -> None:
    with pytest.raises(IsolationError, match="no container engine on this machine"):
        await _prepare(isolator, dirs)
    assert not dirs["state"].exists()
    assert not dirs["results"].exists()
    assert isolator._relays.active() == []


async def test_verify_reports_an_engine_that_cannot_run_the_image(
    engines: Path, dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stub(engines, "docker")
    monkeypatch.setenv("STUB_EXIT", "1")
    monkeypatch.setenv("STUB_STDERR", "Error: No such image: podium-worker:latest\n")
    iso = ContainerIsolator(verify=True, cli=dirs["cli"])
    with pytest.raises(IsolationError) as caught:
        await _prepare(iso, dirs)
    assert caught.value.message == (
        "cannot run agent 'marie' in a container: docker cannot run image "
        "'podium-worker:latest': Error: No such image: podium-worker:latest"
    )
    assert caught.value.context == {"agent": "marie", "engine": "docker"}
    [call] = _calls(tmp_path)
    assert call["argv"][1:] == ["image", "inspect", "podium-worker:latest"]
    assert iso._relays.active() == []


# --- bad specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"memory_mb": 0}, "container memory_mb must be positive, got 0"),
        ({"memory_mb": -512}, "container memory_mb must be positive, got -512"),
        ({"cpus": 0.0}, "container cpus must be positive, got 0.0"),
        ({"pids": 0}, "container pids must be positive, got 0"),
    ],
)
async def test_non_positive_limits_are_refused(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path],
    changes: dict[str, Any], message: str,
) -> None:  # fmt: skip
    spec = IsolationSpec(mode=IsolationMode.CONTAINER, **changes)
    with pytest.raises(IsolationError) as caught:
        await _prepare(isolator, dirs, spec)
    assert caught.value.message == message
    assert caught.value.context["field"] == next(iter(changes))
    assert isolator._relays.active() == []
    assert not dirs["state"].exists()


@pytest.mark.parametrize("image", ["", "--privileged", "-v/:/host", "img name", "a;b"])
async def test_an_image_that_is_not_a_reference_is_refused(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path], image: str
) -> None:
    spec = IsolationSpec(mode=IsolationMode.CONTAINER, image=image)
    with pytest.raises(IsolationError, match="is not an image reference") as caught:
        await _prepare(isolator, dirs, spec)
    assert caught.value.context == {"agent": "marie", "field": "image"}


async def test_results_inside_the_read_only_project_are_refused(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    dirs["results"] = dirs["project"] / "results"
    with pytest.raises(IsolationError, match="must not be inside the project"):
        await _prepare(isolator, dirs)


async def test_a_path_that_would_change_the_mount_option_is_refused(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path], tmp_path: Path
) -> None:
    dirs["project"] = tmp_path / "a,readonly=false"
    dirs["project"].mkdir()
    with pytest.raises(IsolationError, match="cannot be mounted into a container"):
        await _prepare(isolator, dirs)


async def test_an_unknown_engine_in_the_spec_is_refused(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path]
) -> None:
    spec = IsolationSpec(mode=IsolationMode.CONTAINER, engine="lxc")
    with pytest.raises(IsolationError, match=r"unknown container engine 'lxc'"):
        await _prepare(isolator, dirs, spec)


def test_spec_from_config_reaches_the_argv(docker: Path, dirs: dict[str, Path]) -> None:
    spec = IsolationSpec.coerce(
        {"mode": "container", "memory_mb": 1024, "cpus": 0.5, "image": "ghcr.io/me/w:1"}
    )
    argv = Argv(
        container_argv(
            engine=str(docker), agent="anga", project=dirs["project"],
            results_dir=dirs["results"], state_dir=dirs["state"], spec=spec, network=None,
        ),
        "ghcr.io/me/w:1",
    )  # fmt: skip
    assert argv.one("--memory") == "1024m"
    assert argv.one("--cpus") == "0.5"
    assert argv.one("--name") == "podium-anga"


# --- release and records ---------------------------------------------------------------------


async def test_release_removes_the_container_and_stops_the_relay_even_after_a_reload(
    isolator: ContainerIsolator, docker: Path, dirs: dict[str, Path], tmp_path: Path
) -> None:
    ws = await _prepare(isolator, dirs)
    relay = isolator.relay(ws)
    assert relay is not None
    socket_dir = relay.socket_path.parent
    reloaded = Workspace.from_dict(json.loads(json.dumps(ws.to_dict())))
    assert reloaded == ws
    await isolator.release(reloaded)
    assert not relay.running
    assert not socket_dir.exists()
    assert isolator.relay(ws) is None
    [call] = _calls(tmp_path)
    assert call["argv"] == [str(docker), "rm", "-f", "podium-marie"]
    # The agent's directories stay.
    assert dirs["results"].is_dir()
    assert dirs["state"].is_dir()
    await isolator.release(reloaded)  # twice is fine


def test_the_container_mode_is_registered() -> None:
    assert isinstance(isolator_for("container"), ContainerIsolator)


# --- through the runtime ------------------------------------------------------------------------


@pytest.fixture
def argv_only(dirs: dict[str, Path]) -> Iterator[ContainerIsolator]:
    """The container isolator without the engine check, as the registered one."""
    iso = ContainerIsolator(verify=False)
    saved = _protocol._REGISTRY.get(IsolationMode.CONTAINER)
    _protocol.register_isolator(iso)
    try:
        yield iso
    finally:
        if saved is not None:
            _protocol.register_isolator(saved)


async def test_runtime_starts_the_cli_through_the_engine_with_the_key_in_env_only(
    home: Path, fake: FakeAnthropic, docker: Path, argv_only: ContainerIsolator,
    dirs: dict[str, Path], tmp_path: Path,
) -> None:  # fmt: skip
    from podium.backends.claude_code import ClaudeCodeBackend

    backend = ClaudeCodeBackend()
    async with Runtime(make_config(home, fake), backends={"claude-code": backend}) as rt:
        # The stand-in engine records its call and exits: the CLI never starts.
        with pytest.raises(PodiumError):
            await rt.spawn(
                "marie",
                cwd=dirs["project"],
                isolation=SPEC,
                secret_env={"ANTHROPIC_API_KEY": KEY},
            )
        assert await rt.store.find_agent("marie") is None or (
            (await rt.store.get_agent("marie")).status.value == "killed"
        )
    [call] = [c for c in _calls(tmp_path) if c["argv"][1] == "run"]
    argv = Argv(call["argv"], SPEC.image)
    cli_at = argv.command.index("--") + 1
    assert argv.command[cli_at] == str(backend.cli_path)
    assert argv.command[cli_at + 1 : cli_at + 3] == ["--input-format", "stream-json"]
    assert str(backend.cli_path) in argv.mounts()  # the same CLI, bound read-only
    assert not any(KEY in item for item in call["argv"])
    # The engine got the key through its own environment, to pass on by name.
    assert call["env"]["ANTHROPIC_API_KEY"] == KEY
    assert "ANTHROPIC_API_KEY" in argv.env()[1]
    values = argv.env()[0]
    assert values["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{API_PORT}"
    assert values["CLAUDE_CONFIG_DIR"] == "/podium/state/claude"
    # The relay forwards to the fake the runtime's env points at.
    assert argv.command[argv.command.index("--forward") + 1] == (
        f"127.0.0.1:{API_PORT}={sandbox_network(fake.base_url).forward}"
    )
    assert argv_only._relays.active() == []  # released with the agent that never started


# --- for real ---------------------------------------------------------------------------------

IMAGE = os.environ.get("PODIUM_TEST_IMAGE", "podium-worker:latest")


@pytest.mark.cli
async def test_a_real_container_agent_answers_through_the_relay_only(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    reason = await _real_reason()
    if reason is not None:
        pytest.skip(reason)
    fake.add_rule(Rule(content="ping", text="pong from the container"))
    await runtime.spawn("boxed", cwd=workdir, isolation=SPEC)
    try:
        request = await runtime.ask("boxed", "ping")
        done = await runtime.wait(request.id, timeout=120)
        assert done.result == "pong from the container", done.error
        ws = (await runtime.get_agent("boxed")).options.workspace
        assert ws is not None
        iso = isolator_for("container")
        assert isinstance(iso, ContainerIsolator)
        relay = iso.relay(ws)
        assert relay is not None
        assert relay.tunnels >= 1
    finally:
        await runtime.kill("boxed")


async def _real_reason() -> str | None:
    if shutil.which("docker") is None and shutil.which("podman") is None:
        return "no container engine on this machine"
    reason = await container_unavailable_reason(None, IMAGE)
    return None if reason is None else f"no container engine on this machine: {reason}"
