"""The team file, ``podium.toml``: who the orchestrator and workers are, and the limits.

Loading is all-or-nothing: every section is validated and every profile
loaded before a :class:`Team` is built, so a caller never holds a team with a
worker missing. Errors name the file and the dotted key, e.g.
``podium.toml: workers.marie: profile file .claude/DANCE.md does not exist``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .._backend_info import backend_info
from .._errors import InvalidModel, InvalidName, InvalidOptions, UsageError
from .._names import check_model, check_name
from .._option_values import CONFIG_MODES, read_config_dir
from .._paths import inside
from ..isolation import IsolationSpec
from ..isolation._settings import IsolationSettingError, read_isolation_setting
from ._profiles import PROFILE_DIRS, Profile, ProfileError, discover_profiles
from ._profiles import load_profile as _load_profile
from ._team_schema import (
    CHECK_FAILURE_POLICIES,
    EXPECT,
    CheckFailurePolicy,
    DefaultsSection,
    IntegrationSection,
    LimitsSection,
    RateLimitSection,
    RunsSection,
    TeamSection,
    WorkerTable,
)
from ._validation import MAX_CONFIG_BYTES, Strict, problem, show

__all__ = [
    "CHECK_FAILURE_POLICIES",
    "TEAM_FILE",
    "CheckFailurePolicy",
    "Defaults",
    "Integration",
    "Limits",
    "RateLimit",
    "Team",
    "TeamError",
    "WorkerSpec",
    "find_team",
    "load_team",
]

TEAM_FILE = "podium.toml"
_SECTIONS = (
    "team",
    "workers",
    "defaults",
    "limits",
    "rate_limits",
    "checks",
    "integration",
    "runs",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TeamError(UsageError):
    """A team file that cannot be used; the message names the file and the dotted key."""

    code = "team_error"


@dataclass(frozen=True, kw_only=True)
class Defaults:
    """``[defaults]``: what a worker gets when neither it nor its profile says otherwise.

    ``timeout`` / ``retries`` of ``None`` fall back to the ceilings in :class:`Limits`.
    """

    model: str | None = None
    timeout: float | None = None
    retries: int | None = None
    isolation: str | IsolationSpec = "shared"
    """A mode name, or the spec a table of settings gave."""
    config_dir: str | None = None
    """Which Claude Code configuration its agents run with (``None``: the user's own)."""
    on_check_failure: str = "retry"


@dataclass(frozen=True, kw_only=True)
class Limits:
    """``[limits]``: ceilings for a whole run. A budget of ``None`` means no cap."""

    max_parallel: int = 4
    budget_usd: float | None = None
    task_timeout: float = 1800.0
    retries: int = 1
    max_plan_repairs: int = 2
    per_worker_budget_usd: float | None = None
    per_task_budget_usd: float | None = None


@dataclass(frozen=True, kw_only=True)
class Integration:
    """``[integration]``: ``check`` runs in the run's integration worktree after each
    merge; a conflicting or failing task goes back to its worker ``attempts`` times."""

    check: tuple[str, ...] | None = None
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    """``[rate_limits.<model>]``: client-side throttle for one model; ``None`` = not limited."""

    model: str
    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerSpec:
    """One worker with every setting resolved: worker table > profile > [defaults] > [limits]."""

    name: str
    profile: Profile
    model: str | None
    isolation: str | IsolationSpec
    """A mode name (``"worktree"``) or a full spec from a table of settings; the first
    set of the worker's table, its profile, ``[defaults]`` wins whole (tables are not
    merged key by key)."""
    timeout: float
    retries: int
    api_key_env: str | None = None
    config_dir: str | None = None
    """``user``, ``isolated`` or a configuration directory (absolute); ``None``: user."""
    check: tuple[str, ...] | None = None
    """Quality-gate command (an argv list, never a shell string), if any."""

    @property
    def isolation_spec(self) -> IsolationSpec:
        """:attr:`isolation` as a spec (a mode name gets the defaults of every setting)."""
        return IsolationSpec.coerce(self.isolation)


@dataclass(frozen=True, kw_only=True)
class Team:
    name: str
    path: Path
    """The team file (absolute); relative paths in it were resolved against its directory."""
    orchestrator: Profile
    workers: Mapping[str, WorkerSpec]
    defaults: Defaults
    limits: Limits
    rate_limits: Mapping[str, RateLimit]
    integration: Integration = Integration()
    keep_worktrees: int | None = None
    """``[runs] keep_worktrees``: when a run finishes, keep the worktrees of at most this
    many finished runs (older ones are cleaned of what loses no work); None: keep all."""
    review: bool = False
    """``[runs] review``: planned runs await approval of their plan before any task runs."""

    @property
    def root(self) -> Path:
        return self.path.parent


def find_team(start_dir: str | Path | None = None) -> Path | None:
    """The nearest ``podium.toml`` in ``start_dir`` (default: cwd) or a parent, else ``None``."""
    here = Path(start_dir) if start_dir is not None else Path.cwd()
    here = here.absolute()
    for directory in (here, *here.parents):
        candidate = directory / TEAM_FILE
        if candidate.is_file():
            return candidate
    return None


def load_team(path: str | Path) -> Team:
    """Load and validate a team file (or the ``podium.toml`` in a directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / TEAM_FILE
    return _Loader(path).load()


_M = TypeVar("_M", bound=Strict)


class _Loader:
    """One load: holds the file's display name so every error can start with it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = str(path)
        # Relative to the cwd like ``path`` itself, so messages show usable paths.
        self.base = path.parent
        self._discovered: dict[str, Profile] | None = None

    def fail(self, key: str | None, message: str) -> TeamError:
        prefix = f"{self.shown}: {key}: " if key else f"{self.shown}: "
        return TeamError(prefix + message, path=self.shown, key=key)

    def load(self) -> Team:
        doc = self._parse()
        for section in doc:
            if section not in _SECTIONS:
                raise self.fail(section, f"unknown section; expected {', '.join(_SECTIONS)}")
        team = self._model(TeamSection, self._table(doc, "team", required=True), "team")
        name = self._checked(check_name, team.name, "team.name", what="team name")
        defaults_t = dict(self._table(doc, "defaults"))
        # isolation may be a table: read here, where its own keys can be named.
        defaults_iso = self._isolation(defaults_t.pop("isolation", None), "defaults.isolation")
        defaults_s = self._model(DefaultsSection, defaults_t, "defaults")
        limits_s = self._model(LimitsSection, self._table(doc, "limits"), "limits")
        defaults = Defaults(
            model=self._model_id(defaults_s.model, "defaults.model"),
            timeout=defaults_s.timeout,
            retries=defaults_s.retries,
            isolation="shared" if defaults_iso is None else defaults_iso,
            config_dir=self._config_dir(defaults_s.config_dir, "defaults.config_dir"),
            on_check_failure=defaults_s.on_check_failure,
        )
        limits = self._limits(limits_s)
        orchestrator = self._profile(team.orchestrator, "team.orchestrator", "orchestrator")
        checks = self._checks(self._table(doc, "checks"))
        workers = self._workers(
            self._table(doc, "workers", required=True), defaults, limits, checks
        )
        for worker in checks:
            if worker not in workers:
                raise self.fail(f"checks.{worker}", "no worker of that name in [workers]")
        runs = self._model(RunsSection, self._table(doc, "runs"), "runs")
        return Team(
            name=name,
            path=self.path.absolute(),
            orchestrator=orchestrator,
            workers=workers,
            defaults=defaults,
            limits=limits,
            rate_limits=self._rate_limits(self._table(doc, "rate_limits")),
            integration=self._integration(self._table(doc, "integration")),
            keep_worktrees=runs.keep_worktrees,
            review=runs.review,
        )

    def _parse(self) -> dict[str, Any]:
        try:
            if not self.path.is_file():
                what = "is not a file" if self.path.exists() else "does not exist"
                raise self.fail(None, f"team file {what}")
            if self.path.stat().st_size > MAX_CONFIG_BYTES:
                raise self.fail(None, f"team file is larger than {MAX_CONFIG_BYTES} bytes")
            return tomllib.loads(self.path.read_text(encoding="utf-8-sig"))
        except tomllib.TOMLDecodeError as exc:
            # tomllib puts "(at line N, column M)" in the message.
            raise self.fail(None, f"invalid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise self.fail(None, f"team file is not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise self.fail(None, f"cannot read team file: {exc.strerror or exc}") from None

    def _table(self, doc: Mapping[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
        value = doc.get(key)
        if value is None:
            if required:
                raise self.fail(None, f"missing [{key}] section")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), got {show(value)}")
        return value

    def _model(self, cls: type[_M], data: dict[str, Any], where: str) -> _M:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            key, wrong = problem(exc, data, EXPECT, cls.model_fields)
            raise self.fail(f"{where}.{key}", wrong) from None

    def _checked(self, check: Callable[..., Any], value: Any, key: str, **kwargs: Any) -> Any:
        try:
            return check(value, **kwargs)
        except (InvalidName, InvalidModel) as exc:
            raise self.fail(key, exc.message) from None

    def _model_id(self, value: str | None, key: str, *, backend: str | None = None) -> str | None:
        if value is None:
            return None
        return self._checked(check_model, value, key, backend=backend)  # type: ignore[no-any-return]

    def _budget(self, value: float | None, key: str) -> float | None:
        if value is not None and value <= 0:
            raise self.fail(
                key,
                f"must be greater than 0, got {show(value)}: a run with no budget cannot "
                "dispatch anything (remove the key for no cap)",
            )
        return value

    def _limits(self, s: LimitsSection) -> Limits:
        total = self._budget(s.budget_usd, "limits.budget_usd")
        worker = self._budget(s.per_worker_budget_usd, "limits.per_worker_budget_usd")
        task = self._budget(s.per_task_budget_usd, "limits.per_task_budget_usd")
        # A smaller cap above the one containing it is almost always a typo.
        pairs = (
            ("per_worker_budget_usd", worker, "budget_usd", total),
            ("per_task_budget_usd", task, "per_worker_budget_usd", worker),
            ("per_task_budget_usd", task, "budget_usd", total),
        )
        for small_key, small, big_key, big in pairs:
            if small is not None and big is not None and small > big:
                raise self.fail(f"limits.{small_key}", f"{small} exceeds limits.{big_key} ({big})")
        return Limits(
            max_parallel=s.max_parallel,
            budget_usd=total,
            task_timeout=s.task_timeout,
            retries=s.retries,
            max_plan_repairs=s.max_plan_repairs,
            per_worker_budget_usd=worker,
            per_task_budget_usd=task,
        )

    def _rate_limits(self, table: dict[str, Any]) -> dict[str, RateLimit]:
        out: dict[str, RateLimit] = {}
        for model, entry in table.items():
            where = f"rate_limits.{model}"
            self._checked(check_model, model, where)
            if not isinstance(entry, dict):
                raise self.fail(where, f"must be a table, got {show(entry)}")
            s = self._model(RateLimitSection, entry, where)
            if not entry:
                raise self.fail(where, "sets no limit; give at least requests_per_minute")
            out[model] = RateLimit(model=model, **s.model_dump())
        return out

    def _argv(self, argv: Any, key: str) -> tuple[str, ...]:
        if isinstance(argv, str):
            raise self.fail(
                key,
                'must be an argv list such as ["pytest", "-q"], not a shell string: ' + show(argv),
            )
        if not isinstance(argv, list) or not argv:
            raise self.fail(key, f"must be a non-empty list of strings, got {show(argv)}")
        if not all(isinstance(a, str) and a for a in argv):
            raise self.fail(key, f"every argument must be a non-empty string, got {show(argv)}")
        return tuple(argv)

    def _checks(self, table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        return {worker: self._argv(argv, f"checks.{worker}") for worker, argv in table.items()}

    def _integration(self, table: dict[str, Any]) -> Integration:
        table = dict(table)
        check = table.pop("check", None)
        # The argv is checked here, where a shell string gets its own message.
        s = self._model(IntegrationSection, table, "integration")
        argv = None if check is None else self._argv(check, "integration.check")
        return Integration(check=argv, attempts=s.attempts)

    def _workers(
        self,
        table: dict[str, Any],
        defaults: Defaults,
        limits: Limits,
        checks: Mapping[str, tuple[str, ...]],
    ) -> dict[str, WorkerSpec]:
        if not table:
            raise self.fail("workers", "a team needs at least one worker")
        workers: dict[str, WorkerSpec] = {}
        for name, entry in table.items():
            where = f"workers.{name}"
            self._checked(check_name, name, where, what="worker name")
            own_isolation: str | IsolationSpec | None = None
            if isinstance(entry, str):
                spec = WorkerTable(profile=entry)
            elif isinstance(entry, dict):
                entry = dict(entry)
                own_isolation = self._isolation(entry.pop("isolation", None), f"{where}.isolation")
                spec = self._model(WorkerTable, entry, where)
            else:
                raise self.fail(
                    where, f"must be a profile path, a profile name or a table, got {show(entry)}"
                )
            if spec.api_key_env is not None and not _ENV_NAME.fullmatch(spec.api_key_env):
                raise self.fail(
                    f"{where}.api_key_env",
                    f"{show(spec.api_key_env)} is not an environment variable name",
                )
            profile = self._profile(spec.profile, where, name, path_key=f"{where}.profile")
            own_model = self._model_id(spec.model, f"{where}.model", backend=profile.backend)
            profile_model = profile.model if profile.model != "inherit" else None
            # (value, where it was set): an error must point at the key to edit.
            timeout, timeout_key = _first(
                (spec.timeout, f"{where}.timeout"),
                (profile.timeout, f"{where}: profile key 'timeout'"),
                (defaults.timeout, "defaults.timeout"),
                (limits.task_timeout, "limits.task_timeout"),
            )
            retries, retries_key = _first(
                (spec.retries, f"{where}.retries"),
                (defaults.retries, "defaults.retries"),
                (limits.retries, "limits.retries"),
            )
            if timeout > limits.task_timeout:
                raise self.fail(
                    timeout_key,
                    f"{timeout}s exceeds limits.task_timeout ({limits.task_timeout}s)",
                )
            if retries > limits.retries:
                raise self.fail(retries_key, f"{retries} exceeds limits.retries ({limits.retries})")
            workers[name] = WorkerSpec(
                name=name,
                profile=profile,
                # [defaults] model names a Claude model; an OpenAI-compatible
                # server has its own names, so its workers never inherit it.
                model=own_model
                or profile_model
                or (None if backend_info(profile.backend).open_model_names else defaults.model),
                isolation=_first_set(own_isolation, profile.isolation, defaults.isolation),
                timeout=timeout,
                retries=retries,
                api_key_env=spec.api_key_env,
                config_dir=next(
                    (
                        c
                        for c in (
                            self._config_dir(spec.config_dir, f"{where}.config_dir"),
                            profile.config_dir,
                            defaults.config_dir,
                        )
                        if c is not None
                    ),
                    None,
                ),
                check=checks.get(name),
            )
        return workers

    def _config_dir(self, value: str | None, key: str) -> str | None:
        """``user``, ``isolated`` or a directory (relative to the team file's)."""
        if value is None or value in CONFIG_MODES:
            return value
        path = Path(value).expanduser()
        try:
            return read_config_dir(key, str(path if path.is_absolute() else self.base / path))
        except InvalidOptions as exc:
            raise self.fail(key, exc.message.removeprefix(f"option {key!r} ")) from None

    def _isolation(self, value: Any, key: str) -> str | IsolationSpec | None:
        """A mode name or a table of settings; ``None`` when the key is absent."""
        if value is None:
            return None
        try:
            return read_isolation_setting(value)
        except IsolationSettingError as exc:
            where = key if exc.setting is None else f"{key}.{exc.setting}"
            raise self.fail(where, exc.problem) from None

    def _profile(
        self, ref: str, where: str, fallback_name: str, *, path_key: str | None = None
    ) -> Profile:
        """A path (has a ``/`` or ends in ``.md``) or the name of a discovered profile.

        Either must lie in the team's directory, symlinks resolved: a team file is
        the repository's, and a profile is sent to the model and recorded.
        """
        if not ref.strip():
            raise self.fail(where, "profile must not be empty")
        try:
            if "/" in ref or "\\" in ref or ref.endswith(".md"):
                file = self.base / ref
                if not inside(self.base, file):
                    raise self.fail(
                        path_key or where,
                        f"profile file {ref} resolves outside the project directory "
                        f"{self.base.absolute()}; profiles must live in the project",
                    )
                if not file.is_file():
                    what = "is not a file" if file.exists() else "does not exist"
                    raise self.fail(where, f"profile file {ref} {what}")
                return _load_profile(file, name=fallback_name, root=self.base)
            self._checked(check_name, ref, where, what="profile name")
            if self._discovered is None:
                self._discovered = discover_profiles(self.base)
            if ref not in self._discovered:
                dirs = " or ".join(str(d) for d in PROFILE_DIRS)
                known = ", ".join(sorted(self._discovered)) or "none"
                raise self.fail(where, f"no profile named {ref!r} in {dirs} (found: {known})")
            return self._discovered[ref]
        except ProfileError as exc:
            raise self.fail(where, exc.message) from None


_T = TypeVar("_T", int, float)


def _first_set(*values: str | IsolationSpec | None) -> str | IsolationSpec:
    for value in values:
        if value is not None:
            return value
    return "shared"


def _first(*candidates: tuple[_T | None, str]) -> tuple[_T, str]:
    """The first set value and where it came from; the last candidate is always set."""
    for value, key in candidates:
        if value is not None:
            return value, key
    raise AssertionError("the last fallback is never None")
