"""podium._ctrl_c in this process: whose wakeup descriptor it is, and a wait's deadline.
(What a user sees on Ctrl-C is in test_cli_ctrl_c.py, with real commands.)"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from podium import _ctrl_c


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    with a, b:
        yield a, b


def test_it_watches_only_while_inside_and_leaves_no_wakeup_fd_behind() -> None:
    assert signal.set_wakeup_fd(-1) == -1
    with _ctrl_c.watching_ctrl_c():
        assert _ctrl_c._wakeup is not None
        ours = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(ours)
        assert ours != -1
    assert _ctrl_c._wakeup is None
    assert signal.set_wakeup_fd(-1) == -1


def test_a_program_that_has_a_wakeup_fd_keeps_it() -> None:
    # An asyncio loop's signal handlers, for one, are told through it.
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        signal.set_wakeup_fd(write_end)
        with _ctrl_c.watching_ctrl_c():
            assert _ctrl_c._wakeup is None  # reads wait as plain reads do
            assert signal.set_wakeup_fd(write_end) == write_end
        assert signal.set_wakeup_fd(-1) == write_end
    finally:
        signal.set_wakeup_fd(-1)
        os.close(read_end)
        os.close(write_end)


def test_a_wait_returns_when_the_socket_has_data(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    reader, writer = pair
    reader.settimeout(5)
    writer.send(b"x")
    with _ctrl_c.watching_ctrl_c():
        _ctrl_c.wait_readable(reader)
    assert reader.recv(1) == b"x"


def test_a_wait_longer_than_one_poll_ends_at_the_sockets_timeout_not_before(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ctrl_c, "_STEP_S", 0.02)
    reader, _ = pair
    reader.settimeout(0.2)
    with _ctrl_c.watching_ctrl_c():
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            _ctrl_c.wait_readable(reader)
    assert time.monotonic() - began >= 0.2


def test_a_signal_other_than_ctrl_c_does_not_end_the_wait(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    reader, writer = pair
    reader.settimeout(5)
    later = threading.Timer(0.1, writer.send, args=(b"x",))
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        with _ctrl_c.watching_ctrl_c():
            signal.raise_signal(signal.SIGUSR1)  # its byte waits in the wakeup pipe
            later.start()
            _ctrl_c.wait_readable(reader)
            # The wait went on past the signal's byte, to the data sent after it.
            readable, _, _ = select.select([reader], [], [], 0)
    finally:
        later.join()
        signal.signal(signal.SIGUSR1, previous)
    assert readable == [reader]
    assert reader.recv(1) == b"x"
