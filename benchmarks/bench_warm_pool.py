"""Many agents on one machine: the warm pool against unlimited warm processes.

    python benchmarks/bench_warm_pool.py [--agents 1000] [--max-warm 8 16 32]
        [--contrast-agents 24] [--contrast-floor-gb 6]

For each ``max_warm``: ``--agents`` agents are registered (the last ``max_warm``
of them started, so they are warm), then every agent is asked once, all asks
queued at once in a shuffled order, against the fake API. Reported: wall time
from the first ask to the last answer, peak RSS of every process (this process,
which hosts the runtime and the fake API, plus every CLI), p50/p95 ask latency
(submitted to completed) for agents warm and cold when asked, and requests not
answered (must be 0).

The contrast run starts agents with no limit (``max_warm`` unlimited), each
spawned warm and asked once, and stops early when the machine's available memory
falls below ``--contrast-floor-gb`` (a guard: it never runs the machine out).

RSS sums count pages shared between processes (the CLI binary) once per process,
so they overstate the machine's use a little; the contrast is what matters.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from podium._records import AgentStatus, RequestRecord, RequestState
from podium.runtime import Runtime, RuntimeConfig
from podium.runtime._config import UNLIMITED
from podium.runtime._memory import MB, mem_available
from podium.testing import FakeAnthropic, Rule, fake_api_env

PROMPT = "benchmark prompt: reply with PONG"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Bytes of RSS of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        # The command name may hold spaces: the fields after its ')' are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = pages * _PAGE
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


class PeakSampler:
    """Samples the RSS of this process tree from a thread (the event loop is busy)."""

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(pid))
            self._stop.wait(self.every)


@dataclass(frozen=True, kw_only=True)
class Result:
    label: str
    agents: int
    wall_s: float
    peak_rss_mb: float
    warm: list[float]
    cold: list[float]
    lost: int
    hibernations: int
    note: str = ""


def pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[round(q * (len(ordered) - 1))]:.2f}"


def config(root: Path, fake: FakeAnthropic, label: str, max_warm: int) -> RuntimeConfig:
    return RuntimeConfig(
        home=root / f"home-{label}",
        env=fake_api_env(fake.base_url, config_dir=root / f"claude-{label}"),
        max_warm=max_warm,
        idle_timeout=3600.0,
    )


async def pooled(root: Path, fake: FakeAnthropic, agents: int, max_warm: int) -> Result:
    label = f"max_warm {max_warm}"
    cwd = root / f"work-{max_warm}"
    cwd.mkdir()
    with PeakSampler() as sampler:
        async with Runtime(config(root, fake, str(max_warm), max_warm)) as rt:
            names = [f"a{i:04d}" for i in range(agents)]
            warm_from = max(0, agents - max_warm)
            for i, name in enumerate(names):
                await rt.spawn(name, cwd=cwd, start=i >= warm_from)
            warm_now = {a.name for a in await rt.list_agents() if a.status is AgentStatus.IDLE}
            order = list(names)
            random.Random(7).shuffle(order)
            t0 = time.perf_counter()
            asks = [(name, await rt.ask(name, PROMPT)) for name in order]
            done = [await rt.wait(request.id) for _, request in asks]
            wall = time.perf_counter() - t0
            status = await rt.pool_status()
    return _result(label, agents, wall, sampler.peak, asks, done, warm_now, status["hibernations"])


async def unlimited(root: Path, fake: FakeAnthropic, agents: int, floor_gb: float) -> Result:
    cwd = root / "work-unlimited"
    cwd.mkdir()
    note = ""
    with PeakSampler() as sampler:
        async with Runtime(config(root, fake, "unlimited", UNLIMITED)) as rt:
            names: list[str] = []
            for i in range(agents):
                available = mem_available()
                if available is not None and available < floor_gb * 1024 * MB:
                    note = f"stopped by the guard at {i} agents ({available // MB} MB free)"
                    break
                name = f"u{i:04d}"
                await rt.spawn(name, cwd=cwd)
                names.append(name)
            t0 = time.perf_counter()
            asks = [(name, await rt.ask(name, PROMPT)) for name in names]
            done = [await rt.wait(request.id) for _, request in asks]
            wall = time.perf_counter() - t0
            warm = {a.name for a in await rt.list_agents()}
    return _result("unlimited", len(names), wall, sampler.peak, asks, done, warm, 0, note)


def _result(
    label: str,
    agents: int,
    wall: float,
    peak: int,
    asks: list[tuple[str, RequestRecord]],
    done: list[RequestRecord],
    warm_names: set[str],
    hibernations: int,
    note: str = "",
) -> Result:
    warm: list[float] = []
    cold: list[float] = []
    lost = 0
    for (name, _), record in zip(asks, done, strict=True):
        if record.state is not RequestState.COMPLETE or record.result != "PONG":
            lost += 1
            continue
        latency = (record.completed_at or 0.0) - record.submitted_at
        (warm if name in warm_names else cold).append(latency)
    return Result(
        label=label,
        agents=agents,
        wall_s=wall,
        peak_rss_mb=peak / MB,
        warm=warm,
        cold=cold,
        lost=lost,
        hibernations=hibernations,
        note=note,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--max-warm", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--contrast-agents", type=int, default=24)
    parser.add_argument(
        "--contrast-floor-gb",
        type=float,
        default=6.0,
        help="the unlimited run stops spawning below this much available memory",
    )
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="podium-bench-pool-") as tmp, FakeAnthropic() as fake:
        fake.add_rule(Rule(text="PONG"))
        root = Path(tmp)
        for max_warm in args.max_warm:
            results.append(await pooled(root, fake, args.agents, max_warm))
        if args.contrast_agents > 0:
            results.append(
                await unlimited(root, fake, args.contrast_agents, args.contrast_floor_gb)
            )
    table = Table(
        "run",
        "agents",
        "wall s",
        "peak RSS MiB",
        "RSS/agent MiB",
        "warm asks",
        "warm p50/p95 s",
        "cold asks",
        "cold p50/p95 s",
        "hibernations",
        "lost",
        title="Warm pool: every agent asked once (fake API)",
    )
    for r in results:
        table.add_row(
            r.label,
            str(r.agents),
            f"{r.wall_s:.1f}",
            f"{r.peak_rss_mb:.0f}",
            f"{r.peak_rss_mb / max(1, r.agents):.0f}",
            str(len(r.warm)),
            f"{pct(r.warm, 0.5)} / {pct(r.warm, 0.95)}",
            str(len(r.cold)),
            f"{pct(r.cold, 0.5)} / {pct(r.cold, 0.95)}",
            str(r.hibernations),
            str(r.lost),
        )
    console = Console(width=200)
    console.print(table)
    for r in results:
        if r.note:
            console.print(f"{r.label}: {r.note}")
    if any(r.lost for r in results):
        raise SystemExit("requests were lost")


if __name__ == "__main__":
    asyncio.run(main())
