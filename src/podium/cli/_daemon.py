"""Daemon commands: serve, up, down, status; and fake-api for tests and demos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .._apienv import DEFAULT_API_BASE_URL
from .._errors import DaemonError, PodiumError, UsageError
from .._home import default_home
from ._app import (
    EXIT_OK,
    JsonFlag,
    app,
    environment_matches,
    print_json,
    warn_if_environment_differs,
)
from ._cluster import (
    QUEUE_ENV,
    AttemptsOpt,
    ClusterOptions,
    LeaseOpt,
    MaxRunningOpt,
    RedisOpt,
    RpmOpt,
    cluster_settings,
    serve_argv,
)

__all__: list[str] = []

HostOpt = Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (default: a free one).")]
SocketOpt = Annotated[
    Path | None, typer.Option("--socket", help="Listen on this unix socket instead of TCP.")
]


def _check_listen(host: str | None, port: int | None, socket: Path | None) -> None:
    if socket is not None and (host is not None or port is not None):
        raise UsageError("use --socket or --host/--port, not both")
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    socket: SocketOpt = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning.")] = "info",
    redis: RedisOpt = None,
    lease: LeaseOpt = 15.0,
    max_attempts: AttemptsOpt = 3,
    max_running: MaxRunningOpt = None,
    rpm: RpmOpt = None,
) -> None:
    """Run the daemon in the foreground (Ctrl-C or SIGTERM stops it and every agent).

    With --redis URL it coordinates: records live in Redis and every turn is run
    by ``podium worker`` processes on any number of hosts.

    Testing hook: PODIUM_BACKEND_FACTORY=module:callable replaces the backends
    with the dict that callable returns.
    """
    _check_listen(host, port, socket)
    cluster = ClusterOptions(redis, lease, max_attempts, max_running, rpm)
    settings = cluster_settings(cluster) if redis else None
    from ..server import serve as run

    code = run(
        host=host or "127.0.0.1",
        port=port or 0,
        socket_path=socket,
        log_level=log_level,
        queue_url=redis,
        cluster=settings,
    )
    raise typer.Exit(code)


@app.command()
def up(
    host: HostOpt = None,
    port: PortOpt = None,
    socket: SocketOpt = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for it to answer.")
    ] = None,
    json_out: JsonFlag = False,
    redis: RedisOpt = None,
    lease: LeaseOpt = 15.0,
    max_attempts: AttemptsOpt = 3,
    max_running: MaxRunningOpt = None,
    rpm: RpmOpt = None,
) -> None:
    """Start the daemon in the background (nothing to do if it is running).

    --redis and the options after it: as for ``podium serve``.
    """
    _check_listen(host, port, socket)
    cluster = ClusterOptions(redis, lease, max_attempts, max_running, rpm)
    if redis:
        cluster_settings(cluster)  # bad values are refused here, not in the daemon's log
    from ..server import log_file, start_daemon

    home = default_home()
    info, started = start_daemon(
        home,
        host=host,
        port=port,
        socket_path=socket,
        timeout=timeout,
        extra_argv=serve_argv(cluster) if redis else None,
        extra_env={QUEUE_ENV: redis} if redis else None,
    )
    if json_out:
        if not started:
            warn_if_environment_differs(home, info)
        print_json(
            {
                "running": True,
                "started": started,
                **info.to_dict(),
                "home": str(home),
                "log": str(log_file(home)),
            }
        )
        return
    verb = "started" if started else "already running:"
    typer.echo(f"podium daemon {verb} {info.url} (pid {info.pid})")
    if not started:
        warn_if_environment_differs(home, info)


@app.command()
def down(
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds before it is stopped by force.")
    ] = 15.0,
    json_out: JsonFlag = False,
) -> None:
    """Stop the daemon and every agent process (sessions stay resumable)."""
    from ..server import stop_daemon

    info = stop_daemon(default_home(), timeout=timeout)
    if json_out:
        print_json({"running": False, "stopped": info is not None, "pid": info and info.pid})
        return
    if info is None:
        typer.echo("podium daemon is not running")
    else:
        typer.echo(f"podium daemon stopped (pid {info.pid})")


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _pool_line(pool: dict[str, Any] | None) -> str:
    if not pool:
        return "?"
    limit = pool.get("max_warm")
    line = (
        f"{pool.get('warm')} of max_warm {limit if limit is not None else 'unlimited'}, "
        f"{pool.get('hibernated')} hibernated"
    )
    if pool.get("waiting"):
        line += f", {pool['waiting']} waiting for a slot"
    return line


def _env_state(matches: bool | None) -> str:
    if matches is None:
        return "?"
    if matches:
        return "the same as this shell's"
    return "differs from this shell's (podium down && podium up to use yours)"


@app.command()
def status(json_out: JsonFlag = False) -> None:
    """Is the daemon running? pid, url, uptime, agent count (exit 0 either way), and the
    model API credential variable and base URL its agents use (names, never values)."""
    from .._client import Client
    from ..server import read_token, running_daemon

    home = default_home()
    info = running_daemon(home)
    report: dict[str, Any] = {"running": info is not None, "home": str(home)}
    if info is not None:
        report.update(info.to_dict())
        report["uptime_s"] = time.time() - info.started_at
        # Names and a URL only: which credential the daemon's agents use, never its value.
        report["environment_matches"] = environment_matches(home, info)
        warn_if_environment_differs(home, info)
        try:
            with Client(info.url, read_token(home), timeout=5.0) as client:
                report["agents"] = len(client.list_agents())
                report["mode"] = client.health().get("mode", "embedded")
                report["pool"] = client.pool()
            report["healthy"] = True
        except PodiumError as exc:
            report.update(healthy=False, agents=None, error=exc.message)
    if json_out:
        print_json(report)
        return
    if info is None:
        typer.echo(f"podium daemon is not running (home {home})")
        return
    state = "running" if report["healthy"] else f"running but not answering: {report['error']}"
    typer.echo(f"podium daemon {state}")
    for key, value in (
        ("url", info.url),
        ("pid", info.pid),
        ("uptime", _uptime(report["uptime_s"])),
        ("agents", report["agents"] if report["agents"] is not None else "?"),
        ("mode", report.get("mode") or "?"),
        ("warm", _pool_line(report.get("pool"))),
        ("auth", info.credential_source or "?"),
        ("api url", info.api_base_url or (DEFAULT_API_BASE_URL if info.env_digest else "?")),
        ("api env", _env_state(report["environment_matches"])),
        ("version", info.version),
        ("home", home),
    ):
        typer.echo(f"  {key + ':':<9}{value}")


@app.command(
    "fake-api",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def fake_api(ctx: typer.Context) -> None:
    """Serve the scriptable fake Anthropic API (all arguments go to it; try --help)."""
    try:
        from podium.testing import fake_api_main
    except ImportError as exc:
        raise DaemonError(f"the fake API is not available: {exc}") from None
    code = fake_api_main(list(ctx.args))
    raise typer.Exit(code if code is not None else EXIT_OK)


@app.command()
def demo() -> None:
    """Run the offline walkthrough: real Claude Code CLI processes against the fake API."""
    import asyncio

    try:
        from .._demo import run_demo
    except ImportError as exc:
        raise DaemonError(f"the demo is not available: {exc}") from None
    raise typer.Exit(asyncio.run(run_demo()))
