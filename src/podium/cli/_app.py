"""The typer app, exit codes, and what every command shares: connecting, output, errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from .._errors import PodiumError, UsageError, WaitTimeout
from .._home import default_home

if TYPE_CHECKING:
    from .._client import Client
    from ..server._state import DaemonInfo

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

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 124  # as timeout(1): the wait ran out, the request did not fail

EPILOG = (
    "Exit codes: 0 success; 1 error (daemon not reachable, backend failure, "
    "or the request failed / was cancelled / interrupted); 2 usage error (bad "
    "arguments, invalid name, model or prompt, unknown agent or request, duplicate "
    "name); 124 a wait ran out of time (the request keeps running; it is not "
    "cancelled). Errors are one line 'error: ...' on stderr. Commands start the "
    "daemon when it is not running, unless PODIUM_NO_AUTOSTART=1. State lives in "
    "$PODIUM_HOME (default ~/.local/state/podium). Commands that print results take --json."
)


def exit_code_for(exc: PodiumError) -> int:
    if isinstance(exc, WaitTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    return EXIT_ERROR


def report(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


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


def connect() -> Client:
    """A Client for the local daemon, starting it first unless PODIUM_NO_AUTOSTART is set."""
    # Imported here: httpx is the slowest import the CLI has, and --help needs none of it.
    from .._client import Client
    from ..server._daemon import autostart_disabled, running_daemon, start_daemon

    home = default_home()
    info, started = running_daemon(home), False
    if info is None and not autostart_disabled():
        info, started = start_daemon(home)
        if started:
            typer.echo(f"started podium daemon at {info.url} (pid {info.pid})", err=True)
    if info is not None and not started:
        warn_if_environment_differs(home, info)
    return Client.from_home(home, autostart=False)


def environment_matches(home: Path, info: DaemonInfo) -> bool | None:
    """Whether this command's model API environment is the daemon's; None: unknown.

    Compared by HMAC digest keyed by the daemon's token: no value leaves either side.
    """
    from .._apienv import same_environment
    from ..server._state import read_token

    return same_environment(os.environ, read_token(home), info.env_digest)


def warn_if_environment_differs(home: Path, info: DaemonInfo) -> None:
    """One stderr line when the daemon's agents would use other API credentials or URL."""
    from .._apienv import DEFAULT_API_BASE_URL, ApiEnvironment

    if environment_matches(home, info) is not False:
        return
    here = ApiEnvironment.of(os.environ, "").describe()
    daemon = f"{info.credential_source} at {info.api_base_url or DEFAULT_API_BASE_URL}"
    typer.echo(
        f"warning: the podium daemon (pid {info.pid}) keeps the ANTHROPIC_*/"
        "CLAUDE_CODE_OAUTH_TOKEN values it was started with, which differ from this "
        f"shell's, and its agents use them (daemon: {daemon}; here: {here}); "
        "to use yours, restart it: podium down && podium up",
        err=True,
    )


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def echo_text(text: str) -> None:
    """Model output verbatim: no markup interpretation, one trailing newline."""
    typer.echo(text, nl=not text.endswith("\n"))


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
