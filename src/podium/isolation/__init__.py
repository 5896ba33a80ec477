"""Isolation of agents from the project and from each other: one interface, four modes.

See :mod:`podium.isolation._protocol` for the contract. ``isolator_for(mode)`` returns the
isolator of a mode; ``shared`` and ``worktree`` live here, ``sandbox`` and ``container``
beside them.
"""

from podium.isolation._protocol import (
    IsolationError,
    IsolationMode,
    IsolationSpec,
    Isolator,
    MergeConflict,
    Workspace,
    isolator_for,
    register_isolator,
    workspace_of,
)
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
    "workspace_of",
    "worktree_path",
]
