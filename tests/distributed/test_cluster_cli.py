"""``podium worker``, ``podium workers``, ``podium jobs`` and the distributed options of serve/up.

The CLI runs in-process (``podium.cli.main``), against a real daemon served from
a thread of this process (embedded, or coordinating a SQLite queue in tmp_path).
Only the model is replaced: EchoBackend in an embedded daemon, and in
distributed mode the stub of tests/distributed/_stub.py behind an in-process
Worker. The queue, worker, daemon, HTTP API and client are podium's own code.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.cli import EXIT_OK, EXIT_USAGE, main
from podium.distributed import Worker, WorkerSettings
from podium.queue import JobState, SQLiteQueue, WorkerInfo
from podium.server import serve_async
from podium.server._cluster import JobOut, WorkersOut
from tests._threaded_daemon import ThreadedDaemon
from tests.distributed._stub import StubBackend

pytestmark = pytest.mark.timeout(60)

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "podium-home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    monkeypatch.delenv("PODIUM_REDIS_URL", raising=False)
    return home


@pytest.fixture
def logging_levels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``podium worker`` sets up the process's logging; here it must leave pytest's alone."""
    levels: list[str] = []
    monkeypatch.setattr("podium.server._logging.configure_logging", levels.append)
    return levels


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")  # tables on one line per row, whatever the terminal

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def usage_error(result: tuple[int, str, str], *fragments: str) -> str:
    """Exit 2 with one ``error: ...`` line on stderr, and no traceback."""
    code, out, err = result
    assert code == EXIT_USAGE, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in out + err
    return lines[0]


# --- refused before anything starts -------------------------------------------------------


@pytest.mark.usefixtures("logging_levels")
def test_worker_needs_the_queue(cli: Cli) -> None:
    usage_error(cli("worker"), "--redis", "PODIUM_REDIS_URL")


