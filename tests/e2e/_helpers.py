"""What the end-to-end tests share: the installed ``podium`` command, run as a user runs
it, and the processes it leaves (a daemon, agents' CLIs) found and waited for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["alive", "no_processes_left", "podium", "processes_under", "show", "wait_until"]


def podium(
    env: dict[str, str],
    *args: str,
    cwd: Path | None = None,
    expect: int | None = 0,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """Run ``podium ARGS`` in ``cwd``; check the exit code unless ``expect`` is None."""
    result = subprocess.run(
        [sys.executable, "-m", "podium", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if expect is not None:
        assert result.returncode == expect, (args, result.returncode, result.stdout, result.stderr)
    return result


def show(env: dict[str, str], run_id: str) -> dict[str, Any]:
    """``podium show RUN_ID --json``."""
    data: dict[str, Any] = json.loads(podium(env, "show", run_id, "--json").stdout)
    return data


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_under(home: Path) -> list[int]:
    """Every live process whose command line or environment mentions this state dir."""
    found = []
    marker = str(home).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in blob and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def no_processes_left(home: Path, timeout: float = 30.0) -> None:
    """Until nothing started for this state dir (daemon, agents' CLIs) is alive."""
    wait_until(lambda: processes_under(home) == [], timeout=timeout)
