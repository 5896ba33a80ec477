"""The API contract, route by route: every route the app has is listed from its OpenAPI schema.

For each one: no or a wrong token is 401 (but health), a foreign Host 400, a
foreign Origin 403, an oversized body 413, malformed JSON 422, an unknown id
404 — each with the stable error shape, and each leaving the state untouched.
Then every answer of a real session is checked against the schema, and
schemathesis fuzzes every operation of a real daemon (uvicorn in a thread).
EchoBackend replaces the model only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from podium._client import Client
from podium.isolation import IsolationMode, IsolationSpec
from podium.orchestration import RunEngine
from podium.runtime import Runtime, RuntimeConfig
from podium.server import AppState, GuardSettings, create_app
from tests._asgi_api import BASE, PORT, TOKEN
from tests._echo_backend import EchoBackend
from tests._run_team import PLAN, write_team
from tests._threaded_daemon import ThreadedDaemon
from tests.orchestration._landing_helpers import make_repo, make_run

GHOST = "ghost"
GHOST_REQUEST = "ghost-000001-0123abcd"
GHOST_RUN = "run-20240101-000000-abcd"
GHOST_APPROVAL = "ap-0123456789ab"
TEAM = "<team>"  # replaced by the test team's path
RUN_BODY = {"request": "Review the project.", "team": TEAM, "plan": PLAN}

# Every route: a minimal valid body (None: the route takes none) and, for routes
# naming something, the error code an unknown id gets. A route missing here
# fails test_every_route_is_in_the_contract.
CONTRACT: dict[tuple[str, str], tuple[dict[str, Any] | None, str | None]] = {
    ("GET", "/v1/health"): (None, None),
    ("GET", "/v1/pool"): (None, None),
    ("POST", "/v1/shutdown"): (None, None),
    ("GET", "/v1/agents"): (None, None),
    ("POST", "/v1/agents"): ({"name": "newcomer"}, None),
    ("POST", "/v1/agents/kill-all"): (None, None),
    ("GET", "/v1/agents/{name}"): (None, "agent_not_found"),
    ("DELETE", "/v1/agents/{name}"): (None, "agent_not_found"),
    ("POST", "/v1/agents/{name}/fork"): ({"new": "forked"}, "agent_not_found"),
    ("POST", "/v1/agents/{name}/ask"): ({"prompt": "hi"}, "agent_not_found"),
    ("POST", "/v1/agents/{name}/tell"): ({"text": "hi"}, "agent_not_found"),
    ("POST", "/v1/relay"): ({"from": GHOST, "to": "alpha", "prompt": "hi"}, "agent_not_found"),
    ("POST", "/v1/broadcast"): ({"prompt": "hi", "exclude": [GHOST]}, "agent_not_found"),
    ("GET", "/v1/requests"): (None, None),
    ("GET", "/v1/requests/{request_id}"): (None, "request_not_found"),
    ("POST", "/v1/requests/{request_id}/wait"): (None, "request_not_found"),
    ("POST", "/v1/requests/{request_id}/cancel"): (None, "request_not_found"),
    ("GET", "/v1/events"): (None, None),
    ("GET", "/v1/activity"): (None, None),
    ("POST", "/v1/runs"): (RUN_BODY, None),
    ("POST", "/v1/orchestrate"): (RUN_BODY, None),
    ("GET", "/v1/runs"): (None, None),
    ("GET", "/v1/runs/{run_id}"): (None, "run_not_found"),
    ("GET", "/v1/runs/{run_id}/wait"): (None, "run_not_found"),
    ("GET", "/v1/runs/{run_id}/report"): (None, "run_not_found"),
    ("POST", "/v1/runs/{run_id}/cancel"): (None, "run_not_found"),
    ("POST", "/v1/runs/{run_id}/resume"): (None, "run_not_found"),
    ("POST", "/v1/runs/{run_id}/apply"): ({}, "run_not_found"),
    ("POST", "/v1/runs/{run_id}/clean"): ({"force": False}, "run_not_found"),
    ("POST", "/v1/runs/clean"): ({"keep": 0}, None),
    ("POST", "/v1/runs/{run_id}/approve"): ({}, "run_not_found"),
    ("POST", "/v1/holds/{name}"): ({"pid": 1}, "agent_not_found"),
    ("POST", "/v1/holds/{name}/pids"): ({"pid": 1}, "agent_not_found"),
    ("DELETE", "/v1/holds/{name}"): (None, "agent_not_found"),
    ("GET", "/v1/holds"): (None, None),
    ("POST", "/v1/runs/{run_id}/reject"): ({"reason": "no"}, "run_not_found"),
    ("GET", "/v1/workspaces/{name}/diff"): (None, "agent_not_found"),
    ("POST", "/v1/workspaces/{name}/merge"): ({}, "agent_not_found"),
    ("POST", "/v1/workspaces/{name}/clean"): ({"force": False}, "agent_not_found"),
    ("GET", "/v1/workers"): (None, None),
    ("GET", "/v1/jobs"): (None, None),
    ("GET", "/v1/approvals"): (None, None),
    ("GET", "/v1/approvals/{approval_id}"): (None, "approval_not_found"),
    ("POST", "/v1/approvals/{approval_id}/allow"): (None, "approval_not_found"),
    ("POST", "/v1/approvals/{approval_id}/deny"): ({"reason": "no"}, "approval_not_found"),
}


def _guard(max_body: int | None = None) -> GuardSettings:
    extra = {} if max_body is None else {"max_body": max_body}
    return GuardSettings(
        token=TOKEN,
        allowed_hosts=frozenset({f"127.0.0.1:{PORT}", f"localhost:{PORT}"}),
        allowed_origins=frozenset({BASE}),
        **extra,
    )


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the app, from the schema it publishes."""
    app = create_app(AppState(runtime=None), _guard()).app  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return sorted((m.upper(), path) for path, ops in paths.items() for m in ops)


