"""Assertions shared by the CLI tests."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result

__all__ = ["Run", "failed", "ok"]

Run = Callable[..., Result]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def failed(result: Result, code: int, *fragments: str) -> Result:
    """Exit ``code`` with exactly one ``error: ...`` line on stderr and no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    return result
