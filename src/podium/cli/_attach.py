"""``podium attach NAME``: take an agent over in Claude Code's own terminal UI.

The agent is held (its queue waits, its headless process is stopped), the TUI
runs as a child on this terminal, resuming the agent's session in its directory
and configuration; on exit (``/exit``, Ctrl-D twice, a crash) the hold is
released and the agent goes on headless in the same session.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Annotated

import typer

from .._errors import PodiumError
from ._app import EXIT_ERROR, app, connect

__all__: list[str] = []

# Variables a CLI sets for its children (a nested session); never passed on.
_NESTED = ("CLAUDECODE", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_CHILD_SESSION")


@app.command()
def attach(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Agent to take over.")],
) -> None:
    """Open Claude Code's own interactive UI on agent NAME's conversation.

    While attached, asks to NAME queue; when you leave the UI the agent goes on
    headless in the same session, so everything said there is in its context.
    """
    with connect() as client:
        typer.echo(f"holding {name} (its running turn, if any, finishes first)…", err=True)
        launch = client.hold_agent(name, os.getpid())
        try:
            for note in launch.get("notes") or []:
                typer.echo(f"note: {note}", err=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(_NESTED)}
            for key in launch.get("unset") or []:
                env.pop(key, None)
            env.update(launch["env"])
            # The TUI owns the terminal and its Ctrl-C; this process only waits for it.
            # A handler, not SIG_IGN: an ignored signal would stay ignored in the child.
            previous = signal.signal(signal.SIGINT, lambda *_: None)
            try:
                child = subprocess.Popen(
                    launch["argv"], cwd=launch["cwd"], env=env, restore_signals=True
                )
            except OSError as exc:
                signal.signal(signal.SIGINT, previous)
                raise PodiumError(f"cannot run Claude Code: {exc}") from exc
            try:
                try:
                    client.add_hold_pid(name, child.pid)
                except PodiumError:
                    child.terminate()
                    raise
                code = child.wait()
            finally:
                if child.poll() is None:
                    child.terminate()
                    child.wait()
                signal.signal(signal.SIGINT, previous)
        finally:
            client.release_agent(name)
    typer.echo(f"released {name}: it goes on headless in the same session", err=True)
    if code != 0:
        raise typer.Exit(EXIT_ERROR)
