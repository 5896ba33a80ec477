"""The sandbox side of a sandbox's network, and the process that runs the agent's CLI.

Runs as the first command inside the bubblewrap sandbox (and the container), as a
standalone script (``python -I -S _netproxy_inner.py ...``: standard library only,
Python 3.8+, nothing else of podium needs to be visible inside). It

1. listens on the sandbox's private loopback:
   ``--forward 127.0.0.1:P=host:port`` accepts plain TCP and tunnels it to
   ``host:port`` (the model API, whose base URL then points at ``127.0.0.1:P``);
   ``--proxy 127.0.0.1:P`` is an HTTP proxy port: the client's own ``CONNECT`` is
   passed through (``HTTPS_PROXY`` points here);
   both go through the unix socket ``--unix`` to the daemon's relay, which alone
   decides what may be reached;
2. applies the process limits ``--rlimit name=value`` (``as``, ``nproc``,
   ``nofile``, ``core``) to itself, so the CLI and everything it starts inherit them;
3. starts the command after ``--`` (the CLI) with this process's stdin, stdout and
   stderr, and exits with its exit code once it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: the script also runs on an image's older python3
    from collections.abc import Awaitable, Callable

    _Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

_CHUNK = 64 * 1024
_LIMITS = {
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
}


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podium-sandbox-net")
    parser.add_argument("--unix", required=True, help="the daemon relay's unix socket")
    parser.add_argument("--forward", action="append", default=[], metavar="LISTEN=TARGET")
    parser.add_argument("--proxy", action="append", default=[], metavar="LISTEN")
    parser.add_argument("--rlimit", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def _set_limits(specs: list[str]) -> None:
    for spec in specs:
        name, _, value = spec.partition("=")
        which = _LIMITS[name]
        _, hard = resource.getrlimit(which)
        limit = int(value)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        # Soft and hard alike: nothing inside may raise it again.
        resource.setrlimit(which, (limit, limit))


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except OSError:
        sink.close()


async def _pipe(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    try:
        await asyncio.gather(_copy(client[0], upstream[1]), _copy(upstream[0], client[1]))
    finally:
        upstream[1].close()
        client[1].close()


def _forwarder(unix: str, target: str | None) -> _Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(unix, limit=_CHUNK)
        except OSError:
            writer.close()
            return
        if target is not None:
            up_writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            try:
                await up_writer.drain()
                reply = await up_reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                reply = b""
            if reply.split(b" ", 2)[1:2] != [b"200"]:
                up_writer.close()
                writer.close()
                return
        await _pipe((reader, writer), (up_reader, up_writer))

    return handle


async def _main(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("podium-sandbox-net: no command to run", file=sys.stderr)
        return 2
    servers: list[asyncio.AbstractServer] = []
    listeners: list[tuple[str, str | None]] = [
        (listen, target) for listen, _, target in (f.partition("=") for f in args.forward)
    ]
    listeners += [(listen, None) for listen in args.proxy]
    for listen, target in listeners:
        host, port = _address(listen)
        handler = _forwarder(args.unix, target)
        servers.append(await asyncio.start_server(handler, host, port))
    _set_limits(args.rlimit)
    try:
        child = await asyncio.create_subprocess_exec(*command)
    except OSError as exc:
        print(f"podium-sandbox-net: cannot start {command[0]}: {exc}", file=sys.stderr)
        return 127
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, _forward_signal, child, signum)
    code = await child.wait()
    for server in servers:
        server.close()
    return 128 - code if code < 0 else code


def _forward_signal(child: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signum)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
