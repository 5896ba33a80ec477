"""``podium doctor``: what podium needs on this machine, checked, with what to do."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .._home import default_home
from ._app import EXIT_ERROR, JsonFlag, app, print_json

__all__: list[str] = []

_MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}
_PLAIN_MARKS = {"ok": "+", "warn": "!", "fail": "x"}


def _marks() -> dict[str, str]:
    # A terminal that cannot show ✓/✗ still gets a readable table.
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "".join(_MARKS.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return _PLAIN_MARKS
    return _MARKS


@app.command()
def doctor(
    json_out: JsonFlag = False,
    api: Annotated[
        bool,
        typer.Option("--api", help="Also make one cheap call to the model API (GET /v1/models)."),
    ] = False,
) -> None:
    """Check what podium needs: the Claude Code CLI, who it is logged in as (your own
    configuration and an isolated one), the daemon's API environment against this shell's,
    git, bubblewrap, redis, a container engine, space under PODIUM_HOME.

    Exit 0 when the basics hold (the CLI runs, someone is logged in, PODIUM_HOME takes
    writes); otherwise 1, with a hint for each problem. Never shows a credential."""
    import asyncio

    from .._doctor import run_doctor

    report = asyncio.run(run_doctor(default_home(), api=api))
    if json_out:
        print_json(report.to_dict())
    else:
        marks = _marks()
        width = max(len(f.check) for f in report.findings) + 2
        for finding in report.findings:
            typer.echo(f"{marks[finding.mark.value]} {finding.check:<{width}}{finding.detail}")
            if finding.hint:
                typer.echo(f"  {'':<{width}}hint: {finding.hint}")
        verdict = (
            "podium can run agents here"
            if report.ok
            else "podium cannot run agents here until the ✗ lines are fixed"
        )
        if marks is _PLAIN_MARKS:
            verdict = verdict.replace("✗", "x")
        typer.echo(verdict)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)
