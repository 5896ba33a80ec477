"""A claude-agent-sdk Transport that owns the CLI process the way a daemon must.

The SDK's own subprocess transport is fine for scripts; a host of many long-lived
agents needs more: the child in its own process group (so killing it also kills
the MCP servers and shells it started), a stdout limit far above multi-MB lines,
stderr always drained and kept for error messages, and the exit seen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from claude_agent_sdk import Transport

from ..._errors import BackendError, CLINotFound, ProcessDied

__all__ = ["CLIProcessTransport"]

# A single stream-json line can hold an answer several MB long, repeated in the
# assistant and result events; asyncio's 64 KiB default would break on it.
STDOUT_LIMIT = 256 * 1024 * 1024
STDERR_KEEP_LINES = 200
# How long a process gets to leave on its own after stdin closes, then SIGTERM, then SIGKILL.
GRACE_SECONDS = 2.0


class CLIProcessTransport(Transport):
    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        label: str,
    ) -> None:
        self._argv = argv
        self._cwd = cwd
        self._env = env
        self._label = label
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_KEEP_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._closing = False
        # The last sign of life on stdout (monotonic) and what it was, for stall checks.
        self.last_line_at = time.monotonic()
        self.last_event: str | None = None
        # When the latest result line was read: the end of a turn as the process ran it.
        self.result_at: float | None = None

    # --- what the runtime reads -------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr).strip()

    async def wait_exit(self) -> int:
        if self._proc is None:
            return -1
        code = await self._proc.wait()
        if self._stderr_task is not None:
            # Let the drain pick up the last words the process wrote before exiting.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        return code

    # --- Transport ----------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._cwd,
                env=self._env,
                limit=STDOUT_LIMIT,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            if not os.path.isdir(self._cwd):
                raise BackendError(
                    f"working directory {self._cwd} does not exist", agent=self._label
                ) from exc
            raise CLINotFound(
                f"Claude Code CLI not found at {self._argv[0]}", agent=self._label
            ) from exc
        except PermissionError as exc:
            raise CLINotFound(
                f"Claude Code CLI at {self._argv[0]} is not executable", agent=self._label
            ) from exc
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        stream = self._proc.stderr
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                # A line beyond the limit: keep a marker rather than stop draining.
                self._stderr.append("[stderr line too long]")
                continue
            if not line:
                return
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    async def write(self, data: str) -> None:
        # One malformed or interleaved line kills the CLI: writes are serialised.
        async with self._write_lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.returncode is not None:
                raise self._died()
            try:
                proc.stdin.write(data.encode("utf-8"))
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise self._died() from exc

    def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        return self._read()

    async def _read(self) -> AsyncIterator[dict[str, Any]]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise BackendError("CLI process not started", agent=self._label)
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            self.last_line_at = time.monotonic()
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                # The CLI only writes JSON on stdout in stream-json mode; anything
                # else is noise (e.g. a warning from a wrapper) and is kept as stderr.
                self._stderr.append(line.decode("utf-8", "replace")[:500])
                continue
            if isinstance(message, dict):
                kind, sub = message.get("type"), message.get("subtype")
                self.last_event = f"{kind}/{sub}" if isinstance(sub, str) else str(kind)
                if kind == "result":
                    self.result_at = self.last_line_at
                yield message
        await self.wait_exit()
        if not self._closing:
            raise self._died()

    def _died(self) -> ProcessDied:
        code = self.returncode
        detail = self.stderr_tail or "(no output on stderr)"
        return ProcessDied(
            f"Claude Code process for {self._label!r} exited (code {code}): {detail}",
            agent=self._label,
            exit_code=code,
        )

    async def close(self) -> None:
        self._closing = True
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            with contextlib.suppress(Exception):
                proc.stdin.close()
        if proc.returncode is None:
            # The CLI leaves on stdin EOF; give it a moment, then the whole group goes.
            try:
                await asyncio.wait_for(proc.wait(), GRACE_SECONDS)
            except TimeoutError:
                self._signal_group(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), GRACE_SECONDS)
                except TimeoutError:
                    self._signal_group(signal.SIGKILL)
                    await proc.wait()
        # Children it started (MCP servers, shells) may outlive it in its group.
        self._signal_group(signal.SIGKILL)
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stderr_task

    def kill_now(self) -> None:
        """Kill the process group without waiting (used when tearing down in a hurry)."""
        self._closing = True
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def is_ready(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def end_input(self) -> None:
        async with self._write_lock:
            if self._proc is not None and self._proc.stdin is not None:
                with contextlib.suppress(Exception):
                    self._proc.stdin.close()
