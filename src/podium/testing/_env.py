"""Where the real CLI lives and how to point it at the fake.

Every real-CLI test needs the same isolation: the fake's URL, a dummy key, no
telemetry, a private config dir, and none of the parent's ``CLAUDECODE*``
variables (which would make the child think it is nested in a session).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["bundled_cli", "cli_env", "fake_api_env"]


def bundled_cli() -> Path:
    """The Claude Code binary shipped inside the claude-agent-sdk wheel."""
    import claude_agent_sdk

    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


def cli_env(
    base_url: str, home: str | Path, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for a CLI process that talks only to the fake at ``base_url``."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("CLAUDECODE") and not k.startswith("ANTHROPIC_")
    }
    home = str(home)
    env.update(
        ANTHROPIC_BASE_URL=base_url,
        ANTHROPIC_API_KEY="sk-ant-fake-key",
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        CLAUDE_CONFIG_DIR=str(Path(home) / ".claude"),
        HOME=home,
    )
    return env


def fake_api_env(
    base_url: str, *, max_retries: int = 1, config_dir: str | Path | None = None
) -> dict[str, str]:
    """What a runtime passes to every agent process so it talks to the fake, and only to it.

    ``max_retries`` bounds the CLI's own retries of a scripted 429/5xx, which
    would otherwise take minutes. ``config_dir``: a throwaway Claude Code
    configuration for agents in the default ``user`` mode, so a demo or a
    benchmark never writes into the real user's ``~/.claude``.
    """
    env = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-key",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": str(max_retries),
    }
    if config_dir is not None:
        env["CLAUDE_CONFIG_DIR"] = str(config_dir)
    return env
