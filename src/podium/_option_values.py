"""The values inside agent options: texts, tool lists, JSON objects, environments,
URLs, fallbacks, MCP placement. Each reader names the option it refuses."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from ._backend_info import BACKENDS, BackendName, backend_info
from ._errors import InvalidOptions
from ._names import check_model

__all__ = [
    "ASK_MODE",
    "CONFIG_MODES",
    "DEFAULT_APPROVAL_TIMEOUT",
    "MAX_ARG_TEXT",
    "MCP_KEY",
    "PERMISSION_MODES",
    "SETTING_SOURCES",
    "Fallback",
    "McpPlacement",
    "PermissionMode",
    "check_base_url",
    "option_error",
    "parse_fallback",
    "parse_tools",
    "read_agents",
    "read_config_dir",
    "read_env",
    "read_env_name",
    "read_flag",
    "read_int",
    "read_json_object",
    "read_mcp_config",
    "read_number",
    "read_settings",
    "read_text",
    "read_tools",
    "show_value",
]

PermissionMode = Literal[
    "default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto", "ask"
]
PERMISSION_MODES: tuple[str, ...] = get_args(PermissionMode)
ASK_MODE = "ask"
"""podium's own mode: the CLI runs in ``default`` and every permission prompt comes to
podium's approval inbox (``--permission-prompt-tool stdio``)."""
DEFAULT_APPROVAL_TIMEOUT = 600.0
"""Seconds an approval waits for a decision before it is denied (``approval_timeout``)."""
SETTING_SOURCES = ("user", "project", "local")
MCP_KEY = "podium_mcp"
"""The JSON key of :class:`McpPlacement` in an agent's options."""

# Texts that become one command-line argument of the CLI: Linux refuses to start a
# program with an argument over 128 KiB (MAX_ARG_STRLEN), so longer is an error here
# rather than a failed process start later.
MAX_ARG_TEXT = 128 * 1024 - 1
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def option_error(key: str, problem: str) -> InvalidOptions:
    return InvalidOptions(f"option {key!r} {problem}", option=key)


