"""``podium doctor``: can podium run agents here, and if not, what to do about it.

One pass over what podium depends on: the Claude Code CLI and who it is logged
in as, for each configuration mode (``user``: the user's own Claude Code
configuration; ``isolated``: a fresh one that only the environment can log in,
see ``backends/claude_code/_config``), the daemon's model API environment
against this one's, git, bubblewrap, redis, a container engine, and room under
the state directory; optionally (``api=True``) one cheap call to the model API.

:func:`run_doctor` returns a frozen :class:`DoctorReport` (see
``_doctor_report``): the CLI prints it; any other front can serve
:meth:`DoctorReport.to_dict` as it is. No credential's value is in it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ._apienv import DEFAULT_API_BASE_URL, ApiEnvironment
from ._doctor_probes import (
    probe_api,
    probe_auth,
    probe_bubblewrap,
    probe_claude,
    probe_container,
    probe_daemon,
    probe_home,
    probe_program,
)
from ._doctor_report import (
    ApiCheck,
    ClaudeCheck,
    DaemonCheck,
    DoctorReport,
    Finding,
    HomeCheck,
    Mark,
    ModeAuth,
    ProgramCheck,
)

__all__ = [
    "LOGIN_HINT",
    "LOW_SPACE_BYTES",
    "MIN_SPACE_BYTES",
    "ApiCheck",
    "ClaudeCheck",
    "DaemonCheck",
    "DoctorReport",
    "Finding",
    "HomeCheck",
    "Mark",
    "ModeAuth",
    "ProgramCheck",
    "run_doctor",
]

LOW_SPACE_BYTES = 1 << 30
"""Below this much free space under the state directory: a warning."""
MIN_SPACE_BYTES = 64 << 20
"""Below this: a failure (transcripts and the store could not be written)."""

LOGIN_HINT = (
    "run `claude /login` (a Pro/Max subscription), or `claude setup-token` and export "
    "CLAUDE_CODE_OAUTH_TOKEN, or export ANTHROPIC_API_KEY"
)
_ENV_LOGIN_HINT = (
    "isolated configurations (containers, --config-dir isolated) log in only from the "
    "environment: `claude setup-token` and export CLAUDE_CODE_OAUTH_TOKEN, or export "
    "ANTHROPIC_API_KEY"
)
# Variables the CLI sets for its own children: inherited, a nested CLI would think
# it runs inside another session.
_INHERITED_MARKERS = ("CLAUDECODE", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_CHILD_SESSION")


# --------------------------------------------------------------------------- findings


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _claude_finding(c: ClaudeCheck) -> Finding:
    where = f"{c.source}: {c.path}" if c.path else c.source
    if not c.found:
        return Finding(
            check="claude",
            mark=Mark.FAIL,
            detail=f"not found ({where})",
            hint="reinstall podium's claude-agent-sdk dependency, or set "
            "PODIUM_CLAUDE_CLI to a Claude Code binary",
        )
    if c.problem is not None:
        return Finding(
            check="claude",
            mark=Mark.FAIL,
            detail=c.problem,
            hint=f"check that {c.path} is a working Claude Code binary, or set "
            "PODIUM_CLAUDE_CLI to one",
        )
    return Finding(check="claude", mark=Mark.OK, detail=f"{c.version} ({where})")


def _auth_findings(user: ModeAuth, isolated: ModeAuth) -> list[Finding]:
    any_ok = user.ok or isolated.ok
    out = []
    modes = (
        ("user", user, user.config_dir, LOGIN_HINT),
        (
            "isolated",
            isolated,
            "a fresh configuration",
            # A subscriber's own login is enough for every agent but these.
            _ENV_LOGIN_HINT + (" (needed only for such agents)" if user.ok else ""),
        ),
    )
    for mode, auth, where, hint in modes:
        if auth.ok:
            detail = f"{auth.billing} ({auth.method}; {where})"
            out.append(Finding(check=f"auth {mode}", mark=Mark.OK, detail=detail))
            continue
        detail = auth.problem or f"nobody is logged in ({where})"
        mark = Mark.WARN if any_ok else Mark.FAIL
        out.append(Finding(check=f"auth {mode}", mark=mark, detail=detail, hint=hint))
    return out


def _api_finding(api: ApiCheck) -> Finding:
    if api.status is None:
        return Finding(
            check="api",
            mark=Mark.FAIL,
            detail=f"{api.url}: {api.problem}",
            hint="check ANTHROPIC_BASE_URL, the proxy variables (HTTPS_PROXY) and the network",
        )
    detail = f"{api.url}: HTTP {api.status} (credential: {api.credential})"
    if api.status in (401, 403) and api.credential != "none":
        return Finding(
            check="api",
            mark=Mark.FAIL,
            detail=detail,
            hint=f"the API refused {api.credential}: check its value",
        )
    if api.status >= 500 or (api.status >= 400 and api.status not in (401, 403)):
        return Finding(
            check="api",
            mark=Mark.WARN,
            detail=detail,
            hint="the API answered with an error; try again, or check ANTHROPIC_BASE_URL",
        )
    # 401 with no key sent: reachable; a login is checked by the CLI, not here.
    return Finding(check="api", mark=Mark.OK, detail=detail)


def _daemon_finding(d: DaemonCheck) -> Finding:
    if not d.running:
        return Finding(
            check="daemon", mark=Mark.OK, detail="not running (the first podium command starts it)"
        )
    where = f"pid {d.pid}, {d.url}; its agents use {d.credential_source or '?'} at " + (
        d.api_base_url or DEFAULT_API_BASE_URL
    )
    if d.environment_matches is False:
        return Finding(
            check="daemon",
            mark=Mark.WARN,
            detail=f"{where}, which differs from this shell's",
            hint="restart it to use this shell's: podium down && podium up",
        )
    same = "the same as this shell's" if d.environment_matches else "not compared"
    return Finding(check="daemon", mark=Mark.OK, detail=f"{where} ({same})")


def _program_finding(check: str, p: ProgramCheck, needed_for: str, install: str) -> Finding:
    if p.usable:
        return Finding(check=check, mark=Mark.OK, detail=f"{p.version} ({p.path})")
    detail = p.problem if p.found and p.problem else "not found"
    return Finding(
        check=check, mark=Mark.WARN, detail=detail, hint=f"{install} (needed only for {needed_for})"
    )


def _home_finding(h: HomeCheck) -> Finding:
    hint = "point PODIUM_HOME at a writable directory with room"
    if not h.writable:
        return Finding(check="home", mark=Mark.FAIL, detail=f"{h.path}: {h.problem}", hint=hint)
    if h.free_bytes is None:
        return Finding(check="home", mark=Mark.WARN, detail=f"{h.path}: free space unknown")
    free = f"{h.path}: {_gib(h.free_bytes)} free"
    if h.free_bytes < MIN_SPACE_BYTES:
        return Finding(check="home", mark=Mark.FAIL, detail=free, hint=hint)
    if h.free_bytes < LOW_SPACE_BYTES:
        return Finding(
            check="home",
            mark=Mark.WARN,
            detail=f"{free} (low)",
            hint="free some space: transcripts and the store grow there",
        )
    return Finding(check="home", mark=Mark.OK, detail=free)


# --------------------------------------------------------------------------- the pass


async def run_doctor(
    home: Path, env: Mapping[str, str] | None = None, *, api: bool = False
) -> DoctorReport:
    """Check everything for the state directory ``home`` and the environment ``env``
    (default: this process's). Never raises for what it finds: it reports it."""
    base = dict(os.environ if env is None else env)
    clean = {k: v for k, v in base.items() if not k.startswith(_INHERITED_MARKERS)}
    claude = await probe_claude(clean)
    cli = claude.path if claude.usable else None
    with tempfile.TemporaryDirectory(prefix="podium-doctor-") as scratch:
        (auth_user, auth_isolated), git, bubblewrap, redis, container, probe = await asyncio.gather(
            probe_auth(cli, clean, Path(scratch)),
            probe_program("git", clean, "--version"),
            probe_bubblewrap(clean),
            probe_program("redis-server", clean, "--version"),
            probe_container(clean),
            probe_api(clean) if api else _none(),
        )
    daemon = probe_daemon(home, clean)
    shell = ApiEnvironment.of(clean, "")
    state = probe_home(home)
    findings = [
        _claude_finding(claude),
        *_auth_findings(auth_user, auth_isolated),
        *([_api_finding(probe)] if probe is not None else []),
        _daemon_finding(daemon),
        _home_finding(state),
        _program_finding("git", git, "worktree isolation and runs", "install git"),
        _program_finding(
            "bubblewrap",
            bubblewrap,
            "sandbox isolation",
            "install bubblewrap (bwrap) and allow user namespaces",
        ),
        _program_finding("redis", redis, "distributed mode", "install redis-server"),
        _program_finding("container", container, "container isolation", "install docker or podman"),
    ]
    return DoctorReport(
        claude=claude,
        auth_user=auth_user,
        auth_isolated=auth_isolated,
        credential_source=shell.credential_source,
        api_base_url=shell.api_base_url or DEFAULT_API_BASE_URL,
        daemon=daemon,
        git=git,
        bubblewrap=bubblewrap,
        redis=redis,
        container=container,
        home=state,
        api=probe,
        findings=tuple(findings),
    )


async def _none() -> None:
    return None
