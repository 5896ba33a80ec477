"""``container``: the agent's CLI and every tool it runs inside a docker or podman container.

:meth:`ContainerIsolator.prepare` returns a workspace whose launcher is the exact
``docker run`` / ``podman run`` argv (built by :func:`container_argv`, never a shell
string); the backend appends the CLI argv to it. The flags follow the seed's worker
container, tightened:

* ``--rm -i --init --name podium-<agent>``: attached over stdin/stdout (stream-json),
  an init process that reaps and forwards signals, removed when the CLI exits
  (it exits when its stdin closes, so a killed agent takes its container with it);
  ``--log-driver=none`` so the engine keeps no copy of the conversation;
* ``--read-only`` root; the project **read-only** at ``/workspace`` (the working
  directory, ``-w /workspace``); the agent's results directory **writable** at
  ``/results``; its state directory **writable** at ``/podium/state``
  (``CLAUDE_CONFIG_DIR=/podium/state/claude``, ``HOME=/podium/state/home``);
  ``--tmpfs /tmp:rw,noexec,nosuid,size=...``;
* ``--memory <mb>m --memory-swap <mb>m`` (no swap), ``--cpus <n>``,
  ``--pids-limit <n>`` from :class:`IsolationSpec` (``None`` leaves a limit out). The
  defaults are the seed's: ``--memory 4096m --memory-swap 4096m`` (its ``4g``),
  ``--cpus 2.0``, ``--tmpfs /tmp:rw,noexec,nosuid,size=1g``; ``--pids-limit 512`` is
  an addition (the seed sets none);
* ``--cap-drop=ALL --security-opt=no-new-privileges --user <uid>:<gid>``: the daemon's
  own uid/gid, or ``65534:65534`` (nobody) when the daemon runs as root, never root.

Deliberate differences from the seed, each for a reason:

* network ``none`` plus the relay below, instead of a ``restricted`` bridge network
  and a firewall;
* ``--user`` is the caller's uid/gid instead of a fixed ``1000:1000``, so the files the
  agent writes in ``/results`` belong to the user who runs podium;
* the agent's Claude config directory is **writable**, where the seed mounts its auth
  home read-only. The CLI writes its state there on every turn: ``.claude.json``, the
  session transcript under ``projects/`` (which resume after hibernation, forks and
  cost recovery read) and its backups. With the directory read-only it still answers
  but silently keeps no transcript, so the agent's next process could not resume.
  What the seed's read-only mount protects, the credentials, is never a file here:
  the key reaches the CLI as an environment variable passed by name (below), so
  nothing the agent can write holds it, and the writable directory is that one
  agent's own (no other agent or the user's ``~/.claude`` shares it).

Network (decided here, the same design as the ``sandbox`` mode): ``--network none``.
The container has a loopback and nothing else. Its one way out is the daemon's relay
(:mod:`._netproxy`) on a unix socket whose directory is bound read-only at
``/run/podium``; the relay tunnels only to the model API's ``host:port`` and
``spec.allow_hosts``. Inside, the container's command is the stdlib-only helper
:mod:`._netproxy_inner` (bound read-only at ``/opt/podium/netproxy_inner.py``, run by
the image's ``python3``), which listens on the container's loopback exactly as in the
sandbox (an ``http://`` API: a plain forward and ``ANTHROPIC_BASE_URL`` pointed at it;
``https://``: a ``CONNECT`` proxy and ``HTTPS_PROXY``) and then starts the CLI. Why
not a dedicated "internal" engine network: whether an internal network can reach the
host differs between engines and versions, and it needs an egress proxy container
with its own image; ``--network none`` fails closed everywhere and the allow-list is
enforced outside the container.

The CLI: the backend appends the host's CLI path. That binary (the one bundled with
``claude-agent-sdk``, or ``PODIUM_CLAUDE_CLI``) is bound read-only at the same path
inside the container, so the same CLI version runs in every mode and the argv runs
unchanged. The image supplies the userland the CLI and its tools use: a glibc Linux
with ``python3`` (3.8+) and whatever the workers' tools need (``bash``, ``git``, ...).
``podium-worker:latest`` is the default name; build it from any such base image.

Environment: the argv carries values only podium itself chose (container paths,
loopback URLs) as ``-e NAME=value``. Everything from the daemon's environment, API
keys above all, is passed by name only (``-e NAME``): the engine copies the value
from the ``docker run`` process's own environment, where ``Runtime.set_secret_env``
put it, so no secret is ever in an argv (``/proc/<pid>/cmdline``), a record or a log.

Sessions: inside, the CLI files its transcript under ``projects/-workspace``; the host
looks under the project's own path. ``prepare`` links the two (a relative symlink in
the agent's config dir), so resume, fork and cost recovery work as in other modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from ._netproxy import NetRelay, RelayPool
from ._protocol import IsolationError, IsolationMode, IsolationSpec, Workspace, register_isolator
from ._sandbox import API_PORT, PROXY_PORT, SandboxNetwork, sandbox_network

__all__ = [
    "CONTAINER_FORWARDER",
    "CONTAINER_NET",
    "CONTAINER_RESULTS",
    "CONTAINER_STATE",
    "CONTAINER_WORKSPACE",
    "ENGINES",
    "NOBODY",
    "PASSTHROUGH_ENV",
    "ContainerIsolator",
    "container_argv",
    "container_name",
    "container_path",
    "container_unavailable_reason",
    "container_user",
    "find_engine",
]

ENGINES = ("docker", "podman")
"""Container engines podium drives, in the order they are looked for on PATH."""
CONTAINER_WORKSPACE = "/workspace"
CONTAINER_RESULTS = "/results"
CONTAINER_STATE = "/podium/state"
CONTAINER_NET = "/run/podium"
CONTAINER_FORWARDER = "/opt/podium/netproxy_inner.py"
NOBODY = "65534:65534"
"""The container user when the daemon runs as root: never root inside."""
TMPFS_SIZE = "1g"
"""The seed's scratch size; it counts against ``--memory``."""

