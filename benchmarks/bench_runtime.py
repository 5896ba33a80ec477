"""Runtime overheads against the raw CLI, on the same fake API and the same prompt.

    python benchmarks/bench_runtime.py [--turns 30] [--agents 10] [--loop 50]

Prints:
1. warm turn latency: a raw stream-json CLI process written to directly (the argv
   podium gives a warm agent), versus ``Runtime.ask_and_wait`` in-process, versus
   the daemon's HTTP API, in interleaved rounds; and the ``podium ask`` command as a
   whole;
2. the ``podium ask`` and ``podium list --json`` commands (the installed script) on
   a warm daemon, and a loop of ``--loop`` ``podium ask --async`` commands against as
   many HTTP client asks (queued, not waited for);
3. cold spawn-to-answer: ``podium`` spawn + ask versus ``claude -p``;
4. memory (RSS of every agent process tree) of N warm idle agents versus the
   same N hibernated.
Targets: overhead per warm turn <= 3 ms in-process, <= 5 ms through the daemon's
HTTP API, both as podium's own time in a turn (the wait less the request's
``process_ms``) and paired by round against the raw CLI; ``podium ask`` and
``podium list --json`` <= 150 ms; the loop of ``podium ask --async`` within 2x the
HTTP client's time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from podium.runtime import Runtime, RuntimeConfig
from podium.testing import bundled_cli, fake_api_env

PROMPT = "benchmark prompt: reply with PONG"
BLOCK, WARMUP = 10, 2  # counted turns of a path in a row, and turns before them


OWN_NOTE = """\
overhead vs raw: median against median. paired by round: the median over rounds of
(the path's block median - the raw block's median of the same round), in brackets
the middle half of the rounds. podium's own: per turn, the time the caller waited
less the request's process_ms (its prompt written to the process's result line
read), median over turns: what podium adds to a turn, without the turn-to-turn
spread of the process itself (it leaves out any slowing of the process by podium's
work meanwhile, which the paired column holds). process ms: the median of the
process's turn (raw: the whole turn); the process slowed (in the target lines): the
median over rounds of (the path's block median process turn - the raw block's),
how much slower the CLI runs beside podium, counted when above 0."""

# Printed after the warm-turn table: what the overhead is made of. Measured once (not
# by this script) on a warm agent, a 2-CPU machine otherwise idle: timestamps of each
# step of 140 turns (medians) in-process and inside a daemon, a sampling profile of
# the daemon, the store's calls timed one by one.
OVERHEAD_NOTE = """\
Where podium's own time in a warm turn goes (2-CPU machine, idle; medians):
- Before the prompt reaches the CLI, ~0.8 ms: the ask is checked, queued and
  committed (0.4 ms; no fsync yet), the agent's actor takes it (0.2 ms), the
  turn starts and the SDK writes the prompt (0.2 ms).
- The queued request's commit waits for no fsync. An ask that waits
  (ask_and_wait, what the daemon runs for an ask with wait) gives out its id
  only with the answer, durable by then: nothing more. Runtime.ask has a worker
  thread sync the WAL while the turn starts and returns the id once that is
  done. The request's start and the turn's activity are committed without
  waiting too; they reach the disk with the next durable commit.
- After the CLI's result line, ~1.6 ms: the SDK hands the result over
  (0.35 ms), the request's end, the agent and request_finished are written
  (0.5 ms: records are kept decoded, so each is encoded once and never read
  back) and committed durably, one fdatasync (0.6 ms; ext4 first flushes the
  transcript the CLI has just written), the waiter is handed the record
  (0.15 ms).
- Through the daemon, ~1.5 ms more: HTTP parsing (httptools) 0.1 ms, FastAPI
  0.4 ms before the runtime has the ask (middleware, body validation; the ask
  route is matched first and solves no dependencies); 0.35 ms from the end to
  the answer written; ~0.45 ms in the client process and the loopback.
