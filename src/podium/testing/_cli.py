"""``python -m podium.testing``: run the fake API as a standalone process.

Lets shell scripts, benchmarks and manual sessions point a real CLI at the
fake. The base URL is the first stdout line so a parent process can read it;
with ``--openai`` the OpenAI-compatible fake's base URL (ending in ``/v1``) is
the second. Both fakes answer from the same rules.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from podium._errors import UsageError
from podium.testing._fake_server import FakeServer
from podium.testing._openai import FakeOpenAI
from podium.testing._rules import Rule, load_rules
from podium.testing._server import FakeAnthropic

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m podium.testing",
        description=(
            "Serve a scriptable fake Anthropic API (and with --openai an OpenAI-compatible"
            " one; each counts rule 'times' on its own) until SIGINT/SIGTERM."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--rules", type=Path, help="JSON file: a list of rule objects")
    parser.add_argument("--default-text", default="OK", help="answer when no rule matches")
    parser.add_argument("--record", type=Path, help="write every request as JSONL on exit")
    parser.add_argument(
        "--auto-cache",
        action="store_true",
        help="report prompt-cache usage computed from the requests when a rule sets none",
    )
    parser.add_argument(
        "--batch-delay",
        type=float,
        default=0.0,
        help="seconds a message batch stays in progress (default 0)",
    )
    parser.add_argument(
        "--openai",
        action="store_true",
        help="also serve the OpenAI-compatible fake; its base URL is the second line",
    )
    parser.add_argument("--openai-port", type=int, default=0, help="port for --openai (0: free)")
    return parser


def _start(fakes: list[tuple[FakeServer, int]], host: str) -> list[str] | None:
    """Start every fake; on a failure stop the ones started and report it."""
    urls: list[str] = []
    for fake, port in fakes:
        try:
            urls.append(fake.start(host=host, port=port))
        except OSError as exc:
            print(f"error: cannot bind {host}:{port}: {exc.strerror}", file=sys.stderr)
            for started, _ in fakes:
                started.stop()
            return None
    return urls


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rules: list[Rule] = []
    if args.rules is not None:
        try:
            rules = load_rules(args.rules)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    fakes: list[tuple[FakeServer, int]] = [
        (
            FakeAnthropic(
                rules,
                default_text=args.default_text,
                auto_cache=args.auto_cache,
                batch_delay=args.batch_delay,
            ),
            args.port,
        )
    ]
    if args.openai:
        openai_fake = FakeOpenAI(rules, default_text=args.default_text, auto_cache=args.auto_cache)
        fakes.append((openai_fake, args.openai_port))
    urls = _start(fakes, args.host)
    if urls is None:
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print("\n".join(urls), flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for fake, _ in fakes:
            fake.stop()
        if args.record is not None:
            # One file, in arrival order; ``path`` tells the two APIs apart.
            records = sorted(
                (r for fake, _ in fakes for r in fake.requests), key=lambda r: r.received_at
            )
            with args.record.open("w", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps(record.to_dict(), default=str) + "\n")
    return 0
