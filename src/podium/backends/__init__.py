"""Backends: ways of running an agent's conversation, behind one protocol."""

from ._protocol import Backend, BackendSession, EventSink, SessionSpec, StartMode, TurnResult

__all__ = ["Backend", "BackendSession", "EventSink", "SessionSpec", "StartMode", "TurnResult"]
