"""Bad input on the command line: exit 2 with one ``error:`` line, nothing sent or written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from podium.cli._app import EXIT_USAGE
from tests._cli_helpers import Run, failed, ok
from tests._threaded_daemon import ThreadedDaemon


def _request_count(run: Run) -> int:
    count = json.loads(ok(run("info", "alpha", "--json")).stdout)["request_count"]
    assert isinstance(count, int)
    return count


def test_a_prompt_of_invalid_utf8_bytes_is_refused(daemon: ThreadedDaemon, run: Run) -> None:
    # A real process, so the bytes reach podium through argv as the OS gives them.
    ok(run("spawn", "alpha"))
    result = subprocess.run(
        [sys.executable, "-m", "podium", "ask", "alpha", b"caf\xe9 \xff"],
        capture_output=True,
        env=os.environ.copy(),
        timeout=60,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == EXIT_USAGE, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: prompt holds a lone surrogate")
    assert _request_count(run) == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--timeout", "inf"),
        ("--timeout", "nan"),
        ("--timeout", "-inf"),
        ("--wait-timeout", "inf"),
        ("--wait-timeout", "nan"),
    ],
)
def test_a_non_finite_timeout_is_refused(
    daemon: ThreadedDaemon, run: Run, args: tuple[str, str]
) -> None:
    ok(run("spawn", "alpha"))
    failed(run("ask", "alpha", "hi", *args), EXIT_USAGE, "finite number of seconds")
    assert _request_count(run) == 0
    ok(run("ask", "alpha", "hi"))
    assert _request_count(run) == 1


def test_non_finite_timeouts_of_wait_relay_and_broadcast(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    request_id = ok(run("ask", "alpha", "hi", "--async")).stdout.strip()
    failed(run("wait", request_id, "--timeout", "nan"), EXIT_USAGE, "finite")
    failed(run("relay", "alpha", "alpha", "again", "--timeout", "inf"), EXIT_USAGE, "finite")
    failed(run("broadcast", "hi", "--timeout", "inf"), EXIT_USAGE, "finite")
    assert _request_count(run) == 1


def test_logs_of_an_unknown_agent_exits_2(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    failed(run("logs", "ghost"), EXIT_USAGE, "ghost")
    failed(run("logs", "ghost", "--tail", "0"), EXIT_USAGE, "ghost")
    assert "spawned" in ok(run("logs", "alpha")).stdout
    ok(run("kill", "alpha"))
    # A killed agent's history stays readable.
    assert "killed" in ok(run("logs", "alpha")).stdout
