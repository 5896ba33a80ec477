"""The isolation interface: one spec, one workspace record, one isolator protocol, four modes.

An *isolator* prepares the place an agent works in (:class:`Workspace`) from what was
configured (:class:`IsolationSpec`), commits its work at the end of each task
(:meth:`Isolator.finish_task`) and tears the place down again (:meth:`Isolator.release`).

Modes:

* ``shared``: the project directory as is; no launcher, no copy.
* ``worktree``: a git worktree on its own branch per agent.
* ``sandbox``: a bubblewrap sandbox (helper module ``_sandbox``).
* ``container``: a docker/podman container (helper module ``_container``).

Both records round-trip through JSON (``to_dict`` / ``from_dict``) because they are
stored in ``AgentRecord.options`` (``isolation``, ``workspace``). Neither ever holds a secret.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from podium._errors import PodiumError, UsageError

__all__ = [
    "IsolationError",
    "IsolationMode",
    "IsolationSpec",
    "Isolator",
    "MergeConflict",
    "Workspace",
    "isolator_for",
    "register_isolator",
]


class IsolationMode(enum.StrEnum):
    """How far an agent is kept from the project and from the machine."""

    SHARED = "shared"
    WORKTREE = "worktree"
    SANDBOX = "sandbox"
    CONTAINER = "container"


class IsolationError(UsageError):
    """An isolated workspace could not be prepared, committed, merged or released."""

    code = "isolation_error"


class MergeConflict(PodiumError):
    """Merging an agent's branch conflicted; the merge was aborted and nothing changed.

    ``context["files"]`` lists the conflicting paths. Not a usage error: the
    request was valid, the two lines of work disagree.
    """

    code = "merge_conflict"


def _strs(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise IsolationError(f"isolation {what} must be a list of strings", field=what)
    if not all(isinstance(v, str) for v in value):
        raise IsolationError(f"isolation {what} must be a list of strings", field=what)
    return tuple(value)


def _mode(value: Any) -> IsolationMode:
    try:
        return IsolationMode(str(value))
    except ValueError:
        known = ", ".join(m.value for m in IsolationMode)
        raise IsolationError(
            f"unknown isolation mode {value!r} (known: {known})", mode=str(value)
        ) from None


@dataclass(frozen=True, kw_only=True)
class IsolationSpec:
    """What was configured for an agent (profile / team worker / run)."""

    mode: IsolationMode = IsolationMode.SHARED
    base: str | None = None
    """worktree: the ref the agent's branch starts from; ``None`` = the project's HEAD."""
    copy_files: tuple[str, ...] = (".env",)
    """worktree: untracked files (relative to the project) copied in when present."""
    allow_hosts: tuple[str, ...] = ()
    """sandbox/container: extra ``host:port`` reachable besides the model API."""
    memory_mb: int | None = 4096
    """sandbox: address space per process; container: ``--memory`` and ``--memory-swap``
    (no swap). The seed's worker container: 4g. ``None``: no limit."""
    cpus: float | None = 2.0
    """container: ``--cpus`` (the seed's 2.0); a sandbox has no CPU limit."""
    pids: int | None = 512
    """sandbox: ``RLIMIT_NPROC``; container: ``--pids-limit`` (not in the seed: a fork
    bomb would otherwise take the host's process table)."""
    image: str = "podium-worker:latest"
    """container: the image the agent runs in."""
    engine: str | None = None
    """container: ``docker`` or ``podman``; ``None`` = the first found on PATH."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "base": self.base,
            "copy_files": list(self.copy_files),
            "allow_hosts": list(self.allow_hosts),
            "memory_mb": self.memory_mb,
            "cpus": self.cpus,
            "pids": self.pids,
            "image": self.image,
            "engine": self.engine,
        }

    def to_setting(self) -> dict[str, Any]:
        """The table a config file or caller would write: the mode and what differs
        from its defaults (read back by the settings reader, which refuses settings
        a mode does not use)."""
        defaults = IsolationSpec(mode=self.mode).to_dict()
        return {k: v for k, v in self.to_dict().items() if k == "mode" or v != defaults[k]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsolationSpec:
        """Build from JSON; missing keys keep their defaults, unknown keys are refused."""
        known = {
            "mode", "base", "copy_files", "allow_hosts",
            "memory_mb", "cpus", "pids", "image", "engine",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise IsolationError(
                f"unknown isolation setting(s): {', '.join(unknown)}", fields=unknown
            )
        kwargs: dict[str, Any] = {}
        if "mode" in data:
            kwargs["mode"] = _mode(data["mode"])
        if data.get("base") is not None:
            kwargs["base"] = str(data["base"])
        if "copy_files" in data:
            kwargs["copy_files"] = _strs(data["copy_files"], "copy_files")
        if "allow_hosts" in data:
            kwargs["allow_hosts"] = _strs(data["allow_hosts"], "allow_hosts")
        for key, kind in (("memory_mb", int), ("pids", int), ("cpus", float)):
            if key in data:
                value = data[key]
                if value is not None:
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise IsolationError(f"isolation {key} must be a number", field=key)
                    value = kind(value)
                kwargs[key] = value
        if data.get("image") is not None:
            kwargs["image"] = str(data["image"])
        if data.get("engine") is not None:
            kwargs["engine"] = str(data["engine"])
        return cls(**kwargs)

    @classmethod
    def coerce(
        cls, value: IsolationSpec | IsolationMode | str | dict[str, Any] | None
    ) -> IsolationSpec:
        """A spec from whatever a config file or caller gave: a mode name, a dict, or a spec."""
        if value is None:
            return cls()
        if isinstance(value, IsolationSpec):
            return value
        if isinstance(value, str):
            return cls(mode=_mode(value))
        if isinstance(value, dict):
            return cls.from_dict(value)
        raise IsolationError(f"cannot read an isolation setting from {type(value).__name__}")


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """The prepared place an agent runs in."""

    mode: IsolationMode
    cwd: Path
    """Where the agent works: its worktree, or the project itself."""
    project: Path
    """The original project directory."""
    results_dir: Path
    """This agent's writable results directory."""
    launcher: tuple[str, ...] = ()
    """argv prefix the CLI argv is appended to (a sandbox or container)."""
    env: dict[str, str] = field(default_factory=dict)
    """Non-secret env for the agent's processes ."""
    branch: str | None = None
    """worktree: the agent's branch."""
    base_commit: str | None = None
    """worktree: the commit the branch started from."""
    copied_files: tuple[str, ...] = ()
    """worktree: the untracked files copied in from the project (never committed)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "cwd": str(self.cwd),
            "project": str(self.project),
            "results_dir": str(self.results_dir),
            "launcher": list(self.launcher),
            "env": dict(self.env),
            "branch": self.branch,
            "base_commit": self.base_commit,
            "copied_files": list(self.copied_files),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workspace:
        env = data.get("env") or {}
        if not isinstance(env, dict):
            raise IsolationError("workspace env must be an object")
        return cls(
            mode=_mode(data.get("mode", IsolationMode.SHARED.value)),
            cwd=Path(str(data["cwd"])),
            project=Path(str(data["project"])),
            results_dir=Path(str(data["results_dir"])),
            launcher=_strs(data.get("launcher"), "launcher"),
            env={str(k): str(v) for k, v in env.items()},
            branch=None if data.get("branch") is None else str(data["branch"]),
            base_commit=None if data.get("base_commit") is None else str(data["base_commit"]),
            copied_files=_strs(data.get("copied_files"), "copied_files"),
        )


@runtime_checkable
class Isolator(Protocol):
    """Prepares, commits and releases one mode's workspaces."""

    mode: IsolationMode

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
        """Make the agent's workspace ready; raise :class:`IsolationError` when it cannot.

        ``config_dir``: a configuration directory outside ``state_dir`` that the
        agent's process reads and writes (the user's own Claude Code configuration),
        which a sandbox must show it and a container cannot."""
        ...

    async def finish_task(self, ws: Workspace, *, message: str) -> str | None:
        """End-of-task hook. worktree: commit everything, return the sha (``None`` if unchanged)."""
        ...

    async def release(self, ws: Workspace, *, force: bool = False) -> None:
        """Tear the workspace down; worktree refuses to lose unmerged work unless ``force``."""
        ...


