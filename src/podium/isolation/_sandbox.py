"""``sandbox``: the agent's CLI and every tool it runs inside a bubblewrap sandbox.

What the sandbox holds (``bwrap`` argv, built by :func:`sandbox_argv`):

* all namespaces unshared (user, pid, ipc, uts, cgroup, **net**), every capability
  dropped, ``--die-with-parent`` and ``--new-session`` (no terminal injection);
* the system read-only: ``/usr``, the ``/bin``-``/lib*`` links or dirs, a short list
  of ``/etc`` entries (users, certificates, dynamic linker, locale; not ``shadow``,
  ``resolv.conf`` or package-manager credentials), the Python that runs the network
  helper and the directory of the Claude Code CLI;
* the project **read-only**; the agent's results directory and its state directory
  (``CLAUDE_CONFIG_DIR``, and ``HOME``) **writable**; nothing else of the host. The
  config directory must be writable: the CLI keeps its session transcript there
  (resume, forks, cost recovery); no credential is ever a file in it (keys come by
  environment), and it belongs to this one agent;
* a private tmpfs ``/tmp``, a fresh ``/proc`` and a minimal ``/dev``; the root itself
  is read-only;
* the CLI starts in ``Workspace.cwd`` (the project), whatever directory the runtime
  starts bwrap in: the agent's record must carry the same cwd (transcripts are filed
  by it);
* process limits (``setrlimit``, inherited by the CLI and all it starts):
  ``RLIMIT_AS`` = ``spec.memory_mb`` per process, ``RLIMIT_NPROC`` = ``spec.pids``,
  ``RLIMIT_NOFILE`` = 4096, no core dumps. ``RLIMIT_NPROC`` is counted per user
  namespace, so for a non-root daemon it bounds the sandbox's own processes; the
  kernel does not apply it to uid 0. ``spec.cpus`` has no rlimit equivalent and is
  not enforced here (the container mode enforces it, and pids for root).

Environment: an allow-list, never the daemon's whole environment (which may hold
the user's cloud, forge or other API keys). The backend gives bwrap only
:func:`sandbox_environment` of it: what the CLI and its tools need
(:data:`SANDBOX_ENV`, and names starting with :data:`SANDBOX_ENV_PREFIXES`, the
model API's own ``ANTHROPIC_*`` / ``CLAUDE_*`` settings) plus the agent's declared
environment and secrets. Filtering must happen before bwrap starts: every process
in the sandbox can read ``/proc/1/environ`` (bwrap's own), so ``--clearenv`` would
hide nothing.

Network: a private loopback and no route anywhere else. The one way out is the
daemon's relay (:mod:`._netproxy`) on a unix socket bound into the sandbox, which
tunnels only to the model API's ``host:port`` and ``spec.allow_hosts``. Inside, the
helper :mod:`._netproxy_inner` runs first and listens on the loopback:

* an ``http://`` model API (a local gateway, the test fake): port ``API_PORT`` is a
  plain TCP forward to it and ``ANTHROPIC_BASE_URL=http://127.0.0.1:API_PORT/<path>``;
* an ``https://`` model API (the default ``https://api.anthropic.com``): port
  ``PROXY_PORT`` is an HTTP ``CONNECT`` proxy and ``HTTPS_PROXY`` points at it; the
  base URL is unchanged, TLS runs end to end with its SNI and certificate check;
* ``spec.allow_hosts``: reachable through the same ``CONNECT`` proxy port.

Everything else, direct or through the proxy, fails (no route / ``403``). The relay
lives in the daemon: :meth:`SandboxIsolator.prepare` starts it (again, if needed: it is
idempotent, so a restarted daemon re-prepares) and :meth:`SandboxIsolator.release`
stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._netproxy import NetRelay, RelayPool, api_target, format_target, parse_target
from ._protocol import IsolationError, IsolationMode, IsolationSpec, Workspace, register_isolator

__all__ = [
    "API_PORT",
    "PROXY_PORT",
    "SANDBOX_ENV",
    "SANDBOX_ENV_PREFIXES",
    "SandboxIsolator",
    "SandboxNetwork",
    "is_sandbox_launcher",
    "sandbox_argv",
    "sandbox_environment",
    "sandbox_network",
    "sandbox_unavailable_reason",
]

API_PORT = 47100
"""Loopback port inside the sandbox forwarding to an ``http://`` model API."""
PROXY_PORT = 47101
"""Loopback port inside the sandbox serving ``CONNECT`` to allow-listed hosts."""
NOFILE_LIMIT = 4096
_SOCKET_NAME = "relay.sock"
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
_INNER = Path(__file__).with_name("_netproxy_inner.py")
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "crypto-policies",
    "gitconfig",
    "group",
    "host.conf",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "pki",
    "profile",
    "profile.d",
    "protocols",
    "services",
    "shells",
    "ssl",
    "timezone",
)
SANDBOX_ENV: frozenset[str] = frozenset(
    {
        # The shell and the userland.
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "TZ",
        "LANG", "LANGUAGE", "TERM", "COLORTERM", "NO_COLOR",
        # CA bundles a proxy-intercepted network needs.
        "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
        # Settings of the Claude Code CLI that are not ANTHROPIC_* / CLAUDE_*.
        "DISABLE_TELEMETRY", "DISABLE_ERROR_REPORTING", "DISABLE_AUTOUPDATER",
        "DISABLE_BUG_COMMAND", "DISABLE_COST_WARNINGS", "DISABLE_NON_ESSENTIAL_MODEL_CALLS",
        "MAX_THINKING_TOKENS", "MAX_MCP_OUTPUT_TOKENS", "MCP_TIMEOUT", "MCP_TOOL_TIMEOUT",
        "API_TIMEOUT_MS", "BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS",
        "BASH_MAX_OUTPUT_LENGTH", "IS_SANDBOX",
    }
)  # fmt: skip
"""Names of the daemon's environment a sandboxed CLI gets (when they are set)."""
SANDBOX_ENV_PREFIXES: tuple[str, ...] = ("LC_", "ANTHROPIC_", "CLAUDE_")
"""Prefixes of names it gets too: the locale and the model API's and the CLI's settings."""
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


