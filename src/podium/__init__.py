"""podium: run Claude Code CLI instances as named, persistent agents.

Two ways in:

* :class:`Runtime` hosts the agents in your own asyncio program;
* :class:`Client` talks to the ``podium`` daemon (``podium up``) over its local HTTP API.

Every public name is imported on first use: the CLI imports this package on every
invocation, and ``podium ask`` must not pay for the records, the option types or
the runtime (which pulls in the model SDK and costs seconds on a slow machine).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._client import Client
    from ._errors import (
        AgentExists,
        AgentNotFound,
        BackendError,
        CLINotFound,
        DaemonError,
        DaemonStopping,
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
    "DaemonStopping",
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

_ERRORS = (
    "AgentExists AgentNotFound BackendError CLINotFound DaemonError DaemonStopping InvalidModel "
    "InvalidName InvalidPrompt NoAnswerYet PodiumError ProcessDied RequestFailed RequestNotFound "
    "UsageError WaitTimeout error_from_dict"
)
_RECORDS = (
    "TERMINAL_STATES AgentRecord AgentStatus Event EventKind RequestRecord RequestSource "
    "RequestState Usage"
)
_LAZY = {
    **dict.fromkeys(_ERRORS.split(), "podium._errors"),
    **dict.fromkeys(_RECORDS.split(), "podium._records"),
    "__version__": "podium._version",
    "TellMode": "podium._tell",
    "TellResult": "podium._tell",
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
