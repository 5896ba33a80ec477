"""What ``bench_events.py`` and ``bench_activity.py`` share: the SSE-client timing loop.

A warm daemon (``podium up``; the real Claude Code CLI against the fake Anthropic API
of ``podium.testing``), one agent, one client following ``GET /v1/events`` as
Server-Sent Events in a thread. The agent is asked again and again, one ask after
another; for each ask, the arrival of its event of one kind at the client is timed
from a moment the benchmark names (``origin``), and split at the event's own ``ts``:
before it, the daemon's side (reading and recording); after it, the push to the client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from podium import Client, RequestRecord
from podium.testing import fake_api_env

__all__ = ["EventFollower", "EventTimes", "percentile", "time_events"]


class EventFollower:
    """Reads the daemon's event stream in a thread; notes when each request's event of
    kind ``kind`` arrives, and the event's own ``ts``."""

    def __init__(self, url: str, token: str, after: int, kind: str) -> None:
        self.arrivals: dict[str, tuple[float, float]] = {}
        """request id -> (arrival time, the event's ts)"""
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._url = url
        self._token = token
        self._after = after
        self._kind = kind
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
                        if kind == self._kind and data is not None:
                            arrived = time.time()
                            event = json.loads(data)
                            if event.get("request_id"):
                                with self._cond:
                                    self.arrivals[event["request_id"]] = (arrived, event["ts"])
                                    self._cond.notify_all()
                        kind = data = None
        except BaseException as exc:  # reported by wait_for
            if not self._stop.is_set():
                self.error = exc
            self.connected.set()

    def wait_for(self, request_id: str, timeout: float = 30.0) -> tuple[float, float]:
        with self._cond:
            if not self._cond.wait_for(lambda: request_id in self.arrivals, timeout):
                raise RuntimeError(f"no {self._kind} event for {request_id}: {self.error!r}")
            return self.arrivals[request_id]

    def stop(self) -> None:
        self._stop.set()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class EventTimes:
    """Per timed ask, in ms: ``origin`` -> arrival at the client (``total``), split at the
    event's ts (``recorded``: origin -> ts; ``pushed``: ts -> arrival); and each ask's
    ask + wait (``turn``). The warm-up asks are left out."""

    total_ms: list[float] = field(default_factory=list)
    recorded_ms: list[float] = field(default_factory=list)
    pushed_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)


def time_events(
    fake_url: str,
    root: Path,
    *,
    kind: str,
    origin: Callable[[RequestRecord], float],
    asks: int,
    warmup: int,
    prompt: str,
    answer: str,
    agent: str = "bench",
    options: dict[str, Any] | None = None,
) -> EventTimes:
    """Ask ``agent`` ``prompt`` ``warmup + asks`` times, each answered ``answer``; time each
    ask's ``kind`` event from ``origin(record)`` to its arrival at the SSE client."""
    home = root / "home"
    env = {
        **os.environ,
        **fake_api_env(fake_url, config_dir=root / "claude"),
        "PODIUM_HOME": str(home),
    }
    podium = [sys.executable, "-m", "podium"]
    subprocess.run([*podium, "up"], env=env, check=True, capture_output=True)
    times = EventTimes()
    try:
        with Client.from_home(home, autostart=False) as client:
            token = (home / "token").read_text(encoding="utf-8").strip()
            client.spawn(agent, cwd=root, options=options)
            after = int(client.activity()["last_event_id"])
            follower = EventFollower(client.url, token, after, kind).start()
            try:
                for i in range(warmup + asks):
                    started = time.perf_counter()
                    record = client.ask(agent, prompt, wait=True)
                    turn = time.perf_counter() - started
                    assert record.result == answer, record.error
                    arrived, event_ts = follower.wait_for(record.id)
                    start = origin(record)
                    if i >= warmup:  # the first turns warm caches on both sides
                        times.total_ms.append((arrived - start) * 1000)
                        times.recorded_ms.append((event_ts - start) * 1000)
                        times.pushed_ms.append((arrived - event_ts) * 1000)
                        times.turn_ms.append(turn * 1000)
            finally:
                follower.stop()
    finally:
        subprocess.run([*podium, "down"], env=env, check=False, capture_output=True)
    return times
