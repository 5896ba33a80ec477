"""Where the state directory is, without importing the runtime.

Mirrors ``podium.runtime.default_home`` (a test checks they agree): importing
``podium.runtime`` loads the model SDK, which the CLI and Client must not pay
for on every command.
"""

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
