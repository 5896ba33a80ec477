"""Request commands: ask, poll, wait, cancel (requests and runs), relay, broadcast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .._records import RequestRecord, RequestState
from ._app import (
    JsonFlag,
    app,
    connect,
    echo_text,
    print_json,
    read_prompt,
)
from ._fast import Interrupted, finish, submitted
from ._fast import ask as run_ask

if TYPE_CHECKING:
    from .._client import Client

__all__: list[str] = []

TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", help="Limit the turn to S seconds; it is interrupted after that."),
]
WaitTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--wait-timeout",
        help="Stop waiting after S seconds (exit 124); the request keeps running.",
    ),
]


def _finish(request: RequestRecord, json_out: bool) -> None:
    """Print a finished request; exit 1 unless it completed."""
    code = finish(request.to_dict(), json_out)
    if code:
        raise typer.Exit(code)


def _wait_or_explain(client: Client, request_id: str, timeout: float | None) -> RequestRecord:
    try:
        return client.wait(request_id, timeout)
    except KeyboardInterrupt:
        typer.echo(
            f"\nstopped waiting; request {request_id} keeps running "
            f"(podium wait {request_id} / podium cancel {request_id})",
            err=True,
        )
        raise typer.Exit(130) from None


@app.command()
def ask(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    prompt: Annotated[str, typer.Argument(help="The prompt; '-' reads standard input.")],
    run_async: Annotated[
        bool, typer.Option("--async", help="Queue it and print only the request id.")
    ] = False,
    timeout: TimeoutOpt = None,
    wait_timeout: WaitTimeoutOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Send PROMPT to NAME and print the answer (exit 1 if the request fails)."""
    text = read_prompt(prompt)
    try:
        code = run_ask(
            name,
            text,
            run_async=run_async,
            timeout=timeout,
            wait_timeout=wait_timeout,
            json_out=json_out,
        )
    except Interrupted:
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


@app.command()
def poll(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="Request id.")],
    json_out: JsonFlag = False,
) -> None:
    """Show a request's state (and its answer once complete) without waiting."""
    with connect() as client:
        request = client.poll(request_id)
    if json_out:
        print_json(request.to_dict())
        return
    typer.echo(f"{request.id}: {request.state.value}")
    if request.state is RequestState.COMPLETE:
        echo_text(request.result or "")
    elif request.error:
        typer.echo(f"error: {request.error}")


@app.command()
def wait(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="Request id.")],
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Give up after S seconds (exit 124); nothing is cancelled."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Wait for a request and print its answer (exit 1 if it failed)."""
    with connect() as client:
        request = _wait_or_explain(client, request_id, timeout)
    _finish(request, json_out)


def _is_run_id(value: str) -> bool:
    # The cheap test first: the pattern lives in podium.orchestration, which is slow
    # to import and which a request id (<agent>-<6 digits>-<8 hex>) never needs.
    if not value.startswith("run-"):
        return False
    from ..orchestration._artifacts import RUN_ID_PATTERN

    return RUN_ID_PATTERN.fullmatch(value) is not None


def _cancel_run(run_id: str, json_out: bool) -> None:
    with connect() as client:
        run = client.cancel_run(run_id)
    if json_out:
        print_json(run.to_dict())
    elif run.state.value == "cancelled":
        typer.echo(f"cancelled run {run.id}")
    elif run.done:
        typer.echo(f"run {run.id} had already ended: {run.state.value}")
    else:
        typer.echo(f"cancelling run {run.id}")


@app.command()
def cancel(
    request_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Request id, or run id (run-YYYYMMDD-HHMMSS-xxxx)."),
    ],
    json_out: JsonFlag = False,
) -> None:
    """Cancel a queued request or interrupt a running one; with a run id, cancel the run.

    Cancelling a run starts nothing more and interrupts its running tasks.
    """
    if _is_run_id(request_id):
        _cancel_run(request_id, json_out)
        return
    with connect() as client:
        request = client.cancel(request_id)
    if json_out:
        print_json(request.to_dict())
        return
    if request.state is RequestState.CANCELLED:
        typer.echo(f"cancelled {request.id}")
    elif request.state is RequestState.RUNNING:
        typer.echo(f"interrupting {request.id}")
    else:
        typer.echo(f"{request.id} had already ended: {request.state.value}")


@app.command()
def relay(
    source: Annotated[str, typer.Argument(metavar="FROM", help="Agent whose last answer to send.")],
    target: Annotated[str, typer.Argument(metavar="TO", help="Agent to send it to.")],
    prompt: Annotated[str, typer.Argument(help="Instruction; '-' reads standard input.")],
    wait_: Annotated[
        bool, typer.Option("--wait", help="Wait and print the answer instead of the id.")
    ] = False,
    timeout: TimeoutOpt = None,
    wait_timeout: WaitTimeoutOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Send TO the PROMPT plus FROM's last complete answer, verbatim; print the request id."""
    text = read_prompt(prompt)
    with connect() as client:
        request = client.relay(source, target, text, timeout=timeout)
        if not wait_:
            submitted(request.to_dict(), json_out)
            return
        request = _wait_or_explain(client, request.id, wait_timeout)
    _finish(request, json_out)


@app.command()
def broadcast(
    prompt: Annotated[str, typer.Argument(help="The prompt; '-' reads standard input.")],
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", "-x", metavar="NAME", help="Skip this agent (repeatable)."),
    ] = None,
    timeout: TimeoutOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Send PROMPT to every agent; print one 'agent request-id' line per agent."""
    text = read_prompt(prompt)
    with connect() as client:
        requests = client.broadcast(text, exclude=exclude or (), timeout=timeout)
    if json_out:
        print_json([r.to_dict() for r in requests])
        return
    if not requests:
        typer.echo("no agents to send to", err=True)
    for request in requests:
        typer.echo(f"{request.agent}\t{request.id}")
