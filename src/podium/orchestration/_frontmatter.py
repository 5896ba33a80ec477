"""Reading a markdown file with optional YAML frontmatter, safely.

Frontmatter is data written by whoever controls the repository, so it is
parsed with ``yaml.safe_load`` only: tags that would build Python objects
(``!!python/object/apply:...``) are rejected by the safe loader before anything
runs, and the result is bounded in size so YAML aliases cannot blow it up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .._errors import UsageError
from ._validation import MAX_CONFIG_BYTES, check_node_budget, show

__all__ = ["ProfileError", "fail", "read_markdown"]


class ProfileError(UsageError):
    """A profile file that cannot be used; the message names the file and the key."""

    code = "profile_error"


def fail(shown: str, message: str, key: str | None = None) -> ProfileError:
    return ProfileError(f"{shown}: {message}", path=shown, key=key)


def read_markdown(path: Path, shown: str) -> tuple[dict[str, Any], str]:
    """``(frontmatter mapping, body)``; no frontmatter gives an empty mapping.

    ``shown`` is the path as the user should see it in messages.
    """
    text = _read(path, shown)
    frontmatter, first_line, body = _split(text, shown)
    data = _parse_yaml(frontmatter, first_line, shown) if frontmatter is not None else {}
    return data, body


def _read(path: Path, shown: str) -> str:
    try:
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise fail(shown, f"profile file {what}")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise fail(shown, f"profile file is larger than {MAX_CONFIG_BYTES} bytes")
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(shown, f"profile file is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise fail(shown, f"cannot read profile file: {exc.strerror or exc}") from None


def _split(text: str, shown: str) -> tuple[str | None, int, str]:
    """``(frontmatter or None, its first line number, body)``."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None, 0, text
    for i, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            return "".join(lines[1:i]), 2, "".join(lines[i + 1 :])
    raise fail(shown, "frontmatter opened by '---' on line 1 is never closed by a '---' line")


def _parse_yaml(source: str, first_line: int, shown: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{shown}:{first_line + mark.line}" if mark is not None else shown
        reason = exc.problem or exc.context or "malformed YAML"
        if isinstance(exc, yaml.constructor.ConstructorError):
            reason += " (YAML tags that build objects are not allowed: frontmatter is plain data)"
        raise ProfileError(f"{where}: invalid YAML frontmatter: {reason}", path=shown) from None
    except yaml.YAMLError as exc:
        raise fail(shown, f"invalid YAML frontmatter: {exc}") from None
    if data is None:  # only comments, as in the seed's DANCE.md
        return {}
    if not isinstance(data, dict):
        raise fail(
            shown, f"frontmatter must be a mapping of keys to values, got a {type(data).__name__}"
        )
    if not check_node_budget(data):
        raise fail(shown, "frontmatter is too large or refers to itself (YAML aliases)")
    for key in data:
        if not isinstance(key, str):
            raise fail(shown, f"frontmatter key {show(key)} must be a string")
    return data
