"""What isolating a task costs: set-up and tear-down per mode, with the isolators directly.

    python benchmarks/bench_isolation.py [--repeat 20] [--files 200] [--changed 20]

For each mode, N times: ``prepare`` a workspace for a fresh agent (set-up), run one
trivial command in it (sandbox only: ``true`` through the launcher, which includes
starting the network helper), commit the task's work (worktree only), and ``release``
it (tear-down). Prints a markdown table of medians in milliseconds.

* shared: nothing to do, the floor;
* worktree: a real git repository of ``--files`` committed files; ``git worktree add``
  on a new branch; then the end-of-task auto-commit a run does (``finish_task``:
  ``git add --all`` + ``git commit``) of ``--changed`` files the "agent" modified
  (written untimed just before); then removal of the worktree and its branch. In a
  run every task is a fresh agent, so a task pays all three;
* sandbox: bubblewrap (skipped when it cannot run here), the relay started and
  stopped, ``true`` run through the launcher;
* container: **argv build only** (with the relay started and stopped, and the
  ``<engine> rm -f`` that ``release`` always sends): no container is started, so the
  engine's own start-up (typically hundreds of ms) is not in this number.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from podium.isolation import IsolationMode, IsolationSpec, Isolator, Workspace, isolator_for
from podium.isolation._container import ContainerIsolator
from podium.isolation._sandbox import sandbox_unavailable_reason
from podium.testing import FakeAnthropic


@dataclass
class Timings:
    setup: list[float] = field(default_factory=list)
    command: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)
    teardown: list[float] = field(default_factory=list)


def make_repo(root: Path, files: int) -> Path:
    """A git repository with ``files`` small committed files in a few directories."""
    repo = root / "repo"
    for i in range(files):
        path = repo / f"pkg{i % 10}" / f"module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'"""Module {i}."""\n\nVALUE = {i}\n' + "# filler\n" * 40)
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, *ident, "commit", "-q", "-m", "files"], check=True)
    return repo


async def run_command(argv: list[str], cwd: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {err.decode()[-500:]}")


async def measure(
    isolator: Isolator,
    *,
    mode: IsolationMode,
    project: Path,
    home: Path,
    repeat: int,
    api: str,
    command: Callable[[Workspace], Awaitable[None]] | None = None,
    changed: int = 0,
) -> Timings:
    """``changed``: files modified in the workspace, then committed as a task's end does."""
    timings = Timings()
    spec = IsolationSpec(mode=mode)
    for i in range(repeat + 1):  # the first round warms caches and is not counted
        agent = f"bench-{mode.value}-{i}"
        state = home / "agents" / agent / "session"
        state.mkdir(parents=True)
        t0 = time.perf_counter()
        ws = await isolator.prepare(
            agent=agent,
            project=project,
            state_dir=state,
            results_dir=home / "results" / agent,
            spec=spec,
            api_base_url=api,
        )
        t1 = time.perf_counter()
        if command is not None:
            await command(ws)
        t2 = time.perf_counter()
        if changed:
            touch(ws.cwd, changed, i)
            c0 = time.perf_counter()
            sha = await isolator.finish_task(ws, message=f"podium: bench task {i} ({agent})")
            c1 = time.perf_counter()
            if sha is None:
                raise RuntimeError("the task's changes were not committed")
        t3 = time.perf_counter()
        await isolator.release(ws, force=True)
        t4 = time.perf_counter()
        if i:
            timings.setup.append(t1 - t0)
            if command is not None:
                timings.command.append(t2 - t1)
            if changed:
                timings.commit.append(c1 - c0)
            timings.teardown.append(t4 - t3)
    return timings


def touch(worktree: Path, changed: int, round_: int) -> None:
    """An agent's work: ``changed`` tracked files edited (a few lines each)."""
    for i in range(changed):
        path = worktree / f"pkg{i % 10}" / f"module_{i}.py"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n\ndef added_{round_}_{i}() -> int:\n    return {i}\n")


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    median = statistics.median(values) * 1000
    return f"{median:.2f}" if median < 10 else f"{median:.1f}"


async def main(repeat: int, files: int, changed: int) -> None:
    rows: list[tuple[str, Timings | None, str]] = []
    with tempfile.TemporaryDirectory(prefix="podium-bench-") as tmp, FakeAnthropic() as fake:
        root = Path(tmp)
        repo = make_repo(root, files)
        home = root / "home"

        shared = await measure(
            isolator_for(IsolationMode.SHARED), mode=IsolationMode.SHARED,
            project=repo, home=home, repeat=repeat, api=fake.base_url,
        )  # fmt: skip
        rows.append(("shared", shared, "the project as is"))

        worktree = await measure(
            isolator_for(IsolationMode.WORKTREE), mode=IsolationMode.WORKTREE,
            project=repo, home=home, repeat=repeat, api=fake.base_url, changed=changed,
        )  # fmt: skip
        rows.append(
            (
                "worktree",
                worktree,
                f"git repo of {files} files; add, commit of {changed} changed files, "
                "remove with its branch",
            )
        )

        reason = sandbox_unavailable_reason()
        if reason is None:

            async def true_inside(ws: Workspace) -> None:
                true = shutil.which("true") or "/bin/true"
                await run_command([*ws.launcher, true], ws.cwd)

            sandbox = await measure(
                isolator_for(IsolationMode.SANDBOX), mode=IsolationMode.SANDBOX,
                project=repo, home=home, repeat=repeat, api=fake.base_url, command=true_inside,
            )  # fmt: skip
            rows.append(("sandbox", sandbox, "bwrap + relay; command = `true` inside"))
        else:
            rows.append(("sandbox", None, f"skipped: {reason}"))

        container = await measure(
            ContainerIsolator(verify=False), mode=IsolationMode.CONTAINER,
            project=repo, home=home, repeat=repeat, api=fake.base_url,
        ) if shutil.which("docker") or shutil.which("podman") else None  # fmt: skip
        rows.append(
            (
                "container",
                container,
                "**argv build only** + relay start/stop; no container started; tear-down "
                "includes the `rm -f` call to the engine"
                if container is not None
                else "skipped: no docker or podman on PATH",
            )
        )

    print(f"Isolation cost per task (median ms over {repeat} rounds, after 1 warm-up)\n")
    print("| mode | set-up | command inside | task commit | tear-down | total | what is measured |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, t, note in rows:
        if t is None:
            print(f"| {name} | - | - | - | - | - | {note} |")
            continue
        total = [
            s + (t.command[i] if t.command else 0.0) + (t.commit[i] if t.commit else 0.0) + d
            for i, (s, d) in enumerate(zip(t.setup, t.teardown, strict=True))
        ]
        print(
            f"| {name} | {ms(t.setup)} | {ms(t.command)} | {ms(t.commit)} | {ms(t.teardown)} "
            f"| {ms(total)} | {note} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="rounds per mode (default 20)")
    parser.add_argument("--files", type=int, default=200, help="files in the git repo")
    parser.add_argument(
        "--changed", type=int, default=20, help="files a worktree task changes and commits"
    )
    args = parser.parse_args()
    if not 0 < args.changed <= args.files:
        parser.error("--changed must be between 1 and --files")
    asyncio.run(main(args.repeat, args.files, args.changed))
