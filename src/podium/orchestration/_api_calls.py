"""How many model calls one Claude Code turn made, read from the CLI's session transcript.

A turn with tool use is several API calls (call, tool, call, ...), each billed
and rate-limited on its own, but the CLI reports one result per turn. Its
transcript (``<session>.jsonl``) has one ``assistant`` line per content block,
each carrying the API message's ``id`` and ``usage``: distinct ids are the
calls. Only the lines appended during the turn are read (from a byte offset
taken before it), so a long session costs no more than its last turn.

Other backends make one call per turn; for them, and whenever the transcript
is not on this host, nothing is known and callers count one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from .._errors import PodiumError
from .._records import Usage
from ..backends.claude_code import transcript_path
from ..runtime import Runtime

__all__ = ["TranscriptMark", "TurnCalls", "calls_since", "mark_transcript"]

_CLAUDE_CODE = "claude-code"


@dataclass(frozen=True, kw_only=True)
class TurnCalls:
    calls: int
    """Distinct API messages the turn received (at least 1 when any was seen)."""
    usage: Usage
    """Their usage summed, each message counted once."""


@dataclass(frozen=True, kw_only=True)
class TranscriptMark:
    """Where an agent's transcript ended before a turn (``path`` None: not a CLI agent)."""

    path: Path | None
    session_id: str = ""
    offset: int = 0


async def mark_transcript(runtime: Runtime, agent: str) -> TranscriptMark:
    """Remember where the agent's transcript ends now; call before sending the turn."""
    try:
        record = await runtime.store.find_agent(agent)
    except PodiumError:
        return TranscriptMark(path=None)
    if record is None or record.backend != _CLAUDE_CODE:
        return TranscriptMark(path=None)
    state_dir = runtime.config.agent_dir(record.name, record.session_id)
    path = transcript_path(state_dir, runtime.agent_cwd(record), record.session_id)
    offset = 0
    with contextlib.suppress(OSError):
        offset = path.stat().st_size
    return TranscriptMark(path=path, session_id=record.session_id, offset=offset)


async def calls_since(mark: TranscriptMark) -> TurnCalls | None:
    """The calls recorded after ``mark``; ``None`` if the transcript cannot be read."""
    if mark.path is None:
        return None
    return await asyncio.to_thread(_read_calls, mark)


def _read_calls(mark: TranscriptMark) -> TurnCalls | None:
    assert mark.path is not None
    path, offset = mark.path, mark.offset
    if not path.is_file():
        # The CLI files transcripts under its own spelling of the cwd; the
        # session id alone finds it under the agent's config directory.
        found = sorted(path.parent.parent.glob(f"*/{mark.session_id}.jsonl"))
        if not found:
            return None
        path, offset = found[0], 0
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            # A shorter file is a rewritten one: read all of it.
            handle.seek(offset if offset <= size else 0)
            data = handle.read()
    except OSError:
        return None
    seen: dict[str, Usage] = {}
    # Whole lines only: the CLI may be appending the next one.
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        if b'"assistant"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get("message") if isinstance(entry, dict) else None
        if entry.get("type") != "assistant" or not isinstance(message, dict):
            continue
        if message.get("model") == "<synthetic>":
            continue  # written by the CLI itself (an error notice), not received
        message_id = message.get("id")
        if not isinstance(message_id, str) or message_id in seen:
            continue
        usage = message.get("usage")
        seen[message_id] = Usage.from_api(usage if isinstance(usage, dict) else None)
    total = Usage()
    for usage in seen.values():
        total = total + usage
    return TurnCalls(calls=len(seen), usage=total)
