"""Scripted answers: which request gets which response.

A test describes the model's behaviour as an ordered list of rules; the first
rule whose matchers all accept a request answers it. The same rules load from a
JSON file so the fake can be driven from the command line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from podium._errors import UsageError

__all__ = [
    "ERROR_TYPES",
    "ChatUsage",
    "MatchView",
    "Rule",
    "ToolCall",
    "Usage",
    "load_rules",
    "rules_from_data",
]

# Status -> Anthropic error type, used when a rule gives a status but no type.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class ToolCall:
    """A tool_use block the fake model emits; ``id`` is generated when None."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts as the Anthropic API reports them.

    ``input_tokens`` excludes the cached part of the prompt: the whole prompt is
    ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``.
    """

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt, cached or not (what OpenAI calls ``prompt_tokens``)."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


@dataclass(frozen=True)
class ChatUsage:
    """Token counts as OpenAI-compatible servers report them.

    ``prompt_tokens`` includes the ``cached_tokens`` (``prompt_tokens_details``).
    Either fake accepts either kind: this one converts losslessly to
    :class:`Usage` (uncached = prompt - cached, read = cached), so one rule list
    can script both backends.
    """

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    def __post_init__(self) -> None:
        if self.cached_tokens > self.prompt_tokens:
            raise UsageError(
                "usage 'cached_tokens' cannot exceed 'prompt_tokens'",
                cached_tokens=self.cached_tokens,
                prompt_tokens=self.prompt_tokens,
            )

    def as_usage(self) -> Usage:
        return Usage(
            input_tokens=self.prompt_tokens - self.cached_tokens,
            output_tokens=self.completion_tokens,
            cache_read_input_tokens=self.cached_tokens,
        )


@dataclass(frozen=True)
class MatchView:
    """The parts of a request that rules look at, computed once per request."""

    model: str
    system_text: str
    last_user_text: str
    conversation_text: str
    has_tool_result: bool


def _check_regex(name: str, pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"rule field {name!r}: invalid regex {pattern!r}: {exc}") from exc


def _search(pattern: str | None, text: str) -> bool:
    return pattern is None or re.search(pattern, text, re.DOTALL) is not None


@dataclass(frozen=True)
class Rule:
    """One scripted answer. Regexes use ``re.search`` with DOTALL; None means "any".

    ``tool_result``: True = the last user message must carry a tool_result,
    False = it must not, None = either. ``times`` bounds how often the rule
    fires. ``text`` may contain ``{last_user}`` (the last user message's text
    without Claude Code's ``<system-reminder>`` blocks). ``system`` also sees
    ``role: "system"`` messages, where the CLI puts the working directory.
    A ``status`` (400-599) turns the answer into an HTTP error shaped like the
    API the fake impersonates (``error_type`` defaults from the status).
    ``usage`` may be a :class:`Usage` or a :class:`ChatUsage`; without it the
    fake estimates the counts. ``stop_reason`` is sent as is, except that
    FakeOpenAI maps Anthropic's reasons (``end_turn``, ``tool_use``,
    ``max_tokens``) to OpenAI's finish reasons.
    """

    model: str | None = None
    system: str | None = None
    content: str | None = None
    any_content: str | None = None
    tool_result: bool | None = None
    times: int | None = None
    text: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    delay: float = 0.0
    chunk_delay: float = 0.0
    status: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    retry_after: float | None = None
    usage: Usage | ChatUsage | None = None
    stop_reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("system", "content", "any_content"):
            _check_regex(name, getattr(self, name))
        if self.times is not None and self.times < 0:
            raise UsageError(f"rule field 'times' must be >= 0, got {self.times}")
        for name in ("delay", "chunk_delay"):
            if getattr(self, name) < 0:
                raise UsageError(f"rule field {name!r} must be >= 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise UsageError("rule field 'retry_after' must be >= 0")
        if self.status is not None and not 400 <= self.status <= 599:
            raise UsageError(
                f"rule field 'status' must be an HTTP error (400-599), got {self.status}"
            )
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    @property
    def is_error(self) -> bool:
        return self.status is not None

    def matches(self, view: MatchView) -> bool:
        if self.model is not None and self.model not in view.model:
            try:
                if re.search(self.model, view.model) is None:
                    return False
            except re.error:
                return False
        if self.tool_result is not None and self.tool_result != view.has_tool_result:
            return False
        return (
            _search(self.system, view.system_text)
            and _search(self.content, view.last_user_text)
            and _search(self.any_content, view.conversation_text)
        )

    def render_text(self, last_user: str) -> str | None:
        if self.text is None:
            return None
        return self.text.replace("{last_user}", last_user)


# ---------------------------------------------------------------- loading

_OPTIONAL_STR = (
    "model",
    "system",
    "content",
    "any_content",
    "text",
    "error_type",
    "error_message",
    "stop_reason",
)
_NUMBERS = ("delay", "chunk_delay", "retry_after")
_RULE_FIELDS = {f.name for f in fields(Rule)}


def _bad(source: str, index: int, name: str, why: str) -> UsageError:
    return UsageError(f"{source}: rule {index}: field {name!r}: {why}", path=source, field=name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tool_call(source: str, index: int, raw: Any) -> ToolCall:
    if not isinstance(raw, Mapping):
        raise _bad(source, index, "tool_calls", "each entry must be an object")
    unknown = set(raw) - {"name", "input", "id"}
    if unknown:
        raise _bad(source, index, "tool_calls", f"unknown key(s) {sorted(unknown)}")
    name, args, call_id = raw.get("name"), raw.get("input", {}), raw.get("id")
    if not isinstance(name, str) or not name:
        raise _bad(source, index, "tool_calls", "'name' must be a non-empty string")
    if not isinstance(args, Mapping):
        raise _bad(source, index, "tool_calls", "'input' must be an object")
    if call_id is not None and not isinstance(call_id, str):
        raise _bad(source, index, "tool_calls", "'id' must be a string")
    return ToolCall(name=name, input=dict(args), id=call_id)


def _chat_usage_fields(source: str, index: int, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten OpenAI's ``prompt_tokens_details.cached_tokens`` into ``cached_tokens``."""
    flat = {k: v for k, v in raw.items() if k != "prompt_tokens_details"}
    details = raw.get("prompt_tokens_details")
    if details is not None:
        if not isinstance(details, Mapping) or set(details) - {"cached_tokens"}:
            raise _bad(source, index, "usage", "'prompt_tokens_details' takes only 'cached_tokens'")
        if "cached_tokens" in details:
            flat["cached_tokens"] = details["cached_tokens"]
    return flat


