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
to the client. Prints a markdown table of p50 / p95 / max. The timing loop is
``_event_timing.py``'s, shared with ``bench_events.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _event_timing import percentile, time_events

from podium import RequestRecord
from podium.testing import FakeAnthropic, Rule, ToolCall

PROMPT = "benchmark: run the tool"
WARMUP = 2


def measure(fake: FakeAnthropic, root: Path, asks: int) -> dict[str, Any]:
    def tool_use_sent(record: RequestRecord) -> float:
        # The fake's call that answered with the tool_use: the newest one before the
        # tool's result came back.
        call = next(
            r
            for r in reversed(fake.requests)
            if r.is_message and r.tool_calls and r.finished_at is not None
        )
        assert call.finished_at is not None
        return call.finished_at

    times = time_events(
        fake.base_url,
        root,
        kind="tool_started",
        origin=tool_use_sent,
        asks=asks,
        warmup=WARMUP,
        prompt=PROMPT,
        answer="done",
        agent="bench",
        options={"tools": ["Bash"], "allowed_tools": ["Bash"]},
    )
    return {
        "asks": asks,
        "total_ms": times.total_ms,
        "recorded_ms": times.recorded_ms,
        "pushed_ms": times.pushed_ms,
    }


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
