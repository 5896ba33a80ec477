"""What ``podium doctor`` found: typed, frozen records any front can serve as they are.

No record holds a credential's value: only the name of the variable one came
from, and what ``claude auth status`` says about a login.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApiCheck",
    "ClaudeCheck",
    "DaemonCheck",
    "DoctorReport",
    "Finding",
    "HomeCheck",
    "Mark",
    "ModeAuth",
    "ProgramCheck",
]


class Mark(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    """Something optional is missing or worth a look; the exit code does not change."""
    FAIL = "fail"
    """A basic is missing: podium cannot run agents here as things stand."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One line of the report: what was checked, how it went, and what to do."""

    check: str
    mark: Mark
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "mark": self.mark.value}


@dataclass(frozen=True, kw_only=True)
class ProgramCheck:
    """A program podium runs: found (on PATH or where given), its version, usable or why
    not."""

    found: bool
    path: str | None = None
    version: str | None = None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.found and self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "usable": self.usable}


@dataclass(frozen=True, kw_only=True)
class ClaudeCheck(ProgramCheck):
    source: str = "bundled"
    """``bundled`` (the claude-agent-sdk wheel's CLI) or ``PODIUM_CLAUDE_CLI``."""


@dataclass(frozen=True, kw_only=True)
class ModeAuth:
    """``claude auth status`` for one configuration mode (``user`` or ``isolated``)."""

    ok: bool
    method: str
    """``claude.ai`` (a login), ``oauth_token`` (setup-token), ``api_key``, ``none``, ..."""
    billing: str
    """``api-key``, ``subscription max (Agent SDK credit)``, ``none``, ..."""
    config_dir: str
    subscription: str | None = None
    problem: str | None = None
    """Why the CLI could not be asked, when it could not."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class ApiCheck:
    """One ``GET /v1/models`` with this environment's credential (named, never shown)."""

    url: str
    credential: str
    """The variable whose value was sent, or ``none``."""
    status: int | None = None
    problem: str | None = None

    @property
    def reachable(self) -> bool:
        return self.status is not None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "reachable": self.reachable}


@dataclass(frozen=True, kw_only=True)
class DaemonCheck:
    running: bool
    pid: int | None = None
    url: str | None = None
    credential_source: str | None = None
    api_base_url: str | None = None
    environment_matches: bool | None = None
    """Whether its agents' model API environment is this one's; ``None``: unknown."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class HomeCheck:
    """The state directory (``PODIUM_HOME``): takes writes, and has room."""

    path: str
    exists: bool
    writable: bool
    free_bytes: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class DoctorReport:
    claude: ClaudeCheck
    auth_user: ModeAuth
    auth_isolated: ModeAuth
    credential_source: str
    """The credential variable this environment's CLIs would use (its name), or ``none``."""
    api_base_url: str
    """The model API they would call (without any user:password)."""
    daemon: DaemonCheck
    git: ProgramCheck
    bubblewrap: ProgramCheck
    redis: ProgramCheck
    container: ProgramCheck
    home: HomeCheck
    api: ApiCheck | None = None
    """Only when asked for: it costs a network call."""
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """The basics hold: the CLI runs, someone is logged in, the state directory takes
        writes and has room (and the API answered, when it was asked)."""
        return all(f.mark is not Mark.FAIL for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "claude": self.claude.to_dict(),
            "auth": {"user": self.auth_user.to_dict(), "isolated": self.auth_isolated.to_dict()},
            "environment": {
                "credential_source": self.credential_source,
                "api_base_url": self.api_base_url,
            },
            "api": None if self.api is None else self.api.to_dict(),
            "daemon": self.daemon.to_dict(),
            "git": self.git.to_dict(),
            "bubblewrap": self.bubblewrap.to_dict(),
            "redis": self.redis.to_dict(),
            "container": self.container.to_dict(),
            "home": self.home.to_dict(),
            "checks": [f.to_dict() for f in self.findings],
        }