def _usage(source: str, index: int, raw: Any) -> Usage | ChatUsage:
    if not isinstance(raw, Mapping):
        raise _bad(source, index, "usage", "must be an object")
    # OpenAI's key names pick the OpenAI shape; anything else is read as Anthropic's.
    chat = "prompt_tokens" in raw or "completion_tokens" in raw
    kind: type[Usage] | type[ChatUsage] = ChatUsage if chat else Usage
    flat = _chat_usage_fields(source, index, raw) if chat else dict(raw)
    names = [f.name for f in fields(kind)]
    unknown = set(flat) - set(names)
    if unknown:
        raise _bad(source, index, "usage", f"unknown key(s) {sorted(unknown)}")
    for key in names[:2]:
        if key not in flat:
            raise _bad(source, index, "usage", f"missing {key!r}")
    for key, value in flat.items():
        if not _is_int(value) or value < 0:
            raise _bad(source, index, "usage", f"{key!r} must be a non-negative integer")
    try:
        return kind(**flat)
    except UsageError as exc:
        raise _bad(source, index, "usage", exc.message) from exc


def _rule(source: str, index: int, raw: Any) -> Rule:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{source}: rule {index}: must be an object", path=source)
    unknown = sorted(set(raw) - _RULE_FIELDS)
    if unknown:
        raise _bad(source, index, unknown[0], "unknown field")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name in _OPTIONAL_STR and not isinstance(value, str):
            raise _bad(source, index, name, "must be a string")
        if name in _NUMBERS and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise _bad(source, index, name, "must be a number")
        if name in ("times", "status") and not _is_int(value):
            raise _bad(source, index, name, "must be an integer")
        if name == "tool_result" and not isinstance(value, bool):
            raise _bad(source, index, name, "must be true, false or null")
        if name == "tool_calls":
            if not isinstance(value, list):
                raise _bad(source, index, name, "must be a list")
            value = [_tool_call(source, index, item) for item in value]
        if name == "usage":
            value = _usage(source, index, value)
        kwargs[name] = value
    try:
        return Rule(**kwargs)
    except UsageError as exc:
        raise UsageError(f"{source}: rule {index}: {exc.message}", path=source) from exc


def rules_from_data(data: Any, source: str = "<rules>") -> list[Rule]:
    """Build rules from decoded JSON (a list of objects with Rule's field names)."""
    if not isinstance(data, list):
        raise UsageError(f"{source}: expected a JSON list of rule objects", path=source)
    return [_rule(source, i, item) for i, item in enumerate(data)]


def load_rules(path: str | Path) -> list[Rule]:
    """Read a JSON rules file; every problem is a UsageError naming the file and field.

    The file is a list of objects using Rule's field names, e.g.
    ``[{"content": "hello", "text": "PONG"},
    {"tool_result": false, "tool_calls": [{"name": "Write", "input": {...}}]},
    {"status": 529, "retry_after": 1, "times": 2}]``.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{source}: cannot read rules file: {exc.strerror}", path=source) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: invalid JSON: {exc}", path=source) from exc
    return rules_from_data(data, source)
