"""What a turn left in the CLI's transcript when nobody was there to read its result.

A daemon that dies mid-turn leaves its CLI orphaned; the CLI finishes the turn
(paid for), writes it to the transcript, and exits when it notices its stdin is
gone. The transcript is then the only record of the answer and of the calls made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..._records import Usage

__all__ = ["RecoveredTurn", "read_turn"]

# Stop reasons of a call that ends the turn (tool_use means the turn went on).
_FINAL = frozenset({"end_turn", "stop_sequence", "max_tokens", "refusal"})
# The CLI's own notices (an API error it gave up on) are written as messages of
# this model; they are no call and cost nothing.
_SYNTHETIC = "<synthetic>"


@dataclass(frozen=True, kw_only=True)
class RecoveredTurn:
    """One turn read back from a transcript.

    ``calls``: (model, usage) of each API call the transcript records, in order.
    ``unrecorded_calls``: calls that were sent but whose answer never reached the
    transcript (the process was killed meanwhile); what they cost is unknown.
    """

    text: str
    finished: bool
    calls: tuple[tuple[str, Usage], ...]
    unrecorded_calls: int

    @property
    def usage(self) -> Usage:
        total = Usage()
        for _, usage in self.calls:
            total = total + usage
        return total

    @property
    def model(self) -> str | None:
        return self.calls[-1][0] if self.calls else None


def read_turn(transcript: Path, prompt: str, *, since: float) -> RecoveredTurn | None:
    """The turn that ``prompt`` started at or after ``since`` (epoch seconds), or None
    if the transcript holds no such prompt (the CLI never received it)."""
    try:
        raw = transcript.read_bytes()
    except OSError:
        return None
    records = [r for r in (_parse(line) for line in raw.splitlines()) if r is not None]
    start = None
    for index, record in enumerate(records):
        if _is_prompt(record) and _prompt_text(record).endswith(prompt):
            stamp = _timestamp(record)
            # An earlier identical prompt belongs to an earlier request (which
            # ended before this one started); the slack is the stamp's rounding.
            if stamp is not None and stamp >= since - 0.01:
                start = index
    if start is None:
        return None
    messages: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    sent = 0
    tool_results_after_last = False
    for record in records[start + 1 :]:
        if _is_prompt(record):
            break  # the next turn
        kind = record.get("type")
        if kind == "api-request":
            sent += 1
        elif kind == "assistant":
            message = record.get("message")
            if not isinstance(message, dict) or message.get("model") == _SYNTHETIC:
                continue
            key = str(message.get("id") or len(order))
            if key not in messages:
                order.append(key)
                messages[key] = {"model": message.get("model"), "texts": []}
            entry = messages[key]
            # Each content block is a record of its own that repeats the call's usage.
            entry["usage"] = message.get("usage")
            entry["stop_reason"] = message.get("stop_reason") or entry.get("stop_reason")
            entry["texts"].extend(
                block.get("text", "")
                for block in message.get("content") or ()
                if isinstance(block, dict) and block.get("type") == "text"
            )
            tool_results_after_last = False
        elif kind == "user":
            tool_results_after_last = True
    calls = tuple(
        (str(messages[k]["model"] or ""), Usage.from_api(messages[k].get("usage"))) for k in order
    )
    last = messages[order[-1]] if order else None
    finished = (
        last is not None and last.get("stop_reason") in _FINAL and not tool_results_after_last
    )
    return RecoveredTurn(
        text="".join(last["texts"]) if last is not None else "",
        finished=finished,
        calls=calls,
        unrecorded_calls=max(0, sent - len(calls)),
    )


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a line cut short by a kill
    return record if isinstance(record, dict) else None


def _is_prompt(record: dict[str, Any]) -> bool:
    """A user message that starts a turn (not a tool's result fed back)."""
    if record.get("type") != "user" or record.get("isSidechain") or record.get("isMeta"):
        return False
    message = record.get("message")
    if not isinstance(message, dict):
        return False
    content = message.get("content")
    if isinstance(content, str):
        return True
    return isinstance(content, list) and not any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def _prompt_text(record: dict[str, Any]) -> str:
    content = record["message"].get("content")
    if isinstance(content, str):
        return content
    return "".join(
        block.get("text", "")
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _timestamp(record: dict[str, Any]) -> float | None:
    sent = record.get("sentAtMs")
    if isinstance(sent, int | float):
        return float(sent) / 1000.0
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
