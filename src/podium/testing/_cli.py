"""``python -m podium.testing``: run the fake API as a standalone process.

Lets shell scripts, benchmarks and manual sessions point a real CLI at the
fake. The base URL is the first stdout line so a parent process can read it.
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
from podium.testing._rules import Rule, load_rules
from podium.testing._server import FakeAnthropic

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m podium.testing",
        description="Serve a scriptable fake Anthropic Messages API until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--rules", type=Path, help="JSON file: a list of rule objects")
    parser.add_argument("--default-text", default="OK", help="answer when no rule matches")
    parser.add_argument("--record", type=Path, help="write every request as JSONL on exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rules: list[Rule] = []
    if args.rules is not None:
        try:
            rules = load_rules(args.rules)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    fake = FakeAnthropic(rules, default_text=args.default_text)
    try:
        url = fake.start(host=args.host, port=args.port)
    except OSError as exc:
        print(f"error: cannot bind {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(url, flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        fake.stop()
        if args.record is not None:
            with args.record.open("w", encoding="utf-8") as out:
                for record in fake.requests:
                    out.write(json.dumps(record.to_dict(), default=str) + "\n")
    return 0
