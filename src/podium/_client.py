"""Client: the daemon's HTTP API as synchronous methods mirroring :class:`Runtime`.

Methods return what the Runtime's do (AgentRecord, RequestRecord, Event, and a
dict for ``info``); the run methods return what the RunEngine's do (RunRecord).
``health`` and ``shutdown`` return the daemon's JSON. Errors the daemon reports
are raised again as the same :class:`PodiumError` subclass; an unreachable
daemon is a :class:`DaemonError` naming its URL.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._backend_info import BackendName
from ._client_approvals import ApprovalCalls
from ._errors import (
    DaemonError,
    InvalidName,
    InvalidPrompt,
    PodiumError,
    UsageError,
    WaitTimeout,
    error_from_dict,
    known_error_code,
)
from ._home import default_home
from ._http import DaemonHTTP, HTTPFailure, HTTPTimeout, Response
from ._names import check_name, check_prompt, check_seconds, parse_request_id
from ._options import AgentOptions
from ._records import AgentRecord, Event, RequestRecord
from ._wire import agent_from_json, event_from_json, request_from_json
from .server._daemon import autostart_disabled, running_daemon, start_daemon
from .server._state import read_token, token_file

if TYPE_CHECKING:
    from .orchestration._run_records import RunRecord

__all__ = ["Client"]

# Waits are made of HTTP long polls no longer than this, so a lost connection or
# a sleeping laptop costs at most one slice, never an hour-long hang.
_WAIT_SLICE = 60.0
# Extra time an HTTP call gets beyond the wait it asks the daemon to do.
_HTTP_MARGIN = 30.0
# Starting or stopping an agent process (spawn, fork, kill) may take the backend a
# minute on a cold machine; ordinary calls should fail fast when the daemon hangs.
_SLOW_CALL = 90.0
# Same limit as the daemon's: refuse locally rather than upload megabytes to be refused.
_MAX_BODY_BYTES = 16 * 1024 * 1024


class Client(ApprovalCalls):
    """Talks to one daemon. Use :meth:`from_home` to find (or start) the local one."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = url
        self._timeout = timeout
        self._http = DaemonHTTP(url, token=token, timeout=timeout)

    @classmethod
    def from_home(cls, home: str | Path | None = None, *, autostart: bool = True) -> Client:
        """The daemon recorded in ``home`` (default ``$PODIUM_HOME``), started if need be.

        ``PODIUM_NO_AUTOSTART=1`` turns autostart off whatever ``autostart`` says.
        """
        root = Path(home).expanduser() if home is not None else default_home()
        info = running_daemon(root)
        if info is None:
            if not autostart or autostart_disabled():
                raise DaemonError(
                    f"daemon not reachable: no podium daemon is running for {root}; "
                    "run `podium up`",
                    home=str(root),
                )
            info, _ = start_daemon(root)
        token = read_token(root)
        if token is None:
            raise DaemonError(f"daemon token missing: {token_file(root)} is not readable")
        return cls(info.url, token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        patience: float | None = None,
    ) -> Any:
        """One API call. ``patience``: how long the daemon may rightly take (a long poll)."""
        content: bytes | None = None
        headers = {}
        if body is not None:
            content = _encode(body)
            headers["Content-Type"] = "application/json"
        timeout = self._timeout if patience is None else patience + _HTTP_MARGIN
        try:
            response = self._http.request(
                method,
                f"/v1{path}",
                content=content,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=headers,
                timeout=timeout,
            )
        except HTTPTimeout:
            raise DaemonError(
                f"daemon at {self.url} did not answer within {timeout:g} s", url=self.url
            ) from None
        except HTTPFailure as exc:
            raise DaemonError(
                f"daemon not reachable at {self.url}: {str(exc) or type(exc).__name__}; "
                "run `podium up`",
                url=self.url,
            ) from None
        if not response.is_success:
            raise _error_of(response, self.url)
        try:
            return response.json()
        except ValueError:
            raise DaemonError(
                f"daemon at {self.url} answered with something that is not JSON", url=self.url
            ) from None

    # --- daemon -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
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
        return [agent_from_json(a) for a in self._call("GET", "/agents")]

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
        check_prompt(prompt)
        _check_timeouts(timeout, wait_timeout)
        body = {"prompt": prompt, "timeout": timeout}
        return self._submit(f"/agents/{_agent(name)}/ask", body, wait, wait_timeout)

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
        if not wait:
            return request_from_json(self._call("POST", path, body=body))
        started = time.monotonic()
        first = _WAIT_SLICE if wait_timeout is None else min(wait_timeout, _WAIT_SLICE)
        try:
            data = self._call(
                "POST", path, body={**body, "wait": True, "wait_timeout": first}, patience=first
            )
            return request_from_json(data)
        except WaitTimeout as exc:
            request_id = exc.context.get("request_id")
            left = None if wait_timeout is None else wait_timeout - (time.monotonic() - started)
            if not request_id or (left is not None and left <= 0):
                raise
            return self.wait(str(request_id), left)

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
        check_seconds(timeout, what="wait timeout", zero=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        path = f"/requests/{_request(request_id)}/wait"
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            slice_ = _WAIT_SLICE if left is None else min(left, _WAIT_SLICE)
            try:
                data = self._call("POST", path, params={"timeout": slice_}, patience=slice_)
                return request_from_json(data)
            except WaitTimeout as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    state = exc.context.get("state", "unfinished")
                    raise WaitTimeout(
                        f"request {request_id} is still {state} after {timeout:g} s",
                        request_id=request_id,
                        state=state,
                    ) from None

    def cancel(self, request_id: str) -> RequestRecord:
        return request_from_json(self._call("POST", f"/requests/{_request(request_id)}/cancel"))

    def requests(self, *, agent: str | None = None, limit: int = 50) -> list[RequestRecord]:
        """The newest ``limit`` requests (of one agent, or all), oldest first."""
        found = self._call("GET", "/requests", params={"agent": agent, "limit": limit})
        return [request_from_json(r) for r in found]

    def list_requests(self, *, agent: str | None = None, limit: int = 50) -> list[RequestRecord]:
        """The same as :meth:`requests`, under the Runtime's name."""
        return self.requests(agent=agent, limit=limit)

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
    ) -> RunRecord:
        """Start a run of ``team`` on ``request``; it goes on in the daemon.

        Paths are resolved here, against this process's directory: the daemon's
        is unrelated. ``plan`` / ``plan_file`` skip planning; ``cwd`` defaults to
        what the daemon chooses for the team. ``mode="agentic"``: no plan; the
        orchestrator drives the workers itself through podium's MCP tools.
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
        if mode != "planned":
            # Sent only when it matters, so a planned run works with any daemon version.
            body["mode"] = mode
        return _run_record(self._call("POST", "/runs", body=body, patience=_SLOW_CALL))

    def resume_run(self, run_id: str) -> RunRecord:
        """Continue an interrupted, failed or cancelled run where it stopped."""
        return _run_record(self._call("POST", f"/runs/{_run(run_id)}/resume", patience=_SLOW_CALL))

    def run_info(self, run_id: str) -> dict[str, Any]:
        """The run as JSON plus ``dir``, the run directory."""
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
        """Wait for the run to end; WaitTimeout after ``timeout`` s (nothing is cancelled)."""
        check_seconds(timeout, what="wait timeout", zero=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        path = f"/runs/{_run(run_id)}/wait"
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            slice_ = _WAIT_SLICE if left is None else min(left, _WAIT_SLICE)
            data = self._call("GET", path, params={"timeout": slice_}, patience=slice_)
            run = _run_record(data)
            if data.get("done", run.done):
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"run {run_id} is still {run.state.value} after {timeout:g} s",
                    run_id=run_id,
                    state=run.state.value,
                )

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


def _agent(name: str) -> str:
    """An agent name as a path segment, checked first so '' or '../x' never reach a URL."""
    return quote(check_name(name), safe="")


def _request(request_id: str) -> str:
    if parse_request_id(request_id) is None:
        raise InvalidName(
            f"{request_id!r} is not a request id (expected <agent>-<6 digits>-<8 hex>)",
            request_id=request_id,
        )
    return quote(request_id, safe="")


def _encode(body: dict[str, Any]) -> bytes:
    try:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8; \u escapes carry them through intact.
        data = json.dumps(body).encode("ascii")
    if len(data) > _MAX_BODY_BYTES:
        raise InvalidPrompt(
            f"request is {len(data)} bytes; the daemon accepts at most {_MAX_BODY_BYTES}"
        )
    return data


def _error_of(response: Response, url: str) -> PodiumError:
    try:
        error = response.json()["error"]
        if isinstance(error, dict) and "code" in error:
            return _rebuild(error, response.status)
    except (ValueError, KeyError, TypeError):
        pass
    text = response.text.strip()[:200]
    return DaemonError(
        f"daemon at {url} answered HTTP {response.status}: {text}",
        url=url,
        status=response.status,
    )


def _rebuild(error: dict[str, Any], status: int) -> PodiumError:
    """The daemon's error as the same class (run, plan and team errors included)."""
    if not known_error_code(str(error.get("code", ""))):
        # Importing the packages registers their error codes; the common errors
        # (an unknown agent, a bad prompt) are known already and need neither.
        import podium.isolation
        import podium.orchestration  # noqa: F401

    return error_from_dict(error)


def _check_timeouts(timeout: float | None, wait_timeout: float | None) -> None:
    # Refused here, before anything is sent: JSON has no Infinity or NaN.
    check_seconds(timeout)
    check_seconds(wait_timeout, what="wait timeout", zero=True)
