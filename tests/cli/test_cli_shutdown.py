"""What ``podium down`` does to the calls in flight: a real daemon process (the model
replaced by EchoBackend through the PODIUM_BACKEND_FACTORY hook) and real ``podium``
commands waiting on it in child processes.

Each waiting command is answered as the daemon stops, with what became of what it
waited for, not cut off after the server's grace period with an HTTP 500.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from podium import Client, RequestState
from tests._cli_helpers import Run, ok
from tests._following import Following


def _wait_for(predicate: object, what: str, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)


def _ended(following: Following, timeout: float = 20.0) -> int:
    """Its exit code once it ends by itself (no Ctrl-C)."""
    code = following.proc.wait(timeout=timeout)
    following.close()
    return code


def test_down_answers_every_waiting_command_with_what_became_of_it(
    subprocess_env: Path, run: Run
) -> None:
    home = subprocess_env
    ok(run("up"))
    ok(run("spawn", "alpha"))
    ok(run("spawn", "beta"))
    ok(run("ask", "--async", "beta", "sleep:60"))  # beta is busy: its next ask queues
    logs = Following("logs", "--follow", "--json")
    alpha_logs = Following("logs", "alpha", "--follow", "--json")
    watch = Following("watch", "alpha", "--json")
    running = Following("ask", "alpha", "sleep:60")
    queued = Following("ask", "beta", "second")
    followers = {
        "logs": logs,
        "alpha_logs": alpha_logs,
        "watch": watch,
        "running": running,
        "queued": queued,
    }
    try:
        with Client.from_home(home, autostart=False) as client:

            def states(agent: str) -> list[RequestState]:
                return [r.state for r in client.requests(agent=agent)]

            _wait_for(lambda: states("alpha") == [RequestState.RUNNING], "alpha's ask running")
            _wait_for(
                lambda: sorted(states("beta")) == [RequestState.QUEUED, RequestState.RUNNING],
                "beta's second ask queued",
            )
            alpha_request = client.requests(agent="alpha")[0].id
        assert logs.next_line()  # all three are following
        assert alpha_logs.next_line()
        assert watch.next_line()

        ok(run("down"))

        codes = {name: _ended(following) for name, following in followers.items()}
    finally:
        for following in followers.values():
            following.close()

    # The follow ends by itself with the daemon's last event, after the turns it stopped.
    assert codes["logs"] == 0, logs.stderr
    kinds = [(e["kind"], e.get("request_id")) for e in map(json.loads, logs.seen)]
    assert kinds[-1] == ("daemon_stopped", None)
    assert ("request_finished", alpha_request) in kinds
    # So does the follow of alpha's events alone: the daemon's last event ends it too.
    assert codes["alpha_logs"] == 0, alpha_logs.stderr
    kinds = [(e["kind"], e.get("request_id")) for e in map(json.loads, alpha_logs.seen)]
    assert kinds[-1] == ("daemon_stopped", None)
    assert ("request_finished", alpha_request) in kinds
    assert {e["agent"] for e in map(json.loads, alpha_logs.seen[:-1])} == {"alpha"}
    # The event stream ends too, after the end of alpha's turn.
    assert codes["watch"] == 0, watch.stderr
    last = json.loads(watch.seen[-1])
    assert (last["kind"], last["request_id"], last["data"]["state"]) == (
        "request_finished",
        alpha_request,
        "interrupted",
    )
    # The ask whose turn was under way hears it was interrupted.
    assert codes["running"] != 0
    assert "interrupted: podium stopped while the request was running" in running.stderr
    # The ask still queued hears the daemon stops before it ran, and how to get it later.
    assert codes["queued"] != 0
    assert "the daemon is shutting down before request beta-" in queued.stderr
    assert "`podium wait beta-" in queued.stderr
    for following in followers.values():
        assert "Traceback" not in following.stderr
        assert "HTTP 500" not in following.stderr
    log = (home / "daemon.log").read_text()
    assert "Traceback" not in log
    assert "timeout graceful shutdown exceeded" not in log
