"""Where the state directory is. Kept apart from the runtime so the CLI and the
Client can find the daemon without importing the model SDK."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_home", "private_dir", "private_file"]


def default_home() -> Path:
    """``$PODIUM_HOME``, else ``$XDG_STATE_HOME/podium``, else ``~/.local/state/podium``."""
    explicit = os.environ.get("PODIUM_HOME")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "podium"


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents 0700, whatever the umask.

    Everything under the state directory (token, transcripts, database) is the
    user's alone; ``mkdir(parents=True)`` would leave the parents to the umask.
    """
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another process: its maker chose its mode
        os.chmod(directory, 0o700)  # the umask may have taken bits from 0700 itself
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if missing (a later open keeps its mode)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    return path
