"""podium: run Claude Code CLI instances as named, persistent agents.

Two ways in:

* :class:`Runtime` hosts the agents in your own asyncio program;
* :class:`Client` talks to the ``podium`` daemon (``podium up``) over its local HTTP API.

``Runtime``, ``RuntimeConfig`` and ``Client`` are imported on first use: the CLI
imports this package on every invocation and the runtime pulls in the model SDK,
which costs seconds on a slow machine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    AgentExists,
    AgentNotFound,
    BackendError,
    CLINotFound,
    DaemonError,
    InvalidModel,
    InvalidName,
    InvalidPrompt,
    NoAnswerYet,
    PodiumError,
    ProcessDied,
    RequestFailed,
    RequestNotFound,
    UsageError,
    WaitTimeout,
    error_from_dict,
)
from ._records import (
    TERMINAL_STATES,
    AgentRecord,
    AgentStatus,
    Event,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
    Usage,
)
from ._tell import TellMode, TellResult
from ._version import __version__

if TYPE_CHECKING:
    from ._client import Client
    from .runtime import Runtime, RuntimeConfig

__all__ = [
    "TERMINAL_STATES",
    "AgentExists",
    "AgentNotFound",
    "AgentRecord",
    "AgentStatus",
    "BackendError",
    "CLINotFound",
    "Client",
    "DaemonError",
    "Event",
    "EventKind",
    "InvalidModel",
    "InvalidName",
    "InvalidPrompt",
    "NoAnswerYet",
    "PodiumError",
    "ProcessDied",
    "RequestFailed",
    "RequestNotFound",
    "RequestRecord",
    "RequestSource",
    "RequestState",
    "Runtime",
    "RuntimeConfig",
    "TellMode",
    "TellResult",
    "Usage",
    "UsageError",
    "WaitTimeout",
    "__version__",
    "error_from_dict",
]

_LAZY = {
    "Client": "podium._client",
    "Runtime": "podium.runtime",
    "RuntimeConfig": "podium.runtime",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'podium' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
