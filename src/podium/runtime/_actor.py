"""One actor per agent: its mailbox, its process, one turn at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from .._errors import BackendError, PodiumError, ProcessDied
from .._home import private_dir
from .._records import AgentRecord, AgentStatus, EventKind, RequestRecord, RequestState
from ..backends import (
    BackendSession,
    PermissionAnswer,
    SessionSpec,
    StartMode,
    TurnResult,
)
from ..isolation._credentials import DEFAULT_SECRETS
from ._faults import describe_failure
from ._hold import Hold, serve_hold
from ._pool import HIBERNATE, Hibernate
from ._slots import take_slot
from ._stall import run_watched
from ._turn_log import TurnLog

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = ["AgentActor"]

_log = logging.getLogger("podium.runtime")


class AgentActor:
    """Owns one agent's CLI process and serves its mailbox in FIFO order.

    Everything that touches the process runs in this actor's task, which is what
    the SDK client requires and what makes "one turn at a time" hold by
    construction rather than by a lock someone can forget.
    """

    def __init__(self, runtime: Runtime, name: str) -> None:
        self.runtime = runtime
        self.name = name
        # Request ids in FIFO order; a Future asks for the process to be started;
        # Hibernate and Hold stop it (pool eviction, podium attach); None ends the actor.
        self.mailbox: asyncio.Queue[str | asyncio.Future[None] | Hibernate | Hold | None] = (
            asyncio.Queue()
        )
        self.session: BackendSession | None = None
        self.current: str | None = None
        # Permission prompts of the running turn waiting in the approval inbox.
        self.asking = 0
        self._cancel_requested: set[str] = set()
        # Messages told into the running request (podium tell), for its record.
        self.steering: list[dict[str, Any]] = []
        self._stopping_session = False
        self._watcher: asyncio.Task[None] | None = None
        self.task = asyncio.create_task(self._run(), name=f"podium-agent-{name}")

    # --- called from other tasks ------------------------------------------------------

    def submit(self, request_id: str) -> None:
        self.mailbox.put_nowait(request_id)

    async def cancel_running(self, request_id: str) -> None:
        if self.current == request_id and self.session is not None:
            self._cancel_requested.add(request_id)
            await self.runtime.approvals.end_request(request_id, "the request was cancelled")
            await self.session.interrupt()

    def request_hibernate(self) -> None:
        """The warm pool needs this agent's slot: hibernate once the mailbox gets here."""
        self.mailbox.put_nowait(HIBERNATE)

    async def _approve(
        self, tool: str, tool_input: dict[str, Any], control_id: str
    ) -> PermissionAnswer:
        """An ``ask``-mode agent's permission prompt: into the inbox, wait for a decision."""
        agent = await self.runtime.store.find_agent(self.name)
        self.asking += 1  # the stall watch leaves a turn alone while a person decides
        try:
            return await self.runtime.approvals.ask(
                agent=self.name,
                request_id=self.current,
                tool=tool,
                tool_input=tool_input,
                control_id=control_id,
                timeout=agent.options.approval_timeout if agent is not None else None,
            )
        finally:
            self.asking -= 1

    async def stop(self) -> None:
        """Finish the actor: the running turn is interrupted, the process stopped."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def ensure_started(self) -> None:
        """Start the process now (spawn does this so errors surface at once)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.mailbox.put_nowait(done)
        await done

    # --- the actor's own task ---------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                warm = self.session is not None and self.session.alive
                timeout = self.runtime.config.idle_timeout if warm else None
                try:
                    # asyncio.timeout, not wait_for: no task of its own for each wait.
                    async with asyncio.timeout(timeout):
                        item = await self.mailbox.get()
                except TimeoutError:
                    await self._guarded(self._hibernate())
                    continue
                if item is None:
                    return
                if isinstance(item, Hibernate):
                    if self.runtime.pool.evicting(self.name):
                        await self._guarded(self._hibernate())
                elif isinstance(item, str):
                    await self._guarded(self._serve(item))
                    if self.runtime.pool.should_yield(self.name):
                        # Others wait for a slot: this agent's next turn queues behind them.
                        await self._guarded(self._hibernate())
                elif isinstance(item, Hold):  # podium attach: the queue waits
                    await self._guarded(serve_hold(self, item))
                else:
                    await self._guarded(self._serve_start(item))
        finally:
            await self._stop_session()

    async def _guarded(self, work: Awaitable[None]) -> None:
        # Whatever fails (a full disk, a bug), the mailbox behind it is still owed:
        # an actor that died would strand it until a restart.
        try:
            await work
        except Exception:
            _log.exception("agent %s: unexpected error in its actor", self.name)

    async def _serve_start(self, waiter: asyncio.Future[None]) -> None:
        try:
            agent = await self.runtime.store.get_agent(self.name)
            await self._ensure_session(agent)
        except Exception as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            return
        finally:
            self.runtime.pool.idle(self.name)
        if not waiter.done():
            waiter.set_result(None)

    async def _serve(self, request_id: str) -> None:
        try:
            await self._serve_request(request_id)
        except Exception as exc:
            await self._fail_unexpected(request_id, exc)

    async def _fail_unexpected(self, request_id: str, exc: Exception) -> None:
        """End a request that an unexpected error (a full disk, a bug) broke off."""
        message = describe_failure(exc, self.runtime.config.home)
        _log.error("agent %s: request %s failed: %s", self.name, request_id, message)
        store = self.runtime.store
        try:
            request = await store.get_request(request_id)
            if not request.done:
                await self._finish(request, RequestState.FAILED, error=message)
                return
        except Exception:
            _log.exception("agent %s: could not record the failure of %s", self.name, request_id)
        # Whatever could be recorded: the request's end at least, then its waiters.
        with contextlib.suppress(Exception):
            request = await store.get_request(request_id)
            if not request.done:
                request = await store.update_request(
                    request_id,
                    state=RequestState.FAILED,
                    error=DEFAULT_SECRETS.redact(message),
                    completed_at=time.time(),
                )
            self.runtime.request_finished(request)

    async def _serve_request(self, request_id: str) -> None:
        store = self.runtime.store
        request = await store.get_request(request_id)
        if request.state is not RequestState.QUEUED:
            return  # cancelled while it waited
        agent = await store.find_agent(self.name)
        if agent is None:
            await self._finish(request, RequestState.CANCELLED, error="agent was killed")
            return
        self.current = request_id
        try:
            await self._serve_turn(agent, request)
        except asyncio.CancelledError:
            # The runtime is shutting down under this turn; the shutdown goes on
            # whatever fails here.
            try:
                await self._stop_session()
                await self._finish(
                    await store.get_request(request_id),
                    RequestState.INTERRUPTED,
                    error="podium stopped while the request was running",
                )
            except Exception:
                _log.exception("agent %s: could not record the end of %s", self.name, request_id)
            raise
        finally:
            self.current = None
            self.steering = []
            self._cancel_requested.discard(request_id)
            self.runtime.pool.idle(self.name)

    async def _serve_turn(self, agent: AgentRecord, request: RequestRecord) -> None:
        store, runtime = self.runtime.store, self.runtime
        try:
            session = await self._ensure_session(agent, request)
        except PodiumError as exc:
            await self._finish(request, RequestState.FAILED, error=str(exc))
            return
        log = TurnLog(runtime, agent, request, session)
        # A session that says when its prompt was sent has the request recorded running
        # then, so that the commit is off the turn's path.
        if not getattr(session, "announces_prompt_sent", False):
            await log.mark_started()
        timeout = request.timeout or runtime.config.request_timeout
        watched = await run_watched(self, agent, request, session, log, timeout)
        turn, timed_out = watched.turn, watched.timed_out
        if watched.stalls:
            # The stall records were written while the turn ran.
            log.request = await store.get_request(request.id)
        try:
            result: TurnResult | None = await turn
            failure: str | None = None
        except ProcessDied as exc:
            result, failure = None, str(exc)
            await self._stop_session(crashed=True)
        except PodiumError as exc:
            result, failure = None, str(exc)
        except Exception as exc:
            # A backend's bug or an SDK's refusal must end the request, never leave
            # it running with nobody serving it. Where the process stands is then
            # unknown (a turn may go on in it): the next request starts it afresh.
            result, failure = None, describe_failure(exc, runtime.config.home)
            await self._stop_session()
        await log.mark_started()  # a turn that failed before its prompt went out

        error: str | None
        if request.id in self._cancel_requested:
            state, error = RequestState.CANCELLED, "cancelled by request"
        elif log.start_failure is not None:
            state, error = (
                RequestState.FAILED,
                describe_failure(log.start_failure, runtime.config.home),
            )
        elif watched.stall_error is not None:
            state, error = RequestState.FAILED, watched.stall_error
        elif timed_out:
            state, error = RequestState.FAILED, f"timed out after {timeout:g} s"
        elif result is None:
            state, error = RequestState.FAILED, failure
        elif result.is_error:
            state, error = RequestState.FAILED, result.error
        else:
            state, error = RequestState.COMPLETE, None
        await self._finish(
            log.request,
            state,
            error=error,
            result=result,
            retries=log.retries,
            fallbacks=log.fallbacks,
        )

    async def _finish(
        self,
        request: RequestRecord,
        state: RequestState,
        *,
        error: str | None = None,
        result: TurnResult | None = None,
        retries: int = 0,
        fallbacks: list[dict[str, Any]] | None = None,
    ) -> None:
        store = self.runtime.store
        # Whatever the request still waits on ends with it.
        await self.runtime.approvals.end_request(request.id, f"the request ended ({state.value})")
        if error:
            # A CLI's stderr can echo its environment; secrets never reach the store.
            error = DEFAULT_SECRETS.redact(error)
        changes: dict[str, Any] = {"state": state, "error": error, "completed_at": time.time()}
        cost_unknown = result is not None and result.cost_usd is None
        if result is not None:
            meta = {**request.meta, **result.meta}
            if fallbacks and "fallbacks" not in meta:
                meta["fallbacks"] = fallbacks
            meta.pop("cost_unknown", None)
            if cost_unknown:
                meta["cost_unknown"] = True
            if result.api_error_status is not None:
                meta["api_error_status"] = result.api_error_status
            if self.steering and request.id == self.current:
                meta["steering"] = list(self.steering)
            changes.update(
                result=result.text,
                usage=result.usage,
                cost_usd=result.cost_usd or 0.0,
                model=result.model or request.model,
                api_retries=retries,
                meta=meta,
            )
        # One commit for the request's end, the agent's and the event.
        with self.runtime.batch():
            request = await store.update_request(request.id, **changes)
            agent = await store.find_agent(self.name)
            if agent is not None:
                alive = self.session is not None and self.session.alive
                agent_changes: dict[str, Any] = {
                    "request_count": agent.request_count + 1,
                    "status": AgentStatus.IDLE if alive else agent.status,
                }
                if agent.status is AgentStatus.BUSY and not alive:
                    agent_changes["status"] = AgentStatus.CRASHED
                if result is not None:
                    # The CLI has written the session's transcript: it can be resumed.
                    agent_changes.update(
                        cost_usd=agent.cost_usd + (result.cost_usd or 0.0),
                        unpriced_requests=agent.unpriced_requests + int(cost_unknown),
                        usage=agent.usage + result.usage,
                        has_session=True,
                        # A turn answered by a fallback says nothing about the agent's own model.
                        resolved_model=agent.resolved_model
                        if result.meta.get("fallbacks")
                        else result.model or agent.resolved_model,
                    )
                if state is RequestState.COMPLETE:
                    agent_changes["last_request_id"] = request.id
                await store.update_agent(self.name, **agent_changes)
            await self.runtime.emit(
                EventKind.REQUEST_FINISHED,
                agent=self.name,
                request_id=request.id,
                data={
                    "state": state.value,
                    "cost_usd": request.cost_usd if request.cost_known else None,
                    "usage": request.usage.to_dict(),
                    "error": error,
                },
            )
        self.runtime.request_finished(request)

    # --- process lifecycle ------------------------------------------------------------

    async def _ensure_session(
        self, agent: AgentRecord, request: RequestRecord | None = None
    ) -> BackendSession:
        if self.session is not None and self.session.alive:
            self.runtime.pool.busy(self.name)
            return self.session
        if self.session is not None:
            await self._stop_session()
        runtime = self.runtime
        await take_slot(runtime, agent, request)
        try:
            return await self._start_session(agent)
        except BaseException:
            runtime.pool.release(self.name)
            raise

    async def _start_session(self, agent: AgentRecord) -> BackendSession:
        runtime = self.runtime
        state_dir = runtime.config.agent_dir(agent.name, agent.session_id)
        private_dir(state_dir)
        await runtime.ensure_workspace(agent)
        spec = runtime.session_spec(agent, StartMode.NEW, approver=self._approve)
        backend = runtime.backend_for(agent)
        if agent.has_session or backend.session_exists(spec):
            mode = StartMode.RESUME
        elif agent.forked_from_session:
            mode = StartMode.FORK
        else:
            mode = StartMode.NEW
        spec = SessionSpec(**{**spec.__dict__, "mode": mode})
        session = backend.session(spec)
        await runtime.store.update_agent(self.name, status=AgentStatus.STARTING)
        try:
            await session.start()
        except Exception as exc:
            # Never left "starting": whatever went wrong, the agent is down and says why.
            error = (
                exc
                if isinstance(exc, PodiumError)
                else BackendError(
                    f"{agent.name!r} could not start: {type(exc).__name__}: {exc}", agent=agent.name
                )
            )
            await runtime.store.update_agent(self.name, status=AgentStatus.CRASHED, pid=None)
            await runtime.emit(
                EventKind.ERROR, agent=self.name, data={"error": str(error), "during": "start"}
            )
            if error is exc:
                raise
            raise error from exc
        # Owned from here on, before any write that can fail: a process nobody
        # holds would outlive the request.
        self.session = session
        self._stopping_session = False
        self._watcher = asyncio.create_task(self._watch(session))
        await runtime.store.update_agent(
            self.name,
            status=AgentStatus.IDLE,
            pid=session.pid,
            resolved_model=session.resolved_model or agent.resolved_model,
        )
        kind = EventKind.RESTARTED if mode is StartMode.RESUME else EventKind.PROCESS_STARTED
        await runtime.emit(kind, agent=self.name, data={"pid": session.pid, "mode": mode.value})
        return session

    async def _watch(self, session: BackendSession) -> None:
        """Notice a process that dies on its own, even between turns."""
        code = await session.wait_exit()
        if self._stopping_session or session is not self.session:
            return
        self.runtime.pool.release(self.name)
        await self.runtime.emit(
            EventKind.PROCESS_EXITED,
            agent=self.name,
            data={"exit_code": code, "stderr": session.stderr_tail[-2000:], "expected": False},
        )
        if self.current is None:
            with contextlib.suppress(PodiumError):
                await self.runtime.store.update_agent(
                    self.name, status=AgentStatus.CRASHED, pid=None
                )

    async def _hibernate(self) -> None:
        if self.session is None:
            self.runtime.pool.release(self.name)
            return
        await self._stop_session()
        with contextlib.suppress(PodiumError):
            await self.runtime.store.update_agent(
                self.name, status=AgentStatus.HIBERNATED, pid=None
            )
        await self.runtime.emit(EventKind.HIBERNATED, agent=self.name)

    async def _stop_session(self, *, crashed: bool = False) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        self._stopping_session = True
        try:
            await session.close()
        finally:
            self.runtime.pool.release(self.name)
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if crashed:
            with contextlib.suppress(PodiumError):
                await self.runtime.store.update_agent(
                    self.name, status=AgentStatus.CRASHED, pid=None
                )
