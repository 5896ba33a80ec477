"""The Backend protocol: what the runtime needs from any way of running a model."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from .._options import AgentOptions
from .._records import Usage

__all__ = [
    "PROMPT_SENT",
    "Approver",
    "AuthStatus",
    "AuthenticatingBackend",
    "Backend",
    "BackendSession",
    "ChatMessage",
    "ConversationBackend",
    "EventSink",
    "PermissionAnswer",
    "SessionSpec",
    "StartMode",
    "TurnResult",
]

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Receives backend-side happenings during a turn, e.g. ``("api_retry", {...})``.

The runtime's sink also has ``batch()``, a context manager: the events sent in its
block (which must not suspend otherwise) are recorded with one commit."""

PROMPT_SENT = "prompt_sent"
"""Sent (with ``{}``) by a session whose ``announces_prompt_sent`` is true, once the
turn's prompt has been handed to the model: the runtime then records the request as
running, so that writing the record overlaps the model's work instead of delaying it.
A session without the attribute has its request recorded running before the turn."""


@dataclass(frozen=True, kw_only=True)
class PermissionAnswer:
    """What an ``ask``-mode agent's CLI is told about one tool use."""

    allow: bool
    message: str = ""
    """Why it was denied: the model reads it as the tool's result."""


Approver = Callable[[str, dict[str, Any], str], Awaitable[PermissionAnswer]]
"""Decides a tool use ``(tool, input, the CLI's id for the ask)`` of an ``ask``-mode
agent; it may wait as long as a person takes (the runtime's approval inbox)."""


class StartMode(enum.StrEnum):
    NEW = "new"  # a fresh session under the pre-assigned id
    RESUME = "resume"  # continue the agent's own session in a new process
    FORK = "fork"  # a new session carrying the parent's history


@dataclass(frozen=True, kw_only=True)
class SessionSpec:
    """Everything a backend needs to start (or restart) one agent's process."""

    agent: str
    session_id: str
    mode: StartMode
    cwd: Path
    state_dir: Path
    """The agent's private directory (config home, scratch)."""
    model: str | None = None
    system_prompt: str | None = None
    parent_session_id: str | None = None
    options: AgentOptions = field(default_factory=AgentOptions)
    env: dict[str, str] = field(default_factory=dict)
    launcher: tuple[str, ...] = ()
    """An argv prefix the process is started under (a sandbox or container runner)."""
    approver: Approver | None = None
    """Where an ``ask``-mode agent's permission prompts go; ``None``: nowhere (denied)."""


@dataclass(frozen=True)
class ChatMessage:
    """One visible message of a conversation: what a user said or a model answered."""

    role: Literal["user", "assistant"]
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    """What one turn produced. ``cost_usd`` is for this turn alone; None when the
    model has no price (a local model, or one missing from the price table)."""

    text: str
    is_error: bool
    error: str | None
    usage: Usage
    cost_usd: float | None
    model: str | None
    session_id: str | None
    num_turns: int = 0
    duration_ms: int = 0
    subtype: str | None = None
    api_error_status: int | None = None
    interrupted: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Facts for the request's record: ``fallbacks`` taken, ``batch_id``, ``backend``."""


class BackendSession(Protocol):
    """One live conversation process. Used from a single task at a time."""

    @property
    def pid(self) -> int | None: ...

    @property
    def alive(self) -> bool: ...

    @property
    def stderr_tail(self) -> str: ...

    @property
    def resolved_model(self) -> str | None: ...

    async def start(self) -> None:
        """Start the process; raises BackendError with the CLI's own words on failure."""
        ...

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        """Send one prompt and wait for its result. Raises ProcessDied if the process exits."""
        ...

    async def interrupt(self) -> None:
        """End the running turn early; the process stays usable."""
        ...

    async def wait_exit(self) -> int:
        """Return the exit code once the process has exited (for whatever reason)."""
        ...

    async def close(self) -> None:
        """Stop the process and everything it started. Idempotent."""
        ...


class Backend(Protocol):
    name: str

    def check(self) -> None:
        """Raise a BackendError if the backend cannot run at all (e.g. binary missing)."""
        ...

    def session(self, spec: SessionSpec) -> BackendSession: ...

    def session_exists(self, spec: SessionSpec) -> bool:
        """True if ``spec.session_id`` has a stored conversation that can be resumed."""
        ...

    async def prepare_fork(
        self,
        *,
        parent: SessionSpec,
        child_session_id: str,
        child_state_dir: Path,
        child_cwd: Path,
    ) -> bool:
        """Snapshot what the child (session ``child_session_id``) needs of the parent's
        session now.

        Returns False if the parent has nothing to inherit yet.
        """
        ...


@dataclass(frozen=True, kw_only=True)
class AuthStatus:
    """What ``claude auth status`` says for one agent's configuration and environment."""

    ok: bool
    method: str
    """``claude.ai`` (a login), ``oauth_token`` (setup-token), ``api_key``,
    ``api_key_helper``, ``none``, ..."""
    billing: str
    """The pool its turns draw from."""
    config_dir: str
    subscription: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "method": self.method,
            "billing": self.billing,
            "config_dir": self.config_dir,
            "subscription": self.subscription,
        }


@runtime_checkable
class AuthenticatingBackend(Protocol):
    """A backend whose agents log in through a configuration of their own (Claude
    Code): it can say where that configuration is and who is logged in there."""

    def shared_config(self, options: AgentOptions, env: Mapping[str, str]) -> Path | None:
        """The configuration directory outside the agent's state directory its process
        reads and writes (the user's own), or ``None``."""
        ...

    async def check_auth(self, spec: SessionSpec) -> AuthStatus:
        """Who the agent's process would be logged in as; never reads a credential.
        Raises :class:`~podium._errors.NotLoggedIn` when nobody is."""
        ...


@runtime_checkable
class ConversationBackend(Protocol):
    """A backend that can hand over and take in a visible conversation, which is
    how a fork moves between backends (only the text both sides can see travels)."""

    def export_conversation(self, spec: SessionSpec) -> list[ChatMessage] | None:
        """The session's conversation so far, or None if this backend cannot tell."""
        ...

    def import_conversation(self, spec: SessionSpec, messages: Sequence[ChatMessage]) -> None:
        """Seed the new session ``spec`` with ``messages`` before its first turn."""
        ...
