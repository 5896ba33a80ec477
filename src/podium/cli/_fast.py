"""``podium ask`` and ``podium list --json`` without typer: the commands scripts loop over.

Typer, click and pydantic (typer's parameter coercion) cost a command several times
what its round trip to a warm daemon does. :func:`fast_main` takes the plain forms of
these two commands; anything else (``--help``, ``--``, a prompt from standard input,
an option given twice or a value it does not read plainly) returns None and goes to
typer, which parses it and reports errors exactly as for every other command. Both
paths run the same bodies (:func:`ask`, :func:`finish`, :func:`list_json`).
"""

from __future__ import annotations

import re

from .._daemon_api import WIRE_ONLY_REQUEST_KEYS
from .._errors import PodiumError
from ._common import (
    EXIT_ERROR,
    EXIT_OK,
    connect_api,
    echo,
    echo_text,
    exit_code_for,
    print_json,
    report,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LIST_FIELDS",
    "ask",
    "fast_main",
    "finish",
    "list_entry",
    "list_json",
    "poll_shape",
    "submitted",
]

LIST_FIELDS = (
    "name",
    "status",
    "model",
    "requested_model",
    "backend",
    "session_id",
    "forked_from",
    "created_at",
    "request_count",
    "pid",
    "cost_usd",
    "unpriced_requests",
    "billing",
)

# Seconds written plainly; anything else (1e3, inf, -1) is typer's to accept or refuse.
_SECONDS = re.compile(r"\d+(\.\d*)?|\.\d+")
_ASK_FLAGS = {"--async": "run_async", "--json": "json_out"}
_ASK_VALUES = {"--timeout": "timeout", "--wait-timeout": "wait_timeout"}


class Interrupted(Exception):
    """Ctrl-C while waiting: the request goes on; exit 130 as a shell would."""


def list_entry(agent: dict[str, Any]) -> dict[str, Any]:
    """The ``list --json`` shape of one agent's JSON (``model``: resolved id if known)."""
    return {key: agent.get(key) for key in LIST_FIELDS}


def list_json() -> None:
    with connect_api() as api:
        agents = api.list_agents_json()
    print_json([list_entry(a) for a in agents])


def poll_shape(data: dict[str, Any]) -> dict[str, Any]:
    """A request's JSON from the daemon in the shape ``poll`` prints (``to_dict``)."""
    return {key: value for key, value in data.items() if key not in WIRE_ONLY_REQUEST_KEYS}


def finish(request: dict[str, Any], json_out: bool) -> int:
    """Print a finished request (its ``to_dict``); EXIT_ERROR unless it completed."""
    complete = request["status"] == "complete"
    if json_out:
        print_json(request)
    elif complete:
        echo_text(request.get("result") or "")
    if not complete:
        error = request.get("error") or ""
        report(f"request {request['id']} {request['status']}: {error}".strip())
        return EXIT_ERROR
    return EXIT_OK


def submitted(request: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(request)
    else:
        echo(request["id"])


def ask(
    name: str,
    text: str,
    *,
    run_async: bool,
    timeout: float | None,
    wait_timeout: float | None,
    json_out: bool,
) -> int:
    """``podium ask``'s body; the exit code. Raises PodiumError and :class:`Interrupted`.

    On the daemon's JSON, not records: building them (and the option types they carry)
    costs this command more than its round trip does.
    """
    with connect_api() as api:
        if run_async:
            submitted(poll_shape(api.ask_json(name, text, timeout=timeout)), json_out)
            return EXIT_OK
        try:
            # One round trip: the daemon queues the prompt and answers when the turn ends.
            if _status_wanted():
                from .._client import Client
                from ._status import LiveStatus

                # The status line follows events as records; only a terminal pays for them.
                with Client.from_home(autostart=False) as client, LiveStatus(client, name):
                    data = api.ask_json(
                        name, text, timeout=timeout, wait=True, wait_timeout=wait_timeout
                    )
            else:
                data = api.ask_json(
                    name, text, timeout=timeout, wait=True, wait_timeout=wait_timeout
                )
        except KeyboardInterrupt:
            echo(
                f"\nstopped waiting; the request keeps running (podium info {name} lists it)",
                err=True,
            )
            raise Interrupted from None
    return finish(poll_shape(data), json_out)


def _status_wanted() -> bool:
    # Checked here, so that a script (no terminal) never imports the status module.
    import sys

    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _parse_ask(args: list[str]) -> dict[str, Any] | None:
    """``NAME PROMPT`` and the options in any order, or None for typer to handle."""
    found: dict[str, Any] = {}
    positional: list[str] = []
    it = iter(args)
    for arg in it:
        option, eq, inline = arg.partition("=")
        if arg in _ASK_FLAGS and _ASK_FLAGS[arg] not in found:
            found[_ASK_FLAGS[arg]] = True
        elif option in _ASK_VALUES and _ASK_VALUES[option] not in found:
            value = inline if eq else next(it, None)
            if value is None or not _SECONDS.fullmatch(value):
                return None
            found[_ASK_VALUES[option]] = float(value)
        elif arg.startswith("-"):
            return None  # --help, --, '-' (stdin), an unknown or repeated option
        else:
            positional.append(arg)
    if len(positional) != 2:
        return None
    found.setdefault("run_async", False)
    found.setdefault("json_out", False)
    found.setdefault("timeout", None)
    found.setdefault("wait_timeout", None)
    return {"name": positional[0], "text": positional[1], **found}


def fast_main(argv: list[str]) -> int | None:
    """Run ``ask`` or ``list --json`` when ``argv`` is plainly one; None: not handled."""
    parsed = _parse_ask(argv[1:]) if argv[:1] == ["ask"] else None
    if parsed is None and argv != ["list", "--json"]:
        return None
    try:
        if parsed is None:
            list_json()
            return EXIT_OK
        return ask(parsed.pop("name"), parsed.pop("text"), **parsed)
    except PodiumError as exc:
        report(exc.message)
        return exit_code_for(exc)
    except Interrupted:
        return 130
