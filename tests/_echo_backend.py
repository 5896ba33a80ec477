"""EchoBackend: an in-memory stand-in for the model, for tests of the daemon, client and CLI.

It replaces the model (the Claude Code CLI) only; the runtime, store, HTTP layer
and CLI under test are the real ones. A turn answers with the prompt itself, so
a test can check that a prompt crossed every layer byte for byte. Prompts of a
special form script behaviour:

    sleep:<seconds>   take that long (interruptible: cancel/timeout end it early)
    fail:<message>    end the turn as an error with that message

A run's task reaches a worker inside podium's task prompt; there the task's own
text (between its BEGIN/END TASK markers) is what may be of a special form.

Used in-process (``backends={"claude-code": EchoBackend()}``) and by daemon
subprocesses through ``PODIUM_BACKEND_FACTORY=tests._echo_backend:backends`` with the
repository root on PYTHONPATH.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from podium._records import Usage
from podium.backends import Backend, EventSink, SessionSpec, TurnResult

__all__ = ["EchoBackend", "EchoSession", "backends"]


class EchoSession:
    def __init__(self, backend: EchoBackend, spec: SessionSpec) -> None:
        self.backend = backend
        self.spec = spec
        self._alive = False
        self._exited = asyncio.Event()
        self._interrupt = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return None  # no process: nothing for the runtime to reap

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def stderr_tail(self) -> str:
        return ""

    @property
    def resolved_model(self) -> str | None:
        return f"echo-{self.spec.model}" if self.spec.model else "echo-default"

    async def start(self) -> None:
        self._alive = True
        self.backend.started.append(self.spec)

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        self.backend.prompts.append(prompt)
        self._interrupt.clear()
        interrupted = False
        script = _script_of(prompt)
        if script.startswith("sleep:"):
            try:
                await asyncio.wait_for(self._interrupt.wait(), float(script[6:]))
                interrupted = True
            except TimeoutError:
                pass
        failed = script.startswith("fail:")
        return TurnResult(
            text="" if failed or interrupted else prompt,
            is_error=failed or interrupted,
            error=script[5:] if failed else ("interrupted" if interrupted else None),
            usage=Usage(input_tokens=len(prompt), output_tokens=len(prompt)),
            cost_usd=0.001,
            model=self.resolved_model,
            session_id=self.spec.session_id,
            interrupted=interrupted,
        )

    async def interrupt(self) -> None:
        self._interrupt.set()

    async def wait_exit(self) -> int:
        await self._exited.wait()
        return 0

    async def close(self) -> None:
        self._alive = False
        self._exited.set()


class EchoBackend:
    name = "echo"

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.started: list[SessionSpec] = []

    def check(self) -> None:
        return None

    def session(self, spec: SessionSpec) -> EchoSession:
        return EchoSession(self, spec)

    def session_exists(self, spec: SessionSpec) -> bool:
        return False

    async def prepare_fork(
        self,
        *,
        parent: SessionSpec,
        child_session_id: str,
        child_state_dir: Path,
        child_cwd: Path,
    ) -> bool:
        return True


def backends() -> dict[str, Backend]:
    """The PODIUM_BACKEND_FACTORY entry point: echo under the default backend's name."""
    return {"claude-code": EchoBackend()}


def _script_of(prompt: str) -> str:
    """What a prompt's special form is read from: the prompt, or a run task's own text."""
    if prompt.startswith("PODIUM TASK "):
        begin, end = "<<<BEGIN TASK>>>\n", "\n<<<END TASK>>>"
        start = prompt.find(begin)
        stop = prompt.find(end, start + len(begin))
        if start >= 0 and stop >= 0:
            return prompt[start + len(begin) : stop]
    return prompt
