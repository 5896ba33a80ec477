"""Which Claude Code configuration an agent runs with, and who it is logged in as.

``user`` (the default): the user's own configuration, exactly as ``claude`` run by
them would find it: ``$CLAUDE_CONFIG_DIR`` if they set one, else ``~/.claude``
(with ``~/.claude.json``). Their login, settings, CLAUDE.md memory, agents,
commands, plugins and MCP servers all apply; what differs per agent travels as
flags. podium never copies, stores or forwards a credential: the CLI reads the
user's own files (or Keychain) itself.

``isolated``: a configuration of the agent's own under its state directory,
authenticated only by what the environment gives it (an API key, an
``api_key_env``, ``CLAUDE_CODE_OAUTH_TOKEN``) or an ``apiKeyHelper``.

A path: a configuration directory the user prepared (a second account, say).

A container's CLI runs in another filesystem: it defaults to ``isolated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..._errors import BackendError
from ..._options import AgentOptions
from ...isolation._protocol import IsolationMode
from .._protocol import AuthStatus

__all__ = [
    "ConfigMode",
    "auth_status",
    "config_env",
    "config_mode",
    "config_root",
    "not_logged_in_message",
]

_AUTH_TIMEOUT = 20.0


class ConfigMode(enum.StrEnum):
    USER = "user"
    ISOLATED = "isolated"
    PATH = "path"


def config_mode(options: AgentOptions) -> ConfigMode:
    setting = options.config_dir
    if setting is None:
        in_container = (
            options.workspace is not None and options.workspace.mode is IsolationMode.CONTAINER
        ) or (options.isolation is not None and options.isolation.mode is IsolationMode.CONTAINER)
        return ConfigMode.ISOLATED if in_container else ConfigMode.USER
    if setting in (ConfigMode.USER, ConfigMode.ISOLATED):
        return ConfigMode(setting)
    return ConfigMode.PATH


def _user_root(env: Mapping[str, str]) -> Path:
    own = env.get("CLAUDE_CONFIG_DIR")
    if own:
        return Path(own).expanduser()
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".claude"


def config_root(options: AgentOptions, state_dir: Path, env: Mapping[str, str]) -> Path:
    """The directory the agent's CLI keeps its configuration and transcripts in.

    ``env``: the environment its CLI starts with (the daemon's and the agent's).
    """
    mode = config_mode(options)
    if mode is ConfigMode.ISOLATED:
        return state_dir / "claude"
    if mode is ConfigMode.PATH:
        return Path(str(options.config_dir))
    return _user_root(env)


def config_env(options: AgentOptions, state_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """What the CLI's environment needs to find that configuration.

    The user's own stays as they have it (no ``CLAUDE_CONFIG_DIR`` if they set
    none: on macOS the login's Keychain item is named after the directory).
    """
    if config_mode(options) is ConfigMode.USER and not env.get("CLAUDE_CONFIG_DIR"):
        return {}
    return {"CLAUDE_CONFIG_DIR": str(config_root(options, state_dir, env))}


def _billing(data: Mapping[str, object]) -> str:
    provider = data.get("apiProvider")
    if isinstance(provider, str) and provider not in ("firstParty", ""):
        return f"cloud provider ({provider})"
    method = data.get("authMethod")
    if method in ("api_key", "api_key_helper"):
        return "api-key"
    if method in ("claude.ai", "oauth_token"):
        # Headless use of a subscription draws on its monthly Agent SDK credit.
        plan = data.get("subscriptionType")
        return f"subscription{f' {plan}' if isinstance(plan, str) else ''} (Agent SDK credit)"
    return "none"


async def auth_status(cli: str, env: Mapping[str, str], *, cwd: Path) -> AuthStatus:
    """Ask the CLI who it would be logged in as (about 0.2 s); never reads a credential."""
    try:
        process = await asyncio.create_subprocess_exec(
            cli,
            "auth",
            "status",
            cwd=str(cwd),
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise BackendError(f"cannot run Claude Code ({cli}): {exc}") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), _AUTH_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise BackendError(
            f"`claude auth status` did not answer in {_AUTH_TIMEOUT:.0f} s"
        ) from None
    try:
        data = json.loads(out)
    except ValueError:
        tail = err.decode(errors="replace").strip()[-300:]
        raise BackendError(
            f"`claude auth status` gave no status (exit {process.returncode}): {tail}"
        ) from None
    if not isinstance(data, dict):
        raise BackendError("`claude auth status` gave no status")
    method = str(data.get("authMethod") or "none")
    plan = data.get("subscriptionType")
    return AuthStatus(
        ok=data.get("loggedIn") is True,
        method=method,
        billing=_billing(data),
        config_dir=str(data.get("configDirectory") or ""),
        subscription=plan if isinstance(plan, str) else None,
    )


def not_logged_in_message(agent: str, mode: ConfigMode, root: Path) -> str:
    where = {
        ConfigMode.USER: f"your Claude Code configuration ({root})",
        ConfigMode.ISOLATED: f"its isolated configuration ({root})",
        ConfigMode.PATH: f"the configuration directory {root}",
    }[mode]
    return (
        f"agent {agent!r}: nobody is logged in to Claude Code for {where}. Log in with "
        "`claude /login` (a Pro/Max subscription), or mint a token with `claude setup-token` "
        "and export CLAUDE_CODE_OAUTH_TOKEN, or export ANTHROPIC_API_KEY; then restart the "
        "daemon (`podium down`) so it sees the variable"
    )
