"""Workspace commands: diff, merge and clean an agent's git worktree; spawn's isolation flags."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .._errors import UsageError
from ._app import EXIT_ERROR, JsonFlag, app, connect, echo_text, print_json
from ._common import report_conflict

__all__ = ["ISOLATION_FLAGS", "isolation_option"]

ISOLATION_FLAGS: dict[str, str] = {
    "base": "--base",
    "copy_files": "--copy-file",
    "allow_hosts": "--allow-host",
    "memory_mb": "--memory-mb",
    "cpus": "--cpus",
    "pids": "--pids",
    "image": "--image",
    "engine": "--engine",
}
"""``podium spawn``'s flag for each isolation setting."""


def isolation_option(mode: str | None, **settings: Any) -> str | dict[str, Any] | None:
    """``options["isolation"]`` from ``podium spawn``'s flags, checked before the daemon is asked.

    ``settings``: the flags' values by setting name (``None`` / empty: not given). A mode
    alone stays a mode name; with settings it becomes a table. A setting without
    ``--isolation``, or one the mode does not use, is refused by its flag's name.
    """
    from ..isolation import IsolationMode
    from ..isolation._settings import (
        SETTING_MODES,
        IsolationSettingError,
        read_isolation_setting,
    )

    given = {key: value for key, value in settings.items() if value not in (None, [], ())}
    unknown = sorted(set(given) - set(ISOLATION_FLAGS))
    if unknown:
        raise ValueError(f"not isolation settings: {', '.join(unknown)}")
    if mode is None:
        if given:
            flags = ", ".join(ISOLATION_FLAGS[key] for key in given)
            raise UsageError(
                f"{flags}: only with --isolation (say which workspace the setting is for, "
                "e.g. --isolation container)"
            )
        return None
    try:
        name = str(read_isolation_setting(mode))
    except IsolationSettingError as exc:
        raise UsageError(f"--isolation: {exc.problem}", field="mode") from None
    for key in given:
        modes = SETTING_MODES[key]
        if IsolationMode(name) not in modes:
            users = " and ".join(m.value for m in IsolationMode if m in modes)
            raise UsageError(
                f"{ISOLATION_FLAGS[key]} does not apply to --isolation {name} (only to {users})",
                field=key,
            )
    if not given:
        return name
    table: dict[str, Any] = {"mode": name}
    for key, value in given.items():
        table[key] = list(value) if isinstance(value, (list, tuple)) else value
    try:
        read_isolation_setting(table)
    except IsolationSettingError as exc:
        flag = ISOLATION_FLAGS.get(exc.setting or "", "--isolation")
        raise UsageError(f"{flag}: {exc.problem}", field=exc.setting) from None
    return table


_Name = Annotated[str, typer.Argument(help="The agent (a killed one too: its worktree stays).")]


@app.command()
def diff(name: _Name, json_out: JsonFlag = False) -> None:
    """Show an agent's work: its branch against its base, then what is not committed yet."""
    with connect() as client:
        result = client.diff(name)
    if json_out:
        print_json(result)
        return
    typer.echo(
        f"# {result['branch']}: {result['commits']} commit(s) since "
        f"{str(result['base_commit'])[:12]} (worktree {result['worktree']})",
        err=True,
    )
    if result["diff"]:
        echo_text(result["diff"])
    if result["uncommitted"]:
        typer.echo("# not committed yet:", err=True)
        echo_text(result["uncommitted"])
    if not result["diff"] and not result["uncommitted"]:
        typer.echo("# no changes", err=True)


@app.command()
def merge(
    name: _Name,
    into: Annotated[
        str | None,
        typer.Option("--into", help="Branch to merge into (default: the project's current one)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Merge an agent's branch into the project. A conflict aborts the merge: exit 1."""
    from ..isolation import MergeConflict

    with connect() as client:
        try:
            result = client.merge(name, into=into)
        except MergeConflict as exc:
            report_conflict(exc, json_out=json_out, done_key="merged")
            raise typer.Exit(EXIT_ERROR) from None
    if json_out:
        print_json(result)
        return
    if not result["changed"]:
        typer.echo(f"{result['branch']} is already merged into {result['into']}")
        return
    typer.echo(f"merged {result['branch']} into {result['into']} ({result['commit'][:12]})")


@app.command()
def clean(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME|RUN_ID",
            help="An agent (a killed one too), or a run id (run-YYYYMMDD-HHMMSS-xxxx).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete unmerged or uncommitted work too; kill a live agent."),
    ] = False,
    finished: Annotated[
        bool,
        typer.Option("--finished", help="Clean finished runs but the newest --keep ones."),
    ] = False,
    keep: Annotated[
        int | None,
        typer.Option("--keep", min=0, help="With --finished: runs whose worktrees stay (0)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Remove an agent's worktree and branch, or every worktree and branch of a run.

    Refuses to lose work (commits in none of your branches, uncommitted changes)
    unless --force. --finished [--keep N]: keep the newest N finished runs' worktrees;
    of older runs remove what loses nothing (everything with --force).
    """
    from ._landing import print_clean

    if finished:
        if name is not None:
            raise UsageError("give a NAME or RUN_ID, or --finished, not both")
        with connect() as client:
            result = client.clean_runs(keep=keep or 0, force=force)
        if json_out:
            print_json(result)
            return
        if not result["cleaned"]:
            typer.echo(f"nothing to clean (kept {len(result['kept_runs'])} run(s))")
        for run in result["cleaned"]:
            print_clean(run)
        for run in result["skipped"]:
            typer.echo(f"run {run['run_id']}: skipped: {run['reason']}")
        return
    if keep is not None:
        raise UsageError("--keep goes with --finished")
    if name is None:
        raise UsageError("name an agent or a run id, or pass --finished")
    if _is_run_id(name):
        with connect() as client:
            result = client.clean_run(name, force=force)
        if json_out:
            print_json(result)
        else:
            print_clean(result)
        return
    with connect() as client:
        result = client.clean(name, force=force)
    if json_out:
        print_json(result)
        return
    what = f"worktree and branch {result['branch']}" if result["branch"] else "workspace"
    typer.echo(f"removed the {what} of {result['agent']}")


def _is_run_id(value: str) -> bool:
    if not value.startswith("run-"):
        return False
    from ..orchestration._artifacts import RUN_ID_PATTERN

    return RUN_ID_PATTERN.fullmatch(value) is not None
