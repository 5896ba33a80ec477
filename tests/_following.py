"""A ``podium`` command that runs until Ctrl-C (``logs --follow``, ``watch``), as a test
drives it: its output read line by line as it comes, then Ctrl-C pressed.

The child runs with Python's fault handler on: if it outlives Ctrl-C, it is sent
SIGABRT, which makes it print where each of its threads stands, and the test fails
with that and its signal state, not only with a timeout. With ``ctrl_c_elsewhere``
no Ctrl-C interrupts the child's reads (``tests/_ctrl_c_elsewhere.py``).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import pytest

__all__ = ["Following"]

_ELSEWHERE = Path(__file__).with_name("_ctrl_c_elsewhere.py")


class Following:
    def __init__(
        self, *args: str, env: Mapping[str, str] | None = None, ctrl_c_elsewhere: bool = False
    ) -> None:
        if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
            pytest.fail("SIGINT is blocked in the test process: no child would see Ctrl-C")
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._errors: list[str] = []
        launcher = [str(_ELSEWHERE)] if ctrl_c_elsewhere else ["-m", "podium"]
        self.proc = subprocess.Popen(
            [sys.executable, *launcher, *args],
            env={**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        # Both pipes read all along: a child that writes to an unread pipe blocks.
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream: IO[str], out: bool) -> None:
        for line in stream:
            if out:
                self.seen.append(line)
                self.lines.put(line)
            else:
                self._errors.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._errors)

    def next_line(self, timeout: float = 20.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line within {timeout:g} s; stderr:\n{self.stderr}")

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl-C; the exit code once it has ended (a failure with its stacks if it does not)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            state = self._signal_state()
            self.proc.send_signal(signal.SIGABRT)  # the fault handler prints its stacks
            self.proc.wait(timeout=10)
            self._drain()
            pytest.fail(
                f"still running {timeout:g} s after Ctrl-C ({state}); stderr:\n{self.stderr}"
            )
        self._drain()
        return code

    def _signal_state(self) -> str:
        """The child's signal masks as the kernel keeps them (pending, blocked, ignored,
        caught), which tell a Ctrl-C never delivered from one Python did not act on."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError as exc:
            return f"no signal state: {exc}"
        lines = status.splitlines()
        return ", ".join(line.strip() for line in lines if line.startswith(("Sig", "ShdPnd")))

    def close(self) -> None:
        """Kill it if it still runs (a test that failed before its Ctrl-C)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._drain()

    def _drain(self) -> None:
        for pump in self._pumps:
            pump.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
