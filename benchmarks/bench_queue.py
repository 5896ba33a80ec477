"""The distributed queue: throughput of no-op jobs, and recovery from a lost worker.

    python benchmarks/bench_queue.py [--jobs 2000] [--workers 1,2,4] [--lease 2]

Throughput: for each engine (SQLite file, real ``redis-server`` on a unix socket)
and each worker count, that many ``podium worker`` processes (one slot each)
are started and registered; then ``--jobs`` no-op jobs are submitted at once and
timed until the last one is complete. Each job is a real claim, heartbeat-less
completion (fenced Lua script or SQLite transaction) and its events.

Recovery: two workers, one ``hold`` job (it sleeps 1 s on its worker); the worker
holding it is SIGKILLed at once and the time until the other worker has claimed it
(attempt 2) is measured; the job must then complete. It is bounded by the lease
(``--lease`` seconds without a heartbeat) plus the janitor's period (lease / 2)
plus one claim.

Prints markdown tables. Needs redis-server on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from podium.queue import JobQueue, JobState, open_queue


def start_redis(directory: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    sock = directory / "redis.sock"
    argv = [
        binary, "--port", "0", "--unixsocket", str(sock), "--dir", str(directory),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--maxmemory-policy", "noeviction", "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not sock.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("redis-server did not start")
        time.sleep(0.02)
    return process


def start_workers(url: str, root: Path, count: int, lease: float) -> list[subprocess.Popen[bytes]]:
    workers = []
    for n in range(count):
        env = {**os.environ, "PODIUM_HOME": str(root / f"w{n}"), "PODIUM_NO_AUTOSTART": "1"}
        argv = [
            sys.executable, "-m", "podium", "worker", "--redis", url, "--id", f"w{n}",
            "--concurrency", "1", "--lease", str(lease), "--log-level", "warning",
        ]  # fmt: skip
        workers.append(
            subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


async def wait_registered(queue: JobQueue, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(await queue.list_workers()) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} workers did not register within 60 s")
        await asyncio.sleep(0.1)


async def wait_complete(queue: JobQueue, job_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    cursor = 0
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} jobs not complete after {timeout:g} s")
        for event in await queue.events(after=cursor, block=0.5, limit=5000):
            cursor = event.id
            if event.kind == "completed":
                pending.discard(event.job_id)


async def throughput(url: str, root: Path, workers: int, jobs: int, lease: float) -> float:
    queue = open_queue(url)
    processes = start_workers(url, root, workers, lease)
    try:
        await wait_registered(queue, workers)
        start = time.perf_counter()
        ids = [(await queue.submit("noop", {})).id for _ in range(jobs)]
        await wait_complete(queue, ids, timeout=600)
        return jobs / (time.perf_counter() - start)
    finally:
        stop_workers(processes)
        await queue.close()


async def recovery(url: str, root: Path, lease: float) -> tuple[float, int]:
    queue = open_queue(url)
    await queue.set_setting("lease", lease)
    processes = start_workers(url, root, 2, lease)
    try:
        await wait_registered(queue, 2)
        job = await queue.submit("noop", {"hold": 1.0})
        while (job := await queue.get(job.id)).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)
        holder = processes[int((job.worker or "w0")[1:])]
        holder.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        while (job := await queue.get(job.id)).attempt < 2:
            await asyncio.sleep(0.01)
        taken_over = time.perf_counter() - killed
        while (job := await queue.get(job.id)).state is not JobState.COMPLETE:
            if job.state in (JobState.DEAD, JobState.FAILED, JobState.CANCELLED):
                raise SystemExit(f"job ended {job.state.value}: {job.error}")
            await asyncio.sleep(0.02)
        return taken_over, job.attempt
    finally:
        stop_workers(processes)
        await queue.close()


async def flush(url: str) -> None:
    queue = open_queue(url)
    client = getattr(queue, "client", None)
    if client is not None:
        await client.flushdb()
    await queue.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--lease", type=float, default=2.0)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="podium-bench-queue-") as tmp:
        root = Path(tmp)
        redis_dir = root / "redis"
        redis_dir.mkdir()
        redis = start_redis(redis_dir)
        try:
            rows = []
            redis_url = f"unix://{redis_dir / 'redis.sock'}"
            for count in counts:
                sqlite_url = f"sqlite:///{root / f'queue-{count}.db'}"
                await flush(redis_url)  # nothing left over from the last measurement
                on_sqlite = await throughput(sqlite_url, root / f"s{count}", count, args.jobs, 15)
                on_redis = await throughput(redis_url, root / f"r{count}", count, args.jobs, 15)
                rows.append((count, on_sqlite, on_redis))
            print(f"\nQueue throughput: {args.jobs} no-op jobs, one slot per worker process\n")
            print("| workers | SQLite (jobs/s) | Redis (jobs/s) |")
            print("|---:|---:|---:|")
            for count, on_sqlite, on_redis in rows:
                print(f"| {count} | {on_sqlite:,.0f} | {on_redis:,.0f} |")

            lease = args.lease
            print(f"\nRecovery after SIGKILL of the worker holding a job (lease {lease:g} s)\n")
            print("| engine | seconds until another worker took it | attempt that completed |")
            print("|---|---:|---:|")
            for name, url in (
                ("SQLite", f"sqlite:///{root / 'recovery.db'}"),
                ("Redis", redis_url),
            ):
                seconds, attempt = await recovery(url, root / f"rec-{name}", args.lease)
                print(f"| {name} | {seconds:.2f} | {attempt} |")
        finally:
            redis.send_signal(signal.SIGTERM)
            redis.wait(20)


if __name__ == "__main__":
    asyncio.run(main())