def show_value(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_text(key: str, value: object, *, limit: int = MAX_ARG_TEXT) -> str:
    if not isinstance(value, str):
        raise option_error(key, f"must be a string, got {show_value(value)}")
    if "\x00" in value:
        raise option_error(key, "must not contain a NUL character")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise option_error(key, "is not valid text (it holds a lone surrogate)") from None
    if size > limit:
        raise option_error(key, f"is {size} bytes; the limit is {limit}")
    return value


def read_int(key: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise option_error(key, f"must be a whole number >= {minimum}, got {show_value(value)}")
    if value < minimum:
        raise option_error(key, f"must be at least {minimum}, got {value}")
    return value


def read_number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise option_error(key, f"must be a number >= 0, got {show_value(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise option_error(key, f"must be a finite number >= 0, got {show_value(value)}")
    return number


def read_flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise option_error(key, f"must be true or false, got {show_value(value)}")
    return value


def parse_tools(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"Read, Bash(git diff:*)"`` or a list → names; ``ValueError`` on an empty entry.

    Commas inside parentheses belong to a permission rule, not the list.
    """
    if isinstance(value, str):
        items: list[str] = []
        depth, start = 0, 0
        for i, ch in enumerate(value):
            depth += (ch == "(") - (ch == ")")
            if ch == "," and depth <= 0:
                items.append(value[start:i])
                start = i + 1
        items.append(value[start:])
    else:
        items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError("must list tool names as strings")
    tools = tuple(item.strip() for item in items)
    if not tools or not all(tools):
        raise ValueError(
            "must list at least one tool and no empty names (omit the key to allow all)"
        )
    return tools


def read_tools(key: str, value: object, *, empty_ok: bool = False) -> tuple[str, ...]:
    if empty_ok and (value == "" or value == [] or value == ()):
        return ()
    if not isinstance(value, str | list | tuple):
        raise option_error(key, f"must be a list of tool names or a comma-separated string, got "
                         f"{show_value(value)}")  # fmt: skip
    try:
        tools = parse_tools(value)
    except ValueError as exc:
        raise option_error(key, str(exc)) from None
    for tool in tools:
        read_text(key, tool, limit=4096)
    return tools


def read_json_object(key: str, value: object) -> str:
    """A JSON object given as a mapping or as its text; returned as compact text."""
    if isinstance(value, Mapping):
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise option_error(key, f"is not JSON-serialisable: {exc}") from None
    text = read_text(key, value)
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise option_error(key, f"is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise option_error(key, "must be a JSON object")
    return text


def read_mcp_config(key: str, value: object) -> str:
    text = read_json_object(key, value) if isinstance(value, Mapping) else read_text(key, value)
    if not text.lstrip().startswith("{"):
        # The CLI also takes the path of a JSON file; it reports a missing one itself.
        return text
    servers = json.loads(read_json_object(key, text)).get("mcpServers")
    if not isinstance(servers, dict):
        raise option_error(key, 'must be a JSON object with "mcpServers" (a mapping of servers)')
    return text


def read_settings(key: str, value: object, *, given: bool) -> str:
    """The CLI's ``--settings``: a JSON object (its text, or a mapping), or a settings
    file's path. A path given now must be absolute (the agent's process starts in
    another directory) and name an existing file; ``given=False`` (a stored value)
    checks no file system: a file removed since is the CLI's to report."""
    if isinstance(value, Mapping):
        return read_json_object(key, value)
    text = read_text(key, value)
    if text.lstrip().startswith("{"):
        return read_json_object(key, text)
    if not text.strip():
        raise option_error(key, "must be a JSON object or a settings file's path, got ''")
    if given:
        path = Path(text)
        if not path.is_absolute():
            raise option_error(key, f"must be an absolute path, got {show_value(text, 200)}")
        if not path.exists():
            raise option_error(key, f"names {show_value(text, 200)}, which does not exist")
        if not path.is_file():
            raise option_error(key, f"names {show_value(text, 200)}, which is not a file")
    return text


def read_agents(key: str, value: object) -> str:
    text = read_json_object(key, value)
    for name, entry in json.loads(text).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str):
            raise option_error(key, f"entry {name!r} must be an object with a 'prompt' (and a "
                             "'description')")  # fmt: skip
    return text


def read_env(key: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise option_error(
            key, f"must be a mapping of variable names to strings, got {show_value(value)}"
        )
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise option_error(
                key, f"has {show_value(name)}, which is not an environment variable name"
            )
        out[name] = read_text(f"{key}.{name}", text)
    return out


def read_env_name(key: str, value: object) -> str:
    """The name of an environment variable (e.g. ``api_key_env``), never a value."""
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise option_error(key, f"must name an environment variable, got {show_value(value)}")
    return value


CONFIG_MODES = ("user", "isolated")


def read_config_dir(key: str, value: object) -> str:
    """``user``, ``isolated``, or the absolute path of a Claude config directory the
    user prepared (``~`` expanded); a path must exist."""
    text = read_text(key, value, limit=4096)
    if text in CONFIG_MODES:
        return text
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise option_error(
            key, f"must be user, isolated or an absolute directory path, got {show_value(text)}"
        )
    if not path.is_dir():
        raise option_error(key, f"names {path}, which is not a directory")
    return str(path.resolve())


def check_base_url(url: object, *, what: str = "base_url") -> str:
    if not isinstance(url, str) or not url:
        raise InvalidOptions(
            f"{what} must be a URL such as http://127.0.0.1:11434/v1, got {show_value(url)}",
            option=what,
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidOptions(
            f"{what} {url!r} is not an http(s) URL (e.g. http://127.0.0.1:11434/v1)", option=what
        )
    if parts.username or parts.password:
        # A key in the URL would be stored and shown with the agent; keys go in the env.
        raise InvalidOptions(
            f"{what} must not carry credentials; put the key in the environment", option=what
        )
    return read_text(what, url, limit=4096)


@dataclass(frozen=True, kw_only=True)
class Fallback:
    """Where a turn goes when the agent's model is overloaded or unreachable."""

    model: str
    backend: BackendName | None = None
    """``None``: the agent's own backend."""
    base_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model}
        if self.backend is not None:
            out["backend"] = self.backend.value
        if self.base_url is not None:
            out["base_url"] = self.base_url
        return out


_FALLBACK_KEYS = frozenset({"backend", "model", "base_url"})


def parse_fallback(entry: object, *, backend: str) -> Fallback:
    """One fallback: ``"MODEL"`` (same backend), ``"BACKEND=MODEL"``, or a mapping
    with ``model`` and optional ``backend`` / ``base_url``."""
    own = backend_info(backend)
    if isinstance(entry, Fallback):
        entry = entry.to_dict()
    if isinstance(entry, str):
        named, sep, rest = entry.partition("=")
        entry = {"backend": named, "model": rest} if sep else {"model": entry}
    if not isinstance(entry, Mapping):
        raise option_error(
            "fallback",
            f"entry {show_value(entry)} must be a model name, BACKEND=MODEL, "
            "or a mapping with model (and backend, base_url)",
        )
    unknown = sorted(str(k) for k in set(entry) - _FALLBACK_KEYS)
    if unknown:
        raise option_error("fallback", f"entry has unknown key(s) {', '.join(unknown)}; "
                                f"allowed: {', '.join(sorted(_FALLBACK_KEYS))}")  # fmt: skip
    model: object = entry.get("model")
    if not isinstance(model, str) or not model:
        raise option_error("fallback", f"entry {show_value(dict(entry))} needs a model name")
    named_backend: object = entry.get("backend") or own.name
    target = backend_info(named_backend)
    if not own.fallback_chain and target.name != own.name:
        raise option_error(
            "fallback",
            f"of a {own.name} agent is another model of its own (the CLI's "
            f"--fallback-model), not the {target.name} backend",
        )
    if target.name != own.name and not target.fallback_chain:
        chains = ", ".join(sorted(n.value for n, i in BACKENDS.items() if i.fallback_chain))
        raise option_error("fallback", f"backend {target.name.value!r}: an agent can fall back to "
                                f"{chains} or to another model of its own backend")  # fmt: skip
    check_model(model, backend=target.name)
    base_url = entry.get("base_url")
    return Fallback(
        model=model,
        backend=None if target.name == own.name else target.name,
        base_url=None if base_url is None else check_base_url(base_url, what="fallback base_url"),
    )


@dataclass(frozen=True, kw_only=True)
class McpPlacement:
    """Where an agent spawned through podium's MCP server sits (``podium_mcp``).

    A fork copies its parent's placement: ``agent`` then names the parent, which is
    how the limits tell a fork (one level down, no leave to spawn) from its parent.
    """

    agent: str
    scope: str
    run_id: str | None = None
    spawned_by: str | None = None
    depth: int = 0
    leave: bool = False
    """May spawn agents of its own."""
    worker: str | None = None
    """The team worker it was spawned as, if any."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, value: object) -> McpPlacement:
        key = MCP_KEY
        if not isinstance(value, Mapping):
            raise option_error(key, f"must be a mapping, got {show_value(value)}")
        unknown = sorted(str(k) for k in set(value) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise option_error(key, f"has unknown key(s) {', '.join(unknown)}")

        def optional(name: str) -> str | None:
            found = value.get(name)
            return None if found is None else read_text(f"{key}.{name}", found, limit=256)

        depth = value.get("depth", 0)
        leave = value.get("leave", False)
        return cls(
            agent=read_text(f"{key}.agent", value.get("agent"), limit=256),
            scope=read_text(f"{key}.scope", value.get("scope"), limit=256),
            run_id=optional("run_id"),
            spawned_by=optional("spawned_by"),
            depth=read_int(f"{key}.depth", depth, minimum=0),
            leave=read_flag(f"{key}.leave", leave),
            worker=optional("worker"),
        )
