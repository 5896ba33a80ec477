"""`podium up / down / status`, autostart and crash recovery with real daemon processes.

The daemon runs as its own process exactly as in production; only the model is
replaced, by EchoBackend loaded through the PODIUM_BACKEND_FACTORY testing hook.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.cli import EXIT_ERROR
from podium.server import _daemon, daemon_file, read_daemon_info, read_token
from podium.server._procs import pid_alive, wait_exit
from tests._cli_helpers import Run, ok


def our_processes(home: Path) -> list[int]:
    """Every process (but this one) whose environment names this PODIUM_HOME."""
    marker = f"PODIUM_HOME={home}\0".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes() and pid_alive(pid):
                found.append(pid)
        except OSError:
            continue
    return found


def up(run: Run, *args: str) -> dict[str, object]:
    info: dict[str, object] = json.loads(ok(run("up", "--json", *args)).stdout)
    return info


def test_up_spawn_ask_list_down_leaves_nothing_behind(subprocess_env: Path, run: Run) -> None:
    home = subprocess_env
    info = up(run)
    assert info["started"] is True
    pid = info["pid"]
    assert isinstance(pid, int)
    assert pid != os.getpid()
    assert pid_alive(pid)
    assert str(info["url"]).startswith("http://127.0.0.1:")

    ok(run("spawn", "alpha", "--model", "haiku"))
    assert ok(run("ask", "alpha", "hello from the cli")).stdout == "hello from the cli\n"
    listed = json.loads(ok(run("list", "--json")).stdout)
    assert [(a["name"], a["request_count"]) for a in listed] == [("alpha", 1)]

    assert ok(run("down")).stdout.strip() == f"podium daemon stopped (pid {pid})"
    assert not pid_alive(pid)
    assert not daemon_file(home).exists()
    assert our_processes(home) == []
    status = json.loads(ok(run("status", "--json")).stdout)
    assert status["running"] is False


def test_commands_start_the_daemon_on_demand(subprocess_env: Path, run: Run) -> None:
    result = ok(run("spawn", "alpha"))
    assert "started podium daemon at http://127.0.0.1:" in result.stderr
    status = json.loads(ok(run("status", "--json")).stdout)
    assert status["running"] is True
    assert status["agents"] == 1
    again = ok(run("list"))
    assert "started podium daemon" not in again.stderr  # the running one is reused


def test_up_twice_and_down_twice(subprocess_env: Path, run: Run) -> None:
    first = up(run)
    second = up(run)
    assert second["started"] is False
    assert second["pid"] == first["pid"]
    assert "already running" in ok(run("up")).stdout
    assert json.loads(ok(run("down", "--json")).stdout) == {
        "running": False,
        "stopped": True,
        "pid": first["pid"],
    }
    assert "not running" in ok(run("down")).stdout


def test_sigkilled_daemon_is_replaced_and_keeps_its_agents(subprocess_env: Path, run: Run) -> None:
    home = subprocess_env
    first = up(run)
    ok(run("spawn", "alpha"))
    ok(run("spawn", "beta"))
    ok(run("ask", "alpha", "before the crash"))
    pid = first["pid"]
    assert isinstance(pid, int)

    os.kill(pid, signal.SIGKILL)
    assert wait_exit(pid, 10)
    assert daemon_file(home).exists()  # nobody cleaned up: the daemon had no chance
    status = json.loads(ok(run("status", "--json")).stdout)
    assert status["running"] is False
    assert not daemon_file(home).exists()  # the stale file was recognised and removed

    second = up(run)
    assert second["started"] is True
    assert second["pid"] != pid
    listed = json.loads(ok(run("list", "--json")).stdout)
    assert [a["name"] for a in listed] == ["alpha", "beta"]
    assert {a["status"] for a in listed} == {"hibernated"}
    assert ok(run("ask", "alpha", "after the crash")).stdout == "after the crash\n"
    ok(run("down"))
    assert our_processes(home) == []


def test_sigterm_stops_the_daemon_cleanly(subprocess_env: Path, run: Run) -> None:
    home = subprocess_env
    pid = up(run)["pid"]
    assert isinstance(pid, int)
    ok(run("spawn", "alpha"))
    os.kill(pid, signal.SIGTERM)
    assert wait_exit(pid, 15)
    assert not daemon_file(home).exists()
    kinds = [json.loads(line)["kind"] for line in (home / "events.jsonl").read_text().splitlines()]
    assert kinds[-1] == "daemon_stopped"
    assert "stopped" in (home / "daemon.log").read_text()


def test_down_kills_a_daemon_that_does_not_answer(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = subprocess_env
    monkeypatch.setattr(_daemon, "_TERM_GRACE", 1.0)
    pid = up(run)["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGSTOP)  # frozen: ignores HTTP and SIGTERM alike
    try:
        ok(run("down", "--timeout", "1"))
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert not pid_alive(pid)
    assert not daemon_file(home).exists()
    assert our_processes(home) == []


def test_up_failure_quotes_the_daemon_log(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_BACKEND_FACTORY", "no_such_module_xyz:backends")
    result = run("up")
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.startswith("error: the daemon exited with code 1 while starting")
    assert "daemon.log" in result.stderr
    assert "no_such_module_xyz" in result.stderr  # the daemon's own words, from its log
    assert "Traceback" not in result.stderr
    assert our_processes(subprocess_env) == []


def test_unix_socket_daemon(subprocess_env: Path, run: Run, tmp_path: Path) -> None:
    sock = tmp_path / "d.sock"
    info = up(run, "--socket", str(sock))
    assert info["url"] == f"unix://{sock}"
    ok(run("spawn", "alpha"))
    assert ok(run("ask", "alpha", "via socket")).stdout == "via socket\n"
    ok(run("down"))
    assert not sock.exists()


def test_secrets_never_reach_the_log(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret-value-123")
    up(run)
    token = read_token(subprocess_env)
    assert token
    ok(run("spawn", "alpha"))
    ok(run("ask", "alpha", "hi"))
    run("ask", "ghost", "hi")
    ok(run("down"))
    log = (subprocess_env / "daemon.log").read_text()
    assert "listening on" in log
    assert token not in log
    assert "sk-ant-very-secret-value-123" not in log


def test_listen_options_are_checked(home: Path, run: Run) -> None:
    result = run("up", "--socket", "/tmp/x.sock", "--port", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: use --socket or --host/--port, not both"
    assert run("up", "--port", "70000").exit_code == 2
    assert not daemon_file(home).exists()


def test_start_timeout_stops_the_half_started_daemon(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_START_TIMEOUT", "0.01")
    result = run("up")
    assert result.exit_code == EXIT_ERROR
    assert "did not answer on /v1/health within 0.01 s" in result.stderr
    time.sleep(0.2)
    assert our_processes(subprocess_env) == []


def test_foreground_serve_stops_on_sigint(subprocess_env: Path) -> None:
    home = subprocess_env
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "serve", "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while read_daemon_info(home) is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "serve never wrote daemon.json"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    assert not daemon_file(home).exists()


def test_fake_api_is_delegated(run: Run) -> None:
    result = run("fake-api", "--help")
    assert result.exit_code == 0
    assert "fake Anthropic" in result.stdout
    assert run("fake-api", "--port", "not-a-number").exit_code == 2


OLD_KEY = "sk-ant-old-key-0123456789abcdef"
NEW_KEY = "sk-ant-new-key-fedcba9876543210"


def test_status_names_the_daemons_credential_and_base_url_never_the_value(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", OLD_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/gateway")
    up(run)
    status = ok(run("status", "--json"))
    report = json.loads(status.stdout)
    assert report["credential_source"] == "ANTHROPIC_API_KEY"
    assert report["api_base_url"] == "http://127.0.0.1:9/gateway"
    assert report["environment_matches"] is True
    text = ok(run("status"))
    assert "ANTHROPIC_API_KEY" in text.stdout
    assert "http://127.0.0.1:9/gateway" in text.stdout
    assert text.stderr == ""  # same environment: nothing to warn about
    for shown in (status.stdout, text.stdout, daemon_file(subprocess_env).read_text()):
        assert OLD_KEY not in shown


def test_a_command_with_another_api_environment_says_the_daemon_uses_its_own(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", OLD_KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN", raising=False)
    up(run)
    assert ok(run("list")).stderr == ""

    # The user exports a new key: the daemon still has the old one, and says so.
    monkeypatch.setenv("ANTHROPIC_API_KEY", NEW_KEY)
    listed = ok(run("list"))
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1, listed.stderr
    assert lines[0].startswith("warning: ")
    assert "podium down && podium up" in lines[0]
    assert OLD_KEY not in listed.output
    assert NEW_KEY not in listed.output
    report = json.loads(ok(run("status", "--json")).stdout)
    assert report["environment_matches"] is False
    assert report["credential_source"] == "ANTHROPIC_API_KEY"

    # Another credential variable or base URL counts too.
    monkeypatch.setenv("ANTHROPIC_API_KEY", OLD_KEY)
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "oauth-token-0123456789")
    assert "warning: " in ok(run("list")).stderr
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    assert "warning: " in ok(run("list")).stderr

    # After a restart from this environment the daemon uses it, and nothing is said.
    ok(run("down"))
    up(run)
    assert ok(run("list")).stderr == ""
    report = json.loads(ok(run("status", "--json")).stdout)
    assert report["environment_matches"] is True
    assert report["api_base_url"] == "http://127.0.0.1:9"
    log = (subprocess_env / "daemon.log").read_text()
    assert OLD_KEY not in log
    assert NEW_KEY not in log


def test_status_shows_the_warm_pool_and_its_limit(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_MAX_WARM", "3")
    ok(run("spawn", "alpha"))
    report = json.loads(ok(run("status", "--json")).stdout)
    pool = report["pool"]
    assert pool["max_warm"] == 3
    assert pool["warm"] == 1  # the echo backend stands in for claude-code
    assert pool["hibernated"] == 0
    assert pool["waiting"] == 0
    assert "warm:    1 of max_warm 3, 0 hibernated" in ok(run("status")).stdout
    ok(run("down"))


def test_a_bad_max_warm_stops_the_daemon_from_starting_with_the_reason(
    subprocess_env: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_MAX_WARM", "lots")
    result = run("up")
    assert result.exit_code != 0
    assert "PODIUM_MAX_WARM must be a whole number or 'unlimited', got 'lots'" in (
        result.stdout + result.stderr
    )
