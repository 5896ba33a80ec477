"""Every error podium raises, under one root.

PodiumError                      root; ``.context`` holds the ids a user needs
├── UsageError                   the caller asked for something invalid
│   ├── InvalidName              a name that is not a safe identifier
│   ├── InvalidModel             an unknown model alias or id
│   ├── InvalidPrompt            empty prompt
│   ├── InvalidOptions           an agent option that is unknown, podium's own, or ill-typed
│   ├── NotLoggedIn              nobody is logged in for an agent's configuration
│   ├── AgentNotFound
│   ├── AgentExists
│   ├── RequestNotFound
│   ├── NoAnswerYet              relay from an agent with no complete answer
│   └── PriceTableError          a price file that cannot be read or is invalid
├── BackendError                 a backend could not do its job
│   ├── CLINotFound              the Claude Code binary is missing
│   └── ProcessDied              the CLI process exited under a request
├── RequestFailed                a request ended failed / cancelled / interrupted
├── WaitTimeout                  a wait ran out (the request keeps going)
└── DaemonError                  the daemon could not be reached or refused
    └── DaemonStopping           the daemon is shutting down: a wait ended, a call refused
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AgentExists",
    "AgentNotFound",
    "BackendError",
    "CLINotFound",
    "DaemonError",
    "DaemonStopping",
    "InvalidModel",
    "InvalidName",
    "InvalidOptions",
    "InvalidPrompt",
    "NoAnswerYet",
    "NotLoggedIn",
    "PodiumError",
    "PriceTableError",
    "ProcessDied",
    "RequestFailed",
    "RequestNotFound",
    "UsageError",
    "WaitTimeout",
    "error_from_dict",
    "known_error_code",
]


_BY_CODE: dict[str, type[PodiumError]] = {}


class PodiumError(Exception):
    """Root of every podium error. ``context`` names the agent / request / run involved."""

    code: str = "podium_error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every error class with its own code can be rebuilt from the wire
        # (error_from_dict) once its module is imported, wherever it lives.
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            _BY_CODE.setdefault(cls.code, cls)

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "context": self.context}


class UsageError(PodiumError):
    """The caller asked for something invalid; nothing was changed."""

    code = "usage_error"


class InvalidName(UsageError):
    """A name that cannot be used (names become paths and ids)."""

    code = "invalid_name"


class InvalidModel(UsageError):
    """A model alias or id podium does not know."""

    code = "invalid_model"


class InvalidPrompt(UsageError):
    """An empty prompt or one that cannot be sent."""

    code = "invalid_prompt"


class InvalidOptions(UsageError):
    """An agent option that is unknown, set by podium itself, or of the wrong kind;
    ``context["option"]`` names it. Nothing was created."""

    code = "invalid_options"


class NotLoggedIn(UsageError):
    """Nobody is logged in to the model provider for an agent's configuration, and
    its environment holds no key: refused before anything is made or spent."""

    code = "not_logged_in"


class AgentNotFound(UsageError):
    """No agent of that name."""

    code = "agent_not_found"


class AgentExists(UsageError):
    """An agent of that name already exists."""

    code = "agent_exists"


class RequestNotFound(UsageError):
    """No request with that id."""

    code = "request_not_found"


class NoAnswerYet(UsageError):
    """The agent has no complete answer to relay."""

    code = "no_answer_yet"


class PriceTableError(UsageError):
    """A price file that cannot be read or breaks a rule; names the file, model and key."""

    code = "price_table_error"


class BackendError(PodiumError):
    """A backend could not do its job."""

    code = "backend_error"


class CLINotFound(BackendError):
    """The Claude Code CLI binary could not be found."""

    code = "cli_not_found"


class ProcessDied(BackendError):
    """The agent's CLI process exited while it was needed."""

    code = "process_died"


class RequestFailed(PodiumError):
    """A request ended in a state other than complete."""

    code = "request_failed"


class WaitTimeout(PodiumError):
    """A wait ran out of time; the request itself keeps going."""

    code = "wait_timeout"


class DaemonError(PodiumError):
    """The daemon could not be reached, or refused the call."""

    code = "daemon_error"


class DaemonStopping(DaemonError):
    """The daemon is shutting down: it takes no new call, and a wait ends unanswered."""

    code = "daemon_stopping"


_BY_CODE[PodiumError.code] = PodiumError


def known_error_code(code: str) -> bool:
    """Whether an error class with this code has been imported (registered) yet."""
    return code in _BY_CODE


def error_from_dict(data: dict[str, Any]) -> PodiumError:
    """Rebuild an error sent over the wire by :meth:`PodiumError.to_dict`."""
    cls = _BY_CODE.get(str(data.get("code", "")), PodiumError)
    context = data.get("context") or {}
    return cls(str(data.get("message", "unknown error")), **context)