PASSTHROUGH_ENV: tuple[str, ...] = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "CLAUDE_CODE_MAX_RETRIES",
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS",
    "MAX_THINKING_TOKENS",
    "API_TIMEOUT_MS",
    "IS_SANDBOX",
    "LANG",
    "LC_ALL",
    "TZ",
)
"""Passed by name (``-e NAME``): set in the daemon's or the agent's env, they reach the
CLI; unset, the engine leaves them out. Values never appear in the argv."""

_SOCKET_NAME = "relay.sock"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
_INNER = Path(__file__).with_name("_netproxy_inner.py")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSPECT_TIMEOUT = 30.0
_RM_TIMEOUT = 15.0


# --------------------------------------------------------------------------- pieces


def find_engine(engine: str | None) -> str:
    """The engine's executable: ``engine`` (``docker``/``podman``) or the first on PATH."""
    if engine is not None:
        if engine not in ENGINES:
            raise IsolationError(
                f"unknown container engine {engine!r} (known: {', '.join(ENGINES)})",
                engine=engine,
            )
        found = shutil.which(engine)
        if found is None:
            raise IsolationError(f"container engine {engine!r} is not on PATH", engine=engine)
        return found
    for name in ENGINES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise IsolationError(
        "no container engine on this machine (looked for " + " and ".join(ENGINES) + " on PATH)"
    )


