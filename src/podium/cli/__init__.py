"""The ``podium`` command line: a thin layer over :class:`podium.Client`.

Run ``podium --help`` for the commands and exit codes.
"""

from __future__ import annotations

import typer

from . import (
    _agents,
    _cluster,
    _daemon,
    _dashboard,
    _doctor,
    _isolation,
    _logs,
    _mcp,
    _prices,
    _requests,
    _runs,
    _team,
)
from ._app import EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, app

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "app", "main"]

# Imported for their @app.command.
_COMMAND_MODULES = (
    _agents,
    _cluster,
    _daemon,
    _dashboard,
    _doctor,
    _isolation,
    _logs,
    _mcp,
    _prices,
    _requests,
    _runs,
    _team,
)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to sys.exit)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="podium", standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    return EXIT_OK
