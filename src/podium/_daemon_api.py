"""The daemon's HTTP API at the level of JSON: finding the daemon, calls, errors, waits.

:class:`podium.Client` builds records from these answers. ``podium ask`` uses this
layer directly and prints the JSON as it came: the records, the option types and
their validation cost a command more than its round trip to a warm agent does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ._errors import (
    DaemonError,
    InvalidName,
    InvalidPrompt,
    PodiumError,
    WaitTimeout,
    error_from_dict,
    known_error_code,
)
from ._home import default_home
from ._http import DaemonHTTP, HTTPFailure, HTTPTimeout, Response
from ._names import check_name, check_prompt, check_seconds, parse_request_id
from .server._daemon import autostart_disabled, running_daemon, start_daemon
from .server._state import read_token, token_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Self

__all__ = [
    "SLOW_CALL",
    "WAIT_SLICE",
    "WIRE_ONLY_REQUEST_KEYS",
    "DaemonAPI",
    "agent_segment",
    "check_timeouts",
    "request_segment",
]

WAIT_SLICE = 60.0
"""Waits are made of HTTP long polls no longer than this, so a lost connection or a
sleeping laptop costs at most one slice, never an hour-long hang."""
# Extra time an HTTP call gets beyond the wait it asks the daemon to do.
_HTTP_MARGIN = 30.0
SLOW_CALL = 90.0
"""Starting or stopping an agent process (spawn, fork, kill) may take the backend a
minute on a cold machine; ordinary calls should fail fast when the daemon hangs."""
# Same limit as the daemon's: refuse locally rather than upload megabytes to be refused.
_MAX_BODY_BYTES = 16 * 1024 * 1024

WIRE_ONLY_REQUEST_KEYS = ("seq", "prompt", "timeout", "meta")
"""What a request's JSON carries beyond ``RequestRecord.to_dict()`` (the poll shape)."""


class DaemonAPI:
    """Talks to one daemon in JSON. Use :meth:`from_home` to find (or start) the local one."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = url
        self._timeout = timeout
        self._http = DaemonHTTP(url, token=token, timeout=timeout)

    @classmethod
    def from_home(cls, home: str | Path | None = None, *, autostart: bool = True) -> Self:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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

    def list_agents_json(self) -> list[dict[str, Any]]:
        """``Client.list_agents``, as the daemon's JSON (``model``: the resolved id)."""
        agents: list[dict[str, Any]] = self._call("GET", "/agents")
        return agents

    def ask_json(
        self,
        name: str,
        prompt: str,
        *,
        timeout: float | None = None,
        wait: bool = False,
        wait_timeout: float | None = None,
    ) -> dict[str, Any]:
        """``Client.ask``, answered with the request's JSON as the daemon sent it."""
        check_prompt(prompt)
        check_timeouts(timeout, wait_timeout)
        body = {"prompt": prompt, "timeout": timeout}
        return self._submit_json(f"/agents/{agent_segment(name)}/ask", body, wait, wait_timeout)

    def _submit_json(
        self, path: str, body: dict[str, Any], wait: bool, wait_timeout: float | None
    ) -> dict[str, Any]:
        """Queue a prompt; with ``wait``, the finished request (one round trip if it is quick)."""
        if not wait:
            queued: dict[str, Any] = self._call("POST", path, body=body)
            return queued
        started = time.monotonic()
        first = WAIT_SLICE if wait_timeout is None else min(wait_timeout, WAIT_SLICE)
        try:
            done: dict[str, Any] = self._call(
                "POST", path, body={**body, "wait": True, "wait_timeout": first}, patience=first
            )
            return done
        except WaitTimeout as exc:
            request_id = exc.context.get("request_id")
            left = None if wait_timeout is None else wait_timeout - (time.monotonic() - started)
            if not request_id or (left is not None and left <= 0):
                raise
            return self._wait_json(str(request_id), left)

    def _wait_json(self, request_id: str, timeout: float | None) -> dict[str, Any]:
        """Wait for the request to end; WaitTimeout after ``timeout`` s (nothing is cancelled)."""
        check_seconds(timeout, what="wait timeout", zero=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        path = f"/requests/{request_segment(request_id)}/wait"
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            slice_ = WAIT_SLICE if left is None else min(left, WAIT_SLICE)
            try:
                data: dict[str, Any] = self._call(
                    "POST", path, params={"timeout": slice_}, patience=slice_
                )
                return data
            except WaitTimeout as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    state = exc.context.get("state", "unfinished")
                    raise WaitTimeout(
                        f"request {request_id} is still {state} after {timeout:g} s",
                        request_id=request_id,
                        state=state,
                    ) from None


def agent_segment(name: str) -> str:
    """An agent name as a path segment, checked first so '' or '../x' never reach a URL.

    A valid name is lowercase letters, digits, '-' and '_': nothing to escape."""
    return check_name(name)


def request_segment(request_id: str) -> str:
    if parse_request_id(request_id) is None:
        raise InvalidName(
            f"{request_id!r} is not a request id (expected <agent>-<6 digits>-<8 hex>)",
            request_id=request_id,
        )
    return request_id  # an agent name, digits and hex: nothing to escape


def check_timeouts(timeout: float | None, wait_timeout: float | None) -> None:
    # Refused here, before anything is sent: JSON has no Infinity or NaN.
    check_seconds(timeout)
    check_seconds(wait_timeout, what="wait timeout", zero=True)


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