def container_user(uid: int | None = None, gid: int | None = None) -> str:
    """``uid:gid`` the container runs as: the caller's, or nobody's for root."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    return NOBODY if uid == 0 else f"{uid}:{gid}"


def container_name(agent: str) -> str:
    return f"podium-{agent}"


def _check_limits(spec: IsolationSpec, agent: str) -> None:
    for key, value in (("memory_mb", spec.memory_mb), ("cpus", spec.cpus), ("pids", spec.pids)):
        if value is not None and not value > 0:
            raise IsolationError(
                f"container {key} must be positive, got {value!r}", agent=agent, field=key
            )
    if not _IMAGE.fullmatch(spec.image or ""):
        raise IsolationError(
            f"container image {spec.image!r} is not an image reference "
            "(letters, digits and . _ / : @ -, not starting with '-')",
            agent=agent,
            field="image",
        )


def _mount(src: Path | str, dst: str, *, readonly: bool) -> list[str]:
    text = str(src)
    if any(c in text for c in ",\n\r\"'") or any(c in dst for c in ",\n\r\"'"):
        # The engine parses --mount as CSV: a comma or quote would change its meaning.
        raise IsolationError(
            f"path {text!r} cannot be mounted into a container (it holds a comma, "
            "quote or newline)",
            path=text,
        )
    value = f"type=bind,src={text},dst={dst}"
    return ["--mount", value + (",readonly" if readonly else "")]


def container_argv(
    *,
    engine: str,
    agent: str,
    project: Path,
    results_dir: Path,
    state_dir: Path,
    spec: IsolationSpec,
    network: SandboxNetwork | None,
    net_dir: Path | None = None,
    cli: Path | None = None,
    user: str | None = None,
    passthrough_env: Iterable[str] = PASSTHROUGH_ENV,
    tmpfs_size: str = TMPFS_SIZE,
) -> list[str]:
    """The launcher: ``<engine> run ... <image>`` and the network helper; the CLI is appended.

    ``network`` ``None`` means no network at all: the command is the CLI itself. With a
    network plan, ``net_dir`` is the host directory that holds the relay's socket.
    ``cli``: the host CLI binary, bound read-only at its own path.
    """
    _check_limits(spec, agent)
    if network is not None and net_dir is None:
        raise IsolationError("a container network needs the relay's directory", agent=agent)
    argv = [engine, "run", "--rm", "-i", "--init", "--name", container_name(agent)]
    argv += ["--log-driver=none", "--read-only"]
    argv += _mount(project, CONTAINER_WORKSPACE, readonly=True)
    argv += _mount(results_dir, CONTAINER_RESULTS, readonly=False)
    argv += _mount(state_dir, CONTAINER_STATE, readonly=False)
    if cli is not None:
        argv += _mount(cli, str(cli), readonly=True)
    if network is not None and net_dir is not None:
        argv += _mount(net_dir, CONTAINER_NET, readonly=True)
        argv += _mount(_INNER, CONTAINER_FORWARDER, readonly=True)
    argv += ["--tmpfs", f"/tmp:rw,noexec,nosuid,size={tmpfs_size}"]
    if spec.memory_mb is not None:
        memory = f"{int(spec.memory_mb)}m"
        argv += ["--memory", memory, "--memory-swap", memory]
    if spec.cpus is not None:
        argv += ["--cpus", str(float(spec.cpus))]  # "2.0", as the seed writes it
    if spec.pids is not None:
        argv += ["--pids-limit", str(int(spec.pids))]
    argv += ["--cap-drop=ALL", "--security-opt=no-new-privileges"]
    argv += ["--user", user or container_user()]
    if Path(engine).name == "podman" and os.geteuid() != 0:
        # Rootless podman: map the caller's uid to itself, so bound files stay theirs.
        argv += ["--userns=keep-id"]
    argv += ["--network", "none"]

    chosen: dict[str, str] = {
        "CLAUDE_CONFIG_DIR": f"{CONTAINER_STATE}/claude",
        "HOME": f"{CONTAINER_STATE}/home",
        "TMPDIR": "/tmp",
        **(network.env if network is not None else {}),
    }
    for name, value in chosen.items():
        argv += ["-e", f"{name}={value}"]
    for name in dict.fromkeys(passthrough_env):
        if not _ENV_NAME.fullmatch(name):
            raise IsolationError(f"{name!r} is not an environment variable name", agent=agent)
        if name not in chosen:
            argv += ["-e", name]
    argv += ["-w", CONTAINER_WORKSPACE, spec.image]

    if network is not None:
        argv += ["python3", "-I", "-S", CONTAINER_FORWARDER]
        argv += ["--unix", f"{CONTAINER_NET}/{_SOCKET_NAME}"]
        if network.forward is not None:
            argv += ["--forward", f"127.0.0.1:{API_PORT}={network.forward}"]
        if network.proxy:
            argv += ["--proxy", f"127.0.0.1:{PROXY_PORT}"]
        argv += ["--"]
    return argv


def container_path(ws: Workspace, path: str | Path) -> str:
    """Where a host path of a container workspace is seen inside the container."""
    host = Path(path)
    for root, inside in ((ws.project, CONTAINER_WORKSPACE), (ws.results_dir, CONTAINER_RESULTS)):
        if host == root or root in host.parents:
            return str(PurePosixPath(inside, *host.relative_to(root).parts))
    raise IsolationError(
        f"{host} is not visible inside the container (only the project and the "
        "results directory are)",
        path=str(host),
    )


def _default_cli() -> Path | None:
    override = os.environ.get("PODIUM_CLAUDE_CLI")
    if override:
        return Path(override)
    # The backend's own default; imported here because it pulls in the SDK.
    from ..backends.claude_code import bundled_cli_path

    return bundled_cli_path()


async def _run(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return 127, str(exc)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return 124, f"no answer within {timeout:g} s"
    return proc.returncode or 0, err.decode("utf-8", "replace").strip()


async def container_unavailable_reason(
    engine: str | None = None, image: str | None = None
) -> str | None:
    """Why no container can run here (no engine, engine not reachable, image missing)."""
    try:
        path = find_engine(engine)
    except IsolationError as exc:
        return exc.message
    argv = [path, "image", "inspect", image] if image else [path, "info"]
    code, err = await _run(argv, _INSPECT_TIMEOUT)
    if code != 0:
        what = f"image {image!r}" if image else "containers"
        tail = err.splitlines()[-1] if err else f"exit code {code}"
        return f"{Path(path).name} cannot run {what}: {tail}"
    return None


# --------------------------------------------------------------------------- state on disk


def _relay_dir(state_dir: Path) -> Path:
    """A short, stable directory per agent state directory for the relay's socket."""
    digest = hashlib.sha256(f"{os.geteuid()}:container:{state_dir}".encode()).hexdigest()[:16]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = (
        Path(runtime)
        if runtime and os.path.isdir(runtime) and os.stat(runtime).st_uid == os.geteuid()
        else Path(tempfile.gettempdir())
    )
    path = base / f"podium-ctr-{digest}"
    if len(str(path / _SOCKET_NAME)) > _MAX_SOCKET_PATH:
        raise IsolationError(
            f"unix socket path {path / _SOCKET_NAME} is too long; set TMPDIR shorter",
            path=str(path),
        )
    return path


