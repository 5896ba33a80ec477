"""An ``isolation`` setting as written in a config file: a mode name or a table of settings.

Team files (a worker's table, ``[defaults]``) and profile frontmatter accept either::

    isolation = "sandbox"
    isolation = { mode = "container", memory_mb = 8192, image = "ghcr.io/me/worker:1" }

A table names its ``mode`` and only settings that mode uses (:data:`SETTING_MODES`),
so a limit that would be silently ignored (``cpus`` in a sandbox, which has no CPU
limit) is refused at load time instead. Every problem is an
:class:`IsolationSettingError` that names the offending key, so the loader can say
``podium.toml: workers.alice.isolation.memory_mb: must be a number ...``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from pathlib import PurePosixPath
from typing import Any

from ._container import _IMAGE, ENGINES
from ._netproxy import parse_target
from ._protocol import IsolationError, IsolationMode, IsolationSpec

__all__ = [
    "SETTING_MODES",
    "IsolationSettingError",
    "check_applies",
    "read_isolation_setting",
]

_ALL = frozenset(IsolationMode)
_CONTAINED = frozenset({IsolationMode.SANDBOX, IsolationMode.CONTAINER})

SETTING_MODES: Mapping[str, frozenset[IsolationMode]] = {
    "mode": _ALL,
    "base": frozenset({IsolationMode.WORKTREE}),
    "copy_files": frozenset({IsolationMode.WORKTREE}),
    "allow_hosts": _CONTAINED,
    "memory_mb": _CONTAINED,
    "pids": _CONTAINED,
    # bubblewrap has no CPU limit (no rlimit for it); only a container enforces one.
    "cpus": frozenset({IsolationMode.CONTAINER}),
    "image": frozenset({IsolationMode.CONTAINER}),
    "engine": frozenset({IsolationMode.CONTAINER}),
}
"""Which modes use each :class:`IsolationSpec` setting."""

_MODES = ", ".join(m.value for m in IsolationMode)


class IsolationSettingError(IsolationError):
    """A config file's isolation setting is wrong.

    ``context["setting"]``: the key inside the table (``None``: the value as a whole);
    ``context["problem"]``: what is wrong, phrased to follow ``<file>: <key>: ``.
    """

    def __init__(self, setting: str | None, problem: str) -> None:
        where = "isolation" if setting is None else f"isolation.{setting}"
        super().__init__(f"{where}: {problem}", setting=setting, problem=problem)
        self.setting = setting
        self.problem = problem


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mode(value: Any, setting: str | None) -> IsolationMode:
    if isinstance(value, str):
        try:
            return IsolationMode(value)
        except ValueError:
            pass
    raise IsolationSettingError(setting, f"must be one of {_MODES}, got {_show(value)}")


def check_applies(mode: IsolationMode, given: Iterable[str]) -> None:
    """Refuse a setting the mode does not use (``given``: the keys that were set)."""
    for key in given:
        modes = SETTING_MODES.get(key, _ALL)
        if mode not in modes:
            users = " and ".join(m.value for m in IsolationMode if m in modes)
            raise IsolationSettingError(
                key, f"does not apply to isolation mode {mode.value!r} (only to {users})"
            )


_LIMITS = {
    "memory_mb": "a number: whole MiB greater than 0",
    "pids": "a number: a whole count of processes greater than 0",
    "cpus": "a number of CPUs greater than 0",
}


def _limit(key: str, value: Any) -> None:
    if value is None:  # YAML null: no limit
        return
    kinds = (int, float) if key == "cpus" else (int,)
    wrong = isinstance(value, bool) or not isinstance(value, kinds)
    if wrong or not math.isfinite(value) or not value > 0:
        raise IsolationSettingError(key, f"must be {_LIMITS[key]}, got {_show(value)}")


def _strings(key: str, value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise IsolationSettingError(key, f"must be a list of {what}, got {_show(value)}")
    return value


def _base(key: str, value: Any) -> None:
    bad = not isinstance(value, str) or not value or value.startswith("-")
    if bad or any(c.isspace() or c == "\0" for c in value):
        raise IsolationSettingError(key, f"must be a git branch, tag or commit, got {_show(value)}")


def _copy_files(key: str, value: Any) -> None:
    for name in _strings(key, value, "paths inside the project"):
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise IsolationSettingError(
                key, f"entry {name!r} must be a relative path inside the project"
            )


def _allow_hosts(key: str, value: Any) -> None:
    for target in _strings(key, value, "host:port strings"):
        try:
            parse_target(target)
        except IsolationError as exc:
            raise IsolationSettingError(key, exc.message) from None


def _image(key: str, value: Any) -> None:
    if not isinstance(value, str) or not _IMAGE.fullmatch(value):
        raise IsolationSettingError(
            key,
            "must be a container image reference such as 'podium-worker:latest', "
            f"got {_show(value)}",
        )


def _engine(key: str, value: Any) -> None:
    if value not in ENGINES:
        raise IsolationSettingError(key, f"must be one of {', '.join(ENGINES)}, got {_show(value)}")


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "memory_mb": _limit,
    "pids": _limit,
    "cpus": _limit,
    "base": _base,
    "copy_files": _copy_files,
    "allow_hosts": _allow_hosts,
    "image": _image,
    "engine": _engine,
}


def _table(data: Mapping[Any, Any]) -> IsolationSpec:
    known = [f.name for f in fields(IsolationSpec)]
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise IsolationSettingError(
                str(key), f"is not a recognised isolation setting{hint} (known: {', '.join(known)})"
            )
    if "mode" not in data:
        raise IsolationSettingError("mode", f"is required in an isolation table (one of {_MODES})")
    mode = _mode(data["mode"], "mode")
    check_applies(mode, [str(k) for k in data if k != "mode"])
    for key, value in data.items():
        if key in _CHECKS:
            _CHECKS[key](key, value)
    return IsolationSpec.from_dict(dict(data))


def read_isolation_setting(value: Any) -> str | IsolationSpec:
    """A validated setting: a mode name stays a string, a table becomes an :class:`IsolationSpec`.

    Settings a table leaves out keep :class:`IsolationSpec`'s defaults.
    """
    if isinstance(value, str):
        return _mode(value, None).value
    if isinstance(value, Mapping):
        return _table(value)
    raise IsolationSettingError(
        None, f"must be a mode name ({_MODES}) or a table of isolation settings, got {_show(value)}"
    )
