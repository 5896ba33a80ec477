"""Event latency: a request completes in the daemon -> its SSE event reaches a client.

    python benchmarks/bench_events.py [--asks 100] [--json]

A warm daemon (``podium up``; the real Claude Code CLI against the fake
Anthropic API of ``podium.testing``), one agent kept warm, one client following
``GET /v1/events`` as Server-Sent Events. The agent is asked ``--asks`` times,
one after another; for each request the latency is the arrival time of its
``request_finished`` event at the client minus the request's ``completed_at``
(stamped by the daemon when it records the outcome; same machine, same clock).
That span is split at the event's own ``ts``: before it, the daemon making the
outcome durable (request, agent and event rows); after it, the push to the
client. Prints a markdown table of p50 / p95 / max. Target: p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from podium import Client
from podium.testing import FakeAnthropic, Rule, fake_api_env

PROMPT = "benchmark prompt: reply with PONG"
TARGET_P95_MS = 50.0
WARMUP = 3


class EventFollower:
    """Reads the daemon's event stream in a thread; notes when each request's end arrives."""

    def __init__(self, url: str, token: str, after: int) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}
        """request id -> (arrival time, the event's ts)"""
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._url = url
        self._token = token
        self._after = after
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sse-follower", daemon=True)

    def start(self) -> EventFollower:
        self._thread.start()
        if not self.connected.wait(10):
            raise RuntimeError(f"event stream did not open: {self.error!r}")
        return self

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "text/event-stream"}
        try:
            with (
                httpx.Client(base_url=self._url, headers=headers, timeout=None) as http,
                http.stream("GET", "/v1/events", params={"after": self._after}) as response,
            ):
                response.raise_for_status()
                self.connected.set()
                kind = data = None
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif not line:
                        if kind == "request_finished" and data is not None:
                            arrived = time.time()
                            event = json.loads(data)
                            with self._cond:
                                self.arrivals[event["request_id"]] = (arrived, event["ts"])
                                self._cond.notify_all()
                        kind = data = None
        except BaseException as exc:  # reported by wait_for
            if not self._stop.is_set():
                self.error = exc
            self.connected.set()

    def wait_for(self, request_id: str, timeout: float = 10.0) -> tuple[float, float]:
        with self._cond:
            if not self._cond.wait_for(lambda: request_id in self.arrivals, timeout):
                raise RuntimeError(f"no request_finished event for {request_id}: {self.error!r}")
            return self.arrivals[request_id]

    def stop(self) -> None:
        self._stop.set()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(base_url: str, root: Path, asks: int) -> dict[str, Any]:
    home = root / "home"
    env = {
        **os.environ,
        **fake_api_env(base_url, config_dir=root / "claude"),
        "PODIUM_HOME": str(home),
    }
    podium = [sys.executable, "-m", "podium"]
    subprocess.run([*podium, "up"], env=env, check=True, capture_output=True)
    try:
        with Client.from_home(home, autostart=False) as client:
            token = (home / "token").read_text(encoding="utf-8").strip()
            client.spawn("warm", cwd=root)
            latest = client.events(limit=10_000)
            follower = EventFollower(client.url, token, latest[-1].id if latest else 0).start()
            latencies: list[float] = []
            recorded: list[float] = []
            pushed: list[float] = []
            turns: list[float] = []
            try:
                for i in range(asks + WARMUP):
                    started = time.perf_counter()
                    record = client.ask("warm", PROMPT, wait=True)
                    turns.append(time.perf_counter() - started)
                    assert record.result == "PONG", record.error
                    assert record.completed_at is not None
                    arrived, event_ts = follower.wait_for(record.id)
                    if i >= WARMUP:  # the first turns warm caches on both sides
                        latencies.append(arrived - record.completed_at)
                        recorded.append(event_ts - record.completed_at)
                        pushed.append(arrived - event_ts)
            finally:
                follower.stop()
    finally:
        subprocess.run([*podium, "down"], env=env, check=False, capture_output=True)
    return {
        "asks": asks,
        "latency_ms": [v * 1000 for v in latencies],
        "recorded_ms": [v * 1000 for v in recorded],
        "pushed_ms": [v * 1000 for v in pushed],
        "turn_ms_median": statistics.median(turns[WARMUP:]) * 1000,
    }


def table(result: dict[str, Any]) -> str:
    p95 = percentile(result["latency_ms"], 0.95)
    verdict = "meets" if p95 < TARGET_P95_MS else "misses"
    rows = [
        f"{result['asks']} asks to a warm agent, one at a time "
        f"(warm turn, ask + wait: median {result['turn_ms_median']:.1f} ms)",
        "",
        "| span | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|",
    ]
    for label, key in [
        ("**request completed -> its SSE event at the client**", "latency_ms"),
        ("of which: outcome made durable (completed_at -> event ts)", "recorded_ms"),
        ("of which: event pushed to the client (event ts -> arrival)", "pushed_ms"),
    ]:
        values: list[float] = result[key]
        rows.append(
            f"| {label} | {percentile(values, 0.50):.2f} | {percentile(values, 0.95):.2f} "
            f"| {max(values):.2f} |"
        )
    rows += ["", f"Target: p95 < {TARGET_P95_MS:.0f} ms -> {verdict}."]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--asks", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="raw numbers on stdout")
    args = parser.parse_args()
    if args.asks < 1:
        parser.error("--asks must be at least 1")
    with tempfile.TemporaryDirectory() as scratch, FakeAnthropic([Rule(text="PONG")]) as fake:
        result = measure(fake.base_url, Path(scratch), args.asks)
    if args.json:
        print(json.dumps(result))
        print(table(result), file=sys.stderr)
    else:
        print(table(result))


if __name__ == "__main__":
    main()
