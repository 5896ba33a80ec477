"""Backends: ways of running an agent's conversation, behind one protocol."""

from ._api_options import check_api_options, parse_fallback
from ._protocol import (
    Backend,
    BackendSession,
    ChatMessage,
    ConversationBackend,
    EventSink,
    SessionSpec,
    StartMode,
    TurnResult,
)
from ._registry import BACKEND_NAMES, default_backends

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendSession",
    "ChatMessage",
    "ConversationBackend",
    "EventSink",
    "SessionSpec",
    "StartMode",
    "TurnResult",
    "check_api_options",
    "default_backends",
    "parse_fallback",
]

