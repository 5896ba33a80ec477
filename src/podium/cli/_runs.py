"""Orchestrated runs: ``podium run``, ``podium runs``, ``podium show``.

``podium cancel`` takes run ids too; it lives with the request commands. The
rendering is in ``_run_view``; it and podium.orchestration are imported inside
the commands, so ``podium --help`` and the agent commands never load them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import PodiumError, UsageError, WaitTimeout
from ._app import EXIT_ERROR, JsonFlag, app, connect, echo_text, print_json, read_prompt, report

if TYPE_CHECKING:
    from .._client import Client
    from ..orchestration._run_records import RunRecord

__all__: list[str] = []

# How often the live view redraws: one long poll of this length per redraw.
_REFRESH = 0.3
EXIT_DETACHED = 130


def _team_file(team: Path | None) -> Path:
    """``--team`` as an absolute path, else the nearest podium.toml from here upwards."""
    if team is not None:
        return team.expanduser().resolve()
    from ..orchestration import TEAM_FILE, find_team

    here = Path.cwd()
    found = find_team(here)
    if found is None:
        raise UsageError(
            f"no {TEAM_FILE} in {here} or any directory above it; "
            "pass --team FILE, or write an example team with `podium init`"
        )
    return found


def _detach(run_id: str) -> typer.Exit:
    typer.echo(
        f"\nrun {run_id} continues in the daemon: podium show {run_id}, podium cancel {run_id}",
        err=True,
    )
    return typer.Exit(EXIT_DETACHED)


def _run_json(run: RunRecord, **extra: Any) -> dict[str, Any]:
    return {**run.to_dict(), **extra}


def _watch(client: Client, run: RunRecord) -> RunRecord:
    """Redraw the run's tasks until it ends; Ctrl-C leaves it running."""
    from rich.console import Console
    from rich.live import Live

    from ._run_view import live_view

    console = Console()
    try:
        with Live(live_view(run, time.time()), console=console, auto_refresh=False) as live:
            while not run.settled:
                try:
                    run = client.wait_run(run.id, timeout=_REFRESH)
                except WaitTimeout:
                    run = client.get_run(run.id)
                view = live_view(run, time.time())
                if console.is_terminal:
                    view = _with_steps(client, run, view)
                live.update(view, refresh=True)
    except KeyboardInterrupt:
        raise _detach(run.id) from None
    return run


def _with_steps(client: Client, run: RunRecord, view: Any) -> Any:
    """The live view plus one line per running task: its agent's current step."""
    from rich.console import Group
    from rich.text import Text

    try:
        board = client.activity().get("agents") or {}
    except PodiumError:
        return view  # the status is a courtesy; the run view goes on without it
    lines = [
        f"{task.task_id} ({task.agent}): {board[task.agent]['step']}"
        for task in run.tasks
        if task.agent in board and task.state.value == "running"
    ]
    if not lines:
        return view
    return Group(view, Text("\n".join(lines), style="dim", no_wrap=True, overflow="ellipsis"))


def _wait(client: Client, run_id: str) -> RunRecord:
    try:
        return client.wait_run(run_id)
    except KeyboardInterrupt:
        raise _detach(run_id) from None


def _finish(run: RunRecord) -> None:
    """Exit 1 with one line naming the state and error unless the run completed."""
    from ..orchestration._run_records import RunState

    if run.state is RunState.COMPLETE:
        return
    if run.state is RunState.AWAITING_APPROVAL:
        typer.echo(
            f"run {run.id} awaits approval of its plan: podium approve {run.id} "
            f"[--plan EDITED.json], or podium reject {run.id} --reason TEXT",
            err=True,
        )
        return
    message = f"run {run.id} {run.state.value}"
    if run.error or run.rejection:
        message += f": {run.error or run.rejection}"
    if run.state not in (RunState.CANCELLED, RunState.REJECTED):
        message += f" (see podium show {run.id}; continue it with podium run --resume {run.id})"
    report(message)
    raise typer.Exit(EXIT_ERROR)


