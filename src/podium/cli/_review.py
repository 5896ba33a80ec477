"""``podium approve`` / ``podium reject``: decide on a run awaiting approval (``--review``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import JsonFlag, app, connect, print_json
from ._runs import follow

__all__: list[str] = []


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run awaiting approval.")],
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="Run this edited JSON plan instead (checked like any plan; a bad one is "
            "refused and the run keeps waiting).",
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Return at once; the run goes on.")
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="No live view: wait, then print the run and report as JSON."),
    ] = False,
) -> None:
    """Approve a reviewed run's plan (or an edited one) and run it, watching it like podium run."""
    with connect() as client:
        started = client.approve_run(
            run_id, plan_file=None if plan is None else plan.expanduser().resolve()
        )
        follow(client, started, detach=detach, json_out=json_out)


@app.command()
def reject(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run awaiting approval.")],
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why; kept with the run."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Reject a reviewed run's plan: the run ends as rejected and no task runs."""
    with connect() as client:
        run = client.reject_run(run_id, reason=reason)
    if json_out:
        print_json(run.to_dict())
        return
    typer.echo(f"run {run.id} rejected: {run.rejection}")
