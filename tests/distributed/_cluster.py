"""A distributed podium on one machine, as real processes.

``redis-server`` on a unix socket, a coordinator (``podium serve --redis``) and
worker processes (``podium worker --redis``), each worker with its own state
directory and HOME as if it were on its own host. The model is podium's fake
Anthropic API; the CLI processes the workers start are the real Claude Code CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from podium import Client
from podium.queue import Job, JobEvent, JobQueue, open_queue
from podium.server import running_daemon
from podium.testing import FakeAnthropic, cli_env
from tests._redis_server import RedisServer

__all__ = ["LocalCluster", "WorkerProcess", "descendants", "wait_until"]

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class WorkerProcess:
    def __init__(self, cluster: LocalCluster, ident: str, argv: list[str], env: dict[str, str]):
        self.id = ident
        self.log = cluster.root / f"worker-{ident}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill_host(self) -> None:
        """As if its host lost power: the worker and everything it started die at once."""
        below = descendants(self.pid)
        self.process.send_signal(signal.SIGKILL)
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class LocalCluster:
    def __init__(self, root: Path, fake: FakeAnthropic, *, lease: float = 2.0) -> None:
        self.root = root
        self.fake = fake
        self.lease = lease
        self.redis = RedisServer(root / "redis")
        self.coordinator_home = root / "coordinator" / "podium"
        self.coordinator: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, WorkerProcess] = {}

    @property
    def url(self) -> str:
        return self.redis.url

    def _env(self, host: str) -> dict[str, str]:
        user_home = self.root / host / "home"
        user_home.mkdir(parents=True, exist_ok=True)
        env = cli_env(self.fake.base_url, user_home)
        env.update(
            PODIUM_HOME=str(self.root / host / "podium"),
            PODIUM_NO_AUTOSTART="1",
            CLAUDE_CODE_MAX_RETRIES="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("PODIUM_REDIS_URL", None)
        return env

    def start(self, *extra_serve: str) -> LocalCluster:
        self.redis.start()
        env = self._env("coordinator")
        argv = [
            sys.executable, "-m", "podium", "serve",
            "--redis", self.url, "--lease", str(self.lease), "--log-level", "debug",
            *extra_serve,
        ]  # fmt: skip
        log = (self.root / "coordinator.log").open("ab")
        self.coordinator = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        wait_until(
            lambda: running_daemon(self.coordinator_home) is not None or self._coordinator_died(),
            timeout=30,
            what="the coordinator to answer",
        )
        if self._coordinator_died():
            raise RuntimeError(f"coordinator exited:\n{self.coordinator_log()}")
        return self

    def _coordinator_died(self) -> bool:
        return self.coordinator is not None and self.coordinator.poll() is not None

    def coordinator_log(self) -> str:
        path = self.root / "coordinator.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self) -> Client:
        return Client.from_home(self.coordinator_home, autostart=False)

    def add_worker(self, ident: str, *args: str, concurrency: int = 1) -> WorkerProcess:
        argv = [
            sys.executable, "-m", "podium", "worker", "--redis", self.url, "--id", ident,
            "--concurrency", str(concurrency), "--log-level", "debug", *args,
        ]  # fmt: skip
        worker = WorkerProcess(self, ident, argv, self._env(f"host-{ident}"))
        self.workers[ident] = worker
        return worker

    def wait_workers(self, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        def registered() -> list[dict[str, Any]]:
            with self.client() as client:
                rows: list[dict[str, Any]] = client.workers()["workers"]
            return rows if len(rows) >= n else []

        return wait_until(registered, timeout=timeout, what=f"{n} workers to register")

    # --- reading the queue directly, as an operator would with redis-cli ---------------

    def queue_call(self, call: Callable[[JobQueue], Any]) -> Any:
        async def run() -> Any:
            queue = open_queue(self.url)
            try:
                return await call(queue)
            finally:
                await queue.close()

        return asyncio.run(run())

    def jobs(self) -> list[Job]:
        jobs: list[Job] = self.queue_call(lambda q: q.list_jobs(limit=10000))
        return jobs

    def events(self, job_id: str | None = None) -> list[JobEvent]:
        events: list[JobEvent] = self.queue_call(
            lambda q: q.events(after=0, job_id=job_id, limit=100000)
        )
        return events

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.alive():
                worker.stop()
        if self.coordinator is not None and self.coordinator.poll() is None:
            self.coordinator.send_signal(signal.SIGTERM)
            try:
                self.coordinator.wait(30)
            except subprocess.TimeoutExpired:
                self.coordinator.kill()
                self.coordinator.wait(10)
        self.redis.stop()
