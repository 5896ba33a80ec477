"""Keeping a path named in a config file inside the project it belongs to.

A team file, a profile or an isolation setting is written by whoever controls the
repository; the paths in it must not reach the rest of the machine. ``../`` and
absolute paths are the obvious escapes; a symlink inside the project pointing out
of it is the quiet one, so paths are compared after every symlink is resolved.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["inside"]


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (relative paths: to the cwd) lies in ``root``, symlinks resolved.

    A path that does not exist yet is placed by its existing parents.
    """
    real_root = root.resolve()
    real = path.resolve()
    return real == real_root or real.is_relative_to(real_root)
