"""The ``podium`` command line: a thin layer over :class:`podium.Client`.

Run ``podium --help`` for the commands and exit codes.

``podium ask`` and ``podium list --json`` in their plain forms run without typer
(:mod:`._fast`): scripts call them in loops, and typer with its pydantic-based
parameter coercion costs more than the turn of a warm agent. Everything else, and
``app``, loads the typer app and every command module on first use.
"""

from __future__ import annotations

import importlib
import sys

from ._common import EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._app import app

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "app", "main"]

# Imported for their @app.command.
_COMMAND_MODULES = (
    "_agents",
    "_attach",
    "_cluster",
    "_daemon",
    "_dashboard",
    "_doctor",
    "_inbox",
    "_isolation",
    "_landing",
    "_logs",
    "_mcp",
    "_prices",
    "_requests",
    "_review",
    "_runs",
    "_team",
    "_watch",
)


def _typer_app() -> Any:
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    from ._app import app

    return app


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module 'podium.cli' has no attribute {name!r}")
    value = _typer_app()
    globals()[name] = value
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to sys.exit)."""
    from ._fast import fast_main

    args = sys.argv[1:] if argv is None else list(argv)
    code = fast_main(args)
    if code is not None:
        return code
    import typer

    command = typer.main.get_command(_typer_app())
    try:
        command.main(args=argv, prog_name="podium", standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    return EXIT_OK
