"""Worker profiles: markdown files whose YAML frontmatter configures an agent.

A profile is the body (the system prompt) plus optional frontmatter. Two
existing formats load unchanged:

* Claude Code sub-agent files (``.claude/agents/*.md``: name, description,
  tools, model, color, and its camelCase keys such as ``permissionMode``);
* plain prompt files with no frontmatter at all (the seed's ``DANCE.md``),
  named after the worker or the file stem.

Frontmatter is data written by whoever controls the repository, so it is
parsed with ``yaml.safe_load`` only and every key is checked; a typo is an
error naming the file and the key, never a silently ignored setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, ValidationError

from .._backend_info import BACKEND_NAMES, BackendName
from .._errors import InvalidModel, InvalidName, InvalidOptions, UsageError
from .._names import check_model, check_name
from .._option_values import CONFIG_MODES, read_config_dir
from .._options import (
    PERMISSION_MODES,
    AgentOptions,
    Fallback,
    PermissionMode,
    check_base_url,
    parse_fallback,
    parse_tools,
)
from .._paths import inside
from ..isolation import IsolationSpec
from ..isolation._settings import IsolationSettingError, read_isolation_setting
from ._frontmatter import ProfileError, fail, read_markdown
from ._validation import MAX_CONFIG_BYTES, Strict, problem, show

__all__ = [
    "ISOLATION_MODES",
    "PERMISSION_MODES",
    "PROFILE_DIRS",
    "IsolationMode",
    "PermissionMode",
    "Profile",
    "ProfileError",
    "SubAgent",
    "discover_profiles",
    "load_profile",
    "parse_tools",
]

IsolationMode = Literal["shared", "worktree", "sandbox", "container"]
ISOLATION_MODES: tuple[str, ...] = get_args(IsolationMode)

# Searched in this order; the first directory wins a name clash, so a podium
# profile can shadow a Claude Code sub-agent of the same name.
PROFILE_DIRS: tuple[Path, ...] = (Path(".podium/agents"), Path(".claude/agents"))

# Claude Code writes these keys in camelCase; podium's own spelling is snake_case.
_CAMEL = {
    "disallowedTools": "disallowed_tools",
    "permissionMode": "permission_mode",
    "approvalTimeout": "approval_timeout",
    "maxTurns": "max_turns",
    "allowedTools": "allowed_tools",
    "fallbackModel": "fallback_model",
    "outputSchema": "output_schema",
}
_TOOLS = "a comma-separated string such as 'Read, Grep' or a list of tool names"
_EXPECT = {
    "name": "a string",
    "description": "a string",
    "model": "a string (haiku, sonnet, opus, inherit or a claude-... id)",
    "tools": _TOOLS,
    "allowed_tools": _TOOLS,
    "disallowed_tools": _TOOLS,
    "permission_mode": "one of " + ", ".join(PERMISSION_MODES),
    "approval_timeout": "a positive number of seconds (permission_mode: ask)",
    "max_turns": "a positive integer",
    "budget_usd": "a number >= 0",
    "timeout": "a positive number of seconds",
    "output_schema": "a JSON-schema mapping or the path of a .json file",
    "agents": "a mapping of sub-agent name to {description, prompt, tools, model}",
    "isolation": "one of " + ", ".join(ISOLATION_MODES) + " or a mapping of isolation settings",
    "color": "a string",
    "backend": "one of " + ", ".join(BACKEND_NAMES),
    "fallback_model": "a string (haiku, sonnet, opus or a claude-... id)",
    "fallback": "a list of models: NAME, BACKEND=NAME or {backend, model, base_url}",
    "base_url": "an http(s) URL of the API (anthropic-api and openai backends)",
    "prompt": "a non-empty string",
    "config_dir": "user, isolated or a Claude Code configuration directory",
}

_Tools = str | list[str]


class _Frontmatter(Strict):
    name: str | None = None
    description: str | None = None
    model: str | None = None
    tools: _Tools | None = None
    allowed_tools: _Tools | None = None
    disallowed_tools: _Tools | None = None
    permission_mode: PermissionMode | None = None
    approval_timeout: Annotated[float, Field(gt=0)] | None = None
    max_turns: Annotated[int, Field(gt=0)] | None = None
    budget_usd: Annotated[float, Field(ge=0)] | None = None
    timeout: Annotated[float, Field(gt=0)] | None = None
    output_schema: dict[str, Any] | str | None = None
    agents: dict[str, dict[str, Any]] | None = None
    # A mode name or a mapping; checked by read_isolation_setting, which names the key.
    isolation: str | dict[str, Any] | None = None
    color: str | None = None
    backend: str | None = None
    fallback_model: str | None = None
    fallback: list[str | dict[str, Any]] | None = None
    base_url: str | None = None
    config_dir: str | None = None


class _SubAgentEntry(Strict):
    # The shape Claude Code's ``--agents`` JSON expects for one sub-agent.
    description: str
    prompt: str
    tools: _Tools | None = None
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class SubAgent:
    """A sub-agent the worker may spawn (passed to the CLI via ``--agents``)."""

    name: str
    description: str
    prompt: str
    tools: tuple[str, ...] = ()
    model: str | None = None

    def to_cli(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"description": self.description, "prompt": self.prompt}
        if self.tools:
            entry["tools"] = list(self.tools)
        if self.model:
            entry["model"] = self.model
        return entry


@dataclass(frozen=True, kw_only=True)
class Profile:
    """A loaded, validated profile. ``None`` means "not set here": the team decides.

    ``allowed_tools`` empty means no restriction (the key was omitted); an
    explicitly empty list is rejected at load time because it is ambiguous.
    """

    name: str
    path: Path
    system_prompt: str
    description: str | None = None
    model: str | None = None
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    permission_mode: PermissionMode | None = None
    approval_timeout: float | None = None
    """``ask`` mode: seconds an approval waits in the inbox before it is denied."""
    max_turns: int | None = None
    budget_usd: float | None = None
    timeout: float | None = None
    output_schema: Mapping[str, Any] | None = None
    agents: Mapping[str, SubAgent] | None = None
    isolation: str | IsolationSpec | None = None
    """A mode name as written, or the spec a mapping of settings gave; ``None``: unset."""
    color: str | None = None
    backend: BackendName = BackendName.CLAUDE_CODE
    fallback_model: str | None = None
    fallback: tuple[Fallback, ...] = ()
    """Where a turn goes when the model is overloaded, in order (see the backends)."""
    base_url: str | None = None
    """The API endpoint of an anthropic-api or openai worker (e.g. a local Ollama)."""
    config_dir: str | None = None
    """claude-code: ``user``, ``isolated`` or a configuration directory (absolute)."""

    def agent_options(self) -> AgentOptions:
        """The options of an agent following this profile; unset settings stay unset."""
        tools: tuple[str, ...] | None = None
        if self.allowed_tools:
            # --tools restricts which tools exist (least privilege); --allowedTools
            # pre-approves them (and their patterns) so a headless worker never
            # stops at a permission prompt.
            tools = tuple(dict.fromkeys(t.split("(", 1)[0] for t in self.allowed_tools))
        agents = None
        if self.agents:
            cli = {name: agent.to_cli() for name, agent in self.agents.items()}
            agents = json.dumps(cli, separators=(",", ":"), ensure_ascii=False)
        return AgentOptions(
            permission_mode=self.permission_mode,
            approval_timeout=self.approval_timeout,
            tools=tools,
            allowed_tools=self.allowed_tools,
            disallowed_tools=self.disallowed_tools,
            max_turns=self.max_turns,
            fallback_model=self.fallback_model,
            fallback=self.fallback,
            base_url=self.base_url,
            agents=agents,
            profile=self.name,
            config_dir=self.config_dir,
        )


def load_profile(
    path: str | Path, *, name: str | None = None, root: str | Path | None = None
) -> Profile:
    """Load and validate one profile file.

    ``name`` is the fallback for a file whose frontmatter has no ``name`` (a
    team passes the worker's name); without it the file stem is used.
    ``root``: the project directory the profile and the schema file it names must
    lie in, symlinks resolved (a team passes its own directory); ``None``: no bound.
    """
    return _load(Path(path), str(path), name, None if root is None else Path(root))


def discover_profiles(project_dir: str | Path) -> dict[str, Profile]:
    """Profiles in ``.podium/agents/*.md`` and ``.claude/agents/*.md``, by name.

    podium's directory wins a clash between the two; two files with one name
    in the same directory are an error, because either choice would be a guess.
    A file (or the schema it names) that resolves outside ``project_dir`` is an
    error too: a symlink must not feed the rest of the machine to a model.
    """
    found: dict[str, Profile] = {}
    for rel in PROFILE_DIRS:
        directory = Path(project_dir) / rel
        if not directory.is_dir():
            continue
        here: dict[str, tuple[str, Profile]] = {}
        for file in sorted(directory.glob("*.md")):
            if not file.is_file():
                continue
            profile = _load(file, str(file), None, Path(project_dir))
            if profile.name in here:
                raise ProfileError(
                    f"{file}: profile name {profile.name!r} is also used by "
                    f"{here[profile.name][0]}; names must be unique within {directory}",
                    path=str(file),
                    key="name",
                )
            here[profile.name] = (str(file), profile)
        for profile_name, (_, profile) in here.items():
            found.setdefault(profile_name, profile)
    return found


def _load(path: Path, shown: str, fallback_name: str | None, root: Path | None) -> Profile:
    if root is not None and not inside(root, path):
        raise fail(shown, f"profile file resolves outside the project directory {root}")
    data, body = read_markdown(path, shown)
    return _build(path, shown, data, body, fallback_name, root)


def _normalise_keys(data: dict[str, Any], shown: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        canonical = _CAMEL.get(key, key)
        if canonical in out:
            raise fail(shown, f"keys {canonical!r} and {key!r} are the same setting; keep one", key)
        out[canonical] = value
    if "tools" in out and "allowed_tools" in out:
        raise fail(shown, "keys 'tools' and 'allowed_tools' are synonyms; keep one", "tools")
    return out


def _build(
    path: Path,
    shown: str,
    raw: dict[str, Any],
    body: str,
    fallback_name: str | None,
    root: Path | None,
) -> Profile:
    data = _normalise_keys(raw, shown)
    try:
        fm = _Frontmatter.model_validate(data)
    except ValidationError as exc:
        key, wrong = problem(exc, data, _EXPECT, [*_Frontmatter.model_fields, *_CAMEL])
        raise fail(shown, f"key {key!r} {wrong}", key) from None

    prompt = body.strip()
    if not prompt:
        raise fail(shown, "the system prompt (the text after the frontmatter) is empty")
    tools = fm.tools if fm.tools is not None else fm.allowed_tools
    tools_key = "tools" if fm.tools is not None else "allowed_tools"
    backend = _backend(fm.backend, shown)
    return Profile(
        name=_name(fm.name, fallback_name, path, shown),
        path=path.absolute(),
        system_prompt=prompt,
        description=fm.description,
        model=_model(fm.model, shown, "model", allow_inherit=True, backend=backend),
        allowed_tools=_tools(tools, shown, tools_key),
        disallowed_tools=_tools(fm.disallowed_tools, shown, "disallowed_tools"),
        permission_mode=fm.permission_mode,
        approval_timeout=fm.approval_timeout,
        max_turns=fm.max_turns,
        budget_usd=fm.budget_usd,
        timeout=fm.timeout,
        output_schema=_schema(fm.output_schema, path, shown, root),
        agents=_agents(fm.agents, shown),
        isolation=_isolation(fm.isolation, shown),
        color=fm.color,
        backend=backend,
        fallback_model=_model(
            fm.fallback_model, shown, "fallback_model", allow_inherit=False, backend=backend
        ),
        fallback=_fallback(fm.fallback, shown, backend),
        base_url=_base_url(fm.base_url, shown, backend),
        config_dir=_config_dir(fm.config_dir, path, shown, backend),
    )


def _isolation(value: str | dict[str, Any] | None, shown: str) -> str | IsolationSpec | None:
    if value is None:
        return None
    try:
        return read_isolation_setting(value)
    except IsolationSettingError as exc:
        key = "isolation" if exc.setting is None else f"isolation.{exc.setting}"
        raise fail(shown, f"key {key!r}: {exc.problem}", key) from None


def _base_url(value: str | None, shown: str, backend: str) -> str | None:
    if value is None:
        return None
    try:
        return AgentOptions(base_url=check_base_url(value)).checked(backend).base_url
    except UsageError as exc:
        raise fail(shown, f"key 'base_url': {exc.message}", "base_url") from None


def _config_dir(value: str | None, path: Path, shown: str, backend: str) -> str | None:
    if value is None:
        return None
    key = "config_dir"
    if backend != BackendName.CLAUDE_CODE:
        raise fail(shown, f"key {key!r} applies to claude-code profiles, not {backend}", key)
    if value in CONFIG_MODES:
        return value
    # Relative to the profile, like its output_schema.
    given = Path(value).expanduser()
    try:
        return read_config_dir(key, str(given if given.is_absolute() else path.parent / given))
    except InvalidOptions as exc:
        raise fail(
            shown, f"key {key!r} {exc.message.removeprefix(f'option {key!r} ')}", key
        ) from None


def _backend(value: str | None, shown: str) -> BackendName:
    if value is None:
        return BackendName.CLAUDE_CODE
    if value not in BACKEND_NAMES:
        raise fail(shown, f"key 'backend' must be one of {', '.join(BACKEND_NAMES)}, got {value!r}")
    return BackendName(value)


def _fallback(
    value: list[str | dict[str, Any]] | None, shown: str, backend: str
) -> tuple[Fallback, ...]:
    if value is None:
        return ()
    try:
        chain = tuple(parse_fallback(entry, backend=backend) for entry in value)
        AgentOptions(fallback=chain).checked(backend)
    except UsageError as exc:
        raise fail(shown, f"key 'fallback': {exc.message}", "fallback") from None
    return chain


def _checked_name(value: str | None, shown: str, key: str) -> str | None:
    if value is None:
        return None
    try:
        return check_name(value, what="profile name" if key == "name" else key)
    except InvalidName as exc:
        raise fail(shown, f"key {key!r}: {exc.message}", key) from None


def _name(declared: str | None, fallback: str | None, path: Path, shown: str) -> str:
    if declared is not None:
        return _checked_name(declared, shown, "name") or ""
    if fallback is not None:
        try:
            return check_name(fallback, what="profile name")
        except InvalidName as exc:
            raise fail(shown, exc.message, "name") from None
    # "DANCE.md" → "dance", "My Agent.v2.md" → "my-agent-v2": the stem is a
    # display name, the profile name must be a safe identifier.
    stem = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower())
    stem = re.sub(r"^[^a-z]+", "", stem).rstrip("-")[:64]
    if not stem:
        raise fail(shown, "cannot derive a profile name from the file name; add a 'name' key")
    return stem


def _model(
    value: str | None, shown: str, key: str, *, allow_inherit: bool, backend: str
) -> str | None:
    if value is None or (allow_inherit and value == "inherit"):
        return value
    try:
        return check_model(value, backend=backend)
    except InvalidModel as exc:
        raise fail(shown, f"key {key!r}: {exc.message}", key) from None


def _tools(value: str | list[str] | None, shown: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    try:
        return parse_tools(value)
    except ValueError as exc:
        raise fail(shown, f"key {key!r} {exc}", key) from None


def _schema(
    value: dict[str, Any] | str | None, path: Path, shown: str, root: Path | None
) -> dict[str, Any] | None:
    if value is None:
        return None
    key = "output_schema"
    if isinstance(value, str):
        # Relative to the profile, so a profile and its schema move together.
        schema_path = path.parent / value
        if schema_path.suffix != ".json":
            raise fail(shown, f"key {key!r} must name a .json file, got {show(value)}", key)
        if root is not None and not inside(root, schema_path):
            raise fail(
                shown,
                f"key {key!r}: schema file {value} resolves outside the project directory {root}",
                key,
            )
        if not schema_path.is_file():
            raise fail(shown, f"key {key!r}: schema file {value} does not exist", key)
        try:
            if schema_path.stat().st_size > MAX_CONFIG_BYTES:
                raise fail(shown, f"key {key!r}: schema file {value} is too large", key)
            loaded = json.loads(schema_path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise fail(
                shown, f"key {key!r}: {value}:{exc.lineno}: invalid JSON: {exc.msg}", key
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(shown, f"key {key!r}: cannot read schema file {value}: {exc}", key) from None
        if not isinstance(loaded, dict):
            raise fail(shown, f"key {key!r}: {value} must hold a JSON object", key)
        value = loaded
    if "type" not in value:
        raise fail(shown, f"key {key!r} must be a JSON schema with a 'type' key", key)
    return value


def _agents(value: dict[str, dict[str, Any]] | None, shown: str) -> dict[str, SubAgent] | None:
    if value is None:
        return None
    agents: dict[str, SubAgent] = {}
    for agent_name, entry in value.items():
        where = f"agents.{agent_name}"
        try:
            check_name(agent_name, what="sub-agent name")
        except InvalidName as exc:
            raise fail(shown, f"key {where!r}: {exc.message}", where) from None
        try:
            spec = _SubAgentEntry.model_validate(entry)
        except ValidationError as exc:
            key, wrong = problem(exc, entry, _EXPECT, _SubAgentEntry.model_fields)
            raise fail(shown, f"key '{where}.{key}' {wrong}", f"{where}.{key}") from None
        for field in ("description", "prompt"):
            if not getattr(spec, field).strip():
                raise fail(shown, f"key '{where}.{field}' must not be empty", f"{where}.{field}")
        agents[agent_name] = SubAgent(
            name=agent_name,
            description=spec.description,
            prompt=spec.prompt,
            tools=_tools(spec.tools, shown, f"{where}.tools"),
            # Sub-agents are the CLI's own: Claude models only.
            model=_model(
                spec.model,
                shown,
                f"{where}.model",
                allow_inherit=True,
                backend=BackendName.CLAUDE_CODE,
            ),
        )
    return agents
