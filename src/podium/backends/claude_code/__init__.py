"""The claude-code backend: Claude Code CLI processes driven by claude-agent-sdk."""

from ._backend import (
    ClaudeCodeBackend,
    ClaudeCodeSession,
    bundled_cli_path,
    transcript_has_message,
    transcript_path,
)
from ._recover import RecoveredTurn

__all__ = [
    "ClaudeCodeBackend",
    "ClaudeCodeSession",
    "RecoveredTurn",
    "bundled_cli_path",
    "transcript_has_message",
    "transcript_path",
]
