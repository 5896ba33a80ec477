"""Ctrl-C on commands that wait for the daemon: the real ``podium`` command in a child
process, against a real daemon served from a thread (EchoBackend replaces the model).

Each case runs twice: with Ctrl-C as a terminal sends it, and with a Ctrl-C that
interrupts none of the command's reads (``tests/_ctrl_c_elsewhere.py``), which is what
a Ctrl-C that comes just before a read starts amounts to. Either way the command
ends at once, as a user pressing Ctrl-C expects, not when its wait runs out.
"""

from __future__ import annotations

import json
import time

import pytest

from podium import RequestState
from tests._following import Following
from tests._threaded_daemon import ThreadedDaemon

pytestmark = pytest.mark.parametrize(
    "elsewhere", [False, True], ids=["ctrl-c", "ctrl-c-no-read-sees"]
)


def test_logs_follow_prints_new_events_until_ctrl_c(
    daemon: ThreadedDaemon, elsewhere: bool
) -> None:
    logs = Following("logs", "--follow", "--json", ctrl_c_elsewhere=elsewhere)

    def next_kind() -> str:
        kind: str = json.loads(logs.next_line())["kind"]
        return kind

    try:
        assert next_kind() == "daemon_started"  # the backlog first
        with daemon.client() as client:
            client.spawn("alpha")
        assert next_kind() == "spawned"  # then what happens while it follows
        # Its next long poll waits 30 s for an event that does not come.
        assert logs.interrupt() == 0, logs.stderr
    finally:
        logs.close()
    assert "Traceback" not in logs.stderr


def test_ask_stops_waiting_on_ctrl_c_and_the_request_goes_on(
    daemon: ThreadedDaemon, elsewhere: bool
) -> None:
    with daemon.client() as client:
        client.spawn("alpha")
        ask = Following("ask", "alpha", "sleep:60", ctrl_c_elsewhere=elsewhere)
        try:
            running = None
            deadline = time.monotonic() + 20
            while running is None and time.monotonic() < deadline:
                running = next(
                    (r for r in client.requests(agent="alpha") if r.state is RequestState.RUNNING),
                    None,
                )
                time.sleep(0.05)
            assert running is not None, f"the ask never ran; stderr:\n{ask.stderr}"
            assert ask.proc.poll() is None  # it waits for the 60 s turn
            assert ask.interrupt() == 130, ask.stderr  # as a shell reports Ctrl-C
        finally:
            ask.close()
        assert "stopped waiting; the request keeps running" in ask.stderr
        assert "Traceback" not in ask.stderr
        # Ctrl-C ends the wait, not the turn: the request is still running.
        assert client.poll(running.id).state is RequestState.RUNNING
        client.cancel(running.id)
