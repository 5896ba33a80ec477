"""The runtime: agent registry, mailboxes, requests and events. Every front adapts this."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .._backend_info import BackendName
from .._errors import InvalidName, NoAnswerYet, PodiumError, UsageError, WaitTimeout
from .._home import private_dir
from .._names import check_name, check_prompt, check_seconds, parse_request_id
from .._options import AgentOptions, AgentSpec
from .._records import (
    AgentRecord,
    AgentStatus,
    Event,
    EventKind,
    RequestRecord,
    RequestSource,
    RequestState,
)
from .._tell import TellResult
from ..backends import (
    Approver,
    Backend,
    ChatMessage,
    SessionSpec,
    StartMode,
    default_backends,
)
from ..isolation import IsolationMode, IsolationSpec, isolator_for
from ..isolation._credentials import DEFAULT_SECRETS
from ..store import SQLiteStore, Store
from ._actor import AgentActor
from ._approvals import ApprovalDesk
from ._config import RuntimeConfig
from ._fork import fork_record
from ._fork import visible_conversation as conversation_of
from ._hold import Hold
from ._hub import EventHub
from ._pool import WarmPool
from ._recovery import recover_state, transcript_reader
from ._spawning import check_login, new_agent, preflight, prepare_workspace, with_key
from ._tell import tell
from ._waiters import Waiters

__all__ = ["Runtime", "relay_prompt"]

_LIVE = (AgentStatus.STARTING, AgentStatus.IDLE, AgentStatus.BUSY)
_CONFINED = frozenset({IsolationMode.SANDBOX, IsolationMode.CONTAINER})


def relay_prompt(instruction: str, source: RequestRecord) -> str:
    """The instruction, then the source's answer verbatim between unmistakable markers."""
    return (
        f"{instruction}\n\n"
        f"===== BEGIN OUTPUT FROM AGENT {source.agent} (request {source.id}) =====\n"
        f"{source.result or ''}\n"
        f"===== END OUTPUT FROM AGENT {source.agent} ====="
    )


