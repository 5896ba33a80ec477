"""Workspace commands: diff, merge and clean an agent's git worktree."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import EXIT_ERROR, JsonFlag, app, connect, echo_text, print_json, report

__all__: list[str] = []

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
            if json_out:
                print_json({"merged": False, "error": exc.to_dict()})
            else:
                report(exc.message)
                for path in exc.context.get("files", []):
                    typer.echo(f"conflict: {path}", err=True)
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
    name: _Name,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete unmerged or uncommitted work too; kill a live agent."),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Remove an agent's worktree and branch; refuses to lose unmerged work unless --force."""
    with connect() as client:
        result = client.clean(name, force=force)
    if json_out:
        print_json(result)
        return
    what = f"worktree and branch {result['branch']}" if result["branch"] else "workspace"
    typer.echo(f"removed the {what} of {result['agent']}")