@app.command("run")
def run_(
    request: Annotated[
        str | None,
        typer.Argument(
            metavar="REQUEST", help="What the team should do; '-' reads standard input."
        ),
    ] = None,
    team: Annotated[
        Path | None,
        typer.Option(
            "--team",
            "-t",
            metavar="FILE",
            help="Team file (default: the nearest podium.toml here or above).",
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", metavar="FILE", help="Run this JSON plan instead of asking the orchestrator."
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            metavar="USD",
            help="Stop dispatching tasks once the run has spent this much.",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            metavar="planned|agentic",
            help="planned: podium plans the tasks and schedules them. agentic: the "
            "orchestrator drives the workers itself through podium's MCP tools.",
        ),
    ] = "planned",
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="RUN_ID",
            help="Continue an interrupted, failed or cancelled run (no REQUEST then).",
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Print the run id and return; the run goes on."),
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="No live view: wait, then print the run and report as JSON."),
    ] = False,
    review: Annotated[
        bool | None,
        typer.Option(
            "--review/--no-review",
            help="Stop after planning until the plan is approved (podium approve / reject); "
            "default: the team's [runs] review.",
        ),
    ] = None,
) -> None:
    """Have the team carry out REQUEST: plan, run the tasks in parallel, write a report.

    With --mode agentic the orchestrator itself spawns, tasks and waits on the
    workers through podium's MCP tools; the run is recorded the same way.

    Shows each task live; Ctrl-C leaves the run going in the daemon. Exit 0 if the
    run completed, 1 otherwise.
    """
    if mode not in ("planned", "agentic"):
        raise UsageError(f"--mode must be planned or agentic, got {mode!r}")
    if mode == "agentic" and review:
        raise UsageError("--review stops a run to approve its plan; an agentic run has none")
    if mode == "agentic" and plan is not None:
        raise UsageError("--plan runs a given plan; an agentic run has none (drop --mode agentic)")
    if resume is not None:
        if (
            request is not None
            or team is not None
            or plan is not None
            or budget is not None
            or mode != "planned"
            or review is not None
        ):
            raise UsageError(
                "--resume continues a run as it was started: give no REQUEST, --team, "
                "--plan, --budget, --mode or --review with it"
            )
    elif request is None:
        raise UsageError("give a REQUEST ('-' reads standard input), or --resume RUN_ID")
    if budget is not None and not budget > 0:
        raise UsageError("budget must be greater than 0", budget_usd=budget)
    with connect() as client:
        if resume is not None:
            started = client.resume_run(resume)
        else:
            assert request is not None  # checked above
            text = read_prompt(request, what="REQUEST")
            started = client.submit_run(
                text,
                team=_team_file(team),
                cwd=Path.cwd(),
                plan_file=None if plan is None else plan.expanduser().resolve(),
                budget_usd=budget,
                mode=mode,
                review=review,
            )
        follow(client, started, detach=detach, json_out=json_out)


def follow(client: Client, started: RunRecord, *, detach: bool, json_out: bool) -> None:
    """Print the run id (--detach), or wait and print JSON (--json), or watch it live,
    then the report and costs; the exit code says how it ended."""
    if detach:
        if json_out:
            print_json(_run_json(started))
        else:
            typer.echo(started.id)
        return
    if json_out:
        final = _wait(client, started.id)
        print_json(_run_json(final, report=client.run_report(final.id)))
        _finish(final)
        return
    final = _watch(client, started)
    from rich.console import Console

    from ..orchestration._run_records import RunState

    if final.state is RunState.AWAITING_APPROVAL:
        from ._run_view import show_view

        Console().print(show_view(final, time.time()))
        _finish(final)
        return
    text_report = client.run_report(final.id)
    from ._run_view import cost_table

    if text_report:
        typer.echo()
        echo_text(text_report)
    Console().print(cost_table(final))
    _finish(final)


@app.command("runs")
def runs_(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show the newest N runs.")
    ] = 20,
    json_out: JsonFlag = False,
) -> None:
    """List orchestrated runs, newest first."""
    with connect() as client:
        found = client.list_runs(limit=limit)
    if json_out:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        typer.echo("no runs")
        return
    from rich.console import Console

    from ._run_view import runs_table

    Console().print(runs_table(found))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run id.")],
    report_: Annotated[
        bool, typer.Option("--report", help="Print the run's report (report.md) only.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Show a run: the plan as a tree, task states, costs, timings, each podium apply of it
    and the run directory."""
    with connect() as client:
        if report_:
            text = client.run_report(run_id)
            if json_out:
                print_json({"run_id": run_id, "report": text})
                return
            if text is None:
                state = client.get_run(run_id).state.value
                report(f"run {run_id} has no report yet (it is {state})")
                raise typer.Exit(EXIT_ERROR)
            echo_text(text)
            return
        data = client.run_info(run_id)
    if json_out:
        print_json(data)
        return
    from rich.console import Console

    from ..orchestration._run_records import RunRecord
    from ._run_view import applied_lines, path_lines, show_view

    record = RunRecord.from_dict(data)
    console = Console()
    console.print(show_view(record, time.time()))
    for line in [*applied_lines(data.get("applied") or []), *path_lines(record, data.get("dir"))]:
        console.print(line, soft_wrap=True)
