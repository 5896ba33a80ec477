"""Backends: ways of running an agent's conversation, behind one protocol.

What each backend can be given, and where its key comes from, is its descriptor
(:func:`backend_info`); the backends themselves load their SDKs on first use.
"""

from .._backend_info import (
    API_BACKENDS,
    BACKEND_NAMES,
    BACKENDS,
    BackendInfo,
    BackendName,
    backend_info,
)
from ._activity import Activity, SteerableSession
from ._protocol import (
    PROMPT_SENT,
    Approver,
    AuthenticatingBackend,
    AuthStatus,
    Backend,
    BackendSession,
    ChatMessage,
    ConversationBackend,
    EventSink,
    PermissionAnswer,
    SessionSpec,
    StartMode,
    TurnResult,
)
from ._registry import default_backends

__all__ = [
    "API_BACKENDS",
    "BACKENDS",
    "BACKEND_NAMES",
    "PROMPT_SENT",
    "Activity",
    "Approver",
    "AuthStatus",
    "AuthenticatingBackend",
    "Backend",
    "BackendInfo",
    "BackendName",
    "BackendSession",
    "ChatMessage",
    "ConversationBackend",
    "EventSink",
    "PermissionAnswer",
    "SessionSpec",
    "StartMode",
    "SteerableSession",
    "TurnResult",
    "backend_info",
    "default_backends",
]
