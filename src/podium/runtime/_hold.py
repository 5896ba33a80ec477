"""Holding an agent for ``podium attach``: its queue waits while a person drives its TUI.

A hold is an item in the agent's mailbox: the turns queued before it run
first, then its headless process is stopped (two processes must never write
one session) and every later ask waits, queued, until the hold is released.
The holder gives its process ids; when none of them is alive any more (the
attach command crashed, was killed), the daemon releases the hold itself.
Released, the agent's next turn resumes the same session headless, so what was
said in the TUI is in its context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._backend_info import BackendName
from .._errors import UsageError
from .._home import private_dir
from .._records import EventKind
from ..backends import StartMode
from ..isolation._protocol import IsolationMode

if TYPE_CHECKING:
    from ._actor import AgentActor
    from ._host import Runtime

__all__ = ["Hold", "hold_agent", "release_agent", "serve_hold"]

_log = logging.getLogger("podium.runtime")
# How often a hold checks that its holder is still there.
_HOLDER_CHECK = 1.0


@dataclass(kw_only=True)
class Hold:
    agent: str
    pids: set[int]
    since: float = field(default_factory=time.time)
    parked: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def holder_alive(self) -> bool:
        return any(_alive(pid) for pid in self.pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; its parent has not reaped it yet.
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _holds(runtime: Runtime) -> dict[str, Hold]:
    return runtime.holds


async def serve_hold(actor: AgentActor, hold: Hold) -> None:
    """In the actor's task: stop the process, then serve nothing until released."""
    runtime = actor.runtime
    try:
        if hold.released.is_set():
            return  # the holder gave up before its turn came
        await actor._hibernate()
        if not hold.parked.done():
            hold.parked.set_result(None)
        await runtime.emit(EventKind.HIBERNATED, agent=actor.name, data={"held": True})
        while not hold.released.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hold.released.wait(), _HOLDER_CHECK)
            if not hold.released.is_set() and not hold.holder_alive():
                _log.warning("agent %s: its holder is gone; released", actor.name)
                break
    finally:
        if not hold.parked.done():
            hold.parked.cancel()
        holds = _holds(runtime)
        if holds.get(hold.agent) is hold:
            del holds[hold.agent]


async def hold_agent(runtime: Runtime, name: str, pid: int) -> dict[str, Any]:
    """Hold ``name`` for holder ``pid``; once its process is stopped, what to run to
    take it over (argv, cwd, environment, notes). Refused for agents with no
    Claude Code session to take over."""
    agent = await runtime.store.get_agent(name)
    if agent.backend != BackendName.CLAUDE_CODE:
        raise UsageError(
            f"agent {name!r} runs on the {agent.backend} backend: attach opens Claude Code's "
            "own terminal UI, which only claude-code agents have",
            agent=name,
        )
    workspace = agent.options.workspace
    if workspace is not None and workspace.mode in (IsolationMode.SANDBOX, IsolationMode.CONTAINER):
        raise UsageError(
            f"agent {name!r} runs in a {workspace.mode.value}: attach runs Claude Code on your "
            "terminal, outside it, so it is not offered",
            agent=name,
        )
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise UsageError(f"holder pid must be a positive integer, got {pid!r}")
    backend = runtime.backend_for(agent)
    spec = runtime.session_spec(agent, StartMode.RESUME)
    interactive = getattr(backend, "interactive", None)
    if interactive is None:
        raise UsageError(f"agent {name!r}: its backend has no interactive mode", agent=name)
    if not (agent.has_session or backend.session_exists(spec)):
        raise UsageError(
            f"agent {name!r} has not had a turn yet, so there is no conversation to attach "
            f"to; ask it something first (podium ask {name} ...)",
            agent=name,
        )
    holds = _holds(runtime)
    if name in holds:
        held = holds[name]
        raise UsageError(
            f"agent {name!r} is already attached (holder pid {min(held.pids)})",
            agent=name,
        )
    hold = Hold(agent=name, pids={pid})
    holds[name] = hold
    try:
        runtime._actor(name).mailbox.put_nowait(hold)
        # Turns queued before the hold finish first; the process is then stopped.
        await asyncio.shield(hold.parked)
        private_dir(spec.state_dir)
        launch = interactive(spec)
    except BaseException:
        hold.released.set()
        if holds.get(name) is hold:
            del holds[name]
        raise
    return {"agent": name, "session_id": agent.session_id, **launch.to_dict()}


def add_holder(runtime: Runtime, name: str, pid: int) -> None:
    """Another process of the holder (the TUI it started): held while any is alive."""
    hold = _holds(runtime).get(name)
    if hold is None:
        raise UsageError(f"agent {name!r} is not attached", agent=name)
    hold.pids.add(pid)


def release_agent(runtime: Runtime, name: str) -> bool:
    """Release ``name``'s hold; its queued asks run. False if it was not held."""
    hold = _holds(runtime).pop(name, None)
    if hold is None:
        return False
    hold.released.set()
    return True


def held(runtime: Runtime) -> dict[str, dict[str, Any]]:
    return {name: {"pids": sorted(h.pids), "since": h.since} for name, h in _holds(runtime).items()}
