"""Ctrl-C ends a command's wait for the daemon at once, however it races the wait.

Python raises KeyboardInterrupt between bytecodes, once its C-level handler has
flagged the signal. A blocking read learns of the signal only if the read itself is
interrupted, so a Ctrl-C that comes after the last check but before the read starts
(or that the kernel hands to another thread) is seen only when the read returns: for
a long poll, up to its whole wait. The C-level handler also writes a byte to the
wakeup file descriptor (:func:`signal.set_wakeup_fd`); a read that first waits for its
socket *or* that pipe returns whichever way the two raced, and the flagged
KeyboardInterrupt is raised as soon as Python runs again.

Only the ``podium`` command line turns this on (:func:`watching_ctrl_c`): the wakeup
descriptor is one per process, and in a program that imports podium it belongs to
that program (asyncio, for one, uses it).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator
    from signal import set_wakeup_fd
else:
    try:
        # The same function from signal's C core: signal.py itself builds enums, which
        # would cost every command about half a millisecond.
        from _signal import set_wakeup_fd
    except ImportError:  # a Python without that private module
        from signal import set_wakeup_fd

__all__ = ["wait_readable", "watching_ctrl_c"]

_STEP_S = 86_400.0
"""The longest single poll() of a wait."""

_wakeup: int | None = None
"""The read end of the wakeup pipe while :func:`watching_ctrl_c` is on."""


@contextlib.contextmanager
def watching_ctrl_c() -> Iterator[None]:
    """While inside, reads through :func:`wait_readable` in the main thread end on Ctrl-C.

    Outside the main thread (where no signal handler runs) it does nothing.
    """
    global _wakeup
    if _wakeup is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    read_end, write_end = os.pipe()  # not inherited by children (PEP 446)
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    try:
        previous = set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        previous = None
    if previous != -1:
        # Not ours to take: the program that runs the command line has its own (an
        # asyncio loop's signal handlers, say), and would miss its signals.
        if previous is not None:
            set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)
        yield
        return
    _wakeup = read_end
    try:
        yield
    finally:
        _wakeup = None
        set_wakeup_fd(-1)
        os.close(read_end)
        os.close(write_end)


def wait_readable(sock: socket.socket) -> None:
    """Return once ``sock`` has data to read, within its timeout (else TimeoutError).

    A signal whose handler raises (Ctrl-C: KeyboardInterrupt) ends the wait, even one
    that came before it began. Without :func:`watching_ctrl_c`, or off the main thread,
    it returns at once and the read that follows does the waiting.
    """
    wakeup = _wakeup
    if wakeup is None or threading.current_thread() is not threading.main_thread():
        return
    timeout = sock.gettimeout()
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.register(wakeup, select.POLLIN)
    while True:
        # poll() retries itself when interrupted, after running the handlers (PEP 475):
        # a signal that comes during the wait raises from inside it.
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        # poll() takes at most ~24 days in ms: a longer wait is taken in steps.
        ready = [fd for fd, _ in poller.poll(None if left is None else min(left, _STEP_S) * 1000)]
        if not ready:
            if left is not None and left <= _STEP_S:
                raise TimeoutError("timed out")
            continue
        if any(fd != wakeup for fd in ready):
            return
        _drain(wakeup)
        # A signal came before the wait: its handler runs at the latest between these
        # bytecodes, and Ctrl-C raises here. Any other signal: wait for the rest.


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 64):
            pass
