"""What every command shares without typer: exit codes, output, errors, connecting.

Typer (with click and, for its parameter coercion, pydantic) is the command line's
slowest import; ``podium ask`` and ``podium list --json`` run from here without it
(see :mod:`._fast`), so nothing here may import it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from .._errors import PodiumError, UsageError, WaitTimeout
from .._home import default_home

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

    from .._client import Client
    from .._daemon_api import DaemonAPI
    from ..isolation import MergeConflict
    from ..server._state import DaemonInfo

__all__ = [
    "EPILOG",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "connect",
    "connect_api",
    "echo",
    "echo_text",
    "environment_matches",
    "exit_code_for",
    "print_json",
    "report",
    "report_conflict",
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
    echo(f"error: {message}", err=True)


def report_conflict(exc: MergeConflict, *, json_out: bool, done_key: str) -> None:
    """A merge that conflicted (``podium merge``, ``podium apply``), for the caller to exit 1 after.

    JSON: ``{done_key: false, "error": ...}`` on stdout. Text: the error line, then one
    ``conflict: PATH`` line per file, on stderr.
    """
    if json_out:
        print_json({done_key: False, "error": exc.to_dict()})
        return
    report(exc.message)
    for path in exc.context.get("files", []):
        echo(f"conflict: {path}", err=True)


def connect() -> Client:
    """A Client for the local daemon, starting it first unless PODIUM_NO_AUTOSTART is set."""
    # Imported here: --help needs none of it.
    from .._client import Client

    return Client.from_home(_daemon_home(), autostart=False)


def connect_api() -> DaemonAPI:
    """As :func:`connect`, at the level of JSON: no records, no option types to import."""
    from .._daemon_api import DaemonAPI

    return DaemonAPI.from_home(_daemon_home(), autostart=False)


def _daemon_home() -> Path:
    """The home of the daemon to talk to, started unless PODIUM_NO_AUTOSTART is set."""
    from ..server._daemon import autostart_disabled, running_daemon, start_daemon

    home = default_home()
    info, started = running_daemon(home), False
    if info is None and not autostart_disabled():
        info, started = start_daemon(home)
        if started:
            echo(f"started podium daemon at {info.url} (pid {info.pid})", err=True)
    if info is not None and not started:
        warn_if_environment_differs(home, info)
    return home


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
    echo(
        f"warning: the podium daemon (pid {info.pid}) keeps the ANTHROPIC_*/"
        "CLAUDE_CODE_OAUTH_TOKEN values it was started with, which differ from this "
        f"shell's, and its agents use them (daemon: {daemon}; here: {here}); "
        "to use yours, restart it: podium down && podium up",
        err=True,
    )


def print_json(data: Any) -> None:
    echo(json.dumps(data, ensure_ascii=False, indent=2))


def echo_text(text: str) -> None:
    """Model output verbatim: no markup interpretation, one trailing newline."""
    echo(text, nl=not text.endswith("\n"))


# What click's echo strips when the output is not a terminal (typer.echo did this).
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


def echo(message: str, *, err: bool = False, nl: bool = True) -> None:
    """Print as ``typer.echo`` does: escape codes stripped unless to a terminal, flushed."""
    stream: IO[str] | None = sys.stderr if err else sys.stdout
    if stream is None:  # no standard stream attached (a detached process)
        return
    out = f"{message}\n" if nl else message
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        out = _ANSI.sub("", out)
    encoding = (getattr(stream, "encoding", None) or "ascii").lower()
    buffer = getattr(stream, "buffer", None)
    if encoding in ("ascii", "us-ascii", "ansi_x3.4-1968") and buffer is not None:
        # A stream left at ASCII (a bare C locale) gets UTF-8, as click gives it.
        stream.flush()
        buffer.write(out.encode("utf-8", "replace"))
        buffer.flush()
        return
    stream.write(out)
    stream.flush()
