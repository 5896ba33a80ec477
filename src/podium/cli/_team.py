"""Team commands: ``podium init`` writes a working example team."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import JsonFlag, app, print_json


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="Project directory (default: the current one).")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that already exist.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Write an example team: podium.toml, an orchestrator and three worker profiles."""
    from ..orchestration import load_team, write_example_team

    written = write_example_team(directory, force=force)
    team = load_team(directory / "podium.toml")  # what we wrote must load
    if json_out:
        print_json({"files": [str(p) for p in written], "workers": sorted(team.workers)})
        return
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"team {team.name!r}: orchestrator + workers {', '.join(sorted(team.workers))}")
