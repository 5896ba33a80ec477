"""What ``podium doctor`` runs and asks: each probe returns a record, never raises for
what it finds. Subprocesses get argv lists and a timeout; no credential is read
into podium except the one :func:`probe_api` sends (and never reports)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._apienv import DEFAULT_API_BASE_URL, ApiEnvironment, same_environment
from ._doctor_report import ApiCheck, ClaudeCheck, DaemonCheck, HomeCheck, ModeAuth, ProgramCheck
from ._errors import PodiumError

__all__ = [
    "probe_api",
    "probe_auth",
    "probe_bubblewrap",
    "probe_claude",
    "probe_container",
    "probe_daemon",
    "probe_home",
    "probe_program",
]

_VERSION_TIMEOUT = 15.0
_API_TIMEOUT = 10.0
_ENGINES = ("docker", "podman")

# --------------------------------------------------------------------------- programs


async def _first_line(argv: Sequence[str], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(first line of its output, None)`` or ``(None, why it gave none)``."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return None, f"cannot run {argv[0]}: {exc.strerror or exc}"
    try:
        out, err = await asyncio.wait_for(process.communicate(), _VERSION_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None, f"`{' '.join(argv)}` did not answer in {_VERSION_TIMEOUT:.0f} s"
    text = (out or err).decode(errors="replace").strip()
    if process.returncode != 0:
        return None, f"`{' '.join(argv)}` failed (exit {process.returncode}): {text[-200:]}"
    return (text.splitlines() or [""])[0], None


async def probe_program(name: str, env: Mapping[str, str], *version_args: str) -> ProgramCheck:
    path = shutil.which(name, path=env.get("PATH"))
    if path is None:
        return ProgramCheck(found=False)
    version, problem = await _first_line([path, *version_args], env)
    if version is not None:
        version = version.split(" sha=")[0]  # redis-server goes on with build details
    return ProgramCheck(found=True, path=path, version=version, problem=problem)


def _claude_path(env: Mapping[str, str]) -> tuple[Path | None, str]:
    override = env.get("PODIUM_CLAUDE_CLI")
    if override:
        return Path(override), "PODIUM_CLAUDE_CLI"
    try:
        from .backends.claude_code import bundled_cli_path
    except ImportError:
        return None, "bundled"
    return bundled_cli_path(), "bundled"


async def probe_claude(env: Mapping[str, str]) -> ClaudeCheck:
    path, source = _claude_path(env)
    if path is None or not path.is_file():
        return ClaudeCheck(found=False, path=None if path is None else str(path), source=source)
    version, problem = await _first_line([str(path), "--version"], env)
    return ClaudeCheck(found=True, path=str(path), version=version, problem=problem, source=source)


async def probe_bubblewrap(env: Mapping[str, str]) -> ProgramCheck:
    found = await probe_program("bwrap", env, "--version")
    if not found.usable or found.path is None:
        return found
    from .isolation._sandbox import sandbox_unavailable_reason

    # It tries a throw-away namespace: only that shows whether this kernel allows them.
    reason = await asyncio.to_thread(sandbox_unavailable_reason, found.path)
    return ProgramCheck(found=True, path=found.path, version=found.version, problem=reason)


async def probe_container(env: Mapping[str, str]) -> ProgramCheck:
    for name in _ENGINES:
        check = await probe_program(name, env, "--version")
        if check.found:
            return check
    return ProgramCheck(found=False)


# --------------------------------------------------------------------------- auth


async def probe_auth(
    cli: str | None, env: Mapping[str, str], scratch: Path
) -> tuple[ModeAuth, ModeAuth]:
    from ._options import AgentOptions
    from .backends.claude_code._config import auth_status, config_env, config_root

    user = AgentOptions()
    isolated = AgentOptions(config_dir="isolated")
    # An isolated agent's config is a fresh directory of its own: this one is as empty.
    state = scratch / "isolated-agent"
    state.mkdir()

    async def one(options: AgentOptions) -> ModeAuth:
        root = str(config_root(options, state, env))
        if cli is None:
            return ModeAuth(
                ok=False,
                method="none",
                billing="none",
                config_dir=root,
                problem="no Claude Code CLI to ask",
            )
        own = {**env, **config_env(options, state, env)}
        try:
            status = await auth_status(cli, own, cwd=scratch)
        except PodiumError as exc:
            return ModeAuth(
                ok=False, method="none", billing="none", config_dir=root, problem=exc.message
            )
        return ModeAuth(
            ok=status.ok,
            method=status.method,
            billing=status.billing,
            config_dir=status.config_dir or root,
            subscription=status.subscription,
        )

    found = await asyncio.gather(one(user), one(isolated))
    return found[0], found[1]


# --------------------------------------------------------------------------- API, daemon, home


async def probe_api(env: Mapping[str, str]) -> ApiCheck:
    import httpx

    described = ApiEnvironment.of(env, "")
    base = env.get("ANTHROPIC_BASE_URL") or DEFAULT_API_BASE_URL
    shown = described.api_base_url or DEFAULT_API_BASE_URL
    headers = {"anthropic-version": "2023-06-01"}
    source = described.credential_source
    value = env.get(source, "") if source != "none" else ""
    if source == "ANTHROPIC_API_KEY":
        headers["x-api-key"] = value
    elif source != "none":
        headers["authorization"] = f"Bearer {value}"
        if source == "CLAUDE_CODE_OAUTH_TOKEN":
            headers["anthropic-beta"] = "oauth-2025-04-20"  # how the CLI sends such a token
    try:
        async with httpx.AsyncClient(timeout=_API_TIMEOUT) as client:
            response = await client.get(
                base.rstrip("/") + "/v1/models", params={"limit": "1"}, headers=headers
            )
    except httpx.TransportError as exc:
        # A connection's error text names the host, not a header; the URL's user:password
        # (if any) is taken out all the same.
        text = str(exc).replace(base, shown)
        return ApiCheck(
            url=shown, credential=source, problem=f"no answer: {type(exc).__name__}: {text}"[:300]
        )
    except Exception as exc:  # a bad URL or header value: its text may quote the value
        return ApiCheck(
            url=shown, credential=source, problem=f"cannot call it: {type(exc).__name__}"
        )
    return ApiCheck(url=shown, credential=source, status=response.status_code)


def probe_daemon(home: Path, env: Mapping[str, str]) -> DaemonCheck:
    from .server._daemon import running_daemon
    from .server._state import read_token

    info = running_daemon(home)
    if info is None:
        return DaemonCheck(running=False)
    return DaemonCheck(
        running=True,
        pid=info.pid,
        url=info.url,
        credential_source=info.credential_source,
        api_base_url=info.api_base_url,
        environment_matches=same_environment(env, read_token(home), info.env_digest),
    )


def probe_home(home: Path) -> HomeCheck:
    existing = home
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free: int | None
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        free = None
    if home.exists():
        if not home.is_dir():
            return HomeCheck(
                path=str(home),
                exists=True,
                writable=False,
                free_bytes=free,
                problem="is not a directory",
            )
        try:
            # A real write: permissions alone miss a read-only mount or a full quota.
            with tempfile.TemporaryFile(dir=home):
                pass
        except OSError as exc:
            return HomeCheck(
                path=str(home),
                exists=True,
                writable=False,
                free_bytes=free,
                problem=f"cannot write there: {exc.strerror or exc}",
            )
        return HomeCheck(path=str(home), exists=True, writable=True, free_bytes=free)
    if not os.access(existing, os.W_OK | os.X_OK):
        return HomeCheck(
            path=str(home),
            exists=False,
            writable=False,
            free_bytes=free,
            problem=f"does not exist and {existing} is not writable",
        )
    return HomeCheck(path=str(home), exists=False, writable=True, free_bytes=free)
