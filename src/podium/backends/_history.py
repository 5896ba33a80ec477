"""The conversation podium keeps for API backends: one JSON message per line.

The API is stateless, so the history is the session. It lives in the agent's
state directory and grows by whole exchanges (prompt and answer in one write),
which is what makes it durable: a crash mid-turn leaves the previous exchange
intact, and a fork is a copy of the file under the child's directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from .._errors import BackendError
from ._protocol import ChatMessage

__all__ = [
    "HISTORY_FILE",
    "append_exchange",
    "history_bytes",
    "history_path",
    "read_history",
    "render_conversation",
    "write_history",
]

HISTORY_FILE = "conversation.jsonl"


def history_path(state_dir: Path) -> Path:
    return state_dir / HISTORY_FILE


def _encode(messages: Sequence[ChatMessage]) -> bytes:
    return b"".join(json.dumps(m.to_dict(), ensure_ascii=False).encode() + b"\n" for m in messages)


def history_bytes(state_dir: Path) -> bytes | None:
    """The file's whole lines (a writer may be appending), or None if there is none."""
    path = history_path(state_dir)
    if not path.exists():
        return None
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1]


def read_history(state_dir: Path) -> list[ChatMessage]:
    data = history_bytes(state_dir)
    if not data:
        return []
    messages: list[ChatMessage] = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            record = json.loads(line)
            role, content = record["role"], record["content"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(
                f"conversation history {history_path(state_dir)} line {number} is not a "
                f"message: {exc}",
                path=str(history_path(state_dir)),
            ) from None
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise BackendError(
                f"conversation history {history_path(state_dir)} line {number}: "
                f"role must be user or assistant and content a string",
                path=str(history_path(state_dir)),
            )
        messages.append(ChatMessage(role, content))
    return messages


def append_exchange(state_dir: Path, prompt: str, answer: str) -> None:
    """Add one exchange in a single write, synced: it is there whole or not at all."""
    state_dir.mkdir(parents=True, exist_ok=True)
    data = _encode([ChatMessage("user", prompt), ChatMessage("assistant", answer)])
    fd = os.open(history_path(state_dir), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_history(state_dir: Path, messages: Sequence[ChatMessage] | bytes | None) -> None:
    """Replace the history atomically; None removes it."""
    path = history_path(state_dir)
    if messages is None:
        path.unlink(missing_ok=True)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    data = messages if isinstance(messages, bytes) else _encode(messages)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def render_conversation(messages: Sequence[ChatMessage]) -> str:
    """A conversation as text, for a backend that cannot be handed messages directly."""
    parts = ["The conversation so far (carried over from another agent):"]
    for message in messages:
        speaker = "User" if message.role == "user" else "Assistant"
        parts.append(f"--- {speaker} ---\n{message.content}")
    parts.append("--- end of the earlier conversation ---")
    return "\n\n".join(parts)
