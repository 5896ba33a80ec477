"""What each MCP tool does, as plain methods over :class:`podium.Client`.

The server is a thin adapter: every tool reads the daemon's state fresh,
checks the caller, scope and limits, and only then changes anything, so a
refused call has changed nothing. Methods block (HTTP); the server runs them
in worker threads. Results are JSON-ready dicts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread

from .._errors import (
    AgentExists,
    AgentNotFound,
    InvalidName,
    PodiumError,
    UsageError,
    WaitTimeout,
)
from .._names import check_model, check_name, check_prompt, parse_request_id
from .._options import AgentSpec, McpPlacement
from .._records import AgentRecord, RequestRecord
from ._attach import attach_options
from ._ledger import ScopeLedger
from ._limits import (
    Caller,
    LimitExceeded,
    OutOfScope,
    OverCap,
    call_cap,
    check_budget,
    check_leave_depth,
    check_may_spawn,
    check_not_over_cap,
    check_slots,
    identify_caller,
    is_member,
    over_cap,
    usd,
)
from ._settings import McpSettings
from ._shapes import agent_json, request_json, run_json
from ._spawn_options import spawn_options

if TYPE_CHECKING:
    from .._client import Client
    from ..orchestration import Team

__all__ = ["PodiumTools"]

# Waits are long polls of at most this long, so a finished wait_for leaves no
# thread blocked for more than one slice.
_WAIT_SLICE = 5.0
_MAX_REQUESTS = 100_000


@dataclass(frozen=True)
class _View:
    """The daemon's agents as one call sees them, and the caller among them."""

    caller: Caller
    agents: dict[str, AgentRecord]
    members: list[AgentRecord]
    ledger: ScopeLedger


