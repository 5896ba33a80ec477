"""Take-over: Claude Code's own interactive TUI on an agent's conversation.

``podium attach`` runs ``claude --resume <session>`` with the agent's cwd,
configuration directory and environment, so the TUI shows the conversation
and a prompt typed there is sent with all of it. The TUI first stops at
dialogs a headless process never shows; podium answers them in that
configuration's ``.claude.json`` beforehand:

- an ``isolated`` configuration or a prepared one (a path): onboarding done
  (else it tries api.anthropic.com and exits), the API key approved (its last
  20 characters, else "use this key?" defaults to No), the cwd trusted;
- the user's own (``user``): only the agent's cwd trusted, if it was not, and
  the user is told. Nothing else of theirs is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._errors import BackendError
from .._protocol import SessionSpec, StartMode
from ._config import ConfigMode, config_env, config_mode, config_root

__all__ = ["InteractiveLaunch", "interactive_argv", "prepare_config", "state_file"]

# Flags of the headless process that the TUI has no use for (or refuses: "only
# works with --print"); each is followed by its value except --verbose.
# --replay-user-messages echoes steering into the stream; --permission-prompt-tool
# sends permission prompts to podium's inbox (in the TUI the person answers them).
_PRINT_ONLY = {
    "--input-format": 1,
    "--output-format": 1,
    "--verbose": 0,
    "--replay-user-messages": 0,
    "--permission-prompt-tool": 1,
}
_PRINT_ONLY_VALUED = {"--max-budget-usd", "--max-turns"}
# What of the daemon's own environment reaches the TUI besides the agent's: where
# the API is and who pays (a key, a token, a cloud provider), never the rest.
_CARRIED_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "DISABLE_", "AWS_", "CLOUD_ML_", "GOOGLE_")
_CARRIED = {"HOME", "CLAUDE_CONFIG_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
_KEY_SUFFIX = 20


@dataclass(frozen=True, kw_only=True)
class InteractiveLaunch:
    """What ``podium attach`` runs: argv, cwd, the environment to add (and to remove)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    unset: list[str] = field(default_factory=list)
    config_dir: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "cwd": self.cwd,
            "env": dict(self.env),
            "unset": list(self.unset),
            "config_dir": self.config_dir,
            "notes": list(self.notes),
        }


def interactive_argv(headless: list[str]) -> list[str]:
    """The headless command line (``build_argv`` in resume mode) as the TUI's."""
    out: list[str] = []
    skip = 0
    for index, arg in enumerate(headless):
        if skip:
            skip -= 1
            continue
        if index and arg in _PRINT_ONLY:
            skip = _PRINT_ONLY[arg]
            continue
        if index and arg in _PRINT_ONLY_VALUED:
            skip = 1
            continue
        out.append(arg)
    return out


def launch_env(
    spec: SessionSpec, daemon_env: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The environment podium gives the agent's CLI, as additions to the caller's own,
    and the variables to remove (a user-mode config dir the caller may have set)."""
    seen = {**daemon_env, **spec.env}
    carried = {
        k: v
        for k, v in daemon_env.items()
        if (k in _CARRIED or k.startswith(_CARRIED_PREFIXES)) and not k.startswith("CLAUDECODE")
    }
    env = {**carried, **spec.env, **config_env(spec.options, spec.state_dir, seen)}
    unset: list[str] = []
    if not env.get("CLAUDE_CONFIG_DIR"):
        env.pop("CLAUDE_CONFIG_DIR", None)
        unset.append("CLAUDE_CONFIG_DIR")
    return env, unset


def state_file(spec: SessionSpec, env: Mapping[str, str]) -> Path:
    """The CLI's ``.claude.json`` for this configuration: in the config dir when one
    is set, else ``~/.claude.json`` beside ``~/.claude``."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]).expanduser() / ".claude.json"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".claude.json"


def prepare_config(spec: SessionSpec, env: Mapping[str, str]) -> list[str]:
    """Answer the TUI's first-run dialogs for ``spec``'s configuration; returns notes
    for the user (what was changed in their own configuration)."""
    mode = config_mode(spec.options)
    path = state_file(spec, env)
    cwd = str(spec.cwd)
    try:
        data = _read(path)
    except BackendError as exc:
        if mode is ConfigMode.USER:
            return [f"{exc.message}; Claude Code may ask whether to trust {cwd}"]
        raise
    changed: list[str] = []
    projects = data.setdefault("projects", {})
    if not isinstance(projects, dict):
        raise BackendError(f"{path}: 'projects' is not an object; not changing it")
    project = projects.setdefault(cwd, {})
    if not isinstance(project, dict):
        raise BackendError(f"{path}: projects[{cwd!r}] is not an object; not changing it")
    if project.get("hasTrustDialogAccepted") is not True:
        project["hasTrustDialogAccepted"] = True
        changed.append("trust")
    if mode is not ConfigMode.USER:
        if data.get("hasCompletedOnboarding") is not True:
            data["hasCompletedOnboarding"] = True
            changed.append("onboarding")
        key = env.get("ANTHROPIC_API_KEY")
        if key:
            responses = data.setdefault("customApiKeyResponses", {})
            if not isinstance(responses, dict):
                raise BackendError(f"{path}: 'customApiKeyResponses' is not an object")
            approved = responses.setdefault("approved", [])
            responses.setdefault("rejected", [])
            if isinstance(approved, list) and key[-_KEY_SUFFIX:] not in approved:
                approved.append(key[-_KEY_SUFFIX:])
                changed.append("key")
    if not changed:
        return []
    _write(path, data)
    if mode is ConfigMode.USER:
        return [f"marked {cwd} as trusted in your Claude Code configuration ({path})"]
    return []


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BackendError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        raise BackendError(f"{path} is not valid JSON; not changing it") from None
    if not isinstance(data, dict):
        raise BackendError(f"{path} does not hold a JSON object; not changing it")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    # Atomic, and as private as the CLI keeps it: other CLIs may read it any time.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".claude.json.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def resume_spec(spec: SessionSpec) -> SessionSpec:
    """The agent's spec to resume its session (the TUI never forks or starts one)."""
    import dataclasses

    return dataclasses.replace(spec, mode=StartMode.RESUME)


def launch_for(
    cli: str, spec: SessionSpec, daemon_env: Mapping[str, str], headless: list[str]
) -> InteractiveLaunch:
    env, unset = launch_env(spec, daemon_env)
    notes = prepare_config(spec, env)
    root = config_root(spec.options, spec.state_dir, {**daemon_env, **spec.env})
    return InteractiveLaunch(
        argv=interactive_argv(headless),
        cwd=str(spec.cwd),
        env=env,
        unset=unset,
        config_dir=str(root),
        notes=notes,
    )
