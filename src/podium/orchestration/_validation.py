"""Shared helpers for the configuration edge: pydantic errors → one-line messages.

pydantic's own error text ("Input should be a valid integer", union branch
names, nested locations) is written for developers. A user who typed a config
file needs one line naming the key and what it should have been, so each
loader keeps a table of expectations and we translate the *first* error.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["MAX_CONFIG_BYTES", "MAX_CONFIG_NODES", "Strict", "check_node_budget", "problem", "show"]

# Config files are small; a cap keeps a mistaken path (a log, a binary) from
# being read whole into memory.
MAX_CONFIG_BYTES = 1024 * 1024
# YAML anchors let a few hundred bytes describe a structure with billions of
# references (or a cycle); anything walking it later would hang. Real
# frontmatter has a few dozen nodes.
MAX_CONFIG_NODES = 10_000


class Strict(BaseModel):
    """Base of every edge model: unknown keys and coerced types are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def show(value: Any, limit: int = 60) -> str:
    """A short repr for error messages (a pasted blob must not flood the terminal)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problem(
    exc: ValidationError,
    data: Mapping[str, Any],
    expect: Mapping[str, str],
    known: Iterable[str] = (),
) -> tuple[str, str]:
    """``(key, what is wrong)`` for the first error of a flat model.

    Every edge model is flat (nested tables are validated one by one by the
    caller), so ``loc[0]`` is always the offending key. ``known`` (the valid
    keys) turns a typo into a "did you mean" hint.
    """
    err = exc.errors()[0]
    key = str(err["loc"][0]) if err["loc"] else ""
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return key, f"is not a recognised key{hint}"
    if err["type"] == "missing":
        return key, "is required"
    expected = expect.get(key, "of a different type")
    return key, f"must be {expected}, got {show(data.get(key))}"


def check_node_budget(data: Any, budget: int = MAX_CONFIG_NODES) -> bool:
    """False if walking ``data`` visits more than ``budget`` nodes (alias bombs, cycles)."""
    stack = [data]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > budget:
            return False
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True
