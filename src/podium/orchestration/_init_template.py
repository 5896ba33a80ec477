"""``podium init``: write a small, working example team into a directory.

The files are package data (``templates/``) rather than Python strings so they
can be read and edited as the markdown and TOML a user will see.
"""

from __future__ import annotations

import os
import secrets
from importlib.resources import files
from pathlib import Path

from ._team import TEAM_FILE, TeamError

__all__ = ["EXAMPLE_FILES", "write_example_team"]

# template name → where it goes, relative to the target directory. The first
# entry is the team file; the rest are the profiles it refers to.
EXAMPLE_FILES: tuple[tuple[str, str], ...] = (
    ("podium.toml", TEAM_FILE),
    ("orchestrator.md", ".claude/orchestrator.md"),
    ("DANCE.md", ".claude/DANCE.md"),
    ("ANGA.md", ".claude/ANGA.md"),
    ("FABIEN.md", ".claude/FABIEN.md"),
)


def write_example_team(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write the example team into ``directory``; return the files written.

    Without ``force`` nothing is written if any of the files already exists:
    a half-replaced team (new profiles, old team file) would be worse than none.
    Each file is written to a temporary name and renamed, so a crash leaves
    either the old file or the new one, never a truncated one.
    """
    root = Path(directory)
    templates = files("podium.orchestration").joinpath("templates")
    plan = [
        (root / dest, templates.joinpath(src).read_text(encoding="utf-8"))
        for src, dest in EXAMPLE_FILES
    ]
    if not force:
        for path, _ in plan:
            if path.exists() or path.is_symlink():
                raise TeamError(
                    f"{path}: already exists; not writing the example team "
                    "(use --force to overwrite the example files)",
                    path=str(path),
                )
    written: list[Path] = []
    for path, text in plan:
        _write_atomic(path, text)
        written.append(path)
    return written


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide the final mode, as for any
        # file the user creates (mkstemp would force 0o600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise TeamError(f"{path}: cannot write: {exc.strerror or exc}", path=str(path)) from None