class Runtime:
    """Hosts named agents; use ``async with Runtime(...)`` or start()/close().

    One runtime owns a state directory at a time (the daemon, or an in-process
    user of the Python API).
    """

    def __init__(
        self,
        config: RuntimeConfig | None = None,
        *,
        backends: dict[str, Backend] | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config or RuntimeConfig.from_env()
        if backends is None:
            backends = default_backends()
        self.backends: dict[str, Backend] = backends
        self._store = store
        self._actors: dict[str, AgentActor] = {}
        self.holds: dict[str, Hold] = {}  # agents taken over by `podium attach`
        self._waiters = Waiters()
        self._hub = EventHub(lambda: self.store)
        self._secret_env: dict[str, dict[str, str]] = {}
        self._started = False
        self.pool = WarmPool(self.config.warm_limit, min_free_mb=self.config.min_free_mb)
        self.pool.evict = self._evict
        self.approvals = ApprovalDesk(self)
        """The approval inbox of ``ask``-mode agents: list, allow, deny."""

    @property
    def store(self) -> Store:
        if self._store is None:
            raise PodiumError("runtime not started")
        return self._store

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        private_dir(self.config.home)
        if self._store is None:
            self._store = SQLiteStore(self.config.db_path, events_log=self.config.events_log)
        self._started = True
        # A runtime started again after a stop waits again (end_waits is for one stop).
        self._hub.resume_waits()
        self._waiters.resume()
        await self._recover()

    async def close(self) -> None:
        """Stop every agent process; sessions stay resumable, queued requests stay queued."""
        if not self._started:
            return
        await self.stop_agents()
        self._started = False
        await self.store.close()
        self._store = None
        for backend in self.backends.values():
            # API backends share clients and batch pollers across their sessions.
            closer = getattr(backend, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def stop_agents(self) -> None:
        """Stop every agent process (the first step of :meth:`close`): a turn under way
        ends ``interrupted`` and whoever waits for it is told; agents hibernate."""
        if not self._started:
            return
        actors, self._actors = list(self._actors.values()), {}
        await asyncio.gather(*(actor.stop() for actor in actors), return_exceptions=True)
        for agent in await self.store.list_agents():
            if agent.status is not AgentStatus.HIBERNATED:
                await self.store.update_agent(agent.name, status=AgentStatus.HIBERNATED, pid=None)

    def hold_waits(self) -> None:
        """The daemon begins to stop: event long polls hold their answers until
        :meth:`end_waits`, so that a follower gets the daemon's last events at once."""
        self._hub.hold_waits()

    def end_waits(self) -> None:
        """The daemon is stopping: event long polls answer now, with what they found or
        DaemonStopping, and waits for requests that have not ended raise DaemonStopping."""
        self._hub.end_waits()
        self._waiters.end_all()

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _recover(self) -> None:
        """Make the state consistent after a crash of whoever ran before us."""
        owed = await recover_state(
            self.store, self.emit, read_turn=transcript_reader(self), home=self.config.home
        )
        await self.approvals.end_orphans()
        for request in owed:
            self._actor(request.agent).submit(request.id)

    # --- plumbing the actors use --------------------------------------------------------

    async def emit(
        self,
        kind: EventKind,
        *,
        agent: str | None = None,
        request_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        """Record an event (secrets masked) and tell every listener."""
        return await self._hub.emit(kind, agent=agent, request_id=request_id, data=data)

    def batch(self, *, durable: bool = True) -> contextlib.AbstractContextManager[None]:
        """Store writes and events that belong together, made durable with one commit
        (see ``Store.batch``; the block must not suspend). Listeners hear of its
        events once they are committed, in order. ``durable=False``: see Store.batch."""
        return self._hub.batch(durable=durable)

    async def _sync(self) -> None:
        """Every write so far on the disk (see ``Store.sync``)."""
        # A store of an older make without sync() made each write durable already.
        sync = getattr(self.store, "sync", None)
        if sync is not None:
            await sync()

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` synchronously with every event as it is recorded."""
        self._hub.add_listener(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        self._hub.remove_listener(listener)

    @property
    def listener_count(self) -> int:
        """Listeners registered now (each event stream and run holds one): none leaks."""
        return self._hub.listener_count

    def request_finished(self, request: RequestRecord) -> None:
        self._waiters.resolve(request)

    def backend_for(self, agent: AgentRecord) -> Backend:
        try:
            return self.backends[agent.backend]
        except KeyError:
            raise UsageError(
                f"agent {agent.name!r} uses backend {agent.backend!r}, which is not available",
                agent=agent.name,
            ) from None

    def set_secret_env(self, name: str, env: dict[str, str]) -> None:
        """Environment for one agent's processes that is never stored, logged or sent.

        For API keys: held in this process's memory only, applied each time the
        agent's CLI starts. After a daemon restart it must be given again.
        """
        check_name(name)
        self._secret_env[name] = dict(env)
        # Second line of defence: mask the values wherever podium writes text.
        DEFAULT_SECRETS.add_env(env, owner=name)

    def agent_env(self, agent: AgentRecord) -> dict[str, str]:
        """The runtime's env, the agent's own (``options.env``), its workspace's, then
        its secrets: the key its ``api_key_env`` names, and any given at spawn."""
        opts = agent.options
        env = {
            **self.config.env,
            **opts.env,
            **(opts.workspace.env if opts.workspace is not None else {}),
        }
        return {**with_key(agent, env), **self._secret_env.get(agent.name, {})}

    def agent_cwd(self, agent: AgentRecord) -> Path:
        return Path(agent.cwd)

    def session_spec(
        self, agent: AgentRecord, mode: StartMode, approver: Approver | None = None
    ) -> SessionSpec:
        """What the backend needs to run ``agent``'s session: headless turns and the
        take-over (``podium attach``) start from the same spec."""
        return SessionSpec(
            agent=agent.name,
            session_id=agent.session_id,
            mode=mode,
            cwd=self.agent_cwd(agent),
            state_dir=self.config.agent_dir(agent.name, agent.session_id),
            model=agent.model,
            system_prompt=agent.system_prompt,
            parent_session_id=agent.forked_from_session,
            options=agent.options,
            env=self.agent_env(agent),
            launcher=agent.options.launcher,
            approver=approver,
        )

    def _evict(self, name: str) -> None:
        actor = self._actors.get(name)
        if actor is None or actor.task.done():
            self.pool.release(name)
        else:
            actor.request_hibernate()

    async def pool_status(self) -> dict[str, Any]:
        """Warm processes, the limit, hibernated agents, waiters and memory: for status."""
        agents = await self.store.list_agents()
        return {
            **self.pool.snapshot(),
            "hibernated": sum(a.status is AgentStatus.HIBERNATED for a in agents),
        }

    def _actor(self, name: str) -> AgentActor:
        actor = self._actors.get(name)
        if actor is None or actor.task.done():
            actor = AgentActor(self, name)
            self._actors[name] = actor
        return actor

    # --- agents -------------------------------------------------------------------------

    async def spawn(
        self,
        name: str,
        *,
        model: str | None = None,
        system_prompt: str | None = None,
        cwd: str | Path | None = None,
        backend: str = BackendName.CLAUDE_CODE,
        options: AgentOptions | Mapping[str, Any] | None = None,
        start: bool = True,
        secret_env: dict[str, str] | None = None,
        results_dir: str | Path | None = None,
        isolation: IsolationSpec | None = None,
    ) -> AgentRecord:
        """Register an agent and (by default) start its process, so it answers warm.

        ``options``: an :class:`AgentOptions`, or a mapping of its public keys (as
        the fronts pass them), checked before anything is written. Its
        ``isolation`` says where the agent works (see :mod:`podium.isolation`):
        the workspace is prepared before the agent is registered and its cwd
        replaces ``cwd`` (which stays the project). The workspace outlives a kill:
        a worktree keeps its branch for ``diff`` / ``merge`` until it is cleaned.
        ``secret_env`` (API keys) is held in memory only, never stored or sent.
        ``results_dir``: the agent's writable results directory (default: its
        state directory's ``results``). ``isolation`` overrides ``options.isolation``.
        """
        check_name(name)
        spec = AgentSpec.build(
            backend=backend, model=model, system_prompt=system_prompt, options=options
        )
        if isolation is not None:
            spec = spec.replace(options=spec.options.replace(isolation=isolation))
        return await self.spawn_spec(
            name, spec, cwd=cwd, start=start, secret_env=secret_env, results_dir=results_dir
        )

    async def spawn_spec(
        self,
        name: str,
        spec: AgentSpec,
        *,
        cwd: str | Path | None = None,
        start: bool = True,
        secret_env: dict[str, str] | None = None,
        results_dir: str | Path | None = None,
    ) -> AgentRecord:
        """:meth:`spawn` for a spec already built (a team worker's, for instance)."""
        record, workspace = await new_agent(self, name, spec, cwd=cwd, results_dir=results_dir)
        if secret_env:
            self.set_secret_env(name, secret_env)
        try:
            record = await preflight(self, record)
            return await self._register(record, EventKind.SPAWNED, start=start)
        except BaseException:
            self._secret_env.pop(name, None)
            if workspace is not None:
                # Nothing happened in it yet; release refuses anyway if something did.
                with contextlib.suppress(PodiumError, OSError):
                    await isolator_for(workspace.mode).release(workspace)
            raise

    async def check_login(self, name: str, spec: AgentSpec, *, cwd: Path) -> str | None:
        """Who an agent of ``spec`` named ``name`` would be billed to, without making it:
        how a run checks every worker before it starts. :class:`NotLoggedIn` if nobody
        is logged in for it; ``None`` for a backend that cannot tell."""
        return await check_login(self, name, spec, cwd=cwd)

    async def _register(self, record: AgentRecord, kind: EventKind, *, start: bool) -> AgentRecord:
        await self.store.add_agent(record)
        data = {"model": record.model, "backend": record.backend, "cwd": record.cwd}
        if record.forked_from:
            data["forked_from"] = record.forked_from
            data["inherited_session"] = record.forked_from_session
        await self.emit(kind, agent=record.name, data=data)
        if start:
            try:
                await self._actor(record.name).ensure_started()
            except BaseException:
                # Nothing half-made: an agent whose process cannot start is not kept,
                # whatever the reason (a bug included).
                with contextlib.suppress(PodiumError):
                    await self._discard(record.name)
                raise
        return await self.store.get_agent(record.name)

    async def _discard(self, name: str) -> None:
        actor = self._actors.pop(name, None)
        if actor is not None:
            await actor.stop()
        await self.store.update_agent(name, status=AgentStatus.KILLED, pid=None)

    async def fork(
        self,
        source: str,
        new: str,
        model: str | None = None,
        *,
        backend: str | None = None,
        base_url: str | None = None,
    ) -> AgentRecord:
        """A real fork: a new session carrying the source's history; the source is untouched.

        ``backend``: the child may run on another backend; it then inherits the
        visible conversation (prompts and answers, not tool calls), which is all
        another backend can take. ``base_url``: the child's API endpoint.
        """
        record = await fork_record(self, source, new, model, backend=backend, base_url=base_url)
        # The fork speaks with its parent's credentials (held in memory, like the parent's).
        inherited_secrets = self._secret_env.get(source)
        if inherited_secrets:
            self._secret_env[new] = dict(inherited_secrets)
        try:
            return await self._register(record, EventKind.FORKED, start=True)
        except BaseException:
            self._secret_env.pop(new, None)
            raise

    async def visible_conversation(self, name: str) -> list[ChatMessage]:
        """An agent's prompts and answers in order, preceded by what it inherited."""
        return await conversation_of(self.store, await self.store.get_agent(name))

    async def list_agents(self) -> list[AgentRecord]:
        return await self.store.list_agents()

    async def get_agent(self, name: str) -> AgentRecord:
        return await self.store.get_agent(name)

    async def info(self, name: str) -> dict[str, Any]:
        agent = await self.store.get_agent(name)
        agents = {a.name: a for a in await self.store.list_agents(include_killed=True)}
        lineage: list[str] = []
        cursor = agent.forked_from
        while cursor and cursor not in lineage:
            lineage.append(cursor)
            parent = agents.get(cursor)
            cursor = parent.forked_from if parent else None
        children = sorted(
            a.name
            for a in agents.values()
            if a.forked_from == name and a.status is not AgentStatus.KILLED
        )
        recent = await self.store.list_requests(agent=name, limit=10)
        actor = self._actors.get(name)
        return {
            **agent.to_dict(),
            "lineage": lineage,
            "children": children,
            "recent_requests": [r.to_dict() for r in recent],
            "current_request": actor.current if actor else None,
            "state_dir": str(self.config.agent_dir(agent.name, agent.session_id)),
        }

    async def ensure_workspace(self, agent: AgentRecord) -> None:
        """Before a process starts: a sandbox's or container's network relay lives in
        this process's memory, so after a daemon restart it is started again."""
        workspace = agent.options.workspace
        if workspace is None or workspace.mode not in _CONFINED:
            return
        spec = agent.options.isolation or IsolationSpec(mode=workspace.mode)
        await prepare_workspace(
            self.config,
            agent.name,
            agent.session_id,
            workspace.project,
            spec,
            workspace.results_dir,
        )

    async def kill(self, name: str) -> AgentRecord:
        agent = await self.store.get_agent(name)
        await self.store.update_agent(name, status=AgentStatus.KILLED)
        for request in await self.store.list_requests(agent=name, states=[RequestState.QUEUED]):
            finished = await self.store.update_request(
                request.id,
                state=RequestState.CANCELLED,
                error="agent was killed",
                completed_at=time.time(),
            )
            self.request_finished(finished)
        actor = self._actors.pop(name, None)
        if actor is not None:
            if actor.current:
                await actor.cancel_running(actor.current)
            await actor.stop()
        self.pool.forget(name)
        self._secret_env.pop(name, None)
        workspace = agent.options.workspace
        if workspace is not None and workspace.mode in _CONFINED:
            # Stops its network relay (and container); results and state stay.
            # Worktrees are kept: their work is for `podium diff/merge/clean`.
            with contextlib.suppress(PodiumError, OSError):
                await isolator_for(workspace.mode).release(workspace)
        killed = await self.store.update_agent(name, status=AgentStatus.KILLED, pid=None)
        await self.emit(EventKind.KILLED, agent=name, data={"cost_usd": agent.cost_usd})
        return killed

    async def kill_all(self) -> list[str]:
        names = [a.name for a in await self.store.list_agents()]
        for name in names:
            await self.kill(name)
        return names

    # --- requests -----------------------------------------------------------------------

    async def ask(
        self,
        name: str,
        prompt: str,
        *,
        timeout: float | None = None,
        source: RequestSource = RequestSource.USER,
        relay_from: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> RequestRecord:
        """Queue a prompt for an agent; returns at once with the queued request."""
        request = await self._queue(
            name, prompt, timeout=timeout, source=source, relay_from=relay_from, meta=meta
        )
        # The id is a promise: it is given out once the request is on the disk. The
        # agent has it first, so that the wait for the disk overlaps the turn's start.
        try:
            await self._sync()
        except Exception:
            # Not known to be on the disk: it does not run unreported.
            with contextlib.suppress(Exception):
                await self.cancel(request.id)
            raise
        return request

    async def ask_and_wait(
        self,
        name: str,
        prompt: str,
        *,
        timeout: float | None = None,
        wait_timeout: float | None = None,
    ) -> RequestRecord:
        """Ask and wait for the answer (``ask`` then ``wait``, in one).

        The request's id goes out only with its end, which is on the disk before
        anyone hears of it, or with a WaitTimeout, after the request is made durable:
        its start need not wait for the disk on its own (no sync beside the turn).
        """
        check_seconds(wait_timeout, what="wait timeout", zero=True, agent=name)
        request = await self._queue(name, prompt, timeout=timeout)
        try:
            return await self.wait(request.id, wait_timeout)
        except WaitTimeout:
            await self._sync()
            raise

    async def _queue(
        self,
        name: str,
        prompt: str,
        *,
        timeout: float | None = None,
        source: RequestSource = RequestSource.USER,
        relay_from: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> RequestRecord:
        """The request recorded queued and handed to the agent, not yet synced."""
        check_prompt(prompt)
        check_seconds(timeout, agent=name)
        agent = await self.store.get_agent(name)
        with self.batch(durable=False):
            request = await self.store.add_request(
                agent=agent.name,
                prompt=prompt,
                submitted_at=time.time(),
                timeout=timeout,
                source=source,
                relay_from=relay_from,
                meta=meta or {},
            )
            await self.emit(
                EventKind.REQUEST_QUEUED,
                agent=agent.name,
                request_id=request.id,
                data={"source": source.value, "chars": len(prompt)},
            )
        self._actor(agent.name).submit(request.id)
        return request

    async def tell(self, name: str, text: str) -> TellResult:
        """Deliver ``text`` into ``name``'s running turn, or ask it when there is none."""
        return await tell(self, self._actors.get(name), name, text)

    async def poll(self, request_id: str) -> RequestRecord:
        _check_request_id(request_id)
        return await self.store.get_request(request_id)

    async def wait(self, request_id: str, timeout: float | None = None) -> RequestRecord:
        """Wait for a request to end. A timeout raises WaitTimeout and cancels nothing."""
        check_seconds(timeout, what="wait timeout", zero=True, request_id=request_id)
        return await self._waiters.wait(self.poll, request_id, timeout)

    async def cancel(self, request_id: str) -> RequestRecord:
        request = await self.poll(request_id)
        if request.state is RequestState.QUEUED:
            request = await self.store.update_request(
                request_id,
                state=RequestState.CANCELLED,
                error="cancelled before it started",
                completed_at=time.time(),
            )
            await self.emit(
                EventKind.REQUEST_FINISHED,
                agent=request.agent,
                request_id=request_id,
                data={"state": RequestState.CANCELLED.value, "cost_usd": 0.0},
            )
            self.request_finished(request)
        elif request.state is RequestState.RUNNING:
            actor = self._actors.get(request.agent)
            if actor is not None:
                await actor.cancel_running(request_id)
        return request

    async def relay(
        self, source: str, target: str, instruction: str, *, timeout: float | None = None
    ) -> RequestRecord:
        """Send ``target`` the instruction plus ``source``'s last complete answer, verbatim."""
        check_prompt(instruction)
        await self.store.get_agent(target)
        await self.store.get_agent(source)
        answer = await self.store.last_complete_request(source)
        if answer is None:
            raise NoAnswerYet(f"agent {source!r} has no complete answer to relay yet", agent=source)
        request = await self.ask(
            target,
            relay_prompt(instruction, answer),
            timeout=timeout,
            source=RequestSource.RELAY,
            relay_from=answer.id,
        )
        await self.emit(
            EventKind.RELAY,
            agent=target,
            request_id=request.id,
            data={"from": source, "to": target, "source_request": answer.id},
        )
        return request

    async def broadcast(
        self, prompt: str, *, exclude: Iterable[str] = (), timeout: float | None = None
    ) -> list[RequestRecord]:
        check_prompt(prompt)
        check_seconds(timeout)
        excluded = set(exclude)
        for name in excluded:
            await self.store.get_agent(name)
        return [
            await self.ask(agent.name, prompt, timeout=timeout, source=RequestSource.BROADCAST)
            for agent in await self.store.list_agents()
            if agent.name not in excluded
        ]

    async def list_requests(
        self, *, agent: str | None = None, limit: int | None = 50
    ) -> list[RequestRecord]:
        return await self.store.list_requests(agent=agent, limit=limit)

    # --- events -------------------------------------------------------------------------

    async def events(
        self,
        *,
        after: int = 0,
        agent: str | None = None,
        limit: int = 1000,
        wait: float = 0.0,
    ) -> list[Event]:
        """Events after ``after``; with ``wait``, block up to that long for the first one."""
        return await self._hub.events(after=after, agent=agent, limit=limit, wait=wait)


def _check_request_id(request_id: str) -> None:
    if parse_request_id(request_id) is None:
        raise InvalidName(
            f"{request_id!r} is not a request id (expected <agent>-<6 digits>-<8 hex>)",
            request_id=request_id,
        )
