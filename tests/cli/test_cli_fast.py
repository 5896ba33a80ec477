"""`podium ask` and `podium list --json` stay cheap: no heavy import, same behaviour.

Scripts call these commands in loops, so every module they import is paid on every
call. The commands run as real processes against a real daemon (its model replaced
by EchoBackend); what they imported is read from ``sys.modules`` at exit. No timing
is asserted: the import list is what decides the cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.cli import EXIT_ERROR, EXIT_TIMEOUT, EXIT_USAGE, main
from tests._threaded_daemon import ThreadedDaemon

# Each costs a command tens of milliseconds or more, and none is needed to ask or list.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "claude_agent_sdk",
    "anthropic",
    "openai",
    "mcp",
    "redis",
    "pydantic",
    "pydantic_core",
    "typer",
    "click",
    "rich",
    "httpx",
    "httpcore",
    "anyio",
    "asyncio",
    "sqlite3",
    "podium.runtime",
    "podium.backends",
    "podium.store",
    "podium.orchestration",
    "podium.server._app",
    # podium's own records and option types, with their validation, and the installed
    # package metadata: the command prints the daemon's JSON as it came.
    "podium._records",
    "podium._options",
    "podium._client",
    "podium.isolation",
    "importlib.metadata",
    "podium._backend_info",
    "podium.server._procs",
    # The standard library's slower modules: typing and dataclasses (with inspect, ast,
    # dis and tokenize) at run time, and what only starting a daemon or writing its
    # state needs (subprocess, signal, tempfile with shutil, bz2 and lzma, secrets).
    "typing",
    "dataclasses",
    "inspect",
    "ast",
    "dis",
    "tokenize",
    "subprocess",
    "signal",
    "tempfile",
    "shutil",
    "secrets",
    # The standard library's HTTP client parses headers with the email package: together
    # they cost more than the round trip (podium._http speaks HTTP/1.1 itself).
    "http.client",
    "email",
)

# Runs the command as `python -m podium ARGS` would, then prints the heavy modules loaded.
# The fast commands end with os._exit (no interpreter teardown): here it raises instead,
# so that the harness outlives the command to report.
HARNESS = """
import json, os, runpy, sys
def leave(code):
    raise SystemExit(code)