OPERATIONS = _operations()
WITH_BODY = [op for op in OPERATIONS if CONTRACT.get(op, (None, None))[0] is not None]
WITH_ID = [op for op in OPERATIONS if CONTRACT.get(op, (None, None))[1] is not None]
POSTS = [op for op in OPERATIONS if op[0] == "POST"]


def label(op: tuple[str, str]) -> str:
    return f"{op[0]} {op[1]}"


# --- the in-process app over a real Runtime and RunEngine ------------------------------------


class Harness:
    def __init__(self, runtime: Runtime, engine: RunEngine, team: Path) -> None:
        self.runtime = runtime
        self.engine = engine
        self.team = team
        self.shutdowns: list[int] = []
        state = AppState(
            runtime=runtime, runs=engine, request_shutdown=lambda: self.shutdowns.append(1)
        )
        self.app = create_app(state, _guard())
        self.small = create_app(state, _guard(max_body=1024))

    def client(self, *, small: bool = False, token: bool = True) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
        transport = httpx.ASGITransport(app=self.small if small else self.app)
        return httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers, timeout=30)

    def url(self, path: str) -> str:
        return path.format(
            name=GHOST, request_id=GHOST_REQUEST, run_id=GHOST_RUN, approval_id=GHOST_APPROVAL
        )

    def body(self, op: tuple[str, str]) -> bytes | None:
        body = CONTRACT[op][0]
        if body is None:
            return None
        return json.dumps(body).replace(json.dumps(TEAM), json.dumps(str(self.team))).encode()

    async def snapshot(self) -> tuple[Any, ...]:
        return (
            [a.to_dict() for a in await self.runtime.list_agents()],
            [r.to_dict() for r in await self.runtime.list_requests(limit=None)],
            [e.to_dict() for e in await self.runtime.store.events(limit=100_000)],
            [r.to_dict() for r in await self.engine.list_runs(limit=1000)],
            list(self.shutdowns),
        )


