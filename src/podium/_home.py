"""Where the state directory is. Kept apart from the runtime so the CLI and the
Client can find the daemon without importing the model SDK."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_home"]


def default_home() -> Path:
    """``$PODIUM_HOME``, else ``$XDG_STATE_HOME/podium``, else ``~/.local/state/podium``."""
    explicit = os.environ.get("PODIUM_HOME")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "podium"
