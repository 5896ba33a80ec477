"""Agent options: one typed record, checked once where it enters, serialised once.

Options reach podium from the command line, HTTP bodies, MCP calls, profiles and
team files. A front hands what it was given to :meth:`AgentOptions.from_dict`,
which refuses an unknown key, a key podium sets itself (``launcher``,
``workspace``, ...) and a value of the wrong kind with an :class:`InvalidOptions`
naming the option; from there on every layer reads typed attributes. Records
read back from storage go through :meth:`AgentOptions.from_stored`, which also
takes podium's own keys and drops (with a note) a value an older version let in,
so a bad old record can never make listing or killing agents fail.

The JSON form (:meth:`AgentOptions.to_dict`) lists only the options that are set,
under the same keys callers use.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._backend_info import BACKENDS, BackendName, backend_info
from ._errors import InvalidOptions, PodiumError, UsageError
from ._names import check_model
from ._option_values import (
    MAX_ARG_TEXT,
    MCP_KEY,
    PERMISSION_MODES,
    SETTING_SOURCES,
    Fallback,
    McpPlacement,
    PermissionMode,
    check_base_url,
    option_error,
    parse_fallback,
    parse_tools,
    read_agents,
    read_config_dir,
    read_env,
    read_env_name,
    read_flag,
    read_int,
    read_mcp_config,
    read_number,
    read_settings,
    read_text,
    read_tools,
    show_value,
)
from .isolation._protocol import IsolationError, IsolationSpec, Workspace

__all__ = [
    "INTERNAL_OPTIONS",
    "PERMISSION_MODES",
    "PUBLIC_OPTIONS",
    "SETTING_SOURCES",
    "AgentOptions",
    "AgentSpec",
    "Fallback",
    "McpPlacement",
    "PermissionMode",
    "check_base_url",
    "parse_fallback",
    "parse_tools",
]

_log = logging.getLogger("podium.options")


@dataclass(frozen=True, kw_only=True)
class AgentOptions:
    """Everything about an agent beyond its backend, model and system prompt.

    ``None`` (or an empty tuple) means "not set": the backend's default applies.
    """

    # --- the Claude Code CLI's own flags ---------------------------------------------------
    append_system_prompt: str | None = None
    """Text added after the system prompt (API backends: a second system block)."""
    permission_mode: PermissionMode | None = None
    """The CLI's ``--permission-mode``; ``ask``: each tool use that needs permission
    waits in podium's approval inbox (``podium inbox`` / ``allow`` / ``deny``)."""
    approval_timeout: float | None = None
    """``ask`` mode: seconds an approval waits before it is denied (default 600)."""
    tools: tuple[str, ...] | None = None
    """The tools that exist (``--tools``); ``()``: none. Least privilege lives here."""
    allowed_tools: tuple[str, ...] = ()
    """Pre-approved tools and rules (``--allowedTools``), so no prompt stops a turn."""
    disallowed_tools: tuple[str, ...] = ()
    agents: str | None = None
    """Sub-agents as the JSON object ``--agents`` takes."""
    max_turns: int | None = None
    max_budget_usd: float | None = None
    """The process's spending cap (``--max-budget-usd``); runs and MCP set it."""
    fallback_model: str | None = None
    setting_sources: tuple[str, ...] | None = None
    mcp_config: str | None = None
    """``--mcp-config``: a JSON object with ``mcpServers``, or a file's path."""
    config_dir: str | None = None
    """The Claude Code configuration it runs with: ``user`` (the user's own login,
    settings, CLAUDE.md, agents, plugins, MCP servers), ``isolated`` (one of its own
    under its state directory) or a prepared directory's path. ``None``: ``user``,
    except in a container, whose CLI cannot reach the user's files (``isolated``)."""
    settings: str | None = None
    """``--settings``: a JSON object of Claude Code settings, or a settings file's
    absolute path (checked to be a file when given)."""

    # --- the HTTP API backends ---------------------------------------------------------------
    base_url: str | None = None
    fallback: tuple[Fallback, ...] = ()
    batch: bool = False
    cache: bool = True
    stream: bool = True
    max_tokens: int | None = None
    max_retries: int | None = None

    # --- every backend ---------------------------------------------------------------------
    api_key_env: str | None = None
    """The daemon's environment variable holding this agent's key; read when its
    process starts, put where its backend looks (``ANTHROPIC_API_KEY``, ...), never
    stored."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the agent's processes. Stored: never a secret here."""
    isolation: IsolationSpec | None = None
    """Where the agent works, as asked for; ``None``: the project as is."""
    stall_timeout: float | None = None
    """Seconds a turn may show no progress before it counts as stalled (0: never);
    ``None``: the daemon's ``PODIUM_STALL_TIMEOUT``."""
    stall_policy: str | None = None
    """``retry`` (once) or ``fail`` a stalled turn; ``None``: the daemon's."""

    # --- set by podium itself, never accepted from a caller -----------------------------------
    workspace: Workspace | None = None
    """The prepared workspace (worktree, sandbox, container) the agent runs in."""
    profile: str | None = None
    """The team profile a run task's agent follows (names its queue lane)."""
    mcp: McpPlacement | None = None
    """Its place under podium's MCP server (scope, depth, leave to spawn)."""
    carried_conversation: bool = False
    billing: str | None = None
    """Which pool its turns draw from, found when it was spawned: ``api-key``,
    ``subscription (Agent SDK credit)``, ..."""
    """A fork from another backend: its first turn carries the parent's conversation."""

    # --- reading --------------------------------------------------------------------------

    @property
    def launcher(self) -> tuple[str, ...]:
        """The argv prefix the agent's process starts under (a sandbox or container)."""
        return self.workspace.launcher if self.workspace is not None else ()

    def replace(self, **changes: Any) -> AgentOptions:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, backend: str) -> AgentOptions:
        """Options as a caller gave them (CLI, HTTP, MCP, Python), checked for ``backend``."""
        if data is None:
            return cls().checked(backend)
        if not isinstance(data, Mapping):
            raise InvalidOptions(f"options must be a mapping, got {show_value(data)}")
        for key in data:
            if key in INTERNAL_OPTIONS:
                raise InvalidOptions(
                    f"option {key!r} is set by podium itself and cannot be given", option=key
                )
            if key not in _READERS:
                raise InvalidOptions(
                    f"unknown option {show_value(key)}; known: {', '.join(PUBLIC_OPTIONS)}",
                    option=str(key)[:64],
                )
        values = {key: _READERS[key](value, backend) for key, value in data.items()}
        return _build(values).checked(backend)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> AgentOptions:
        """Options as podium stored them (any version); a value that no longer passes
        is dropped with a log line rather than making the record unreadable."""
        if not isinstance(data, Mapping):
            return cls()
        values: dict[str, Any] = {}
        for key, value in data.items():
            try:
                if key == "isolation" and isinstance(value, Mapping) and "spec" in value:
                    # The recorded form: the spec asked for and the workspace made.
                    if isinstance(value.get("workspace"), Mapping):
                        workspace = Workspace.from_dict(dict(value["workspace"]))
                        values["workspace"] = workspace
                        values["isolation"] = IsolationSpec(mode=workspace.mode)
                    spec = value["spec"]
                    if isinstance(spec, Mapping) and "mode" in spec:
                        values["isolation"] = IsolationSpec.from_dict(dict(spec))
                elif key in _READERS:
                    values[key] = _READERS[key](value, None)
                elif key in _INTERNAL_READERS:
                    values[key] = _INTERNAL_READERS[key](value)
                # "launcher" of older records is the workspace's; other keys are gone.
            except (PodiumError, ValueError, TypeError, KeyError) as exc:
                _log.warning("stored option %r dropped: %s", key, exc)
        return _build(values)

    def checked(self, backend: str) -> AgentOptions:
        """These options for an agent of ``backend``, or :class:`InvalidOptions` naming
        what that backend cannot take."""
        info = backend_info(backend)
        if self.base_url is not None and not info.api:
            apis = " and ".join(sorted(n.value for n, i in BACKENDS.items() if i.api))
            raise InvalidOptions(
                f"base_url applies to the {apis} backends, not {info.name.value}",
                option="base_url",
            )
        if self.batch and not info.batch:
            raise InvalidOptions(
                f"batch mode needs the anthropic-api backend, not {info.name.value}",
                option="batch",
            )
        fallback = tuple(parse_fallback(entry, backend=backend) for entry in self.fallback)
        if not info.fallback_chain and len(fallback) > 1:
            raise InvalidOptions(
                f"a {info.name.value} agent takes one fallback model, not a chain",
                option="fallback",
            )
        if self.fallback_model is not None:
            check_model(self.fallback_model, backend=backend)
        if self.config_dir is not None and info.name is not BackendName.CLAUDE_CODE:
            raise InvalidOptions(
                f"config_dir applies to claude-code agents, not {info.name.value}",
                option="config_dir",
            )
        return self if fallback == self.fallback else self.replace(fallback=fallback)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: only what is set, under the keys callers use."""
        out: dict[str, Any] = {}
        for name, default in _defaults():
            value = getattr(self, name)
            if value == default or name == "isolation" or name == "workspace":
                continue
            if name == "mcp":
                out[MCP_KEY] = value.to_dict()
            elif name == "fallback":
                out["fallback"] = [entry.to_dict() for entry in value]
            elif isinstance(value, tuple):
                out[name] = list(value)
            elif isinstance(value, Mapping):
                out[name] = dict(value)
            else:
                out[name] = value
        if self.workspace is not None:
            spec = self.isolation or IsolationSpec(mode=self.workspace.mode)
            out["isolation"] = {"spec": spec.to_dict(), "workspace": self.workspace.to_dict()}
        elif self.isolation is not None:
            out["isolation"] = self.isolation.to_setting()
        return out


@functools.cache
def _defaults() -> tuple[tuple[str, Any], ...]:
    """Each option's name and its unset value, looked up once (to_dict is on a turn's path)."""
    return tuple(
        (f.name, f.default if f.default_factory is dataclasses.MISSING else f.default_factory())
        for f in dataclasses.fields(AgentOptions)
    )


def _build(values: Mapping[str, Any]) -> AgentOptions:
    renamed = {("mcp" if k == MCP_KEY else k): v for k, v in values.items()}
    return AgentOptions(**renamed)


def _isolation(key: str, value: object) -> IsolationSpec:
    from .isolation._settings import read_isolation_setting

    try:
        setting = read_isolation_setting(value)
    except IsolationError as exc:
        raise option_error(key, f"is wrong: {exc.message}") from None
    return IsolationSpec.coerce(setting)


def _permission_mode(value: object, _backend: str | None) -> str:
    if value not in PERMISSION_MODES:
        raise option_error("permission_mode", f"must be one of {', '.join(PERMISSION_MODES)}, got "
                                       f"{show_value(value)}")  # fmt: skip
    return str(value)


def _approval_timeout(value: object) -> float:
    seconds = read_number("approval_timeout", value)
    if seconds <= 0:
        raise option_error("approval_timeout", f"must be more than 0 seconds, got {value!r}")
    return seconds


def _setting_sources(value: object, _backend: str | None) -> tuple[str, ...]:
    sources = read_tools("setting_sources", value, empty_ok=True)
    wrong = [s for s in sources if s not in SETTING_SOURCES]
    if wrong:
        raise option_error("setting_sources", f"has {show_value(wrong)}; use any of "
                                       f"{', '.join(SETTING_SOURCES)}")  # fmt: skip
    return sources


def _fallback_chain(value: object, backend: str | None) -> tuple[Fallback, ...]:
    chain = value if isinstance(value, list | tuple) else [value]
    if backend is None:
        # Stored: already checked when it was given; keep each entry as it was.
        entries: list[Fallback] = []
        for entry in chain:
            if not isinstance(entry, str | Mapping):
                raise option_error(
                    "fallback", f"entry {show_value(entry)} is not a model or a mapping"
                )
            item: Mapping[str, Any] = {"model": entry} if isinstance(entry, str) else entry
            named = item.get("backend")
            entries.append(
                Fallback(
                    model=str(item["model"]),
                    backend=None if named is None else BackendName(str(named)),
                    base_url=item.get("base_url"),
                )
            )
        return tuple(entries)
    return tuple(parse_fallback(entry, backend=backend) for entry in chain)


def _model_option(key: str) -> Callable[[object, str | None], str]:
    def read(value: object, backend: str | None) -> str:
        model = read_text(key, value, limit=256)
        # A CLI agent's fallback model is one of Claude's.
        check_model(model, backend=BackendName.CLAUDE_CODE if backend is not None else None)
        return model

    return read


def _stall_policy(value: object) -> str:
    if value not in ("retry", "fail"):
        raise option_error("stall_policy", f"must be 'retry' or 'fail', got {show_value(value)}")
    return str(value)


_READERS: dict[str, Callable[[Any, str | None], Any]] = {
    "append_system_prompt": lambda v, _b: read_text("append_system_prompt", v),
    "permission_mode": _permission_mode,
    "approval_timeout": lambda v, _b: _approval_timeout(v),
    "tools": lambda v, _b: read_tools("tools", v, empty_ok=True),
    "allowed_tools": lambda v, _b: read_tools("allowed_tools", v, empty_ok=True),
    "disallowed_tools": lambda v, _b: read_tools("disallowed_tools", v, empty_ok=True),
    "agents": lambda v, _b: read_agents("agents", v),
    "max_turns": lambda v, _b: read_int("max_turns", v, minimum=1),
    "max_budget_usd": lambda v, _b: read_number("max_budget_usd", v),
    "fallback_model": _model_option("fallback_model"),
    "setting_sources": _setting_sources,
    "mcp_config": lambda v, _b: read_mcp_config("mcp_config", v),
    "config_dir": lambda v, _b: read_config_dir("config_dir", v),
    # Stored (no backend): the file is not looked for again; the CLI reports it gone.
    "settings": lambda v, b: read_settings("settings", v, given=b is not None),
    "base_url": lambda v, _b: check_base_url(v),
    "fallback": _fallback_chain,
    "batch": lambda v, _b: read_flag("batch", v),
    "cache": lambda v, _b: read_flag("cache", v),
    "stream": lambda v, _b: read_flag("stream", v),
    "max_tokens": lambda v, _b: read_int("max_tokens", v, minimum=1),
    "max_retries": lambda v, _b: read_int("max_retries", v, minimum=0),
    "api_key_env": lambda v, _b: read_env_name("api_key_env", v),
    "env": lambda v, _b: read_env("env", v),
    "isolation": lambda v, _b: _isolation("isolation", v),
    "stall_timeout": lambda v, _b: read_number("stall_timeout", v),
    "stall_policy": lambda v, _b: _stall_policy(v),
    MCP_KEY: lambda v, _b: McpPlacement.from_dict(v),
}

_INTERNAL_READERS: dict[str, Callable[[Any], Any]] = {
    "workspace": lambda v: Workspace.from_dict(dict(v)),
    "profile": lambda v: read_text("profile", v, limit=256),
    "carried_conversation": lambda v: read_flag("carried_conversation", v),
    "billing": lambda v: read_text("billing", v, limit=256),
}

PUBLIC_OPTIONS: tuple[str, ...] = tuple(_READERS)
"""The keys a caller may give (``podium_mcp`` is how podium's own MCP server places
the agents it spawns)."""
INTERNAL_OPTIONS: frozenset[str] = frozenset({*_INTERNAL_READERS, "launcher"})
"""Keys podium sets itself; a caller giving one is refused."""


@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """What makes an agent, checked together: its backend, model, system prompt and
    options. Every way of creating an agent (a spawn from any front, a team worker
    in a planned or agentic run, an MCP spawn) builds one of these."""

    backend: BackendName = BackendName.CLAUDE_CODE
    model: str | None = None
    system_prompt: str | None = None
    options: AgentOptions = field(default_factory=AgentOptions)

    @classmethod
    def build(
        cls,
        *,
        backend: str = BackendName.CLAUDE_CODE,
        model: str | None = None,
        system_prompt: str | None = None,
        options: AgentOptions | Mapping[str, Any] | None = None,
    ) -> AgentSpec:
        """Check everything, or raise the first problem as a :class:`UsageError`."""
        info = backend_info(backend)
        check_model(model, backend=info.name)
        if system_prompt is not None:
            system_prompt = _system_prompt(system_prompt)
        if isinstance(options, AgentOptions):
            checked = options.checked(info.name)
        else:
            checked = AgentOptions.from_dict(options, backend=info.name)
        return cls(backend=info.name, model=model, system_prompt=system_prompt, options=checked)

    def replace(self, **changes: Any) -> AgentSpec:
        return dataclasses.replace(self, **changes)


def _system_prompt(value: object) -> str:
    try:
        return read_text("system_prompt", value, limit=MAX_ARG_TEXT)
    except InvalidOptions as exc:
        raise UsageError(exc.message.replace("option 'system_prompt'", "system prompt")) from None
