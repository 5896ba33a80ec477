"""``podium spawn``'s Claude Code flags: the CLI's own names, checked here by flag.

Each flag becomes one agent option (``--allowed-tools`` -> ``allowed_tools``,
``--setting`` -> ``settings``, ...). They are checked before the daemon is asked,
so a bad value is one ``error:`` line naming the flag, and nothing is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .._backend_info import backend_info
from .._errors import InvalidOptions, UsageError
from .._options import PERMISSION_MODES, AgentOptions, parse_tools

__all__ = [
    "CLAUDE_FLAGS",
    "AllowedToolsFlag",
    "AppendSystemPromptFlag",
    "DisallowedToolsFlag",
    "MaxTurnsFlag",
    "McpConfigFlag",
    "PermissionModeFlag",
    "SettingFlag",
    "ToolsFlag",
    "claude_options",
]

CLAUDE_FLAGS: dict[str, str] = {
    "tools": "--tools",
    "allowed_tools": "--allowed-tools",
    "disallowed_tools": "--disallowed-tools",
    "permission_mode": "--permission-mode",
    "max_turns": "--max-turns",
    "append_system_prompt": "--append-system-prompt",
    "mcp_config": "--mcp-config",
    "settings": "--setting",
}
"""The agent option each flag sets, and the flag."""
_EVERY_BACKEND = frozenset({"append_system_prompt"})

_LIST = "Repeat the flag or give a comma-separated list."

ToolsFlag = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        metavar="TOOLS",
        help=f"claude-code: the only built-in tools the agent has, e.g. Read,Grep ('' for "
        f"none). {_LIST}",
    ),
]
AllowedToolsFlag = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-tools",
        metavar="RULES",
        help="claude-code: tools (or rules such as 'Bash(git diff:*)') that run without "
        f"asking; a headless agent is refused any other that needs permission. {_LIST}",
    ),
]
DisallowedToolsFlag = Annotated[
    list[str] | None,
    typer.Option(
        "--disallowed-tools",
        metavar="RULES",
        help=f"claude-code: tools (or rules) the agent may never use. {_LIST}",
    ),
]
PermissionModeFlag = Annotated[
    str | None,
    typer.Option(
        "--permission-mode",
        metavar="MODE",
        help=f"claude-code: {', '.join(PERMISSION_MODES)}. acceptEdits lets the agent "
        "edit and write files in its working directory; ask sends each permission prompt "
        "to podium's inbox (podium inbox / allow / deny).",
    ),
]
MaxTurnsFlag = Annotated[
    str | None,
    typer.Option(
        "--max-turns",
        metavar="N",
        help="claude-code: at most N model calls per request; the request then ends.",
    ),
]
AppendSystemPromptFlag = Annotated[
    str | None,
    typer.Option(
        "--append-system-prompt",
        metavar="TEXT",
        help="Text added after the system prompt (claude-code: after Claude Code's own).",
    ),
]
McpConfigFlag = Annotated[
    str | None,
    typer.Option(
        "--mcp-config",
        metavar="JSON|FILE",
        help='claude-code: MCP servers, as JSON ({"mcpServers": {...}}) or a file.',
    ),
]
SettingFlag = Annotated[
    str | None,
    typer.Option(
        "--setting",
        metavar="JSON|FILE",
        help="claude-code: Claude Code settings (its --settings), as a JSON object or a file.",
    ),
]


def claude_options(
    *,
    backend: str,
    tools: list[str] | None,
    allowed_tools: list[str] | None,
    disallowed_tools: list[str] | None,
    permission_mode: str | None,
    max_turns: str | None,
    append_system_prompt: str | None,
    mcp_config: str | None,
    setting: str | None,
) -> dict[str, Any]:
    """The options these flags set (only those given), checked as the daemon will check
    them; a :class:`UsageError` names the flag of the first bad one."""
    options: dict[str, Any] = {}
    for key, values in (
        ("tools", tools),
        ("allowed_tools", allowed_tools),
        ("disallowed_tools", disallowed_tools),
    ):
        if values:
            options[key] = _tool_list(CLAUDE_FLAGS[key], values)
    if permission_mode is not None:
        options["permission_mode"] = permission_mode
    if max_turns is not None:
        options["max_turns"] = _whole_number(CLAUDE_FLAGS["max_turns"], max_turns)
    if append_system_prompt is not None:
        options["append_system_prompt"] = append_system_prompt
    if mcp_config is not None:
        options["mcp_config"] = _json_or_file(CLAUDE_FLAGS["mcp_config"], mcp_config)
    if setting is not None:
        options["settings"] = _json_or_file(CLAUDE_FLAGS["settings"], setting)
    info = backend_info(backend)
    cli_only = [CLAUDE_FLAGS[key] for key in options if key not in _EVERY_BACKEND]
    if info.api and cli_only:
        # An API backend has no tools, permissions or settings: silence would mislead.
        raise UsageError(
            f"{', '.join(cli_only)}: only for the claude-code backend, not {info.name.value}"
        )
    try:
        AgentOptions.from_dict(options, backend=backend)
    except InvalidOptions as exc:
        key = str(exc.context.get("option", ""))
        flag = CLAUDE_FLAGS.get(key)
        if flag is None:
            raise
        problem = exc.message.removeprefix(f"option {key!r} ")
        raise UsageError(f"{flag}: {problem}", option=key) from None
    return options


def _tool_list(flag: str, values: list[str]) -> list[str]:
    """``--tools Read --tools Grep`` and ``--tools Read,Grep`` alike; ``--tools ''``: none."""
    if len(values) == 1 and not values[0].strip():
        return []
    tools: list[str] = []
    for value in values:
        try:
            tools.extend(parse_tools(value))
        except ValueError as exc:
            problem = str(exc).replace("omit the key", "omit the flag")
            raise UsageError(f"{flag}: {value!r} {problem}") from None
    return tools


def _whole_number(flag: str, value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise UsageError(f"{flag}: must be a whole number >= 1, got {value!r}") from None
    if number < 1:
        raise UsageError(f"{flag}: must be at least 1, got {number}")
    return number


def _json_or_file(flag: str, value: str) -> str:
    """JSON text as given; a file's path made absolute from here (the agent's process
    starts elsewhere: in its worktree, say), and checked to be a file."""
    if value.lstrip().startswith("{") or not value.strip():
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.exists():
        raise UsageError(f"{flag}: file {value!r} does not exist")
    if not path.is_file():
        raise UsageError(f"{flag}: {value!r} is not a file")
    return str(path.resolve())