class PodiumTools:
    """The tools of one MCP server. Thread-safe: each call reads what it needs afresh."""

    def __init__(self, settings: McpSettings, client: Client | None = None) -> None:
        self.settings = settings
        self._client = client
        self._lock = threading.Lock()
        self._team: Team | None = None
        self._wait_threads = anyio.CapacityLimiter(32)

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                from .._client import Client

                self._client = Client.from_home(
                    self.settings.home, autostart=self.settings.autostart
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- reading the state --------------------------------------------------------------

    def _view(self) -> _View:
        agents = self.client.list_agents()
        caller = identify_caller(
            agents, named=self.settings.agent, scope=self.settings.effective_scope
        )
        members = [a for a in agents if is_member(a, caller.scope)]
        ledger = ScopeLedger(self.settings.home, caller.scope)
        return _View(caller, {a.name: a for a in agents}, members, ledger)

    def _target(self, view: _View, name: str, *, what: str) -> AgentRecord:
        check_name(name)
        if name == view.caller.name:
            raise UsageError(
                f"cannot {what} {name!r}: it is the calling agent, whose own turn is running",
                agent=name,
            )
        record = view.agents.get(name)
        if record is None:
            if name in view.ledger.agents():
                raise AgentNotFound(f"agent {name!r} was killed", agent=name)
            raise AgentNotFound(
                f"no agent named {name!r} in scope {view.caller.scope!r}; "
                "list_agents shows the agents you can use",
                agent=name,
            )
        if not is_member(record, view.caller.scope):
            raise OutOfScope(
                f"agent {name!r} was not spawned through this MCP scope "
                f"({view.caller.scope!r}); it cannot be driven from here",
                agent=name,
            )
        return record

    def _may_read(self, view: _View, agent: str) -> bool:
        record = view.agents.get(agent)
        if agent == view.caller.name:
            return True
        if record is not None:
            return is_member(record, view.caller.scope)
        return agent in view.ledger.agents()

    def _budget(self, view: _View) -> tuple[float, float | None]:
        """(spent, budget) of the scope; spent counts killed agents and nested runs too."""
        client, settings = self.client, self.settings
        budget = settings.budget_usd
        spent = 0.0
        if settings.run_id is not None and self._in_run(view):
            run = client.get_run(settings.run_id)
            spent = run.cost_usd
            if run.budget_usd is not None:
                budget = run.budget_usd if budget is None else min(budget, run.budget_usd)
        else:
            names = set(view.ledger.agents()) | {m.name for m in view.members}
            if names:
                found = client.requests(limit=_MAX_REQUESTS)
                spent = sum(r.cost_usd for r in found if r.agent in names)
        for run_id in view.ledger.runs():
            spent += client.get_run(run_id).cost_usd
        return spent, budget

    def _in_run(self, view: _View) -> bool:
        return self.settings.run_id is not None and view.caller.scope == self.settings.run_id

    def _left(self, view: _View, what: str) -> float | None:
        """What is left of the budget (None: no budget); refuses once nothing is."""
        if self.settings.budget_usd is None and not self._in_run(view):
            return None
        spent, budget = self._budget(view)
        return check_budget(spent, budget, what=what)

    def _call_cap(self, view: _View, requested: float | None, what: str) -> float | None:
        """The per-call cap of a new request: budget left, server cap and what was asked."""
        _check_positive(requested)
        left = self._left(view, what)
        return call_cap(requested, self.settings.call_budget_usd, left, what=what)

    def _overruns(self, view: _View, agents: set[str]) -> dict[str, OverCap]:
        """Agent -> a finished request of it that cost more than its per-call cap.

        Judged afresh from the daemon's costs and the scope's ledger of caps, so
        an overrun counts whether or not anyone ever read that request's result.
        """
        caps = {i: c for i, c in view.ledger.caps().items() if _agent_of(i) in agents}
        if not caps:
            return {}
        owners = {_agent_of(i) for i in caps}
        only = next(iter(owners)) if len(owners) == 1 else None
        found: dict[str, OverCap] = {}
        for record in self.client.requests(agent=only, limit=_MAX_REQUESTS):
            if record.id not in caps or not record.done or record.agent in found:
                continue
            cost = record.cost_usd if record.cost_known else None
            over = over_cap(record.id, record.agent, cost, caps[record.id])
            if over is not None:
                found[record.agent] = over
        return found

    def _give_work(self, view: _View, agent: str, what: str) -> None:
        """Refuse work for an agent that already overran a per-call cap in this scope."""
        check_not_over_cap(self._overruns(view, {agent}).get(agent), what=what)

    def _record_cap(self, view: _View, request: RequestRecord, cap: float | None) -> None:
        if cap is None:
            return
        try:
            view.ledger.add_cap(request.id, cap)
        except PodiumError:
            # A request whose cap cannot be kept must not run uncapped.
            self.client.cancel(request.id)
            raise

    def team(self) -> Team:
        if self.settings.team is None:
            raise UsageError(
                "no team file for this MCP server: set PODIUM_TEAM or pass --team to podium mcp"
            )
        if self._team is None:
            from ..orchestration import load_team

            self._team = load_team(self.settings.team)
        return self._team

    # --- tools --------------------------------------------------------------------------

    def list_agents(self) -> dict[str, Any]:
        view = self._view()
        spent, budget = self._budget(view)
        over = self._overruns(view, {m.name for m in view.members})
        return {
            "caller": view.caller.to_json(),
            "agents": [agent_json(a, over_budget=a.name in over) for a in view.members],
            "limits": self.settings.limits_json() | {"budget_usd": budget},
            "spent_usd": round(spent, 6),
            "workers": sorted(self.team().workers) if self.settings.team else [],
        }

    def spawn_agent(
        self,
        name: str,
        *,
        system_prompt: str | None = None,
        model: str | None = None,
        worker: str | None = None,
        fork: bool = False,
        allow_spawn: bool = False,
        max_budget_usd: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``options``: any of :data:`MCP_SPAWN_OPTIONS` (tools, permissions, turns)."""
        check_name(name)
        given = spawn_options(options, worker=worker, fork=fork)
        if fork and (worker is not None or system_prompt is not None):
            raise UsageError(
                "a fork inherits the caller's settings: give no worker or system_prompt"
            )
        if worker is not None and system_prompt is not None:
            raise UsageError("give a worker (a team profile) or a system_prompt, not both")
        _check_positive(max_budget_usd)
        view = self._view()
        caller, settings = view.caller, self.settings
        check_may_spawn(caller, settings.max_depth)
        check_slots(len(view.members), settings.max_agents)
        depth = caller.depth + 1
        if allow_spawn:
            check_leave_depth(name, depth, settings.max_depth)
        if name in view.agents:
            raise AgentExists(f"agent {name!r} already exists", agent=name)
        if fork:
            return self._fork(view, name, model)
        cap = self._call_cap(view, max_budget_usd, "spawn")
        if worker is None:
            spec = AgentSpec.build(model=model, system_prompt=system_prompt, options=given)
        else:
            from ..orchestration._worker_agent import worker_agent_spec

            team = self.team()
            found = team.workers.get(worker)
            if found is None:
                raise UsageError(
                    f"{worker!r} is not a worker of team {team.name}: use one of "
                    f"{', '.join(sorted(team.workers))}",
                    worker=worker,
                )
            # The same spec a planned run gives this worker: profile, isolation, key.
            spec = worker_agent_spec(found, model=model)
            if found.profile.budget_usd is not None:
                cap = min(c for c in (cap, found.profile.budget_usd) if c is not None)
        placed = McpPlacement(
            agent=name,
            scope=caller.scope,
            run_id=settings.run_id,
            spawned_by=caller.name,
            depth=depth,
            leave=allow_spawn,
            worker=worker,
        )
        chosen = spec.options.replace(
            mcp=placed,
            max_budget_usd=None if cap is None else round(cap, 6),
            # Set by podium on the daemon's side; the lane is the worker's own.
            profile=None,
        )
        if allow_spawn:
            child = settings.with_overrides(agent=name, scope=caller.scope)
            chosen = attach_options(chosen, child)
        agent = self.client.spawn(
            name,
            model=spec.model,
            system_prompt=spec.system_prompt,
            cwd=caller.cwd,
            backend=spec.backend,
            options=chosen,
        )
        view.ledger.add_agent(agent.name)
        return {"agent": agent_json(agent), "max_budget_usd": cap}

    def _fork(self, view: _View, name: str, model: str | None) -> dict[str, Any]:
        caller = view.caller
        if caller.name is None or caller.record is None:
            raise UsageError("cannot fork: this MCP client is not a podium agent")
        if caller.record.options.mcp is None:
            raise UsageError(
                f"cannot fork {caller.name!r}: it was not started by podium with this MCP "
                "server, so its fork could not be kept within the limits",
                agent=caller.name,
            )
        check_model(model, backend=caller.record.backend)
        self._left(view, "fork")
        agent = self.client.fork(caller.name, name, model)
        view.ledger.add_agent(agent.name)
        return {"agent": agent_json(agent), "forked_from": caller.name}

    def ask_agent(
        self, agent: str, prompt: str, *, timeout: float, max_budget_usd: float | None = None
    ) -> dict[str, Any]:
        check_prompt(prompt)
        view = self._view()
        self._target(view, agent, what="ask")
        cap = self._call_cap(view, max_budget_usd, "ask")
        self._give_work(view, agent, "ask")
        queued = self.client.ask(agent, prompt)
        self._record_cap(view, queued, cap)
        try:
            done = self.client.wait(queued.id, timeout)
        except WaitTimeout:
            raise WaitTimeout(
                f"agent {agent!r} did not answer within {timeout:g} s; request {queued.id} "
                "goes on: wait_for or get_result it later",
                request_id=queued.id,
                agent=agent,
            ) from None
        return request_json(done, cap=cap)

    def assign_task(
        self, agent: str, prompt: str, *, max_budget_usd: float | None = None
    ) -> dict[str, Any]:
        check_prompt(prompt)
        view = self._view()
        self._target(view, agent, what="assign a task to")
        cap = self._call_cap(view, max_budget_usd, "assign a task")
        self._give_work(view, agent, "assign a task to")
        queued = self.client.ask(agent, prompt)
        self._record_cap(view, queued, cap)
        return request_json(queued, cap=cap)

    def tell_agent(self, agent: str, text: str) -> dict[str, Any]:
        check_prompt(text)
        view = self._view()
        self._target(view, agent, what="tell")
        self._give_work(view, agent, "tell")
        told = self.client.tell(agent, text)
        return {
            "mode": told.mode.value,
            "reason": told.reason,
            "request": request_json(told.request),
        }

    def relay(self, source: str, target: str, prompt: str) -> dict[str, Any]:
        check_prompt(prompt)
        view = self._view()
        if source != view.caller.name:
            self._target(view, source, what="relay from")
        self._target(view, target, what="relay to")
        cap = self._call_cap(view, None, "relay")
        self._give_work(view, target, "relay to")
        queued = self.client.relay(source, target, prompt)
        self._record_cap(view, queued, cap)
        return request_json(queued, cap=cap)

    def kill_agent(self, agent: str) -> dict[str, Any]:
        view = self._view()
        self._target(view, agent, what="kill")
        killed = self.client.kill(agent)
        return {"killed": killed.name, "cost_usd": killed.cost_usd}

    def _checked_ids(self, view: _View, ids: list[str]) -> list[str]:
        unique = list(dict.fromkeys(ids))
        for request_id in unique:
            parsed = parse_request_id(request_id)
            if parsed is None:
                raise InvalidName(
                    f"{request_id!r} is not a request id (expected <agent>-<6 digits>-<8 hex>)",
                    request_id=request_id,
                )
            if not self._may_read(view, parsed[0]):
                raise OutOfScope(
                    f"request {request_id} belongs to agent {parsed[0]!r}, which is not in "
                    f"scope {view.caller.scope!r}",
                    request_id=request_id,
                )
        return unique

    def get_result(self, request_id: str) -> dict[str, Any]:
        view = self._view()
        (checked,) = self._checked_ids(view, [request_id])
        return request_json(self.client.poll(checked), cap=view.ledger.caps().get(checked))

    async def wait_for(
        self, request_ids: list[str], *, timeout: float, mode: str
    ) -> dict[str, Any]:
        """Fan-in: wait for all (or any) of the requests, up to ``timeout`` seconds."""

        def prepare() -> tuple[list[str], dict[str, RequestRecord], dict[str, float]]:
            view = self._view()
            ids = self._checked_ids(view, request_ids)
            polled = {i: self.client.poll(i) for i in ids}
            return ids, {i: r for i, r in polled.items() if r.done}, view.ledger.caps()

        ids, done, caps = await anyio.to_thread.run_sync(prepare)
        deadline = time.monotonic() + timeout

        async def wait_one(request_id: str, group: anyio.abc.TaskGroup) -> None:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    record = await anyio.to_thread.run_sync(
                        self.client.wait,
                        request_id,
                        min(left, _WAIT_SLICE),
                        abandon_on_cancel=True,
                        limiter=self._wait_threads,
                    )
                except WaitTimeout:
                    continue
                done[request_id] = record
                if mode == "any":
                    group.cancel_scope.cancel()
                return

        if not (mode == "any" and done):
            async with anyio.create_task_group() as group:
                for request_id in ids:
                    if request_id not in done:
                        group.start_soon(wait_one, request_id, group)
        pending = [i for i in ids if i not in done]
        return {
            "done": [request_json(done[i], cap=caps.get(i)) for i in ids if i in done],
            "pending": pending,
            "timed_out": not done if mode == "any" else bool(pending),
        }

    def run_plan(
        self,
        request: str,
        *,
        plan: dict[str, Any] | list[Any] | None,
        team: str | None,
        budget_usd: float | None,
        wait: bool,
        timeout: float,
    ) -> dict[str, Any]:
        """Start a planned run (podium plans and schedules it); with ``wait``, its report."""
        check_prompt(request)
        _check_positive(budget_usd, "budget_usd")
        view = self._view()
        check_may_spawn(view.caller, self.settings.max_depth, what="start a planned run")
        left = self._left(view, "start a planned run")
        if budget_usd is not None and left is not None and budget_usd > left + 1e-9:
            raise LimitExceeded(
                f"cannot start a planned run: budget_usd {usd(budget_usd)} is more than the "
                f"{usd(left)} left of this scope's budget; nothing was started",
                limit="budget_usd",
                requested_usd=budget_usd,
                left_usd=round(left, 6),
            )
        if team is not None:
            team_file = Path(view.caller.cwd, team).expanduser()
        elif self.settings.team is not None:
            team_file = self.settings.team
        else:
            raise UsageError("no team: pass team (a podium.toml) or start the server with --team")
        caps = [c for c in (budget_usd, left) if c is not None]
        run = self.client.submit_run(
            request,
            team=team_file,
            cwd=view.caller.cwd,
            plan=plan,
            budget_usd=min(caps) if caps else None,
        )
        view.ledger.add_run(run.id)
        if wait:
            try:
                run = self.client.wait_run(run.id, timeout)
            except WaitTimeout:
                run = self.client.get_run(run.id)
        report = self.client.run_report(run.id) if run.done else None
        return run_json(run, report=report)


def _check_positive(value: float | None, what: str = "max_budget_usd") -> None:
    if value is not None and not value > 0:
        raise UsageError(f"{what} must be greater than 0, got {value}")


def _agent_of(request_id: str) -> str | None:
    parsed = parse_request_id(request_id)
    return parsed[0] if parsed is not None else None