# --------------------------------------------------------------------------- network plan


@dataclass(frozen=True, kw_only=True)
class SandboxNetwork:
    """What an agent may reach, and how its processes are pointed there."""

    allow: tuple[str, ...]
    """``host:port`` targets the relay lets through."""
    forward: str | None
    """``host:port`` the loopback ``API_PORT`` forwards to (an http model API)."""
    proxy: bool
    """Whether the loopback ``PROXY_PORT`` serves ``CONNECT``."""
    env: dict[str, str]
    """Environment the sandbox sets for the CLI (non-secret)."""


def sandbox_network(api_base_url: str | None, allow_hosts: Iterable[str] = ()) -> SandboxNetwork:
    """The network plan for a model API base URL (``None``: the CLI's default) and extras."""
    scheme, host, port, path = api_target(api_base_url or "https://api.anthropic.com")
    api = format_target(host, port)
    extra = [format_target(*parse_target(h)) for h in allow_hosts]
    allow = tuple(dict.fromkeys([api, *extra]))
    env: dict[str, str] = {}
    forward: str | None = None
    if scheme == "http":
        forward = api
        env["ANTHROPIC_BASE_URL"] = f"http://127.0.0.1:{API_PORT}{path}"
    elif api_base_url:
        # Unchanged (TLS end to end); api_target refused a URL carrying credentials.
        env["ANTHROPIC_BASE_URL"] = api_base_url
    proxy = scheme == "https" or bool(extra)
    if proxy:
        url = f"http://127.0.0.1:{PROXY_PORT}"
        env.update(HTTPS_PROXY=url, https_proxy=url)
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return SandboxNetwork(allow=allow, forward=forward, proxy=proxy, env=env)


# --------------------------------------------------------------------------- environment


def sandbox_environment(env: Mapping[str, str], own: Iterable[str]) -> dict[str, str]:
    """The part of ``env`` a sandboxed process may have: the allow-list and ``own`` names.

    ``own``: the agent's declared environment and secrets (and what the backend set
    for it), which it gets whatever their names.
    """
    keep = set(own)
    return {
        name: value
        for name, value in env.items()
        if name in keep or name in SANDBOX_ENV or name.startswith(SANDBOX_ENV_PREFIXES)
    }


def is_sandbox_launcher(launcher: Sequence[str]) -> bool:
    """Whether an argv prefix is a sandbox's (it runs this module's network helper)."""
    return _launcher_socket(launcher) is not None


# --------------------------------------------------------------------------- mounts