@pytest.mark.usefixtures("logging_levels")
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--id", "Bad/Id"], ["worker id 'Bad/Id' is not allowed"]),
        (["--id", "9lives"], ["worker id '9lives' is not allowed"]),
        (["--profiles", "marie,No Spaces"], ["profile name 'No Spaces' is not allowed"]),
        (["--concurrency", "0"], ["concurrency must be at least 1, got 0"]),
        (["--lease", "0"], ["lease must be positive"]),
    ],
)
def test_worker_refuses_bad_options(
    cli: Cli, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    queue_file = tmp_path / "queue.db"
    usage_error(cli("worker", "--redis", f"sqlite://{queue_file}", *args), *fragments)
    assert not queue_file.exists()  # refused before the queue was opened


@pytest.mark.usefixtures("logging_levels")
def test_worker_refuses_a_url_that_is_no_queue_without_showing_its_password(cli: Cli) -> None:
    line = usage_error(
        cli("worker", "--redis", "ftp://admin:hunter22@example.org/q"), "not a job queue URL"
    )
    assert "hunter22" not in line


@pytest.mark.parametrize("command", ["serve", "up"])
@pytest.mark.parametrize("value", ["haiku", "haiku=many", "=5", "haiku=-1"])
def test_a_bad_rpm_value_is_named(cli: Cli, tmp_path: Path, command: str, value: str) -> None:
    url = f"sqlite://{tmp_path / 'queue.db'}"
    usage_error(cli(command, "--redis", url, "--rpm", value), f"got {value!r}", "MODEL=N")


@pytest.mark.parametrize("command", ["serve", "up"])
def test_an_rpm_of_zero_is_refused(cli: Cli, tmp_path: Path, command: str) -> None:
    url = f"sqlite://{tmp_path / 'queue.db'}"
    usage_error(
        cli(command, "--redis", url, "--rpm", "haiku=0"),
        "requests per minute for 'haiku' must be at least 1",
    )


@pytest.mark.parametrize("command", ["serve", "up"])
@pytest.mark.parametrize("args", [["--max-running", "2"], ["--rpm", "haiku=5"]])
def test_cluster_limits_need_the_queue(cli: Cli, command: str, args: list[str]) -> None:
    usage_error(cli(command, *args), "--max-running and --rpm need --redis")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lease", "0"], "lease must be positive, got 0.0"),
        (["--max-attempts", "0"], "max attempts must be at least 1, got 0"),
        (["--max-running", "0"], "max running must be at least 1, got 0"),
    ],
)
def test_serve_refuses_bad_cluster_settings(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    usage_error(cli("serve", "--redis", f"sqlite://{tmp_path / 'queue.db'}", *args), message)


# --- a worker from the command line --------------------------------------------------------


def test_worker_runs_jobs_until_sigterm(
    cli: Cli, home: Path, tmp_path: Path, logging_levels: list[str]
) -> None:
    """The command runs a worker on the queue; SIGTERM (its signal handler) stops it."""
    url = f"sqlite://{tmp_path / 'queue.db'}"
    seen: dict[str, Any] = {}

    async def drive() -> None:
        queue = SQLiteQueue(tmp_path / "queue.db")
        try:
            for _ in range(500):
                listed = await queue.list_workers()
                if listed:
                    break
                await asyncio.sleep(0.02)
            else:
                return  # never registered: the command failed and returns by itself
            [seen["info"]] = listed
            job = await queue.submit("noop", {}, lane="profile:marie")
            for _ in range(500):
                seen["job"] = await queue.get(job.id)
                if seen["job"].state is JobState.COMPLETE:
                    break
                await asyncio.sleep(0.02)
            # The handler is installed before the worker registers itself.
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            await queue.close()

    driver = threading.Thread(target=asyncio.run, args=(drive(),))
    driver.start()
    try:
        result = cli(
            "worker", "--redis", url, "--id", "host-a", "-c", "3",
            "--profiles", "marie", "--lanes", "default", "--log-level", "debug",
        )  # fmt: skip
    finally:
        driver.join(30)
    assert result[0] == EXIT_OK, result
    assert logging_levels == ["debug"]
    info: WorkerInfo = seen["info"]
    assert info.id == "host-a"
    assert info.concurrency == 3
    assert info.lanes == ("profile:marie", "default")
    assert info.meta["home"] == str(home / "workers" / "host-a")
    assert seen["job"].state is JobState.COMPLETE
    assert seen["job"].worker == "host-a"

    async def registry() -> list[WorkerInfo]:
        queue = SQLiteQueue(tmp_path / "queue.db")
        try:
            return await queue.list_workers()
        finally:
            await queue.close()

    assert asyncio.run(registry()) == []  # it left the registry on the way out


# --- workers / jobs against an embedded daemon ----------------------------------------------


@pytest.fixture
def embedded(home: Path) -> Iterator[ThreadedDaemon]:
    daemon = ThreadedDaemon(home).start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.mark.usefixtures("embedded")
def test_workers_and_jobs_on_an_embedded_daemon(cli: Cli) -> None:
    code, out, _ = cli("workers")
    assert code == EXIT_OK
    assert out.strip() == "the daemon runs in embedded mode: its turns run inside it (no workers)"
    code, out, _ = cli("workers", "--json")
    assert code == EXIT_OK
    report = json.loads(out)
    assert report["mode"] == "embedded"
    assert report["workers"] == []
    assert report["queue"] is None
    code, out, _ = cli("jobs")
    assert code == EXIT_OK
    assert "embedded mode" in out
    code, out, _ = cli("jobs", "--json")
    assert code == EXIT_OK
    assert json.loads(out) == []
    code, out, _ = cli("jobs", "--json", "--state", "dead")
    assert code == EXIT_OK
    assert json.loads(out) == []


# --- workers / jobs / ask against a coordinating daemon --------------------------------------


class CoordinatingDaemon(ThreadedDaemon):
    """The threaded daemon in distributed mode, its queue a SQLite file."""

    def __init__(self, home: Path, queue_url: str) -> None:
        super().__init__(home)
        self.queue_url = queue_url

    def _run(self) -> None:
        try:
            asyncio.run(
                serve_async(
                    home=self.home,
                    backends={"claude-code": self.echo},
                    install_signals=False,
                    queue_url=self.queue_url,
                )
            )
        except BaseException as exc:  # reported by start()/stop(); a thread cannot raise
            self.failure = exc


class ThreadedWorker:
    """An in-process Worker on its own event loop, in a thread (the CLI needs the main one)."""

    def __init__(self, queue_file: Path, home: Path, ident: str) -> None:
        self.queue_file = queue_file
        self.home = home
        self.ident = ident
        self.stub = StubBackend()
        self.worker: Worker | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        queue = SQLiteQueue(self.queue_file)
        settings = WorkerSettings(id=self.ident, home=self.home, lease=2.0, claim_block=0.2)
        self.worker = Worker(queue, settings, backends={"claude-code": self.stub})
        self.loop = asyncio.get_running_loop()
        self.ready.set()
        try:
            await self.worker.run()
        finally:
            await queue.close()

    def start(self) -> ThreadedWorker:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self.worker is not None:
            self.loop.call_soon_threadsafe(self.worker.stop)
        self.thread.join(30)
        assert not self.thread.is_alive()


async def _dead_letter(queue_file: Path) -> str:
    """A job whose only attempt was lost: a dead letter."""
    queue = SQLiteQueue(queue_file)
    try:
        job = await queue.submit("noop", {}, max_attempts=1)
        claimed = await queue.claim("ghost")
        assert claimed is not None
        ended = await queue.fail(job.id, claimed.attempt, "ghost", "gone", retry=True)
        assert ended.state is JobState.DEAD
        return job.id
    finally:
        await queue.close()


def test_workers_jobs_and_a_turn_on_a_coordinating_daemon(
    cli: Cli, home: Path, tmp_path: Path
) -> None:
    queue_file = tmp_path / "queue.db"
    project = tmp_path / "project"
    project.mkdir()
    daemon = CoordinatingDaemon(home, f"sqlite://{queue_file}").start()
    worker = ThreadedWorker(queue_file, tmp_path / "host-w1", "w1")
    try:
        code, out, _ = cli("workers")
        assert code == EXIT_OK
        assert f"queue sqlite://{queue_file} · lease 15 s · dead letters 0" in out
        assert "no workers registered" in out
        dead = asyncio.run(_dead_letter(queue_file))
        assert "dead letters 1" in cli("workers")[1]
        [listed] = json.loads(cli("jobs", "--json", "--state", "dead")[1])
        assert (listed["id"], listed["state"], listed["error"]) == (dead, "dead", "gone")

        worker.start()
        code, out, _ = cli("spawn", "alpha", "--cwd", str(project), "--model", "haiku")
        assert code == EXIT_OK, out
        code, out, err = cli("ask", "alpha", "hello from the coordinator")
        assert (code, out) == (EXIT_OK, "hello from the coordinator\n"), err
        code, out, _ = cli("ask", "alpha", "and again")
        assert out == "hello from the coordinator|and again\n"

        # The worker reports its counts with its next heartbeat (every 0.4 s here).
        deadline = time.monotonic() + 10
        while True:
            report = json.loads(cli("workers", "--json")[1])
            [row] = report["workers"]
            if row["completed"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert report["mode"] == "distributed"
        assert report["lease"] == 15.0
        assert (row["id"], row["alive"], row["running"], row["completed"]) == ("w1", True, [], 2)
        table = cli("workers")[1]
        assert "w1" in table
        assert "0/2" in table  # running / concurrency

        WorkersOut.model_validate(report)  # the shape /openapi.json documents
        jobs = json.loads(cli("jobs", "--json", "--state", "complete")[1])
        assert [(j["kind"], j["state"], j["worker"]) for j in jobs] == [
            ("turn", "complete", "w1"),
            ("turn", "complete", "w1"),
        ]
        assert [j["payload"]["mode"] for j in jobs] == ["new", "resume"]
        for job in jobs:
            JobOut.model_validate(job)
        table = cli("jobs")[1]
        assert f"{jobs[0]['id']} (alpha)" in table
        assert f"{dead} " in table
        usage_error(cli("jobs", "--state", "sleeping"), "unknown job state", "queued")
    finally:
        worker.stop()
        daemon.stop()
    # The turns ran on the worker's stub, in the project the agent was spawned in.
    assert [t.prompt for t in worker.stub.turns] == ["hello from the coordinator", "and again"]
    assert worker.stub.started[0].spec.cwd == project
    assert worker.stub.started[0].spec.model == "haiku"
