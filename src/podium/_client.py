"""Client: the daemon's HTTP API as synchronous methods mirroring :class:`Runtime`.

Methods return what the Runtime's do (AgentRecord, RequestRecord, Event, and a
dict for ``info``); the run methods return what the RunEngine's do (RunRecord).
``health`` and ``shutdown`` return the daemon's JSON. Errors the daemon reports
are raised again as the same :class:`PodiumError` subclass; an unreachable
daemon is a :class:`DaemonError` naming its URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._backend_info import BackendName
from ._client_approvals import ApprovalCalls
from ._daemon_api import SLOW_CALL as _SLOW_CALL
from ._daemon_api import WAIT_SLICE as _WAIT_SLICE
from ._daemon_api import agent_segment as _agent
from ._daemon_api import check_timeouts as _check_timeouts
from ._daemon_api import request_segment as _request
from ._errors import InvalidPrompt, UsageError, WaitTimeout
from ._names import check_prompt, check_seconds
from ._options import AgentOptions
from ._records import AgentRecord, Event, RequestRecord
from ._tell import TellResult
from ._wire import agent_from_json, event_from_json, request_from_json

if TYPE_CHECKING:
    from .orchestration._run_records import RunRecord

__all__ = ["Client"]


class Client(ApprovalCalls):
    """Talks to one daemon. Use :meth:`from_home` to find (or start) the local one."""

    # --- daemon -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def pool(self) -> dict[str, Any]:
        """The warm pool: ``warm``, ``max_warm``, ``hibernated``, ``waiting``, memory."""
        result: dict[str, Any] = self._call("GET", "/pool")
        return result

    def shutdown(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/shutdown")
        return result

    # --- distributed mode -------------------------------------------------------------

    def workers(self) -> dict[str, Any]:
        """Worker hosts (``mode``, ``queue``, ``lease``, ``dead_letters``, ``workers``)."""
        result: dict[str, Any] = self._call("GET", "/workers")
        return result

    def jobs(self, states: list[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Jobs on the queue, oldest first; ``states=["dead"]``: the dead letters."""
        params: dict[str, Any] = {"limit": limit}
        if states:
            params["state"] = states
        result: dict[str, Any] = self._call("GET", "/jobs", params=params)
        jobs: list[dict[str, Any]] = result["jobs"]
        return jobs

    # --- agents -----------------------------------------------------------------------

    def spawn(
        self,
        name: str,
        *,
        model: str | None = None,
        system_prompt: str | None = None,
        cwd: str | Path | None = None,
        backend: str = BackendName.CLAUDE_CODE,
        options: AgentOptions | Mapping[str, Any] | None = None,
    ) -> AgentRecord:
        """Create an agent. ``cwd`` defaults to this process's directory, not the daemon's.

        ``options``: an :class:`AgentOptions` or a mapping of its keys; the daemon
        checks them before anything is written. The Claude Code CLI's own flags, as
        ``podium spawn`` takes them:

        - ``tools`` (``--tools``): the only built-in tools, a list or ``"Read,Grep"``;
          ``[]``: none.
        - ``allowed_tools`` / ``disallowed_tools`` (``--allowedTools`` /
          ``--disallowedTools``): tools or rules such as ``"Bash(git diff:*)"``.
        - ``permission_mode``: ``default``, ``acceptEdits``, ``plan``,
          ``bypassPermissions``, ``dontAsk`` or ``auto``. A headless agent writes
          files only with ``"acceptEdits"`` or ``allowed_tools=["Write", ...]``.
        - ``max_turns``: model calls per request (``--max-turns``).
        - ``append_system_prompt``: text after the system prompt.
        - ``mcp_config``: a JSON object (or its text) with ``mcpServers``, or a file.
        - ``settings`` (``--settings``): a JSON object (or its text) of Claude Code
          settings, or the absolute path of a settings file, which must exist.

        Others: ``agents``, ``fallback_model``, ``setting_sources``, ``max_budget_usd``,
        ``env``, ``api_key_env``, ``isolation`` and the API backends' ``base_url``,
        ``fallback``, ``batch``, ``cache``, ``stream``, ``max_tokens``, ``max_retries``."""
        if isinstance(options, AgentOptions):
            options = options.to_dict()
        body = {
            "name": name,
            "model": model,
            "system_prompt": system_prompt,
            "cwd": str(Path(cwd or os.getcwd()).expanduser().resolve()),
            "backend": backend,
            "options": dict(options or {}),
        }
        return agent_from_json(self._call("POST", "/agents", body=body, patience=_SLOW_CALL))

    def fork(
        self,
        source: str,
        new: str,
        model: str | None = None,
        *,
        backend: str | None = None,
        base_url: str | None = None,
    ) -> AgentRecord:
        """Fork ``source`` into ``new``. ``backend``: run the fork on another backend
        (it inherits the visible conversation only); ``base_url``: its API endpoint."""
        body: dict[str, Any] = {"new": new, "model": model}
        # Sent only when given, so a daemon that predates them still takes a plain fork.
        if backend is not None:
            body["backend"] = backend
        if base_url is not None:
            body["base_url"] = base_url
        data = self._call("POST", f"/agents/{_agent(source)}/fork", body=body, patience=_SLOW_CALL)
        return agent_from_json(data)

    def list_agents(self) -> list[AgentRecord]:
        return [agent_from_json(a) for a in self.list_agents_json()]

    def get_agent(self, name: str) -> AgentRecord:
        return agent_from_json(self.info(name))

    def info(self, name: str) -> dict[str, Any]:
        """The agent as JSON plus ``lineage``, ``children``, ``recent_requests``, ``state_dir``."""
        result: dict[str, Any] = self._call("GET", f"/agents/{_agent(name)}")
        return result

    def kill(self, name: str) -> AgentRecord:
        path = f"/agents/{_agent(name)}"
        return agent_from_json(self._call("DELETE", path, patience=_SLOW_CALL))

    def kill_all(self) -> list[str]:
        result: list[str] = self._call("POST", "/agents/kill-all", patience=_SLOW_CALL)["killed"]
        return result

    # --- isolated workspaces ---------------------------------------------------------

    def diff(self, name: str) -> dict[str, Any]:
        """An agent's worktree work: ``diff`` (base...branch), ``uncommitted``, ``untracked``."""
        result: dict[str, Any] = self._call(
            "GET", f"/workspaces/{_agent(name)}/diff", patience=_SLOW_CALL
        )
        return result

    def merge(self, name: str, *, into: str | None = None) -> dict[str, Any]:
        """Merge the agent's branch into the project's current branch (or ``into``).

        A conflict raises :class:`podium.isolation.MergeConflict` (``context["files"]``);
        the merge was aborted and the project left as it was.
        """
        result: dict[str, Any] = self._call(
            "POST",
            f"/workspaces/{_agent(name)}/merge",
            body={"into": into},
            patience=_SLOW_CALL,
        )
        return result

    def clean(self, name: str, *, force: bool = False) -> dict[str, Any]:
        """Remove the agent's workspace; refuses to lose unmerged work unless ``force``."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/workspaces/{_agent(name)}/clean",
            body={"force": force},
            patience=_SLOW_CALL,
        )
        return result

    # --- requests ---------------------------------------------------------------------

    def ask(
        self,
        name: str,
        prompt: str,
        *,
        timeout: float | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> RequestRecord:
        """Queue ``prompt``; with ``wait``, return the finished request.

        ``timeout`` limits the turn itself (the daemon interrupts it); ``wait_timeout``
        only how long this call waits (WaitTimeout, the request goes on).
        """
        return request_from_json(
            self.ask_json(name, prompt, timeout=timeout, wait=wait, wait_timeout=wait_timeout)
        )

    def tell(self, name: str, text: str) -> TellResult:
        """Deliver ``text`` into ``name``'s running turn (``mode`` steered: its next API
        call carries it, and the turn still ends with one answer), or, when it has
        none, ask it as usual (``mode`` asked)."""
        check_prompt(text)
        return TellResult.from_dict(
            self._call("POST", f"/agents/{_agent(name)}/tell", body={"text": text})
        )

    def relay(
        self,
        source: str,
        target: str,
        prompt: str,
        *,
        timeout: float | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> RequestRecord:
        """Send ``target`` the prompt plus ``source``'s last complete answer, verbatim."""
        check_prompt(prompt)
        _check_timeouts(timeout, wait_timeout)
        body = {"from": source, "to": target, "prompt": prompt, "timeout": timeout}
        return self._submit("/relay", body, wait, wait_timeout)

    def _submit(
        self, path: str, body: dict[str, Any], wait: bool, wait_timeout: float | None
    ) -> RequestRecord:
        return request_from_json(self._submit_json(path, body, wait, wait_timeout))

    def broadcast(
        self, prompt: str, *, exclude: Iterable[str] = (), timeout: float | None = None
    ) -> list[RequestRecord]:
        check_prompt(prompt)
        _check_timeouts(timeout, None)
        body = {"prompt": prompt, "exclude": list(exclude), "timeout": timeout}
        return [request_from_json(r) for r in self._call("POST", "/broadcast", body=body)]

    def poll(self, request_id: str) -> RequestRecord:
        return request_from_json(self._call("GET", f"/requests/{_request(request_id)}"))

    def wait(self, request_id: str, timeout: float | None = None) -> RequestRecord:
        """Wait for the request to end; WaitTimeout after ``timeout`` s (nothing is cancelled)."""
        return request_from_json(self._wait_json(request_id, timeout))

    def cancel(self, request_id: str) -> RequestRecord:
        return request_from_json(self._call("POST", f"/requests/{_request(request_id)}/cancel"))

    def requests(self, *, agent: str | None = None, limit: int = 50) -> list[RequestRecord]:
        """The newest ``limit`` requests (of one agent, or all), oldest first."""
        found = self._call("GET", "/requests", params={"agent": agent, "limit": limit})
        return [request_from_json(r) for r in found]

    def list_requests(self, *, agent: str | None = None, limit: int = 50) -> list[RequestRecord]:
        """The same as :meth:`requests`, under the Runtime's name."""
        return self.requests(agent=agent, limit=limit)

    def activity(self) -> dict[str, Any]:
        """Each busy agent's current step (``agents``) and the newest event id
        (``last_event_id``, where :meth:`follow_events` starts to see only what is new)."""
        result: dict[str, Any] = self._call("GET", "/activity")
        return result

    def follow_events(
        self, *, after: int = 0, agent: str | None = None, run_id: str | None = None
    ) -> Iterator[Event]:
        """Events after ``after`` as they happen (Server-Sent Events), until the daemon
        stops: of one agent, of one run (and its requests), or all."""
        from ._follow import follow_events

        return follow_events(self, after=after, agent=agent, run_id=run_id)

    def events(
        self, *, after: int = 0, agent: str | None = None, limit: int = 1000, wait: float = 0.0
    ) -> list[Event]:
        """Events with id > ``after``; with ``wait``, long-poll up to that long for one."""
        found = self._call(
            "GET",
            "/events",
            params={"after": after, "agent": agent, "limit": limit, "wait": wait or None},
            patience=wait,
        )
        return [event_from_json(e) for e in found]

    # --- orchestrated runs ------------------------------------------------------------

    def submit_run(
        self,
        request: str,
        *,
        team: str | Path,
        cwd: str | Path | None = None,
        plan: Mapping[str, Any] | list[Any] | None = None,
        plan_file: str | Path | None = None,
        budget_usd: float | None = None,
        mode: str = "planned",
        user_env: Mapping[str, str] | None = None,
        review: bool | None = None,
    ) -> RunRecord:
        """Start a run of ``team`` on ``request``; it goes on in the daemon.

        The run's checks run with ``user_env`` (``PATH`` and ``VIRTUAL_ENV``; by
        default this process's), not with the daemon's environment.

        Paths are resolved here, against this process's directory: the daemon's
        is unrelated. ``plan`` / ``plan_file`` skip planning; ``cwd`` defaults to
        what the daemon chooses for the team. ``mode="agentic"``: no plan; the
        orchestrator drives the workers itself through podium's MCP tools.
        ``review=True``: stop after planning (``awaiting_approval``) until
        :meth:`approve_run` or :meth:`reject_run`; None: the team's ``[runs] review``.
        """
        if not request.strip():
            raise InvalidPrompt("request is empty")
        if mode not in ("planned", "agentic"):
            raise UsageError(f"mode must be 'planned' or 'agentic', got {mode!r}", mode=mode)
        if plan is not None and plan_file is not None:
            raise UsageError("give plan or plan_file, not both")
        if mode == "agentic" and (plan is not None or plan_file is not None):
            raise UsageError("an agentic run has no plan: its orchestrator decides as it goes")
        if budget_usd is not None and not budget_usd > 0:
            raise UsageError("budget must be greater than 0", budget_usd=budget_usd)
        body = {
            "request": request,
            "team": _absolute(team),
            "cwd": None if cwd is None else _absolute(cwd),
            "plan": dict(plan) if isinstance(plan, Mapping) else plan,
            "plan_file": None if plan_file is None else _absolute(plan_file),
            "budget_usd": budget_usd,
        }
        sent = os.environ if user_env is None else user_env
        # Only what finds the project's tools: its PATH and its virtualenv.
        body["user_env"] = {k: sent[k] for k in ("PATH", "VIRTUAL_ENV") if sent.get(k)}
        if mode != "planned":
            # Sent only when it matters, so a planned run works with any daemon version.
            body["mode"] = mode
        if review is not None:
            body["review"] = review
        return _run_record(self._call("POST", "/runs", body=body, patience=_SLOW_CALL))

    def approve_run(
        self,
        run_id: str,
        *,
        plan: Mapping[str, Any] | list[Any] | None = None,
        plan_file: str | Path | None = None,
    ) -> RunRecord:
        """Run a plan awaiting approval; ``plan`` / ``plan_file``: an edited plan instead
        (a bad one raises PlanError and the run stays awaiting approval)."""
        if plan is not None and plan_file is not None:
            raise UsageError("give plan or plan_file, not both")
        body = {
            "plan": dict(plan) if isinstance(plan, Mapping) else plan,
            "plan_file": None if plan_file is None else _absolute(plan_file),
        }
        path = f"/runs/{_run(run_id)}/approve"
        return _run_record(self._call("POST", path, body=body, patience=_SLOW_CALL))

    def reject_run(self, run_id: str, *, reason: str | None = None) -> RunRecord:
        """End a run awaiting approval without running a task (state ``rejected``)."""
        path = f"/runs/{_run(run_id)}/reject"
        return _run_record(self._call("POST", path, body={"reason": reason}))

    def resume_run(self, run_id: str) -> RunRecord:
        """Continue an interrupted, failed or cancelled run where it stopped."""
        return _run_record(self._call("POST", f"/runs/{_run(run_id)}/resume", patience=_SLOW_CALL))

    def run_info(self, run_id: str) -> dict[str, Any]:
        """The run as JSON plus ``dir``, the run directory, and ``applied``: each
        ``podium apply`` of it that changed a branch (into, mode, from, to, head, at)."""
        result: dict[str, Any] = self._call("GET", f"/runs/{_run(run_id)}")
        return result

    def get_run(self, run_id: str) -> RunRecord:
        return _run_record(self.run_info(run_id))

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs, newest first."""
        return [_run_record(r) for r in self._call("GET", "/runs", params={"limit": limit})]

    def cancel_run(self, run_id: str) -> RunRecord:
        """Stop a run: nothing new starts, running tasks are interrupted."""
        return _run_record(self._call("POST", f"/runs/{_run(run_id)}/cancel", patience=_SLOW_CALL))

    def wait_run(self, run_id: str, timeout: float | None = None) -> RunRecord:
        """Wait for the run to end, or to await approval of its plan (``--review``);
        WaitTimeout after ``timeout`` s (nothing is cancelled)."""
        check_seconds(timeout, what="wait timeout", zero=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        path = f"/runs/{_run(run_id)}/wait"
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            slice_ = _WAIT_SLICE if left is None else min(left, _WAIT_SLICE)
            data = self._call("GET", path, params={"timeout": slice_}, patience=slice_)
            run = _run_record(data)
            if data.get("done", run.done) or run.settled:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"run {run_id} is still {run.state.value} after {timeout:g} s",
                    run_id=run_id,
                    state=run.state.value,
                )

    def apply_run(
        self,
        run_id: str,
        *,
        into: str | None = None,
        squash: bool = False,
        verify: bool = True,
    ) -> dict[str, Any]:
        """Land the run's integration branch on the project's current branch (or ``into``).

        Fast-forward when possible, else a merge commit (one commit with ``squash``),
        committed as the user with their hooks (``verify=False`` skips them). A conflict
        raises :class:`podium.isolation.MergeConflict` (``context["files"]``); nothing
        was changed.
        """
        result: dict[str, Any] = self._call(
            "POST",
            f"/runs/{_run(run_id)}/apply",
            body={"into": into, "squash": squash, "verify": verify},
            patience=_SLOW_CALL,
        )
        return result

    def clean_run(self, run_id: str, *, force: bool = False) -> dict[str, Any]:
        """Remove the run's worktrees and branches; refuses to lose work unless ``force``."""
        result: dict[str, Any] = self._call(
            "POST", f"/runs/{_run(run_id)}/clean", body={"force": force}, patience=_SLOW_CALL
        )
        return result

    def clean_runs(self, *, keep: int = 0, force: bool = False) -> dict[str, Any]:
        """Keep the newest ``keep`` finished runs' worktrees; clean older runs of what
        loses no work (everything with ``force``)."""
        result: dict[str, Any] = self._call(
            "POST", "/runs/clean", body={"keep": keep, "force": force}, patience=_SLOW_CALL
        )
        return result

    # --- take-over (podium attach) ---------------------------------------------------------

    def hold_agent(self, name: str, pid: int) -> dict[str, Any]:
        """Hold ``name`` for process ``pid``: waits for its running turns, stops its
        process; returns what to run to take it over (argv, cwd, env, unset, notes)."""
        path = f"/holds/{_agent(name)}"
        # The agent's running turn finishes first: that may take as long as a turn.
        result: dict[str, Any] = self._call("POST", path, body={"pid": pid}, patience=86400.0)
        return result

    def add_hold_pid(self, name: str, pid: int) -> None:
        self._call("POST", f"/holds/{_agent(name)}/pids", body={"pid": pid})

    def release_agent(self, name: str) -> bool:
        """Release the hold: the agent's queued asks run, resuming the same session."""
        result = self._call("DELETE", f"/holds/{_agent(name)}")
        return bool(result.get("released"))

    def run_report(self, run_id: str) -> str | None:
        """The run's report (report.md) once written, else None."""
        report: str | None = self._call("GET", f"/runs/{_run(run_id)}/report")["report"]
        return report


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def _run(run_id: str) -> str:
    """A run id as a path segment, checked first so a malformed id never reaches a URL."""
    # Imported on use: podium.orchestration is heavy and most commands never need it.
    from .orchestration._artifacts import check_run_id

    return quote(check_run_id(run_id), safe="")


def _run_record(data: dict[str, Any]) -> RunRecord:
    from .orchestration._run_records import RunRecord

    return RunRecord.from_dict(data)