- The process beside podium (its CPU work and commits meanwhile) ran no slower
  than the raw one beyond the noise (0-0.3 ms paired by round; printed below).
"""


def full_env(base_url: str, config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDECODE")}
    env.update(fake_api_env(base_url), CLAUDE_CONFIG_DIR=str(config_dir))
    return env


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}"


def p90(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[int(0.9 * (len(ordered) - 1))] * 1000:.1f}"


class RawCLI:
    """One stream-json CLI process written to directly: the turn with nothing around it.

    Started with the argv podium gives a warm agent of the default (user) config mode,
    so both paths ask the same program to do the same work."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, base_url: str, root: Path) -> RawCLI:
        cwd = root / "raw"
        cwd.mkdir()
        proc = await asyncio.create_subprocess_exec(
            str(bundled_cli()),
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--replay-user-messages",
            "--session-id",
            str(uuid.uuid4()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=cwd,
            env=full_env(base_url, root / "raw-cfg"),
            limit=64 * 1024 * 1024,
        )
        return cls(proc)

    async def turn(self) -> float:
        """One turn; its process time is all of it (nothing around it)."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        message = {"type": "user", "message": {"role": "user", "content": PROMPT}}
        t0 = time.perf_counter()
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError("raw CLI exited")
            if json.loads(line).get("type") == "result":
                return time.perf_counter() - t0

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await self.proc.wait()


@dataclass(frozen=True, kw_only=True)
class WarmTimes:
    raw: list[float]  # the raw CLI process
    inproc: list[float]  # Runtime.ask_and_wait
    http: list[float]  # Client.ask(wait=True) to the daemon
    # Per round of blocks: the median turn of each path (raw, in-process, HTTP).
    rounds: list[tuple[float, float, float]]
    # Per round of blocks: the median process turn of each path (raw: the whole turn).
    process_rounds: list[tuple[float, float, float]]
    # Per podium turn: its time less the request's ``process_ms`` (the process's turn).
    own_inproc: list[float]
    own_http: list[float]
    # Per turn of each path: the process's turn (raw: the whole turn).
    process: list[list[float]]

    def overhead(self, path: int) -> float:
        """A path's overhead over the raw CLI: the median of its per-round difference
        from the raw block of the same round (drift between rounds cancels out)."""
        return statistics.median(r[path] - r[0] for r in self.rounds)

    def overhead_spread(self, path: int) -> tuple[float, float]:
        """The middle half of the per-round differences: how far one round is from
        another (the median's own error is about a fifth of it over 20 rounds)."""
        low, _, high = statistics.quantiles([r[path] - r[0] for r in self.rounds], n=4)
        return low, high

    def slowed(self, path: int) -> float:
        """How much longer the process's turn took beside podium than the raw CLI's,
        paired by round as ``overhead`` (negative: quicker)."""
        return statistics.median(r[path] - r[0] for r in self.process_rounds)

    def own(self, path: int) -> float:
        """Podium's own time in a turn: the median of (turn time - process time)."""
        return statistics.median(self.own_inproc if path == 1 else self.own_http)


async def warm_turns(base_url: str, root: Path, rt: Runtime, client: Any, turns: int) -> WarmTimes:
    """The three paths in blocks of back-to-back turns, block after block in turn, so
    that the machine's drift (other load, caches, the disk) falls on all three alike.
    A block's first turns are not counted: the path's CLI was idle while others ran."""
    raw = await RawCLI.start(base_url, root)
    await rt.spawn("warm", cwd=root)

    async def inproc() -> float:
        # What the daemon runs for an ask that waits (Client.ask(wait=True)).
        done = await rt.ask_and_wait("warm", PROMPT)
        assert done.result == "PONG", done.error
        return float(done.meta["process_ms"]) / 1000

    async def http() -> float:
        # Blocking on purpose: a thread hop would be the benchmark's, not podium's.
        record = client.ask("warmd", PROMPT, wait=True)
        assert record.result == "PONG"
        return float(record.meta["process_ms"]) / 1000

    paths = [raw.turn, inproc, http]
    times: list[list[float]] = [[], [], []]
    own: list[list[float]] = [[], [], []]
    process_times: list[list[float]] = [[], [], []]
    medians: list[tuple[float, float, float]] = []
    process_medians: list[tuple[float, float, float]] = []
    rounds = max(1, -(-turns // BLOCK))  # enough blocks for `turns` counted turns each
    for _round in range(rounds):
        block: list[float] = []
        block_process: list[float] = []
        for index, path in enumerate(paths):
            counted: list[float] = []
            processes: list[float] = []
            for turn in range(BLOCK + WARMUP):
                t0 = time.perf_counter()
                process = await path()
                took = time.perf_counter() - t0
                if turn >= WARMUP:
                    counted.append(took)
                    own[index].append(took - process)
                    processes.append(process)
            times[index] += counted
            process_times[index] += processes
            block.append(statistics.median(counted))
            block_process.append(statistics.median(processes))
        medians.append((block[0], block[1], block[2]))
        process_medians.append((block_process[0], block_process[1], block_process[2]))
    await raw.close()
    return WarmTimes(
        raw=times[0],
        inproc=times[1],
        http=times[2],
        rounds=medians,
        process_rounds=process_medians,
        own_inproc=own[1],
        own_http=own[2],
        process=process_times,
    )


@dataclass(frozen=True, kw_only=True)
class CommandTimes:
    command: list[float]  # the `podium ask` command, per call
    list_json: list[float]  # the `podium list --json` command, per call
    loop: int  # asks queued in each loop below
    # (queued, answered): seconds until `loop` asks were queued / all answered
    loop_http: tuple[float, float]  # Client.ask, not waited
    loop_command: tuple[float, float]  # `podium ask --async` commands


def podium_command() -> list[str]:
    """The installed ``podium`` script, as a user runs it (``python -m podium`` if none)."""
    script = Path(sys.executable).with_name("podium")
    return [str(script)] if script.exists() else [sys.executable, "-m", "podium"]


def command_times(client: Any, env: dict[str, str], turns: int, loop: int) -> CommandTimes:
    """The `podium` commands end to end, on the daemon's warm agent."""
    podium = podium_command()

    def command(*args: str) -> float:
        t0 = time.perf_counter()
        run_command(*args)
        return time.perf_counter() - t0

    def run_command(*args: str) -> str:
        done = subprocess.run([*podium, *args], env=env, check=True, capture_output=True)
        return done.stdout.decode().strip()

    asks = [command("ask", "warmd", PROMPT) for _ in range(turns)]
    lists = [command("list", "--json") for _ in range(turns)]
    # Scripts that fan work out: queue `loop` prompts, then let the agent drain them
    # before the next loop, so neither loop pays for the other's turns.
    t0 = time.perf_counter()
    ids = [client.ask("warmd", PROMPT).id for _ in range(loop)]
    queued = time.perf_counter() - t0
    client.wait(ids[-1], 600)
    loop_http = (queued, time.perf_counter() - t0)
    t0 = time.perf_counter()
    ids = [run_command("ask", "--async", "warmd", PROMPT) for _ in range(loop)]
    queued = time.perf_counter() - t0
    client.wait(ids[-1], 600)
    loop_command = (queued, time.perf_counter() - t0)
    return CommandTimes(
        command=asks,
        list_json=lists,
        loop=loop,
        loop_http=loop_http,
        loop_command=loop_command,
    )


@contextlib.contextmanager
def daemon(base_url: str, root: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """A real daemon (``podium up``) with one warm agent ``warmd``: its client and env."""
    from podium import Client

    home = root / "daemon-home"
    env = {
        **os.environ,
        **fake_api_env(base_url, config_dir=root / "claude"),
        "PODIUM_HOME": str(home),
    }
    podium = podium_command()
    subprocess.run([*podium, "up"], env=env, check=True, capture_output=True)
    try:
        client = Client.from_home(home)
        client.spawn("warmd", cwd=str(root))
        try:
            yield client, env
        finally:
            client.close()
    finally:
        subprocess.run([*podium, "down"], env=env, check=False, capture_output=True)


@contextlib.contextmanager
def fake_api() -> Iterator[str]:
    """The fake Anthropic API in a process of its own, answering PONG: its base URL.

    As the real API is elsewhere: served from a thread of this process, its work
    would compete for this process's interpreter with the in-process runtime."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium.testing", "--default-text", "PONG"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http://"):
            raise RuntimeError(f"the fake API did not start: {base_url!r}")
        yield base_url
    finally:
        proc.terminate()
        proc.wait(30)


def compile_bytecode() -> None:
    """Write podium's bytecode, as installing a wheel does: an editable install (or
    PYTHONDONTWRITEBYTECODE) would otherwise have every command compile its modules."""
    import compileall

    import podium

    compileall.compile_dir(str(Path(podium.__file__).parent), quiet=1)


async def cold(base_url: str, root: Path, rounds: int) -> tuple[list[float], list[float]]:
    podium_times: list[float] = []
    for i in range(rounds):
        async with Runtime(
            RuntimeConfig(
                home=root / f"cold-{i}", env=fake_api_env(base_url, config_dir=root / "claude")
            )
        ) as rt:
            t0 = time.perf_counter()
            await rt.spawn("cold", cwd=root)
            done = await rt.wait((await rt.ask("cold", PROMPT)).id)
            podium_times.append(time.perf_counter() - t0)
            assert done.result == "PONG"
    raw_times: list[float] = []
    for i in range(rounds):
        t0 = time.perf_counter()
        out = subprocess.run(
            [str(bundled_cli()), "-p", PROMPT, "--output-format", "json"],
            env=full_env(base_url, root / f"p-cfg-{i}"),
            cwd=root,
            capture_output=True,
            check=True,
            text=True,
        )
        raw_times.append(time.perf_counter() - t0)
        assert json.loads(out.stdout)["result"] == "PONG"
    return podium_times, raw_times


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants."""
    total = 0
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
        stack.extend(children.get(current, []))
    return total / 1024


async def memory(base_url: str, root: Path, agents: int) -> tuple[float, float]:
    config = RuntimeConfig(
        home=root / "mem", env=fake_api_env(base_url, config_dir=root / "claude")
    )
    async with Runtime(config) as rt:
        for i in range(agents):
            await rt.spawn(f"idle-{i}", cwd=root)
        asked = [await rt.ask(f"idle-{i}", PROMPT) for i in range(agents)]
        await asyncio.gather(*(rt.wait(r.id) for r in asked))
        await asyncio.sleep(1.0)
        warm = sum(tree_rss_mb(a.pid) for a in await rt.list_agents() if a.pid)
        for actor in list(rt._actors.values()):
            await actor._hibernate()
        hibernated = sum(tree_rss_mb(a.pid) for a in await rt.list_agents() if a.pid)
    return warm, hibernated


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--cold-rounds", type=int, default=5)
    parser.add_argument("--loop", type=int, default=50, help="asks per `--async` loop")
    args = parser.parse_args()
    console = Console(width=120)
    compile_bytecode()
    with tempfile.TemporaryDirectory() as scratch, fake_api() as base_url:
        root = Path(scratch)
        config = RuntimeConfig(
            home=root / "warm", env=fake_api_env(base_url, config_dir=root / "claude")
        )
        with daemon(base_url, root) as (client, env):
            async with Runtime(config) as rt:
                warm = await warm_turns(base_url, root, rt, client, args.turns)
            commands = await asyncio.to_thread(command_times, client, env, args.turns, args.loop)

        base = statistics.median(warm.raw)
        machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        table = Table(
            "path (warm agent)",
            "median ms",
            "p90 ms",
            "overhead vs raw ms",
            "paired by round ms",
            "podium's own ms",
            "process ms",
            title=f"Warm turn, {args.turns}+ turns a path in interleaved blocks of {BLOCK}, "
            f"same fake API ({machine})",
        )
        for label, values, path in [
            ("raw stream-json CLI process", warm.raw, 0),
            ("Runtime.ask_and_wait (in-process)", warm.inproc, 1),
            ("daemon HTTP API (Client.ask wait=True)", warm.http, 2),
            ("`podium ask` command (incl. Python start)", commands.command, None),
        ]:
            over = statistics.median(values) - base
            paired = own = process = ""
            if path:
                low, high = warm.overhead_spread(path)
                paired = (
                    f"{warm.overhead(path) * 1000:+.1f} ({low * 1000:+.1f}..{high * 1000:+.1f})"
                )
                own = f"{warm.own(path) * 1000:+.1f}"
            if path is not None:
                process = ms(warm.process[path])
            table.add_row(
                label,
                ms(values),
                p90(values),
                f"{over * 1000:+.1f}",
                paired,
                own,
                process,
            )
        console.print(table)
        print(OWN_NOTE)
        for label, path, target in [("in-process", 1, 0.003), ("daemon HTTP", 2, 0.005)]:
            # Podium's own time, plus the process's slowing beside podium if any.
            own, slowed = warm.own(path), warm.slowed(path)
            overhead = own + max(0.0, slowed)
            verdict = "meets" if overhead <= target else "misses"
            console.print(
                f"target ({label}): overhead <= {target * 1000:.0f} ms -> podium's own "
                f"{own * 1000:+.1f} ms + the process slowed {max(0.0, slowed) * 1000:.1f} ms "
                f"= {overhead * 1000:+.1f} ms: {verdict} (paired by round: "
                f"{warm.overhead(path) * 1000:+.1f} ms)"
            )
        print(OVERHEAD_NOTE)

        table = Table("command (warm daemon)", "median ms", "p90 ms", "target ms", title="Commands")
        table.add_row(
            "`podium ask` (waits for the turn)",
            ms(commands.command),
            p90(commands.command),
            "150",
        )
        table.add_row(
            "`podium list --json`", ms(commands.list_json), p90(commands.list_json), "150"
        )
        console.print(table)
        table = Table(
            "loop",
            "all queued s",
            "per ask ms",
            "all answered s",
            "vs HTTP (answered)",
            title=f"{commands.loop} asks queued in a loop on one warm agent (target: 2x)",
        )
        for label, (queued, answered) in [
            ("HTTP client (Client.ask, not waited)", commands.loop_http),
            ("`podium ask --async` commands", commands.loop_command),
        ]:
            table.add_row(
                label,
                f"{queued:.2f}",
                f"{queued / commands.loop * 1000:.1f}",
                f"{answered:.2f}",
                f"{answered / commands.loop_http[1]:.2f}x",
            )
        console.print(table)

        podium_cold, raw_cold = await cold(base_url, root, args.cold_rounds)
        table = Table(
            "path", "median ms", "p90 ms", title=f"Cold spawn-to-answer, {args.cold_rounds} rounds"
        )
        table.add_row("podium spawn + ask (in-process)", ms(podium_cold), p90(podium_cold))
        table.add_row("claude -p", ms(raw_cold), p90(raw_cold))
        console.print(table)

        warm_mb, hib_mb = await memory(base_url, root, args.agents)
        table = Table(
            "agents", "state", "total RSS MiB", "per agent MiB", title="Memory of agent processes"
        )
        table.add_row(
            str(args.agents), "warm idle", f"{warm_mb:.0f}", f"{warm_mb / args.agents:.0f}"
        )
        table.add_row(
            str(args.agents), "hibernated", f"{hib_mb:.0f}", f"{hib_mb / args.agents:.0f}"
        )
        console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
