"""Orchestrated runs: makespan against the critical path, and scheduling overhead.

    python benchmarks/bench_runs.py [--repeat 3] [--scale 2.0] [--json]

Prints three tables:
1. makespan / critical path of a fixed 20-task graph (seeded: chains, fan-out,
   fan-in, levels up to 5 wide) run by RunEngine with the real CLI and an
   inline plan; each task's answer is delayed at the fake API by a known amount,
   so the critical path is the sum of delays along the longest chain;
2. the bare Scheduler with no-op nodes on a 2000-node chain and wide graph;
3. the engine's own gap per dependent task: its last dependency's response
   finished at the fake -> its own request arrived (podium + CLI turn start).
Target: makespan <= 1.10 x critical path. --json prints the raw numbers on
stdout (the tables then go to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from podium.orchestration import Node, Outcome, RunEngine, RunState, Scheduler, plan_from_data
from podium.runtime import Runtime, RuntimeConfig
from podium.testing import FakeAnthropic, RecordedRequest, Rule, fake_api_env

SEED = 1729
LEVELS = (2, 4, 5, 4, 3, 2)  # 20 tasks
WORKERS = ("ada", "bob", "cyd")
TARGET = 1.10
BARE_NODES = 2000


@dataclass(frozen=True)
class Spec:
    task_id: str
    deps: tuple[str, ...]
    delay: float


def make_dag(seed: int, scale: float) -> list[Spec]:
    """Levels of tasks; each depends on 1-3 of the level before, sometimes one further back."""
    rng = random.Random(seed)
    levels: list[list[str]] = []
    dag: list[Spec] = []
    for depth, width in enumerate(LEVELS):
        ids = [f"t{len(dag) + i:02d}" for i in range(width)]
        for task_id in ids:
            deps: set[str] = set()
            if depth:
                prev = levels[-1]
                deps.update(rng.sample(prev, min(len(prev), rng.choice((1, 1, 2, 3)))))
                if depth >= 2 and rng.random() < 0.25:
                    deps.add(rng.choice(levels[-2]))
            dag.append(Spec(task_id, tuple(sorted(deps)), round(rng.uniform(1.0, 3.0), 1) * scale))
        levels.append(ids)
    return dag


def peak_concurrency(dag: list[Spec]) -> int:
    """Most tasks running at once with unlimited slots and zero overhead."""
    start: dict[str, float] = {}
    took = delays(dag)
    for spec in dag:  # dag is in topological order
        start[spec.task_id] = max((start[d] + took[d] for d in spec.deps), default=0.0)
    # An end sorts before a start at the same instant: the two do not overlap.
    edges = sorted(
        [(start[s.task_id], 1) for s in dag] + [(start[s.task_id] + s.delay, -1) for s in dag]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def delays(dag: list[Spec]) -> dict[str, float]:
    return {s.task_id: s.delay for s in dag}


def plan_data(dag: list[Spec]) -> dict[str, Any]:
    return {
        "tasks": [
            {
                "task_id": s.task_id,
                "worker": WORKERS[i % len(WORKERS)],
                "description": f"Benchmark task {s.task_id}.",
                "dependencies": list(s.deps),
            }
            for i, s in enumerate(dag)
        ]
    }


def write_team(root: Path, max_parallel: int) -> Path:
    """A minimal team: no output_schema, no check, no rate limits, no budget."""
    root.mkdir(parents=True)
    for name in ("lead", *WORKERS):
        (root / f"{name}.md").write_text(
            f"---\nname: {name}\ndescription: Benchmark agent {name}.\nmodel: sonnet\n---\n\n"
            f"You are {name}; answer in one line.\n"
        )
    workers = "\n".join(f'{w} = "{w}.md"' for w in WORKERS)
    team = root / "podium.toml"
    team.write_text(
        f'[team]\nname = "bench"\norchestrator = "lead.md"\n\n[workers]\n{workers}\n\n'
        f'[defaults]\nmodel = "sonnet"\nretries = 0\n\n'
        f"[limits]\nmax_parallel = {max_parallel}\ntask_timeout = 300\n"
    )
    return team


def task_request(fake: FakeAnthropic, task_id: str) -> RecordedRequest:
    found = fake.requests_matching(content=rf"(?m)^PODIUM TASK {task_id}$")
    if len(found) != 1 or found[0].finished_at is None:
        raise RuntimeError(f"task {task_id}: expected one finished request, got {len(found)}")
    return found[0]


async def timed_run(
    engine: RunEngine, fake: FakeAnthropic, team: Path, dag: list[Spec], critical: float
) -> dict[str, Any]:
    fake.reset()
    run = await engine.submit("benchmark run", team=team, plan=plan_data(dag))
    run = await engine.wait(run.id, timeout=120 + 5 * critical)
    if run.state is not RunState.COMPLETE:
        raise RuntimeError(f"run {run.id} ended {run.state.value}: {run.error}")
    reqs = {s.task_id: task_request(fake, s.task_id) for s in dag}
    first = min(r.received_at for r in reqs.values())
    last = max(r.finished_at or 0.0 for r in reqs.values())
    gaps = {
        s.task_id: reqs[s.task_id].received_at - max(reqs[d].finished_at or 0.0 for d in s.deps)
        for s in dag
        if s.deps
    }
    excess = {s.task_id: (reqs[s.task_id].duration or 0.0) - s.delay for s in dag}
    return {
        "run_id": run.id,
        "makespan_api_s": last - first,
        "makespan_run_s": last - run.created_at,
        "start_lag_s": first - run.created_at,
        "run_total_s": (run.finished_at or last) - run.created_at,
        "gap_s": gaps,
        "turn_excess_s": excess,
    }


async def bare_scheduler(shape: str, n: int, max_parallel: int, callbacks: bool) -> float:
    """Seconds per node for the Scheduler alone (construction + run), no-op nodes."""
    if shape == "chain":
        nodes = [Node(id=f"n{i}", dependencies=(f"n{i - 1}",) if i else ()) for i in range(n)]
    else:  # one root, n - 2 in parallel, one sink
        middle = [Node(id=f"m{i}", dependencies=("root",)) for i in range(n - 2)]
        sink = Node(id="sink", dependencies=tuple(m.id for m in middle))
        nodes = [Node(id="root"), *middle, sink]
    ok = Outcome(ok=True)

    async def execute(node: Node) -> Outcome:
        return ok

    async def admit(node: Node) -> str | None:
        return None

    extra: dict[str, Any] = (
        {"admit": admit, "on_change": lambda *a: None, "on_soon": lambda n: None}
        if callbacks
        else {}
    )
    t0 = time.perf_counter()
    await Scheduler(nodes, execute, max_parallel=max_parallel, **extra).run()
    return (time.perf_counter() - t0) / n


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}" if values else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scale",
        type=float,
        default=2.0,
        help="multiply every task delay (base 1-3 s; the default gives 2-6 s model calls)",
    )
    parser.add_argument("--json", action="store_true", help="raw numbers as JSON on stdout")
    args = parser.parse_args()
    console = Console(stderr=args.json)
    dag = make_dag(SEED, args.scale)
    plan = plan_from_data(plan_data(dag), WORKERS, source="benchmark plan")
    critical, path = plan.critical_path(delays(dag))
    max_parallel = max(peak_concurrency(dag), *LEVELS)
    on_path = set(path[1:])  # dependents whose gating edge is on the critical path
    for key in [k for k in os.environ if k.startswith(("CLAUDECODE", "ANTHROPIC_"))]:
        del os.environ[key]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch, FakeAnthropic() as fake:
        root = Path(scratch)
        os.environ["PODIUM_HOME"] = str(root / "home")
        for s in dag:
            marker = rf"(?m)^PODIUM TASK {s.task_id}$"
            fake.add_rule(Rule(content=marker, text=f"done {s.task_id}", delay=s.delay))
        fake.add_rule(Rule(content="PODIUM SYNTHESIS", text="# Benchmark report"))
        team = write_team(root / "team", max_parallel)
        config = RuntimeConfig(
            home=root / "home",
            idle_timeout=600.0,
            env=fake_api_env(fake.base_url, config_dir=root / "claude"),
        )
        async with Runtime(config) as rt:
            engine = RunEngine(rt)
            await engine.start()
            try:
                for _ in range(args.repeat):
                    runs.append(await timed_run(engine, fake, team, dag, critical))
            finally:
                await engine.close()

    table = Table(
        "run",
        "critical path s",
        "makespan s (first req -> last resp)",
        "ratio",
        "makespan s (run start -> last resp)",
        "ratio",
        "start lag s",
        title=f"{len(dag)}-task graph, {len(WORKERS)} workers, max_parallel "
        f"{max_parallel}, delays x{args.scale:g}, real CLI",
    )
    for i, r in enumerate(runs, 1):
        table.add_row(
            str(i),
            f"{critical:.2f}",
            f"{r['makespan_api_s']:.2f}",
            f"{r['makespan_api_s'] / critical:.3f}",
            f"{r['makespan_run_s']:.2f}",
            f"{r['makespan_run_s'] / critical:.3f}",
            f"{r['start_lag_s']:.2f}",
        )
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("makespan_api_s", "makespan_run_s", "start_lag_s")
    }
    table.add_row(
        "median",
        f"{critical:.2f}",
        f"{med['makespan_api_s']:.2f}",
        f"{med['makespan_api_s'] / critical:.3f}",
        f"{med['makespan_run_s']:.2f}",
        f"{med['makespan_run_s'] / critical:.3f}",
        f"{med['start_lag_s']:.2f}",
    )
    console.print(table)
    console.print(f"critical path: {' -> '.join(path)}")
    for label, key in (("first request", "makespan_api_s"), ("run start", "makespan_run_s")):
        ratio = med[key] / critical
        verdict = "meets" if ratio <= TARGET else "misses"
        console.print(f"target (from {label}): ratio <= {TARGET:.2f} -> {ratio:.3f} {verdict}")

    bare: dict[str, float] = {}
    table = Table(
        "graph",
        "nodes",
        "max_parallel",
        "callbacks",
        "µs per node (median of 5)",
        title="Bare Scheduler, no-op nodes",
    )
    for shape, mp, callbacks in (
        ("chain", 1, False),
        ("chain", 1, True),
        ("wide", BARE_NODES, False),
        ("wide", 8, False),
        ("wide", 8, True),
    ):
        per = [await bare_scheduler(shape, BARE_NODES, mp, callbacks) for _ in range(5)]
        bare[f"{shape}/{mp}/{'cb' if callbacks else 'plain'}"] = statistics.median(per)
        table.add_row(
            shape,
            str(BARE_NODES),
            str(mp),
            "yes" if callbacks else "no",
            f"{statistics.median(per) * 1e6:.1f}",
        )
    console.print(table)

    gaps = [g for r in runs for g in r["gap_s"].values()]
    crit_gaps = [g for r in runs for t, g in r["gap_s"].items() if t in on_path]
    excess = [e for r in runs for e in r["turn_excess_s"].values()]
    table = Table(
        "measure",
        "n",
        "median ms",
        "max ms",
        title=f"Engine overhead per task, real CLI, {len(runs)} run(s)",
    )
    for label, values in (
        ("dependency response end -> dependent request (all)", gaps),
        ("  ... on critical-path edges only", crit_gaps),
        ("task turn at the fake minus its scripted delay", excess),
    ):
        table.add_row(
            label,
            str(len(values)),
            median_ms(values),
            f"{max(values) * 1000:.1f}" if values else "-",
        )
    console.print(table)

    if args.json:
        print(
            json.dumps(
                {
                    "seed": SEED,
                    "scale": args.scale,
                    "max_parallel": max_parallel,
                    "critical_path_s": critical,
                    "critical_path": list(path),
                    "delays_s": delays(dag),
                    "dependencies": {s.task_id: s.deps for s in dag},
                    "runs": runs,
                    "bare_scheduler_s_per_node": bare,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
