"""Activity latency: the fake model hands the CLI a tool call -> ``tool_started`` at an SSE client.

    python benchmarks/bench_activity.py [--asks 30] [--json]

A warm daemon (``podium up``; the real Claude Code CLI against the fake Anthropic
API of ``podium.testing``), one agent allowed Bash, one client following
``GET /v1/events`` as Server-Sent Events. Each ask makes the fake answer with one
Bash ``tool_use`` (``true``), then a text. For each request the latency is the
arrival time of its ``tool_started`` event at the client minus the moment the
fake finished sending the tool_use response (same machine, same clock). That span
is split at the event's own ``ts``: before it, the CLI parsing the response,
printing the stream line and podium reading and recording it; after it, the push
to the client. Prints a markdown table of p50 / p95 / max.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from podium import Client
from podium.testing import FakeAnthropic, Rule, ToolCall, fake_api_env

PROMPT = "benchmark: run the tool"
WARMUP = 2


class Follower:
    """Notes when each request's tool_started event arrives (over SSE, in a thread)."""

    def __init__(self, client: Client, after: int) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}
        self._cond = threading.Condition()
        self._client = client
        self._after = after
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for event in self._client.follow_events(after=self._after, agent="bench"):
            if event.kind.value == "tool_started" and event.request_id:
                arrived = time.time()
                with self._cond:
                    self.arrivals[event.request_id] = (arrived, event.ts)
                    self._cond.notify_all()

    def wait_for(self, request_id: str) -> tuple[float, float]:
        with self._cond:
            if not self._cond.wait_for(lambda: request_id in self.arrivals, 30):
                raise RuntimeError(f"no tool_started event for {request_id}")
            return self.arrivals[request_id]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(fake: FakeAnthropic, root: Path, asks: int) -> dict[str, Any]:
    home = root / "home"
    env = {
        **os.environ,
        **fake_api_env(fake.base_url, config_dir=root / "claude"),
        "PODIUM_HOME": str(home),
    }
    podium = [sys.executable, "-m", "podium"]
    subprocess.run([*podium, "up"], env=env, check=True, capture_output=True)
    total: list[float] = []
    recorded: list[float] = []
    pushed: list[float] = []
    try:
        with Client.from_home(home, autostart=False) as client:
            client.spawn("bench", cwd=root, options={"tools": ["Bash"], "allowed_tools": ["Bash"]})
            follower = Follower(client, int(client.activity()["last_event_id"]))
            for i in range(asks + WARMUP):
                record = client.ask("bench", PROMPT, wait=True)
                assert record.result == "done", record.error
                arrived, event_ts = follower.wait_for(record.id)
                # The fake's call that answered with the tool_use: the newest one before
                # the tool's result came back.
                call = next(
                    r
                    for r in reversed(fake.requests)
                    if r.is_message and r.tool_calls and r.finished_at is not None
                )
                assert call.finished_at is not None
                if i >= WARMUP:
                    total.append((arrived - call.finished_at) * 1000)
                    recorded.append((event_ts - call.finished_at) * 1000)
                    pushed.append((arrived - event_ts) * 1000)
    finally:
        subprocess.run([*podium, "down"], env=env, check=False, capture_output=True)
    return {"asks": asks, "total_ms": total, "recorded_ms": recorded, "pushed_ms": pushed}


def table(result: dict[str, Any]) -> str:
    rows = [
        f"{result['asks']} asks, one Bash tool call each, to a warm agent",
        "",
        "| span | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|",
    ]
    for label, key in [
        ("**tool_use sent by the API -> tool_started at the SSE client**", "total_ms"),
        ("of which: CLI + podium reading and recording it (-> event ts)", "recorded_ms"),
        ("of which: event pushed to the client (event ts -> arrival)", "pushed_ms"),
    ]:
        values: list[float] = result[key]
        rows.append(
            f"| {label} | {percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} "
            f"| {max(values):.1f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--asks", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="raw numbers on stdout")
    args = parser.parse_args()
    if args.asks < 1:
        parser.error("--asks must be at least 1")
    rules = [
        Rule(tool_result=True, text="done"),
        Rule(content="benchmark", tool_calls=[ToolCall(name="Bash", input={"command": "true"})]),
    ]
    with tempfile.TemporaryDirectory() as scratch, FakeAnthropic(rules) as fake:
        result = measure(fake, Path(scratch), args.asks)
    if args.json:
        print(json.dumps(result))
        print(table(result), file=sys.stderr)
    else:
        print(table(result))


if __name__ == "__main__":
    main()
