"""``podium dashboard``: the address of the daemon's web dashboard, token included."""

from __future__ import annotations

from typing import Annotated

import typer

from .._errors import DaemonError, UsageError
from .._home import default_home
from ._app import JsonFlag, app, print_json, warn_if_environment_differs

__all__: list[str] = []


@app.command()
def dashboard(
    open_browser: Annotated[
        bool, typer.Option("--open", help="Also open it in the default web browser.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Print the dashboard's address: http://127.0.0.1:PORT/dashboard/#token=...

    The token rides in the URL fragment, which the browser keeps to itself; the
    page moves it to the tab's session storage and sends it as a bearer token on
    its API calls. Treat the printed address like the token itself.
    """
    from ..server import read_token
    from ..server._daemon import autostart_disabled, running_daemon, start_daemon
    from ..server._dashboard import dashboard_url

    home = default_home()
    info, started = running_daemon(home), False
    if info is None:
        if autostart_disabled():
            raise DaemonError(f"the podium daemon is not running (home {home}); run 'podium up'")
        info, started = start_daemon(home)
        if started:
            typer.echo(f"started podium daemon at {info.url} (pid {info.pid})", err=True)
    if not started:
        warn_if_environment_differs(home, info)
    if not info.url.startswith("http://"):
        raise UsageError(
            f"the daemon listens on {info.url}, which a browser cannot reach: "
            "restart it on TCP ('podium down', then 'podium up --port N')"
        )
    token = read_token(home)
    if token is None:
        raise DaemonError(f"no token in {home}: restart the daemon ('podium down; podium up')")
    url = dashboard_url(info.url, token)
    opened = False
    if open_browser:
        import webbrowser

        opened = webbrowser.open(url)
    if json_out:
        print_json({"url": url, "daemon": info.url, "opened": opened})
        return
    typer.echo(url)
    if open_browser and not opened:
        typer.echo("could not open a browser: open the address above yourself", err=True)
