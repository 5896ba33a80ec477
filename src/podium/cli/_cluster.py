"""Distributed mode: ``podium worker`` (a worker host), ``podium workers``, ``podium jobs``.

The daemon's own options for it (``podium serve --redis URL`` and friends) are
defined here too, so ``serve`` and ``up`` read them alike.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._errors import UsageError
from .._home import default_home
from ._app import JsonFlag, app, connect, print_json

if TYPE_CHECKING:
    from ..distributed import ClusterSettings

__all__ = ["ClusterOptions", "cluster_settings", "serve_argv"]

QUEUE_ENV = "PODIUM_REDIS_URL"

RedisOpt = Annotated[
    str | None,
    typer.Option(
        "--redis",
        envvar=QUEUE_ENV,
        help="Distributed mode: the queue's URL — redis://HOST:6379/0, unix:///PATH/redis.sock "
        "(or sqlite:///PATH for several workers on one host).",
        show_envvar=True,
    ),
]
LeaseOpt = Annotated[
    float,
    typer.Option("--lease", help="Seconds without a heartbeat before a worker's job moves on."),
]
AttemptsOpt = Annotated[
    int, typer.Option("--max-attempts", help="Claims per turn before it is a dead letter.")
]
MaxRunningOpt = Annotated[
    int | None,
    typer.Option("--max-running", help="Turns running at once across every worker."),
]
RpmOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--rpm",
        help="Requests per minute for a model across every worker, MODEL=N "
        "(repeatable; * for any other model).",
    ),
]


class ClusterOptions:
    """The serve/up options of distributed mode, as given."""

    def __init__(
        self,
        url: str | None,
        lease: float,
        max_attempts: int,
        max_running: int | None,
        rpm: list[str] | None,
    ) -> None:
        self.url = url
        self.lease = lease
        self.max_attempts = max_attempts
        self.max_running = max_running
        self.rpm = rpm or []
        if url is None and (max_running is not None or self.rpm):
            raise UsageError("--max-running and --rpm need --redis (distributed mode)")


def _parse_rpm(values: list[str]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for value in values:
        model, sep, number = value.partition("=")
        if not sep or not model.strip() or not number.strip().isdigit():
            raise UsageError(f"--rpm takes MODEL=N (e.g. haiku=50), got {value!r}")
        limits[model.strip()] = int(number)
    return limits


def cluster_settings(options: ClusterOptions) -> ClusterSettings:
    from ..distributed import ClusterSettings

    return ClusterSettings(
        lease=options.lease,
        max_attempts=options.max_attempts,
        max_running=options.max_running,
        requests_per_minute=_parse_rpm(options.rpm),
    )


def serve_argv(options: ClusterOptions) -> list[str]:
    """The options again for a background ``podium serve`` (the URL goes by environment)."""
    argv = ["--lease", str(options.lease), "--max-attempts", str(options.max_attempts)]
    if options.max_running is not None:
        argv += ["--max-running", str(options.max_running)]
    for value in options.rpm:
        argv += ["--rpm", value]
    return argv


# --- podium worker -----------------------------------------------------------------------


def _lanes(profiles: list[str] | None, lanes: list[str] | None) -> tuple[str, ...]:
    from .._names import check_name

    chosen: list[str] = []
    for group in profiles or []:
        for name in filter(None, (part.strip() for part in group.split(","))):
            check_name(name, what="profile name")
            chosen.append(f"profile:{name}")
    for group in lanes or []:
        chosen.extend(filter(None, (part.strip() for part in group.split(","))))
    return tuple(dict.fromkeys(chosen))


@app.command()
def worker(
    redis: RedisOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Turns this host runs at once.")
    ] = 2,
    profiles: Annotated[
        list[str] | None,
        typer.Option(
            "--profiles",
            help="Only run tasks of these team profiles (comma-separated, repeatable); "
            "default: every job.",
        ),
    ] = None,
    lanes: Annotated[
        list[str] | None,
        typer.Option("--lanes", help="Only these lanes (e.g. default, profile:marie)."),
    ] = None,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's name (default: HOST-PID).")
    ] = None,
    lease: Annotated[
        float,
        typer.Option("--lease", help="Lease in seconds if the coordinator publishes none."),
    ] = 15.0,
    drain: Annotated[
        float,
        typer.Option("--drain", help="On SIGTERM: seconds running turns get to finish."),
    ] = 30.0,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning.")] = "info",
) -> None:
    """Run turns for a distributed daemon, taking them from the queue (foreground).

    Any number of hosts can run workers on one queue. Each keeps its agents'
    processes warm between turns and stores every session's transcript centrally,
    so an agent's next turn can run on any host. SIGTERM or Ctrl-C: no new jobs,
    running turns get --drain seconds, then they are handed to other workers.
    """
    if not redis:
        raise UsageError(f"podium worker needs the queue: --redis URL (or ${QUEUE_ENV})")
    from .._names import check_name
    from ..distributed import Worker, WorkerSettings, default_worker_id
    from ..queue import open_queue
    from ..server._logging import configure_logging

    ident = check_name(worker_id or default_worker_id(), what="worker id")
    settings = WorkerSettings(
        id=ident,
        home=default_home() / "workers" / ident,
        concurrency=concurrency,
        lanes=_lanes(profiles, lanes),
        lease=lease,
        drain_timeout=drain,
    )
    configure_logging(log_level)

    import asyncio

    async def main() -> None:
        queue = open_queue(redis)
        runner = Worker(queue, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        try:
            await runner.run()
        finally:
            await queue.close()

    asyncio.run(main())


# --- podium workers / jobs ---------------------------------------------------------------


def _age(seconds: float) -> str:
    return f"{seconds:.1f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


@app.command()
def workers(json_out: JsonFlag = False) -> None:
    """Worker hosts of a distributed daemon: lanes, load, jobs done, last heartbeat."""
    with connect() as client:
        report = client.workers()
    if json_out:
        print_json(report)
        return
    if report["mode"] != "distributed":
        typer.echo("the daemon runs in embedded mode: its turns run inside it (no workers)")
        return
    typer.echo(
        f"queue {report['queue']} · lease {report['lease']:g} s · "
        f"dead letters {report['dead_letters']}"
    )
    rows: list[dict[str, Any]] = report["workers"]
    if not rows:
        typer.echo("no workers registered: start one with podium worker --redis URL")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("worker", "host", "pid", "lanes", "running", "done", "failed", "heartbeat")
    for row in rows:
        state = "" if row["alive"] else " (lost)"
        table.add_row(
            *(
                Text(str(value))
                for value in (
                    row["id"],
                    row["host"],
                    row["pid"],
                    ",".join(row["lanes"]) or "all",
                    f"{len(row['running'])}/{row['concurrency']}",
                    row["completed"],
                    row["failed"],
                    _age(row["heartbeat_age_s"]) + state,
                )
            )
        )
    Console().print(table)


@app.command()
def jobs(
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="queued, running, complete, failed, cancelled, dead."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """Jobs on a distributed daemon's queue, oldest first (--state dead: the dead letters)."""
    with connect() as client:
        embedded = client.health().get("mode") == "embedded"
        rows = client.jobs(states=state, limit=limit)
    if json_out:
        print_json(rows)
        return
    if embedded:
        typer.echo("the daemon runs in embedded mode: its turns run inside it (no job queue)")
        return
    if not rows:
        typer.echo("no jobs")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    now = time.time()
    table = Table("job", "kind", "lane", "state", "attempt", "worker", "age", "error")
    for row in rows:
        agent = (row.get("payload") or {}).get("agent")
        table.add_row(
            *(
                Text(str(value))
                for value in (
                    row["id"] + (f" ({agent})" if agent else ""),
                    row["kind"],
                    row["lane"],
                    row["state"],
                    f"{row['attempt']}/{row['max_attempts']}",
                    row["worker"] or "-",
                    _age(max(0.0, now - row["submitted_at"])),
                    (row["error"] or "")[:60],
                )
            )
        )
    Console().print(table)
