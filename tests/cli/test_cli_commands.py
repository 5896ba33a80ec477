"""CLI commands (typer CliRunner) against a real daemon served from a thread.

EchoBackend replaces the model only; the CLI, Client, HTTP API, runtime and
store are the production code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from podium.cli import EXIT_ERROR, EXIT_TIMEOUT, EXIT_USAGE
from podium.cli._logs import format_event
from tests._cli_helpers import Run, failed, ok
from tests._request_shape import REQUEST_KEYS
from tests._threaded_daemon import ThreadedDaemon

LIST_KEYS = {
    "name",
    "status",
    "model",
    "requested_model",
    "backend",
    "session_id",
    "forked_from",
    "created_at",
    "request_count",
    "pid",
    "cost_usd",
    "unpriced_requests",
    "billing",
}


# --- spawn ---------------------------------------------------------------------------------


def test_spawn_list_info_kill(daemon: ThreadedDaemon, run: Run, tmp_path: Path) -> None:
    ok(run("spawn", "alpha", "--model", "haiku", "--cwd", str(tmp_path)))
    listed = json.loads(ok(run("list", "--json")).stdout)
    assert len(listed) == 1
    assert set(listed[0]) == LIST_KEYS
    assert listed[0]["name"] == "alpha"
    assert listed[0]["model"] == "echo-haiku"
    assert listed[0]["requested_model"] == "haiku"
    assert listed[0]["pid"] is None
    table = ok(run("list")).stdout
    for heading in ("name", "status", "model", "requests", "cost", "pid", "forked from"):
        assert heading in table
    assert "alpha" in table
    assert "alpha" in ok(run("info", "alpha")).stdout
    assert json.loads(ok(run("info", "alpha", "--json")).stdout)["cwd"] == str(tmp_path)
    assert ok(run("kill", "alpha")).stdout.strip() == "killed alpha"
    assert json.loads(ok(run("list", "--json")).stdout) == []
    assert ok(run("list")).stdout.strip() == "no agents"


def test_spawn_system_prompt_file(daemon: ThreadedDaemon, run: Run, tmp_path: Path) -> None:
    prompt_file = tmp_path / "system.md"
    prompt_file.write_text("You are terse.\nVery terse. ✓\n", encoding="utf-8")
    ok(run("spawn", "alpha", "--system-prompt-file", str(prompt_file)))
    info = json.loads(ok(run("info", "alpha", "--json")).stdout)
    assert info["system_prompt"] == "You are terse.\nVery terse. ✓\n"
    ok(run("spawn", "beta", "--system-prompt", "inline"))
    assert json.loads(ok(run("info", "beta", "--json")).stdout)["system_prompt"] == "inline"


def test_spawn_prompt_options_conflict_and_missing_file(
    daemon: ThreadedDaemon, run: Run, tmp_path: Path
) -> None:
    prompt_file = tmp_path / "p.md"
    prompt_file.write_text("x")
    failed(
        run("spawn", "alpha", "--system-prompt", "x", "--system-prompt-file", str(prompt_file)),
        EXIT_USAGE,
        "not both",
    )
    missing = tmp_path / "nope.md"
    failed(run("spawn", "alpha", "--system-prompt-file", str(missing)), EXIT_USAGE, str(missing))
    assert json.loads(ok(run("list", "--json")).stdout) == []


@pytest.mark.parametrize("name", ["../x", "a b", "", "a" * 200, "UPPER"])
def test_unsafe_names(daemon: ThreadedDaemon, run: Run, name: str) -> None:
    failed(run("spawn", name), EXIT_USAGE, "agent name")
    failed(run("ask", name, "hi"), EXIT_USAGE, "agent name")


def test_duplicate_unknown_agent_and_unknown_model(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    failed(run("spawn", "alpha"), EXIT_USAGE, "already exists")
    failed(run("ask", "ghost", "hi"), EXIT_USAGE, "ghost")
    failed(run("info", "ghost"), EXIT_USAGE, "ghost")
    failed(run("kill", "ghost"), EXIT_USAGE, "ghost")
    failed(run("spawn", "beta", "--model", "gpt-4"), EXIT_USAGE, "unknown model 'gpt-4'")


def test_spawn_stall_options_are_stored_and_checked(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "watched", "--stall-timeout", "120", "--stall-policy", "fail"))
    options = json.loads(ok(run("info", "watched", "--json")).stdout)["options"]
    assert options["stall_timeout"] == 120
    assert options["stall_policy"] == "fail"
    failed(
        run("spawn", "shrugs", "--stall-policy", "shrug"),
        EXIT_USAGE,
        "option 'stall_policy' must be 'retry' or 'fail'",
    )
    failed(
        run("spawn", "hasty", "--stall-timeout", "-5"),
        EXIT_USAGE,
        "option 'stall_timeout' must be a finite number >= 0",
    )
    names = [a["name"] for a in json.loads(ok(run("list", "--json")).stdout)]
    assert names == ["watched"]


def test_bad_arguments_are_usage_errors(daemon: ThreadedDaemon, run: Run) -> None:
    assert run("spawn").exit_code == EXIT_USAGE
    assert run("ask", "alpha", "hi", "--timeout", "soon").exit_code == EXIT_USAGE
    assert run("no-such-command").exit_code == EXIT_USAGE


# --- ask -----------------------------------------------------------------------------------

AWKWARD = [
    "say \"hi\" and 'bye'",
    "line one\nline two\n\nline four",
    "ünïcödé ✓ 日本語 🚀",
    "[bold]not markup[/bold] $(echo no) `x`",
]


@pytest.mark.parametrize("prompt", AWKWARD)
def test_ask_prints_the_answer_verbatim(daemon: ThreadedDaemon, run: Run, prompt: str) -> None:
    ok(run("spawn", "alpha"))
    result = ok(run("ask", "alpha", prompt))
    assert result.stdout == prompt + "\n"
    assert daemon.echo.prompts[-1] == prompt


def test_ask_reads_stdin(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    text = 'from stdin\nwith "quotes" and ünï\n'
    result = ok(run("ask", "alpha", "-", input=text))
    assert result.stdout == text
    assert daemon.echo.prompts[-1] == text


def test_two_megabyte_prompt_through_the_cli(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    prompt = ("quotes \" ' newline\n ünï 🚀 " * 100_000)[: 2 * 1024 * 1024]
    result = ok(run("ask", "alpha", "-", "--json", input=prompt))
    assert daemon.echo.prompts[-1].encode() == prompt.encode()
    assert json.loads(result.stdout)["result"] == prompt


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_empty_prompt(daemon: ThreadedDaemon, run: Run, prompt: str) -> None:
    ok(run("spawn", "alpha"))
    failed(run("ask", "alpha", prompt), EXIT_USAGE, "prompt is empty")
    failed(run("ask", "alpha", "-", input=prompt), EXIT_USAGE, "prompt is empty")


def test_failed_request_exits_1_with_the_error(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    result = failed(run("ask", "alpha", "fail:the model broke"), EXIT_ERROR, "the model broke")
    assert result.stdout == ""
    result = run("ask", "alpha", "fail:again", "--json")
    assert result.exit_code == EXIT_ERROR
    assert json.loads(result.stdout)["status"] == "failed"


def test_ask_async_poll_wait_cancel(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    request_id = ok(run("ask", "--async", "alpha", "hello")).stdout.strip()
    assert request_id.startswith("alpha-000001-")
    waited = json.loads(ok(run("wait", request_id, "--json")).stdout)
    assert set(waited) >= REQUEST_KEYS
    assert waited["result"] == "hello"
    assert ok(run("wait", request_id)).stdout == "hello\n"
    polled = json.loads(ok(run("poll", request_id, "--json")).stdout)
    assert polled == waited
    assert ok(run("poll", request_id)).stdout.startswith(f"{request_id}: complete")

    slow = ok(run("ask", "--async", "alpha", "sleep:30")).stdout.strip()
    failed(run("wait", slow, "--timeout", "0.2"), EXIT_TIMEOUT, "still")
    assert json.loads(ok(run("poll", slow, "--json")).stdout)["status"] == "running"
    ok(run("cancel", slow))
    failed(run("wait", slow), EXIT_ERROR, "cancelled")


def test_ask_wait_timeout_does_not_cancel(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    failed(run("ask", "alpha", "sleep:1", "--wait-timeout", "0.2"), EXIT_TIMEOUT, "still")
    request = json.loads(ok(run("list", "--json")).stdout)[0]
    assert request["request_count"] == 0
    time.sleep(1.2)
    assert json.loads(ok(run("list", "--json")).stdout)[0]["request_count"] == 1


def test_unknown_request_ids(daemon: ThreadedDaemon, run: Run) -> None:
    for command in ("poll", "wait", "cancel"):
        failed(run(command, "alpha-000001-deadbeef"), EXIT_USAGE, "no request")
        failed(run(command, "nonsense"), EXIT_USAGE, "not a request id")


# --- fork, relay, broadcast, kill-all, logs ------------------------------------------------


def test_fork_relay_broadcast_kill_all(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    failed(run("relay", "alpha", "alpha", "go"), EXIT_USAGE, "no complete answer")
    ok(run("ask", "alpha", "the answer is 42"))
    assert "forked beta from alpha" in ok(run("fork", "alpha", "beta", "sonnet")).stdout
    beta = json.loads(ok(run("info", "beta", "--json")).stdout)
    assert beta["lineage"] == ["alpha"]
    assert beta["requested_model"] == "sonnet"
    assert "alpha → beta" in ok(run("info", "beta")).stdout
    failed(run("fork", "alpha", "beta"), EXIT_USAGE, "already exists")

    request_id = ok(run("relay", "alpha", "beta", "check this")).stdout.strip()
    assert request_id.startswith("beta-")
    answer = ok(run("relay", "alpha", "beta", "again", "--wait")).stdout
    assert answer.startswith("again")
    assert "the answer is 42" in answer

    lines = ok(run("broadcast", "hi all", "--exclude", "beta")).stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["alpha"]
    sent = json.loads(ok(run("broadcast", "hi", "--json")).stdout)
    assert sorted(r["agent"] for r in sent) == ["alpha", "beta"]
    failed(run("broadcast", "hi", "-x", "ghost"), EXIT_USAGE, "ghost")

    assert json.loads(ok(run("kill-all", "--json")).stdout) == {"killed": ["alpha", "beta"]}
    assert ok(run("kill-all")).stdout.strip() == "no agents"


def test_logs(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    ok(run("spawn", "beta"))
    ok(run("ask", "alpha", "hello"))
    events = [json.loads(line) for line in ok(run("logs", "--json")).stdout.splitlines()]
    kinds = [e["kind"] for e in events]
    assert "daemon_started" in kinds
    assert "request_finished" in kinds
    alpha_only = [json.loads(x) for x in ok(run("logs", "alpha", "--json")).stdout.splitlines()]
    assert {e["agent"] for e in alpha_only} == {"alpha"}
    last_two = ok(run("logs", "--tail", "2")).stdout.splitlines()
    assert len(last_two) == 2
    assert "request_finished" in last_two[-1]
    assert "spawned" in ok(run("logs", "beta")).stdout


def test_format_event_is_one_line() -> None:
    line = format_event(
        {
            "id": 1,
            "ts": 0.0,
            "kind": "process_exited",
            "agent": "alpha",
            "request_id": None,
            "data": {"stderr": "x\n" * 500, "exit_code": 1},
        }
    )
    assert "\n" not in line
    assert len(line) < 300


# --- daemon not reachable ------------------------------------------------------------------


def test_daemon_not_reachable_without_autostart(
    home: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    for args in (("list",), ("spawn", "alpha"), ("ask", "alpha", "hi"), ("logs",)):
        failed(run(*args), EXIT_ERROR, "daemon not reachable", "podium up")
    assert not home.exists() or not (home / "daemon.json").exists()


def test_status_down_without_a_daemon(home: Path, run: Run) -> None:
    assert json.loads(ok(run("status", "--json")).stdout) == {"running": False, "home": str(home)}
    assert "not running" in ok(run("status")).stdout
    assert json.loads(ok(run("down", "--json")).stdout)["stopped"] is False
    assert "not running" in ok(run("down")).stdout


def test_status_with_a_daemon(daemon: ThreadedDaemon, run: Run) -> None:
    ok(run("spawn", "alpha"))
    status = json.loads(ok(run("status", "--json")).stdout)
    assert status["running"] is True
    assert status["healthy"] is True
    assert status["agents"] == 1
    assert status["url"] == daemon.url
    assert status["uptime_s"] >= 0
    human = ok(run("status")).stdout
    assert "running" in human
    assert daemon.url in human


def test_help_documents_exit_codes(run: Run) -> None:
    result = ok(run("--help"))
    assert "Exit codes" in result.stdout
    assert "124" in result.stdout