def _own_dir(path: Path, user: str) -> None:
    """Create ``path`` (0700) for the container user; refuse a foreign or linked one."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (os.geteuid(), _uid(user)):
        raise IsolationError(
            f"{path} exists and is not a private directory of ours", path=str(path)
        )
    _give(path, user)
    os.chmod(path, 0o700)


def _uid(user: str) -> int:
    return int(user.split(":", 1)[0])


def _give(path: Path, user: str) -> None:
    """Let the container user own ``path`` (only needed, and only possible, as root)."""
    if os.geteuid() != 0:
        return
    uid, _, gid = user.partition(":")
    os.chown(path, int(uid), int(gid or uid), follow_symlinks=False)


def _link_transcripts(state_dir: Path, project: Path, user: str) -> None:
    """Make the host's transcript folder for ``project`` the container's ``-workspace``."""
    from ..backends.claude_code import transcript_path

    # A container's CLI runs with an isolated configuration: the state dir's "claude".
    config = state_dir / "claude"
    inside = transcript_path(config, Path(CONTAINER_WORKSPACE), "x").parent
    outside = transcript_path(config, project, "x").parent
    inside.mkdir(parents=True, exist_ok=True)
    (state_dir / "home").mkdir(parents=True, exist_ok=True)
    if outside != inside:
        if outside.is_symlink():
            outside.unlink()
        if not outside.exists():
            # Relative: the same link resolves inside the container.
            outside.symlink_to(inside.name)
    for path in (state_dir, state_dir / "home", *inside.parents, inside):
        if path == state_dir or state_dir in path.parents:
            _give(path, user)


# --------------------------------------------------------------------------- the isolator


class ContainerIsolator:
    """Runs each agent's CLI in a docker/podman container with an allow-listed network.

    ``verify``: check in ``prepare`` that the engine answers and has the image (a clear
    error at spawn instead of a CLI that fails to start); off, ``prepare`` only builds.
    ``cli``: the host CLI bound into the container (default: the backend's default).
    """

    mode = IsolationMode.CONTAINER

    def __init__(
        self,
        *,
        verify: bool = True,
        cli: Path | None = None,
        passthrough_env: Iterable[str] = PASSTHROUGH_ENV,
        tmpfs_size: str = TMPFS_SIZE,
    ) -> None:
        self.verify = verify
        self._cli = cli
        self.passthrough_env = tuple(passthrough_env)
        self.tmpfs_size = tmpfs_size
        self._relays = RelayPool()

    def relay(self, ws: Workspace) -> NetRelay | None:
        """The running relay of a prepared workspace (for inspection and tests)."""
        found = _net_dir(ws.launcher)
        return None if found is None else self._relays.get(found / _SOCKET_NAME)

    async def prepare(
        self,
        *,
        agent: str,
        project: Path,
        state_dir: Path,
        results_dir: Path,
        spec: IsolationSpec,
        api_base_url: str | None,
        config_dir: Path | None = None,
    ) -> Workspace:
        _check_limits(spec, agent)
        if config_dir is not None:
            raise IsolationError(
                f"a container agent runs with a Claude Code configuration of its own, not "
                f"{config_dir}: spawn it with config_dir isolated and a key or token "
                "(ANTHROPIC_API_KEY, api_key_env or CLAUDE_CODE_OAUTH_TOKEN)",
                agent=agent,
                path=str(config_dir),
            )
        engine = find_engine(spec.engine)
        project = project.expanduser().resolve()
        if not project.is_dir():
            raise IsolationError(f"project {project} is not a directory", agent=agent)
        results_dir = results_dir.expanduser().resolve()
        state_dir = state_dir.expanduser().resolve()
        if results_dir == project or project in results_dir.parents:
            raise IsolationError(
                "the results directory must not be inside the project (it is read-only "
                "in the container)",
                agent=agent,
                path=str(results_dir),
            )
        if self.verify:
            reason = await container_unavailable_reason(spec.engine, spec.image)
            if reason is not None:
                raise IsolationError(
                    f"cannot run agent {agent!r} in a container: {reason}",
                    agent=agent,
                    engine=Path(engine).name,
                )
        user = container_user()
        network = sandbox_network(api_base_url, spec.allow_hosts)
        net_dir = _relay_dir(state_dir)
        cli = self._cli or _default_cli()
        launcher = container_argv(
            engine=engine,
            agent=agent,
            project=project,
            results_dir=results_dir,
            state_dir=state_dir,
            spec=spec,
            network=network,
            net_dir=net_dir,
            cli=cli,
            user=user,
            passthrough_env=self.passthrough_env,
            tmpfs_size=self.tmpfs_size,
        )
        results_dir.mkdir(parents=True, exist_ok=True)
        _give(results_dir, user)
        _link_transcripts(state_dir, project, user)
        socket_path = net_dir / _SOCKET_NAME
        await self._relays.ensure(
            socket_path,
            network.allow,
            before_start=lambda: _own_dir(net_dir, user),
            after_start=lambda: _give(socket_path, user),
        )
        return Workspace(
            mode=self.mode,
            cwd=project,
            project=project,
            results_dir=results_dir,
            launcher=tuple(launcher),
        )

    async def finish_task(self, ws: Workspace, *, message: str) -> str | None:
        return None

    async def release(self, ws: Workspace, *, force: bool = False) -> None:
        """Remove the container if it is still there and stop the relay; directories stay."""
        if ws.launcher and Path(ws.launcher[0]).name in ENGINES and "--name" in ws.launcher:
            name = ws.launcher[ws.launcher.index("--name") + 1]
            if shutil.which(ws.launcher[0]) is not None:
                await _run([ws.launcher[0], "rm", "-f", name], _RM_TIMEOUT)
        net_dir = _net_dir(ws.launcher)
        if net_dir is not None:
            await self._relays.stop(net_dir / _SOCKET_NAME)


def _net_dir(launcher: Sequence[str]) -> Path | None:
    suffix = f",dst={CONTAINER_NET},readonly"
    for item in launcher:
        if item.startswith("type=bind,src=") and item.endswith(suffix):
            return Path(item[len("type=bind,src=") : -len(suffix)])
    return None


ISOLATOR = ContainerIsolator()
register_isolator(ISOLATOR)