os._exit = leave
heavy = json.loads(sys.argv[1])
sys.argv = ["podium", *sys.argv[2:]]
try:
    runpy.run_module("podium", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
sys.stderr.write("LOADED " + json.dumps(loaded) + "\\n")
sys.exit(code)
"""


def _command(*args: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout, and the heavy modules the command imported."""
    proc = subprocess.run(
        [sys.executable, "-c", HARNESS, json.dumps(HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("LOADED ")]
    assert marker, proc.stderr
    loaded: list[str] = json.loads(marker[-1][len("LOADED ") :])
    return proc.returncode, proc.stdout, loaded


def test_ask_and_list_import_nothing_heavy(daemon: ThreadedDaemon) -> None:
    with daemon.client() as client:
        client.spawn("alpha")

    code, out, loaded = _command("ask", "alpha", "hello", "--json")
    assert code == 0
    assert json.loads(out)["result"] == "hello"
    assert loaded == []

    code, out, loaded = _command("ask", "alpha", "hi there")
    assert (code, out) == (0, "hi there\n")
    assert loaded == []

    code, out, loaded = _command("ask", "--async", "alpha", "later")
    assert code == 0
    assert out.strip().startswith("alpha-")
    assert loaded == []

    code, out, loaded = _command("list", "--json")
    assert code == 0
    assert [agent["name"] for agent in json.loads(out)] == ["alpha"]
    assert loaded == []


def test_an_unknown_agent_fails_cheaply_too(daemon: ThreadedDaemon) -> None:
    code, out, loaded = _command("ask", "nobody", "hello")
    assert code == EXIT_USAGE
    assert out == ""
    assert loaded == []


def test_a_fast_command_leaving_without_teardown_still_delivers_all_it_printed(
    daemon: ThreadedDaemon, tmp_path: Path
) -> None:
    """The console script ends a fast command with os._exit: its output must be flushed
    first, whole, and its exit code kept."""
    with daemon.client() as client:
        client.spawn("alpha", cwd=tmp_path)
    podium = [sys.executable, "-m", "podium"]
    big = "x" * 100_000  # more than a pipe's buffer: written out while the reader reads
    done = subprocess.run(
        [*podium, "ask", "--json", "alpha", big], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == big
    done = subprocess.run(
        [*podium, "ask", "nobody", "x"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (EXIT_USAGE, "")
    assert done.stderr.startswith("error: ")


def test_a_reader_that_went_away_ends_the_command_without_a_traceback(
    daemon: ThreadedDaemon, tmp_path: Path
) -> None:
    """`podium list --json | head -1` and friends: a closed pipe is exit 1, quietly."""
    with daemon.client() as client:
        client.spawn("alpha", cwd=tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the command's first write meets a broken pipe
    try:
        done = subprocess.run(
            [sys.executable, "-m", "podium", "ask", "--async", "alpha", "x"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == EXIT_ERROR
    assert "Traceback" not in done.stderr


def test_help_and_unusual_forms_still_reach_typer(daemon: ThreadedDaemon) -> None:
    code, out, _ = _command("ask", "--help")
    assert code == 0
    assert "--wait-timeout" in out
    code, _, loaded = _command("ask", "alpha", "hi", "--timeout", "soon")
    assert code == EXIT_USAGE  # typer's own message for a value it cannot read
    assert "typer" in loaded


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_fast_path_behaves_as_the_commands_do(
    daemon: ThreadedDaemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _main(capsys, "ask", "alpha", "hello")[0] == EXIT_USAGE  # no agent yet
    with daemon.client() as client:
        client.spawn("alpha", cwd=tmp_path)

    assert _main(capsys, "ask", "alpha", "line one\nline two") == (0, "line one\nline two\n", "")
    code, out, _ = _main(capsys, "ask", "--json", "alpha", "x", "--timeout=30")
    assert code == 0
    assert json.loads(out)["status"] == "complete"

    code, out, err = _main(capsys, "ask", "alpha", "fail:the model broke")
    assert (code, out) == (EXIT_ERROR, "")
    assert err.startswith("error: ")
    assert "the model broke" in err

    code, _, err = _main(capsys, "ask", "alpha", "sleep:1", "--wait-timeout", "0.2")
    assert code == EXIT_TIMEOUT
    assert err.startswith("error: ")
    assert "still" in err

    code, out, _ = _main(capsys, "list", "--json")
    assert code == 0
    assert json.loads(out)[0]["name"] == "alpha"


def test_ask_json_prints_what_poll_prints(
    daemon: ThreadedDaemon, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with daemon.client() as client:
        client.spawn("alpha", cwd=tmp_path)
        code, out, _ = _main(capsys, "ask", "--json", "alpha", "hello")
        assert code == 0
        printed = json.loads(out)
        assert printed == client.poll(printed["id"]).to_dict()
        code, out, _ = _main(capsys, "ask", "--async", "--json", "alpha", "later")
        assert code == 0
        queued = json.loads(out)
        assert set(queued) == set(client.poll(queued["id"]).to_dict())


def test_the_wire_adds_exactly_the_keys_the_fast_path_drops() -> None:
    from podium._daemon_api import WIRE_ONLY_REQUEST_KEYS
    from podium._records import RequestRecord, RequestSource, RequestState, Usage
    from podium._wire import request_to_json

    request = RequestRecord(
        id="alpha-000001-0123abcd",
        agent="alpha",
        seq=1,
        prompt="p",
        state=RequestState.QUEUED,
        source=RequestSource.USER,
        relay_from=None,
        result=None,
        error=None,
        usage=Usage(),
        cost_usd=0.0,
        model=None,
        timeout=None,
        submitted_at=1.0,
        started_at=None,
        completed_at=None,
    )
    extra = set(request_to_json(request)) - set(request.to_dict())
    assert extra == set(WIRE_ONLY_REQUEST_KEYS)
