"""``podium apply RUN``: land a run's work on your branch. ``podium clean RUN`` lives with
the workspace commands (``clean`` takes an agent, a run id, or ``--finished``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._app import EXIT_ERROR, JsonFlag, app, connect, print_json
from ._common import report_conflict

__all__ = ["print_clean"]


@app.command()
def apply(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run whose work to land.")],
    into: Annotated[
        str | None,
        typer.Option("--into", help="Local branch to apply to (default: the checked-out one)."),
    ] = None,
    squash: Annotated[
        bool, typer.Option("--squash", help="One commit instead of a fast-forward or merge.")
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip your repository's commit hooks.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Land a run's integration branch (podium/run/RUN_ID) on your branch.

    Fast-forward when possible, else a merge commit (--squash: one commit), made
    with your git identity and hooks and a Podium-Run trailer. A dirty tree is
    refused; a conflict is undone (exit 1, the files named).
    """
    from ..isolation import MergeConflict

    with connect() as client:
        try:
            result = client.apply_run(run_id, into=into, squash=squash, verify=not no_verify)
        except MergeConflict as exc:
            report_conflict(exc, json_out=json_out, done_key="applied")
            raise typer.Exit(EXIT_ERROR) from None
    if json_out:
        print_json(result)
        return
    if result["mode"] == "up-to-date":
        typer.echo(f"{result['into']} already has run {result['run_id']}'s work: nothing to do")
        return
    commits, files = result["commits"], result["files"]
    typer.echo(
        f"applied run {result['run_id']} to {result['into']} ({result['mode']}): "
        f"{result['from'][:12]}..{result['to'][:12]}, {len(commits)} commit(s), "
        f"{len(files)} file(s) changed"
    )
    if result["tasks"]:
        typer.echo(f"tasks: {', '.join(result['tasks'])}")
    for commit in commits[:20]:
        typer.echo(f"  {commit['commit'][:12]} {commit['subject']}")
    if len(commits) > 20:
        typer.echo(f"  ... and {len(commits) - 20} more")
    typer.echo(f"then: podium clean {result['run_id']}")


def print_clean(result: dict[str, Any]) -> None:
    """One run's clean-up: what was removed, what was kept and why."""
    trees, branches = result["removed_worktrees"], result["removed_branches"]
    typer.echo(
        f"run {result['run_id']}: removed {len(trees)} worktree(s), {len(branches)} branch(es)"
    )
    for name in branches:
        typer.echo(f"  - branch {name}")
    for name in trees:
        typer.echo(f"  - worktree {name}")
    for item in result["kept"]:
        typer.echo(f"  kept {item['kind']} {item['name']}: {item['loses']}")
