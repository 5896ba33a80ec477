"""The typer app, exit codes, and what every command shares: connecting, output, errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .._errors import PodiumError, UsageError
from ._common import (
    EPILOG,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    connect,
    echo_text,
    environment_matches,
    exit_code_for,
    print_json,
    report,
    warn_if_environment_differs,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "JsonFlag",
    "app",
    "connect",
    "echo_text",
    "environment_matches",
    "exit_code_for",
    "print_json",
    "read_prompt",
    "read_text_file",
    "report",
    "warn_if_environment_differs",
]


class _Group(TyperGroup):
    """Turns a PodiumError from any command into one stderr line and an exit code."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer's Context class is private
        try:
            return super().invoke(ctx)
        except PodiumError as exc:
            report(exc.message)
            raise typer.Exit(exit_code_for(exc)) from None


app = typer.Typer(
    name="podium",
    cls=_Group,
    help="Run Claude Code agents as named, persistent workers behind a local daemon.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]


def read_prompt(prompt: str, *, what: str = "PROMPT") -> str:
    """``-`` means standard input, read whole."""
    if prompt != "-":
        return prompt
    if sys.stdin is None:
        raise UsageError(f"{what} is '-' but there is no standard input")
    return typer.get_text_stream("stdin").read()


def read_text_file(path: Path, *, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {str(path)!r} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} {str(path)!r} cannot be read: {exc}") from None
