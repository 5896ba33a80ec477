"""Approval records: a tool use an ``ask``-mode agent waits on, and what was decided.

An agent spawned with ``permission_mode: ask`` runs its CLI with podium as the
permission prompt. Each tool use that needs permission becomes an
:class:`ApprovalRecord` in the store, ``pending`` until someone allows or denies
it, it times out, or the request it belongs to ends.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import UsageError
from .isolation._credentials import DEFAULT_SECRETS

__all__ = [
    "APPROVAL_ID",
    "ApprovalDecided",
    "ApprovalNotFound",
    "ApprovalRecord",
    "ApprovalState",
    "check_approval_id",
    "new_approval_id",
    "summarise_input",
]

APPROVAL_ID = re.compile(r"ap-[0-9a-f]{12}")
# What of a tool's input the inbox shows: enough to decide on, never megabytes.
_TEXT_LIMIT = 400
_ITEMS_LIMIT = 20
_MASK = "***"
# Keys whose values are credentials whatever they hold.
_SECRET_KEY = re.compile(r"(secret|token|passw|api[_-]?key|authori[sz]ation|credential)", re.I)
# Values that look like credentials wherever they appear (an Authorization header, a key).
_SECRET_TEXT = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|\b(sk-[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{16,})"
)


class ApprovalState(enum.StrEnum):
    PENDING = "pending"
    ALLOWED = "allowed"
    DENIED = "denied"
    TIMED_OUT = "timed_out"
    """Nobody decided within the agent's ``approval_timeout``: denied."""
    CANCELLED = "cancelled"
    """The request ended (cancelled, killed, failed) while it waited: denied."""


class ApprovalNotFound(UsageError):
    """No approval has that id."""

    code = "approval_not_found"


class ApprovalDecided(UsageError):
    """The approval was already decided (or timed out, or its request ended)."""

    code = "approval_decided"


def new_approval_id() -> str:
    return f"ap-{secrets.token_hex(6)}"


def check_approval_id(value: object) -> str:
    if not isinstance(value, str) or not APPROVAL_ID.fullmatch(value):
        shown = repr(value)[:60]
        raise UsageError(
            f"{shown} is not an approval id (expected ap-<12 hex>)", approval_id=str(value)[:60]
        )
    return value


@dataclass(frozen=True, kw_only=True)
class ApprovalRecord:
    """One tool use waiting for (or given) a decision."""

    id: str
    agent: str
    request_id: str | None
    """The request whose turn asked (``None`` if the CLI asked between requests)."""
    control_id: str
    """The CLI's own id for the permission request (its tool_use id when known)."""
    tool: str
    input: dict[str, Any]
    """The tool's input as shown: long texts cut, secrets masked."""
    state: ApprovalState
    created_at: float
    timeout: float
    """Seconds it waits before it is denied."""
    decided_at: float | None = None
    reason: str | None = None
    """Why it was denied (given by whoever denied it, or podium's own words)."""
    decided_by: str | None = None
    """``user`` (allow/deny), ``timeout`` or ``podium`` (its request ended)."""

    @property
    def pending(self) -> bool:
        return self.state is ApprovalState.PENDING

    def replace(self, **changes: Any) -> ApprovalRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["state"] = ApprovalState(values["state"])
        values["input"] = dict(values.get("input") or {})
        return cls(**values)


def summarise_input(value: Any, *, depth: int = 0) -> Any:
    """The tool input as the inbox shows and stores it: texts cut to a few hundred
    characters, values under credential-like keys and known secrets masked."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i >= _ITEMS_LIMIT:
                out["…"] = f"{len(value) - _ITEMS_LIMIT} more"
                break
            name = str(key)
            masked = _SECRET_KEY.search(name) and isinstance(item, str | int | float)
            out[name] = _MASK if masked else summarise_input(item, depth=depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [summarise_input(v, depth=depth + 1) for v in list(value)[:_ITEMS_LIMIT]]
        if len(value) > _ITEMS_LIMIT:
            items.append(f"… {len(value) - _ITEMS_LIMIT} more")
        return items
    if isinstance(value, str):
        text = _SECRET_TEXT.sub(lambda m: (m.group(1) or "") + _MASK, value)
        text = DEFAULT_SECRETS.redact(text)
        if len(text) > _TEXT_LIMIT:
            text = f"{text[:_TEXT_LIMIT]}… ({len(value)} characters)"
        return text
    if value is None or isinstance(value, bool | int | float):
        return value
    return summarise_input(str(value), depth=depth)
