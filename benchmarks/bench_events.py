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
client. Prints a markdown table of p50 / p95 / max. Target: p95 < 50 ms. The
timing loop is ``_event_timing.py``'s, shared with ``bench_activity.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _event_timing import percentile, time_events

from podium import RequestRecord
from podium.testing import FakeAnthropic, Rule

PROMPT = "benchmark prompt: reply with PONG"
TARGET_P95_MS = 50.0
WARMUP = 3


def completed_at(record: RequestRecord) -> float:
    """When the daemon recorded the request's outcome."""
    assert record.completed_at is not None
    return record.completed_at


def measure(base_url: str, root: Path, asks: int) -> dict[str, Any]:
    times = time_events(
        base_url,
        root,
        kind="request_finished",
        origin=completed_at,
        asks=asks,
        warmup=WARMUP,
        prompt=PROMPT,
        answer="PONG",
        agent="warm",
    )
    return {
        "asks": asks,
        "latency_ms": times.total_ms,
        "recorded_ms": times.recorded_ms,
        "pushed_ms": times.pushed_ms,
        "turn_ms_median": statistics.median(times.turn_ms),
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
