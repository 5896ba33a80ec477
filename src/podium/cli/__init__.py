"""The ``podium`` command line: a thin layer over :class:`podium.Client`.

Run ``podium --help`` for the commands and exit codes.

``podium ask`` and ``podium list --json`` in their plain forms run without typer
(:mod:`._fast`): scripts call them in loops, and typer with its pydantic-based
parameter coercion costs more than the turn of a warm agent. Everything else, and
``app``, loads the typer app and every command module on first use.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys

from ._common import EXIT_ERROR, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ._app import app

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "app", "main", "run"]

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
    """Run the CLI; returns the exit code."""
    from .._ctrl_c import watching_ctrl_c
    from ._fast import fast_main

    args = sys.argv[1:] if argv is None else list(argv)
    with watching_ctrl_c():
        code = fast_main(args)
        return _typer_main(args) if code is None else code


def run() -> NoReturn:
    """The ``podium`` console script and ``python -m podium``: :func:`main`, then exit."""
    from .._ctrl_c import watching_ctrl_c
    from ._fast import fast_main

    args = sys.argv[1:]
    # Ctrl-C ends a wait for the daemon (`ask`, `logs --follow`, `watch`) at once.
    with watching_ctrl_c():
        try:
            code = fast_main(args)
        except BrokenPipeError:  # `podium list --json | head -1`: the reader left
            os._exit(EXIT_ERROR)
        if code is None:
            raise SystemExit(_typer_main(args))
        _leave(code)


def _leave(code: int) -> NoReturn:
    """Exit a fast command without the interpreter's teardown.

    It holds nothing to release (its connection closes with the process), and
    unloading its modules costs about a tenth of a ``podium ask --async``.
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe: what was printed did not arrive
        code = code or EXIT_ERROR
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _typer_main(args: list[str]) -> int:
    import typer

    command = typer.main.get_command(_typer_app())
    try:
        command.main(args=args, prog_name="podium", standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    return EXIT_OK
