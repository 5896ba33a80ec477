"""Running the MCP server: over stdio (started by an agent's CLI) or streamable HTTP.

Over HTTP the same gate as the daemon's API stands in front of every request:
the Host must name this server (DNS rebinding), a foreign Origin is refused
(CSRF) and ``Authorization: Bearer <token>`` must carry the daemon's token
from ``$PODIUM_HOME/token``. Only loopback addresses are served unless
``allow_remote`` is given.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from .._errors import UsageError
from ._settings import McpSettings

__all__ = ["MCP_PATH", "is_loopback", "serve_http", "serve_stdio"]

MCP_PATH = "/mcp"


async def serve_stdio(settings: McpSettings) -> None:
    from ._server import create_server
    from ._tools import PodiumTools

    tools = PodiumTools(settings)
    try:
        await create_server(settings, tools).run_stdio_async()
    finally:
        tools.close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def serve_http(
    settings: McpSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``http://host:port/mcp`` until cancelled; ``on_ready`` gets the URL once bound."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from ..server._guard import Guard, GuardSettings, loopback_names
    from ..server._state import load_or_create_token
    from ._server import create_server
    from ._tools import PodiumTools

    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"refusing to serve MCP on {host}: it is not a loopback address; "
            "pass --allow-remote to accept connections from other machines (token required)"
        )
    token = load_or_create_token(settings.home)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(64)
    sock.setblocking(False)
    bound = sock.getsockname()[1]
    hosts, origins = loopback_names(host, bound)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}{MCP_PATH}"

    tools = PodiumTools(settings)
    server = create_server(settings, tools)
    # The guard checks Host and Origin itself, for every route.
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
    )
    guarded = Guard(app, GuardSettings(token=token, allowed_hosts=hosts, allowed_origins=origins))
    config = uvicorn.Config(guarded, lifespan="on", log_config=None, access_log=False)
    web = uvicorn.Server(config)
    try:
        if on_ready is not None:
            on_ready(url)
        await web.serve(sockets=[sock])
    finally:
        sock.close()
        tools.close()
