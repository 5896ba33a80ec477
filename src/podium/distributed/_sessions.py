"""A worker host's warm sessions, and the moving of transcripts between hosts.

The central copy of a session's transcript is the truth. A process kept warm
on this host is reused only if the central copy is still the version this host
stored after its last turn there; otherwise it is stopped and the session is
resumed from the central copy. So an agent can answer one turn here, the next
on another host, and the one after here again, without losing a turn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from .._errors import BackendError, PodiumError
from ..backends import Backend, BackendSession, SessionSpec, StartMode
from ..queue import JobQueue
from ._payload import TurnJob, fork_blob_key, session_blob_key

__all__ = ["PortableBackend", "WarmSessions"]


@runtime_checkable
class PortableBackend(Backend, Protocol):
    """A backend whose sessions can be exported from one host and imported on another."""

    def export_session(self, spec: SessionSpec) -> bytes | None: ...

    def import_session(self, spec: SessionSpec, data: bytes | None, *, session_id: str) -> None: ...


@dataclass
class _Warm:
    session: BackendSession
    spec: SessionSpec
    version: int
    signature: str
    last_used: float
    busy: bool = True


def _signature(turn: TurnJob) -> str:
    """What the process was started with: if any of it changed, start a new one."""
    data = {
        "cwd": str(turn.cwd),
        "model": turn.model,
        "system_prompt": turn.system_prompt,
        "options": turn.options.to_dict(),
        "env": turn.env,
        "launcher": list(turn.launcher),
    }
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class WarmSessions:
    def __init__(self, queue: JobQueue, home: Path, *, idle_timeout: float = 600.0) -> None:
        self.queue = queue
        self.home = home
        self.idle_timeout = idle_timeout
        self._warm: dict[str, _Warm] = {}

    def state_dir(self, agent: str, session_id: str) -> Path:
        return self.home / "agents" / agent / session_id

    async def open(self, turn: TurnJob, backend: Backend) -> tuple[BackendSession, bool]:
        """The agent's session, ready for ``turn``; True when a process was started."""
        if not isinstance(backend, PortableBackend):
            raise BackendError(
                f"backend {backend.name!r} cannot move sessions between hosts", agent=turn.agent
            )
        key = session_blob_key(turn.session_id)
        central = await self.queue.blob_version(key)
        signature = _signature(turn)
        warm = self._warm.get(turn.agent)
        if (
            warm is not None
            and warm.spec.session_id == turn.session_id
            and warm.session.alive
            and warm.version == central
            and warm.signature == signature
        ):
            warm.last_used = time.time()
            warm.busy = True
            return warm.session, False
        await self.drop(turn.agent)

        state_dir = self.state_dir(turn.agent, turn.session_id)
        state_dir.mkdir(parents=True, exist_ok=True)
        spec = SessionSpec(
            agent=turn.agent,
            session_id=turn.session_id,
            mode=turn.mode,
            cwd=turn.cwd,
            state_dir=state_dir,
            model=turn.model,
            system_prompt=turn.system_prompt,
            parent_session_id=turn.parent_session_id,
            options=turn.options,
            env=turn.env,
            launcher=turn.launcher,
        )
        mode = await self._place_transcript(spec, backend, central)
        spec = replace(spec, mode=mode)
        session = backend.session(spec)
        await session.start()
        self._warm[turn.agent] = _Warm(session, spec, central, signature, time.time())
        return session, True

    async def _place_transcript(
        self, spec: SessionSpec, backend: PortableBackend, central: int
    ) -> StartMode:
        if central > 0:
            blob = await self.queue.get_blob(session_blob_key(spec.session_id))
            if blob is not None:
                backend.import_session(spec, blob.data, session_id=spec.session_id)
                return StartMode.RESUME
        # Nothing stored centrally: whatever a failed attempt left here is not a turn
        # anyone saw complete, so it must not be resumed.
        backend.import_session(spec, None, session_id=spec.session_id)
        if spec.mode is StartMode.FORK and spec.parent_session_id:
            blob = await self.queue.get_blob(fork_blob_key(spec.session_id))
            if blob is not None:
                backend.import_session(spec, blob.data, session_id=spec.parent_session_id)
                return StartMode.FORK
            return StartMode.NEW
        if spec.mode is StartMode.RESUME:
            raise PodiumError(
                f"no stored transcript for session {spec.session_id} of agent {spec.agent}: "
                "it was not recorded by a worker (was it started outside distributed mode?)",
                agent=spec.agent,
            )
        return StartMode.NEW

    def export(self, agent: str, backend: Backend) -> bytes | None:
        warm = self._warm.get(agent)
        if warm is None or not isinstance(backend, PortableBackend):
            return None
        return backend.export_session(warm.spec)

    def release(self, agent: str, *, version: int | None = None) -> None:
        """The turn is over; with ``version``: the central copy is now that version,
        written from this host's process (so the process may serve the next turn)."""
        warm = self._warm.get(agent)
        if warm is not None:
            warm.busy = False
            warm.last_used = time.time()
            if version is not None:
                warm.version = version

    async def drop(self, agent: str) -> None:
        warm = self._warm.pop(agent, None)
        if warm is not None:
            with contextlib.suppress(Exception):
                await warm.session.close()

    async def drop_idle(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        idle = [
            agent
            for agent, warm in self._warm.items()
            if not warm.busy and now - warm.last_used > self.idle_timeout
        ]
        for agent in idle:
            await self.drop(agent)
        return idle

    async def close(self) -> None:
        for agent in list(self._warm):
            await self.drop(agent)

    def __len__(self) -> int:
        return len(self._warm)
