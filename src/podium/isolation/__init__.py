"""Isolation of agents from the project and from each other: one interface, four modes.

See :mod:`podium.isolation._protocol` for the contract. ``isolator_for(mode)`` returns the
isolator of a mode; ``shared`` and ``worktree`` live here, ``sandbox`` and ``container``
beside them.

A workspace belongs to one agent. A standalone agent (``podium spawn NAME --isolation
worktree``) gets one worktree and branch, ``podium/NAME``, for its whole life, however
many prompts it answers. In a run every task is a fresh agent (``<run>-<task>``), so
every task gets its own worktree and branch, committed at the end of the task; two
tasks of one worker never share a checkout. There is no setting for this: per agent
is per task in a run.

Where it is configured: ``isolation`` in a profile's frontmatter, a worker's table or
``[defaults]`` of ``podium.toml``, or ``podium spawn --isolation``, as a mode name or a
table of :class:`IsolationSpec` settings (read by :mod:`._settings`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from podium.isolation._protocol import (
    IsolationError,
    IsolationMode,
    IsolationSpec,
    Isolator,
    MergeConflict,
    Workspace,
    isolator_for,
    register_isolator,
)

if TYPE_CHECKING:
    from podium.isolation._worktree import diff_workspace, merge_workspace, worktree_path

__all__ = [
    "IsolationError",
    "IsolationMode",
    "IsolationSpec",
    "Isolator",
    "MergeConflict",
    "Workspace",
    "diff_workspace",
    "isolator_for",
    "merge_workspace",
    "register_isolator",
    "worktree_path",
]

# The worktree helpers load on first use: they pull in asyncio, and every command
# line reaches this package (agent records carry an IsolationSpec) without needing them.
_LAZY = {
    "diff_workspace": "podium.isolation._worktree",
    "merge_workspace": "podium.isolation._worktree",
    "worktree_path": "podium.isolation._worktree",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'podium.isolation' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