class _Mounts:
    """bwrap mount operations, emitted parents first so no mount hides a later one."""

    _RANK = {"--symlink": 0, "--tmpfs": 0, "--proc": 0, "--dev": 0, "--ro-bind": 1, "--bind": 2}

    def __init__(self) -> None:
        self._ops: dict[str, tuple[str, ...]] = {}

    def add(self, op: str, dest: str, *args: str) -> None:
        current = self._ops.get(dest)
        if current is None or self._RANK[op] >= self._RANK[current[0]]:
            self._ops[dest] = (op, *args, dest)

    def covered(self, path: str) -> bool:
        """True if ``path`` already shows the host's own file, through a same-path mount
        of it or of a parent, or lies under a link this sandbox recreates."""
        probe = Path(path)
        for parent in (probe, *probe.parents):
            op = self._ops.get(str(parent))
            if op is None:
                continue
            if op[0] == "--symlink":
                return True
            return op[0] in ("--ro-bind", "--bind") and op[1] == op[2]
        return False

    def bind_ro(self, path: str | Path) -> None:
        """Show ``path`` read-only at its own place, by its name and by its real path."""
        given = os.path.abspath(path)
        for name in dict.fromkeys([given, os.path.realpath(given)]):
            if os.path.exists(name) and not self.covered(name):
                self.add("--ro-bind", name, name)

    def argv(self) -> list[str]:
        def key(dest: str) -> tuple[int, int, str]:
            return (len(Path(dest).parts), self._RANK[self._ops[dest][0]], dest)

        out: list[str] = []
        for dest in sorted(self._ops, key=key):
            out.extend(self._ops[dest])
        return out


def _cli_dirs() -> list[str]:
    """Where the Claude Code CLI the backend will append may live."""
    dirs: list[str] = []
    found = importlib.util.find_spec("claude_agent_sdk")
    if found is not None and found.submodule_search_locations:
        dirs.extend(found.submodule_search_locations)
    override = os.environ.get("PODIUM_CLAUDE_CLI")
    if override:
        dirs.append(os.path.dirname(os.path.abspath(override)))
    return dirs


def _system_mounts(mounts: _Mounts, extra_ro: Sequence[str | Path]) -> None:
    mounts.add("--ro-bind", "/usr", "/usr")
    for top in _SYSTEM_DIRS:
        if os.path.islink(top):
            mounts.add("--symlink", top, os.readlink(top))
        elif os.path.isdir(top):
            mounts.add("--ro-bind", top, top)
    for name in _ETC:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            mounts.add("--ro-bind", path, path)
    python = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(sys.executable),
        os.path.dirname(os.path.realpath(sys.executable)),
    ]
    for path in [*python, *_cli_dirs(), str(_INNER), *map(str, extra_ro)]:
        mounts.bind_ro(path)


def sandbox_argv(
    *,
    bwrap: str,
    project: Path,
    cwd: Path,
    results_dir: Path,
    state_dir: Path,
    socket_path: Path,
    network: SandboxNetwork,
    spec: IsolationSpec,
    extra_ro: Sequence[str | Path] = (),
    config_dir: Path | None = None,
) -> list[str]:
    """The launcher: bwrap, then the network helper; the CLI argv is appended to it."""
    mounts = _Mounts()
    mounts.add("--proc", "/proc")
    mounts.add("--dev", "/dev")
    mounts.add("--tmpfs", "/tmp")
    _system_mounts(mounts, extra_ro)
    mounts.add("--ro-bind", str(project), str(project))
    mounts.add("--ro-bind", str(socket_path.parent), str(socket_path.parent))
    mounts.add("--bind", str(results_dir), str(results_dir))
    mounts.add("--bind", str(state_dir), str(state_dir))
    if config_dir is not None:
        # The user's own Claude Code configuration: the CLI writes its transcripts
        # and state there, as it would outside.
        mounts.add("--bind", str(config_dir), str(config_dir))
    env_ops: list[str] = []
    for name in _PROXY_VARS:
        if name not in network.env:
            env_ops += ["--unsetenv", name]
    sandbox_env = {"HOME": str(state_dir / "home"), "TMPDIR": "/tmp", **network.env}
    for name, value in sandbox_env.items():
        env_ops += ["--setenv", name, value]
    helper = [sys.executable, "-I", "-S", str(_INNER), "--unix", str(socket_path)]
    if network.forward is not None:
        helper += ["--forward", f"127.0.0.1:{API_PORT}={network.forward}"]
    if network.proxy:
        helper += ["--proxy", f"127.0.0.1:{PROXY_PORT}"]
    helper += ["--rlimit", f"nofile={NOFILE_LIMIT}", "--rlimit", "core=0"]
    if spec.memory_mb is not None:
        helper += ["--rlimit", f"as={int(spec.memory_mb) * 1024 * 1024}"]
    if spec.pids is not None:
        helper += ["--rlimit", f"nproc={int(spec.pids)}"]
    return [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        *mounts.argv(),
        "--remount-ro",
        "/",
        *env_ops,
        "--chdir",
        str(cwd),
        "--",
        *helper,
        "--",
    ]


# --------------------------------------------------------------------------- availability

_PROBES: dict[str, str | None] = {}


def _probe(bwrap: str) -> str | None:
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL"]
    argv += ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} could not be run: {exc}"
    if result.returncode != 0:
        words = result.stderr.strip() or f"exit code {result.returncode}"
        return f"bubblewrap cannot create namespaces here: {words}"
    return None