# Where each mode's isolator lives. Modules are imported on first use so that a
# mode's optional machinery (bubblewrap, a container engine) costs nothing unused.
_MODULES: dict[IsolationMode, str] = {
    IsolationMode.SHARED: "podium.isolation._shared",
    IsolationMode.WORKTREE: "podium.isolation._worktree",
    IsolationMode.SANDBOX: "podium.isolation._sandbox",
    IsolationMode.CONTAINER: "podium.isolation._container",
}
_REGISTRY: dict[IsolationMode, Isolator] = {}


def register_isolator(isolator: Isolator) -> None:
    """Make ``isolator`` the one :func:`isolator_for` returns for its mode."""
    _REGISTRY[isolator.mode] = isolator


def isolator_for(mode: IsolationMode | str) -> Isolator:
    """The isolator for ``mode``.

    Each mode module either calls :func:`register_isolator` on import or defines a
    module-level ``ISOLATOR`` instance.
    """
    mode = _mode(mode)
    found = _REGISTRY.get(mode)
    if found is None:
        try:
            module = importlib.import_module(_MODULES[mode])
        except ModuleNotFoundError as exc:
            if exc.name != _MODULES[mode]:
                raise
            raise IsolationError(
                f"isolation mode {mode.value!r} is not available in this build", mode=mode.value
            ) from None
        found = _REGISTRY.get(mode) or getattr(module, "ISOLATOR", None)
        if found is None:
            raise IsolationError(
                f"isolation mode {mode.value!r} registered no isolator", mode=mode.value
            )
    _REGISTRY[mode] = found
    return found