async def _seed(home: Path, root: Path) -> None:
    """Something to lose: an agent with an answer, and a finished run."""
    async with Runtime(RuntimeConfig(home=home), backends={"claude-code": EchoBackend()}) as rt:
        engine = RunEngine(rt)
        await engine.start()
        try:
            await rt.spawn("alpha", cwd=root)
            assert (await rt.wait((await rt.ask("alpha", "hello")).id)).result == "hello"
            run = await engine.submit("Review.", team=root / "team" / "podium.toml", plan=PLAN)
            assert (await engine.wait(run.id, 30)).state.value == "complete"
        finally:
            await engine.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory seeded once; each test gets a copy (a run takes a while)."""
    root = tmp_path_factory.mktemp("seeded")
    write_team(root / "team")
    asyncio.run(_seed(root / "home", root))
    return root


@pytest.fixture
def home(seeded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(seeded / "home", copy)
    return copy


@pytest.fixture
async def harness(runtime: Runtime, seeded: Path) -> AsyncIterator[Harness]:
    engine = RunEngine(runtime)
    await engine.start()
    harness = Harness(runtime, engine, seeded / "team" / "podium.toml")
    agents, requests, events, runs, _ = await harness.snapshot()
    assert (len(agents), len(runs)) == (1, 1)
    assert requests
    assert events
    try:
        yield harness
    finally:
        await engine.close()


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "context"}
    assert isinstance(error["code"], str)
    assert error["message"]
    assert isinstance(error["context"], dict)
    return error


async def send(
    harness: Harness,
    op: tuple[str, str],
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    small: bool = False,
    token: bool = True,
) -> httpx.Response:
    method, path = op
    body = harness.body(op) if content is None else content
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    async with harness.client(small=small, token=token) as api:
        return await api.request(
            method, harness.url(path), content=body, headers={**all_headers, **(headers or {})}
        )


# --- the routes are all here ------------------------------------------------------------------


def test_every_route_is_in_the_contract() -> None:
    assert set(OPERATIONS) == set(CONTRACT)
    app = create_app(AppState(runtime=None), _guard()).app  # type: ignore[arg-type]
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/v1"):
            # Nothing is served that the schema leaves out.
            assert getattr(route, "include_in_schema", False), path


# --- refusals: precise, shaped, and harmless ----------------------------------------------------


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op != ("GET", "/v1/health")], ids=label)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token"])
async def test_no_or_wrong_token_is_401(
    harness: Harness, op: tuple[str, str], authorization: str | None
) -> None:
    before = await harness.snapshot()
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await send(harness, op, headers=headers, token=False)
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "daemon_error"
    assert error["context"] == {"reason": "unauthorized"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert await harness.snapshot() == before


@pytest.mark.parametrize("op", OPERATIONS, ids=label)
async def test_foreign_host_is_400(harness: Harness, op: tuple[str, str]) -> None:
    before = await harness.snapshot()
    response = await send(harness, op, headers={"Host": "attacker.example:8765"})
    assert response.status_code == 400
    assert error_of(response)["context"] == {"reason": "bad_host"}
    assert await harness.snapshot() == before


@pytest.mark.parametrize("op", OPERATIONS, ids=label)
async def test_foreign_origin_is_403(harness: Harness, op: tuple[str, str]) -> None:
    before = await harness.snapshot()
    response = await send(harness, op, headers={"Origin": "http://attacker.example"})
    assert response.status_code == 403
    assert error_of(response)["context"] == {"reason": "bad_origin"}
    assert await harness.snapshot() == before


@pytest.mark.parametrize("op", POSTS, ids=label)
async def test_oversized_body_is_413(harness: Harness, op: tuple[str, str]) -> None:
    before = await harness.snapshot()
    padded = json.dumps({"prompt": "x" * 2048, "name": "big", "request": "big"}).encode()
    response = await send(harness, op, content=padded, small=True)
    assert response.status_code == 413
    error = error_of(response)
    assert error["context"] == {"reason": "body_too_large"}
    assert "1024 bytes" in error["message"]
    assert await harness.snapshot() == before


@pytest.mark.parametrize("op", WITH_BODY, ids=label)
@pytest.mark.parametrize("content", [b'{"prompt": ', b"not json", b"[1, 2]"])
async def test_malformed_json_is_422(harness: Harness, op: tuple[str, str], content: bytes) -> None:
    before = await harness.snapshot()
    response = await send(harness, op, content=content)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "usage_error"
    assert error["message"].startswith("invalid request")
    assert error["context"]["errors"]
    assert await harness.snapshot() == before


@pytest.mark.parametrize("op", WITH_ID, ids=label)
async def test_unknown_id_is_404(harness: Harness, op: tuple[str, str]) -> None:
    before = await harness.snapshot()
    response = await send(harness, op)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == CONTRACT[op][1]
    assert (
        GHOST in error["message"]
        or GHOST_REQUEST in error["message"]
        or GHOST_RUN in error["message"]
        or GHOST_APPROVAL in error["message"]
    )
    assert await harness.snapshot() == before


# --- the published schema -------------------------------------------------------------------


async def test_openapi_schema_is_published_behind_the_token(harness: Harness) -> None:
    async with harness.client(token=False) as anonymous:
        refused = await anonymous.get("/openapi.json")
    assert refused.status_code == 401
    error_of(refused)
    async with harness.client() as api:
        response = await api.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "the token in $PODIUM_HOME/token",
    }
    assert schema["security"] == [{"token": []}]
    assert {t["name"] for t in schema["tags"]} == {
        "daemon",
        "agents",
        "requests",
        "events",
        "runs",
        "cluster",
        "approvals",
    }


async def test_every_operation_is_documented(harness: Harness) -> None:
    async with harness.client() as api:
        schema = (await api.get("/openapi.json")).json()
    error_ref = "#/components/schemas/ErrorOut"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["tags"], where
            assert operation["summary"], where
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert len(success) == 1, where
            content = operation["responses"][success[0]]["content"]["application/json"]
            assert content["schema"], where
            for code in ("400", "403", "413", "422", "500"):
                documented = operation["responses"][code]["content"]["application/json"]
                assert documented["schema"] == {"$ref": error_ref}, (where, code)
            if (method, path) == ("get", "/v1/health"):
                assert operation["security"] == []
                assert "401" not in operation["responses"]
            else:
                assert "security" not in operation  # the global bearer requirement
                assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": error_ref
                }
    events = schema["paths"]["/v1/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert {p["name"] for p in events["parameters"]} >= {
        "after",
        "agent",
        "run_id",
        "last-event-id",
    }
    run_body = schema["components"]["schemas"]["RunBody"]["properties"]["mode"]
    assert run_body["enum"] == ["planned", "agentic"]


# --- every answer matches its documented shape ----------------------------------------------


async def test_real_answers_match_the_schema(harness: Harness, tmp_path: Path) -> None:
    """A whole session, each answer validated against the schema the daemon publishes."""
    async with harness.client() as api:
        schema = schemathesis.openapi.from_dict((await api.get("/openapi.json")).json())
        checked: set[tuple[str, str]] = set()

        async def call(method: str, template: str, url: str, **kwargs: Any) -> Any:
            response = await api.request(method, url, **kwargs)
            schema[template][method].validate_response(response)
            checked.add((method, template))
            return response.json()

        team = str(harness.team)
        await call("GET", "/v1/health", "/v1/health")
        await call("POST", "/v1/agents", "/v1/agents", json={"name": "beta", "cwd": str(tmp_path)})
        await call("GET", "/v1/agents", "/v1/agents")
        await call("GET", "/v1/agents/{name}", "/v1/agents/alpha")
        await call("POST", "/v1/agents/{name}/fork", "/v1/agents/alpha/fork", json={"new": "gamma"})
        asked = await call(
            "POST", "/v1/agents/{name}/ask", "/v1/agents/beta/ask", json={"prompt": "sleep:30"}
        )
        await call("GET", "/v1/requests/{request_id}", f"/v1/requests/{asked['id']}")
        await call("GET", "/v1/activity", "/v1/activity")
        # The echo backend cannot be told mid-turn: an ordinary request, queued.
        told = await call(
            "POST", "/v1/agents/{name}/tell", "/v1/agents/beta/tell", json={"text": "also"}
        )
        assert told["mode"] == "asked"
        timed_out = await api.post(f"/v1/requests/{asked['id']}/wait", params={"timeout": 0.01})
        assert timed_out.status_code == 408
        schema["/v1/requests/{request_id}/wait"]["POST"].validate_response(timed_out)
        await call("POST", "/v1/requests/{request_id}/cancel", f"/v1/requests/{asked['id']}/cancel")
        await call("POST", "/v1/requests/{request_id}/wait", f"/v1/requests/{asked['id']}/wait")
        await call(
            "POST", "/v1/relay", "/v1/relay", json={"from": "alpha", "to": "beta", "prompt": "go"}
        )
        await call(
            "POST", "/v1/broadcast", "/v1/broadcast", json={"prompt": "all", "exclude": ["beta"]}
        )
        await call("GET", "/v1/requests", "/v1/requests", params={"limit": 100})
        await call("GET", "/v1/events", "/v1/events")
        await call("GET", "/v1/pool", "/v1/pool")
        # Take-over: the echo backend has no TUI, so a hold is refused (400, documented).
        assert await call("GET", "/v1/holds", "/v1/holds") == {}
        pid = {"pid": os.getpid()}
        await call("POST", "/v1/holds/{name}", "/v1/holds/alpha", json=pid)
        await call("POST", "/v1/holds/{name}/pids", "/v1/holds/alpha/pids", json=pid)
        released = await call("DELETE", "/v1/holds/{name}", "/v1/holds/alpha")
        assert released == {"agent": "alpha", "released": False}
        # Embedded mode (no queue): the same shapes, empty.
        workers = await call("GET", "/v1/workers", "/v1/workers")
        assert (workers["mode"], workers["workers"]) == ("embedded", [])
        jobs = await call("GET", "/v1/jobs", "/v1/jobs", params={"state": "dead"})
        assert jobs == {"mode": "embedded", "jobs": []}
        # Approvals: what an ask-mode agent's CLI asks (EchoBackend has no tools, so the
        # runtime's inbox is asked directly, as the actor does).
        asks = [
            asyncio.create_task(
                harness.runtime.approvals.ask(
                    agent="alpha", request_id=None, tool="Bash",
                    tool_input={"command": "ls"}, control_id=f"toolu_{i}", timeout=60,
                )
            )
            for i in range(2)
        ]  # fmt: skip
        while len(pending := await call("GET", "/v1/approvals", "/v1/approvals")) < 2:
            await asyncio.sleep(0.01)
        first, second = (a["id"] for a in pending)
        await call("GET", "/v1/approvals/{approval_id}", f"/v1/approvals/{first}")
        await call("POST", "/v1/approvals/{approval_id}/allow", f"/v1/approvals/{first}/allow")
        await call(
            "POST", "/v1/approvals/{approval_id}/deny", f"/v1/approvals/{second}/deny",
            json={"reason": "not now"},
        )  # fmt: skip
        assert [(await t).allow for t in asks] == [True, False]
        await call("GET", "/v1/approvals", "/v1/approvals", params={"state": "all"})
        body = {"request": "Review.", "team": team, "plan": PLAN}
        run = await call("POST", "/v1/orchestrate", "/v1/orchestrate", json=body)
        await call(
            "GET", "/v1/runs/{run_id}/wait", f"/v1/runs/{run['id']}/wait", params={"timeout": 30}
        )
        await call("GET", "/v1/runs/{run_id}", f"/v1/runs/{run['id']}")
        await call("GET", "/v1/runs/{run_id}/report", f"/v1/runs/{run['id']}/report")
        await call("POST", "/v1/runs/{run_id}/cancel", f"/v1/runs/{run['id']}/cancel")
        for route, decision in (("approve", {}), ("reject", {"reason": "no"})):
            held = await call("POST", "/v1/runs", "/v1/runs", json={**body, "review": True})
            waited = f"/v1/runs/{held['id']}/wait"
            await call("GET", "/v1/runs/{run_id}/wait", waited, params={"timeout": 30})
            await call(
                "POST",
                "/v1/runs/{run_id}/" + route,
                f"/v1/runs/{held['id']}/{route}",
                json=decision,
            )
        slow = {
            "request": "Slow.",
            "team": team,
            "plan": {"tasks": [{"task_id": "slow", "worker": "alice", "description": "sleep:60"}]},
        }
        started = await call("POST", "/v1/runs", "/v1/runs", json=slow)
        await call("GET", "/v1/runs", "/v1/runs")
        await _until_task_runs(api, started["id"])
        await call("POST", "/v1/runs/{run_id}/cancel", f"/v1/runs/{started['id']}/cancel")
        await call("POST", "/v1/runs/{run_id}/resume", f"/v1/runs/{started['id']}/resume")
        await call("POST", "/v1/runs/{run_id}/cancel", f"/v1/runs/{started['id']}/cancel")
        await _worktree_agent(harness.runtime, tmp_path / "repo")
        await call("GET", "/v1/workspaces/{name}/diff", "/v1/workspaces/wt/diff")
        await call("POST", "/v1/workspaces/{name}/merge", "/v1/workspaces/wt/merge", json={})
        await call(
            "POST", "/v1/workspaces/{name}/clean", "/v1/workspaces/wt/clean", json={"force": True}
        )
        landed = make_run(runtime_home(harness), make_repo(tmp_path / "landing"), LANDED, WORK)
        await call("POST", "/v1/runs/{run_id}/apply", f"/v1/runs/{landed.id}/apply", json={})
        shown = await call("GET", "/v1/runs/{run_id}", f"/v1/runs/{landed.id}")
        assert [entry["mode"] for entry in shown["applied"]] == ["fast-forward"]
        await call("POST", "/v1/runs/{run_id}/clean", f"/v1/runs/{landed.id}/clean", json={})
        await call("POST", "/v1/runs/clean", "/v1/runs/clean", json={"keep": 0})
        await call("DELETE", "/v1/agents/{name}", "/v1/agents/gamma")
        await call("POST", "/v1/agents/kill-all", "/v1/agents/kill-all")
        await call("POST", "/v1/shutdown", "/v1/shutdown")
    assert harness.shutdowns == [1]
    assert checked == set(OPERATIONS)


LANDED = "run-20240101-000000-1a2b"
WORK = {"t": {"t.txt": "t\n"}}


def runtime_home(harness: Harness) -> Path:
    return harness.runtime.config.home


async def _worktree_agent(runtime: Runtime, repo: Path) -> None:
    """Agent ``wt`` in a git worktree of a fresh repository, with a change to show and merge."""
    repo.mkdir()
    for args in (
        ["init", "-q"],
        ["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "--allow-empty",
         "-m", "start"],
    ):  # fmt: skip
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    spec = IsolationSpec(mode=IsolationMode.WORKTREE)
    agent = await runtime.spawn("wt", cwd=repo, isolation=spec)
    (Path(agent.cwd) / "made.txt").write_text("work\n")


async def _until_task_runs(api: httpx.AsyncClient, run_id: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run = (await api.get(f"/v1/runs/{run_id}")).json()
        if any(t["state"] == "running" for t in run["tasks"]):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no task of {run_id} started: {run}")


# --- schemathesis against a real daemon -------------------------------------------------------

EXAMPLES = 25
"""Per operation and generation mode: the whole fuzz stays well under a minute."""
FUZZ_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDaemon]:
    root = tmp_path_factory.mktemp("fuzz")
    daemon = ThreadedDaemon(root / "home").start()
    try:
        # Something for lists and lookups to return: an agent with answers, a run.
        with Client(daemon.url, daemon.token) as client:
            client.spawn("alpha", cwd=root)
            client.ask("alpha", "hello", wait=True)
            run = client.submit_run("Review.", team=write_team(root / "team"), plan=PLAN)
            client.wait_run(run.id, timeout=30)
        yield daemon
    finally:
        daemon.stop()


def _bounded(case: Any) -> None:
    """Keep generated waits short: a fuzzer must not park for the 300 s a long poll may take."""
    if isinstance(case.query, dict):
        for key in ("wait", "timeout"):
            if key in case.query:
                case.query[key] = 0
    if isinstance(case.body, dict) and case.body.get("wait") is True:
        case.body["wait_timeout"] = 0.5
    if isinstance(case.body, dict) and isinstance(case.body.get("timeout"), int | float):
        case.body["timeout"] = min(max(case.body["timeout"], 0.001), 1.0)


def test_schemathesis_fuzz(fuzzed_daemon: ThreadedDaemon) -> None:
    auth = {"Authorization": f"Bearer {fuzzed_daemon.token}"}
    published = httpx.get(f"{fuzzed_daemon.url}/openapi.json", headers=auth)
    assert published.status_code == 200
    schema = schemathesis.openapi.from_dict(published.json())
    failures: list[str] = []
    fuzzed: set[tuple[str, str]] = set()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/shutdown":
            continue  # it would stop the daemon under the fuzzer; the test above covers it
        fuzzed.add((operation.method.upper(), operation.path))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            def fuzz(case: Any) -> None:
                _bounded(case)
                case.call_and_validate(
                    base_url=fuzzed_daemon.url, headers=auth, checks=FUZZ_CHECKS, timeout=30
                )

            try:
                fuzz()
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body)
            except Exception as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
    assert fuzzed == set(OPERATIONS) - {("POST", "/v1/shutdown")}
    assert time.monotonic() - started < 60
