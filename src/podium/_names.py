"""Validation of the names and ids users type: they become paths, so they are strict.

Every ``podium ask`` checks a name, a prompt and its timeouts here: what only the
model check and new request ids need (the backend table, ``secrets``) is imported
when they run.
"""

from __future__ import annotations

import math
import re

from ._errors import InvalidModel, InvalidName, InvalidPrompt, UsageError

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_PROMPT_BYTES",
    "MODEL_ALIASES",
    "check_model",
    "check_name",
    "check_prompt",
    "check_seconds",
    "new_request_id",
    "parse_request_id",
    "unencodable",
]

MAX_NAME_LENGTH = 64
# Big enough for pasted files and relayed answers; small enough that one request
# cannot exhaust the daemon's memory.
MAX_PROMPT_BYTES = 8 * 1024 * 1024

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_REQUEST_ID = re.compile(r"^(?P<agent>[a-z][a-z0-9_-]*)-(?P<seq>\d{6})-(?P<tag>[0-9a-f]{8})$")
# The aliases the Claude Code CLI resolves itself; full ids are passed through.
MODEL_ALIASES = frozenset({"haiku", "sonnet", "opus"})
_MODEL_ID = re.compile(r"^claude-[a-z0-9][a-z0-9.-]*(\[1m\])?$")
_OPEN_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$")


def check_name(name: str, *, what: str = "agent name") -> str:
    """Return ``name`` if it is a safe identifier, else raise :class:`InvalidName`."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{what} must not be empty", name=name)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"{what} {name[:20]!r}... is {len(name)} characters; the limit is {MAX_NAME_LENGTH}",
            name=name[:MAX_NAME_LENGTH],
        )
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"{what} {name!r} is not allowed: use lowercase letters, digits, '-' and '_', "
            "starting with a letter",
            name=name,
        )
    return name


def check_model(model: str | None, *, backend: str | None = None) -> str | None:
    """Accept ``haiku``/``sonnet``/``opus`` or a full ``claude-…`` model id.

    The ``openai`` backend talks to servers whose model names are their own
    (``gpt-4o-mini``, ``llama3.2:1b``, ``meta-llama/Llama-3.1-8B-Instruct``):
    any such name of safe characters is accepted there.
    """
    if model is None:
        return None
    from ._backend_info import backend_info

    if backend is not None and backend_info(backend).open_model_names:
        if isinstance(model, str) and _OPEN_MODEL.fullmatch(model):
            return model
        raise InvalidModel(
            f"model name {model!r} is not allowed: use letters, digits and . _ : / @ - "
            "(at most 128 characters), as the server names it",
            model=model,
        )
    if model in MODEL_ALIASES or _MODEL_ID.fullmatch(model):
        return model
    raise InvalidModel(
        f"unknown model {model!r}: use one of {', '.join(sorted(MODEL_ALIASES))} "
        "or a full model id such as claude-sonnet-4-5",
        model=model,
    )


def unencodable(text: str) -> str | None:
    """Why ``text`` cannot be stored or sent as UTF-8 (a lone surrogate), or None.

    Such strings come from ``"\\ud800"`` in JSON or from bytes that are not UTF-8
    on a command line; accepted, they fail later in the store or the JSON writer.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"holds a lone surrogate (U+{ord(text[exc.start]):04X}) at character {exc.start}, "
            "which is not valid Unicode text (invalid UTF-8 bytes, or a half of a "
            "\\uXXXX surrogate pair)"
        )
    return None


def check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidPrompt("prompt is empty")
    problem = unencodable(prompt)
    if problem is not None:
        raise InvalidPrompt(f"prompt {problem}")
    size = len(prompt.encode("utf-8"))
    if size > MAX_PROMPT_BYTES:
        raise InvalidPrompt(f"prompt is {size} bytes; the limit is {MAX_PROMPT_BYTES}")
    return prompt


def check_seconds(
    value: float | None, *, what: str = "timeout", zero: bool = False, **context: object
) -> float | None:
    """A duration in seconds: a finite number > 0 (``zero``: >= 0), or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number of seconds, got {value!r}", **context)
    if value < 0 or (value == 0 and not zero):
        bound = "0 or more" if zero else "positive"
        raise UsageError(f"{what} must be {bound}, got {value:g}", **context)
    return float(value)


def new_request_id(agent: str, seq: int) -> str:
    """``<agent>-<6-digit seq>-<8 hex>``: sortable per agent, unguessable across restarts."""
    import secrets

    return f"{agent}-{seq:06d}-{secrets.token_hex(4)}"


def parse_request_id(request_id: str) -> tuple[str, int] | None:
    match = _REQUEST_ID.fullmatch(request_id or "")
    if match is None:
        return None
    return match["agent"], int(match["seq"])