def sandbox_unavailable_reason(bwrap: str | None = None) -> str | None:
    """Why no sandbox can be made on this machine, or ``None`` when it can."""
    path = bwrap or shutil.which("bwrap")
    if path is None:
        return "bubblewrap (bwrap) is not installed (e.g. apt-get install bubblewrap)"
    if path not in _PROBES:
        _PROBES[path] = _probe(path)
    return _PROBES[path]


# --------------------------------------------------------------------------- the isolator


def _private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) or accept it only if it is ours and private."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise IsolationError(
            f"{path} exists and is not a private directory of ours", path=str(path)
        )
    os.chmod(path, 0o700)


def _socket_base() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.stat(runtime).st_uid == os.geteuid():
        return Path(runtime)
    return Path(tempfile.gettempdir())


def _relay_socket(state_dir: Path) -> Path:
    """A short, stable unix socket path per agent state directory."""
    digest = hashlib.sha256(f"{os.geteuid()}:{state_dir}".encode()).hexdigest()[:16]
    path = _socket_base() / f"podium-net-{digest}" / _SOCKET_NAME
    if len(str(path)) > _MAX_SOCKET_PATH:
        raise IsolationError(
            f"unix socket path {path} is too long; set TMPDIR to a shorter directory",
            path=str(path),
        )
    return path


def _launcher_socket(launcher: Sequence[str]) -> Path | None:
    items = list(launcher)
    if str(_INNER) not in items:
        return None
    tail = items[items.index(str(_INNER)) :]
    if "--unix" not in tail or tail.index("--unix") + 1 >= len(tail):
        return None
    return Path(tail[tail.index("--unix") + 1])


class SandboxIsolator:
    """Runs each agent's CLI in a bubblewrap sandbox with an allow-listed network."""

    mode = IsolationMode.SANDBOX

    def __init__(self, *, bwrap: str | None = None, extra_ro: Sequence[str | Path] = ()) -> None:
        self._bwrap = bwrap
        self.extra_ro = tuple(extra_ro)
        """More host paths shown read-only inside every sandbox (e.g. a CLI elsewhere)."""
        self._relays = RelayPool()

    def relay(self, ws: Workspace) -> NetRelay | None:
        """The running relay of a prepared workspace (for inspection and tests)."""
        path = _launcher_socket(ws.launcher)
        return None if path is None else self._relays.get(path)

    async def _bwrap_path(self) -> str:
        path = self._bwrap or shutil.which("bwrap")
        reason = await asyncio.to_thread(sandbox_unavailable_reason, path)
        if reason is not None or path is None:
            raise IsolationError(f"cannot sandbox agents: {reason}")
        return path

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
        bwrap = await self._bwrap_path()
        project = project.expanduser().resolve()
        if not project.is_dir():
            raise IsolationError(f"project {project} is not a directory", agent=agent)
        if project == Path(project.anchor):
            raise IsolationError("the file system root cannot be a sandboxed project", agent=agent)
        results_dir = results_dir.expanduser().resolve()
        state_dir = state_dir.expanduser().resolve()
        if results_dir == project:
            raise IsolationError(
                "the results directory must not be the project itself",
                agent=agent,
                path=str(results_dir),
            )
        results_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "home").mkdir(parents=True, exist_ok=True)
        if config_dir is not None:
            config_dir = config_dir.expanduser().resolve()
            config_dir.mkdir(parents=True, exist_ok=True)
        network = sandbox_network(api_base_url, spec.allow_hosts)
        socket_path = _relay_socket(state_dir)
        launcher = sandbox_argv(
            bwrap=bwrap,
            project=project,
            cwd=project,
            results_dir=results_dir,
            state_dir=state_dir,
            socket_path=socket_path,
            network=network,
            spec=spec,
            extra_ro=self.extra_ro,
            config_dir=config_dir,
        )
        await self._relays.ensure(
            socket_path, network.allow, before_start=lambda: _private_dir(socket_path.parent)
        )
        return Workspace(
            mode=self.mode,
            cwd=project,
            project=project,
            results_dir=results_dir,
            launcher=tuple(launcher),
            env={
                **network.env,
                # HOME inside is the state dir's: name the configuration outright.
                **({"CLAUDE_CONFIG_DIR": str(config_dir)} if config_dir is not None else {}),
            },
        )

    async def finish_task(self, ws: Workspace, *, message: str) -> str | None:
        return None

    async def release(self, ws: Workspace, *, force: bool = False) -> None:
        """Stop the workspace's relay; the results and state directories stay."""
        path = _launcher_socket(ws.launcher)
        if path is not None:
            await self._relays.stop(path)


ISOLATOR = SandboxIsolator()
register_isolator(ISOLATOR)
