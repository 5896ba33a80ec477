"""The /v1/runs routes in-process (httpx ASGI transport) over a real Runtime and RunEngine.

The model is replaced by an echo backend; the team files, plan validation, run
directory, scheduling and synthesis are the production code. Plans are given
inline, so no planning turn is needed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium.orchestration import RunEngine
from podium.runtime import Runtime, RuntimeConfig
from podium.server import AppState, GuardSettings, create_app
from tests._asgi_api import BASE, PORT, TOKEN
from tests._run_team import PLAN, SLOW_PLAN, SlowEcho, write_team

UNKNOWN = "run-20240101-000000-abcd"


@pytest.fixture
async def engine(home: Path) -> AsyncIterator[RunEngine]:
    runtime = Runtime(RuntimeConfig(home=home), backends={"claude-code": SlowEcho()})
    await runtime.start()
    engine = RunEngine(runtime)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
        await runtime.close()


@pytest.fixture
async def runs_api(engine: RunEngine) -> AsyncIterator[httpx.AsyncClient]:
    state = AppState(runtime=engine.runtime, runs=engine)
    guard = GuardSettings(
        token=TOKEN,
        allowed_hosts=frozenset({f"127.0.0.1:{PORT}"}),
        allowed_origins=frozenset({BASE}),
    )
    transport = httpx.ASGITransport(app=create_app(state, guard))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


@pytest.fixture
def team(tmp_path: Path) -> Path:
    return write_team(tmp_path / "project")


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


async def submit(
    api: httpx.AsyncClient, team: Path, plan: dict[str, Any] = PLAN, **extra: Any
) -> dict[str, Any]:
    body = {"request": "Review the project.", "team": str(team), "plan": plan, **extra}
    response = await api.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def wait_done(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/runs/{run_id}/wait", params={"timeout": 60})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    assert data["done"] is True
    return data


async def until_task_runs(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(500):
        data: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if any(t["state"] == "running" for t in data["tasks"]):
            return data
        await asyncio.sleep(0.02)
    raise AssertionError(f"no task of {run_id} started")


async def test_inline_plan_runs_to_completion(runs_api: httpx.AsyncClient, team: Path) -> None:
    started = await submit(runs_api, team)
    run_id = started["id"]
    assert started["state"] in ("running", "complete")
    assert started["team_name"] == "crew"
    assert started["team_path"] == str(team)
    assert started["cwd"] == str(team.parent)  # the team's directory unless told
    assert started["plan_source"] == "file"
    run_dir = Path(started["dir"])
    assert run_dir.name == run_id
    assert json.loads((run_dir / "plan.json").read_text())["tasks"][0]["task_id"] == "scan"

    done = await wait_done(runs_api, run_id)
    assert done["state"] == "complete", done
    assert [(t["task_id"], t["state"]) for t in done["tasks"]] == [
        ("scan", "complete"),
        ("sum-up", "complete"),
    ]
    assert done["cost_usd"] > 0
    assert done["dir"] == started["dir"]
    assert json.loads((run_dir / "run.json").read_text())["state"] == "complete"

    fetched = (await runs_api.get(f"/v1/runs/{run_id}")).json()
    assert fetched["state"] == "complete"
    assert "done" not in fetched
    report = (await runs_api.get(f"/v1/runs/{run_id}/report")).json()
    assert report["run_id"] == run_id
    assert report["report"] == (run_dir / "report.md").read_text(encoding="utf-8")
    assert report["report"].strip()


async def test_list_is_newest_first_and_limited(runs_api: httpx.AsyncClient, team: Path) -> None:
    ids = []
    for _ in range(3):
        started = await submit(runs_api, team)
        await wait_done(runs_api, started["id"])
        ids.append(started["id"])
    listed = (await runs_api.get("/v1/runs")).json()
    # Ids start with their start time (to the second): name order is start order.
    assert [r["id"] for r in listed] == sorted(ids, reverse=True)
    assert all(r["dir"].endswith(r["id"]) and r["state"] == "complete" for r in listed)
    limited = (await runs_api.get("/v1/runs", params={"limit": 1})).json()
    assert [r["id"] for r in limited] == [listed[0]["id"]]
    assert (await runs_api.get("/v1/runs", params={"limit": 0})).status_code == 422


async def test_wait_that_runs_out_answers_not_done(runs_api: httpx.AsyncClient, team: Path) -> None:
    started = await submit(runs_api, team, plan=SLOW_PLAN)
    response = await runs_api.get(f"/v1/runs/{started['id']}/wait", params={"timeout": 0})
    assert response.status_code == 200
    assert response.json()["done"] is False
    assert response.json()["state"] in ("planning", "running")
    assert (await runs_api.get(f"/v1/runs/{started['id']}/wait?timeout=-1")).status_code == 422
    await runs_api.post(f"/v1/runs/{started['id']}/cancel")


async def test_cancel_interrupts_the_run_and_resume_continues_it(
    runs_api: httpx.AsyncClient, team: Path
) -> None:
    started = await submit(runs_api, team, plan=SLOW_PLAN)
    run_id = started["id"]
    await until_task_runs(runs_api, run_id)
    cancelled = await runs_api.post(f"/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    data = cancelled.json()
    assert data["state"] == "cancelled"
    assert data["tasks"][0]["state"] != "complete"
    assert data["dir"] == started["dir"]
    # Cancelling a run that ended is harmless and says how it ended.
    again = await runs_api.post(f"/v1/runs/{run_id}/cancel")
    assert again.json()["state"] == "cancelled"

    resumed = await runs_api.post(f"/v1/runs/{run_id}/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["resumed"] == 1
    assert resumed.json()["state"] in ("running", "planning")
    assert (await runs_api.post(f"/v1/runs/{run_id}/cancel")).json()["state"] == "cancelled"


async def test_a_resumed_run_leaves_no_lead_of_an_earlier_go_alive(
    runs_api: httpx.AsyncClient, team: Path, engine: RunEngine
) -> None:
    started = await submit(runs_api, team, plan=SLOW_PLAN)
    run_id = started["id"]
    await until_task_runs(runs_api, run_id)
    assert (await runs_api.post(f"/v1/runs/{run_id}/cancel")).json()["state"] == "cancelled"
    # What a daemon killed during synthesis leaves behind: the run's lead, hibernated
    # (the new daemon reaps its process but keeps the agent), never retired.
    leftover = await engine.runtime.spawn(f"{run_id}_lead", cwd=str(team.parent))
    assert leftover.status.value != "killed"

    resumed = await runs_api.post(f"/v1/runs/{run_id}/resume")
    assert resumed.status_code == 200, resumed.text
    await until_task_runs(runs_api, run_id)
    assert (await runs_api.post(f"/v1/runs/{run_id}/cancel")).json()["state"] == "cancelled"

    live = [
        a.name
        for a in await engine.runtime.list_agents()
        if a.name.startswith(run_id) and a.status.value != "killed"
    ]
    assert live == []


async def test_a_complete_run_cannot_be_resumed(runs_api: httpx.AsyncClient, team: Path) -> None:
    started = await submit(runs_api, team)
    await wait_done(runs_api, started["id"])
    response = await runs_api.post(f"/v1/runs/{started['id']}/resume")
    assert response.status_code == 400
    assert "complete" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("GET", "/report"),
        ("GET", "/wait"),
        ("POST", "/cancel"),
        ("POST", "/resume"),
    ],
)
async def test_unknown_run_is_404(runs_api: httpx.AsyncClient, method: str, suffix: str) -> None:
    response = await runs_api.request(method, f"/v1/runs/{UNKNOWN}{suffix}")
    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "run_not_found"
    assert UNKNOWN in error["message"]


@pytest.mark.parametrize(
    "run_id", ["nope", "run-1", "run-20240101-000000-ABCD", "run-20240101-000000-abcde"]
)
async def test_malformed_run_id_is_a_usage_error(runs_api: httpx.AsyncClient, run_id: str) -> None:
    response = await runs_api.get(f"/v1/runs/{run_id}")
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "invalid_name"
    assert "invalid run id" in error_of(response)["message"]


@pytest.mark.parametrize("request_text", ["", "   \n"])
async def test_empty_request_is_refused_and_nothing_is_created(
    runs_api: httpx.AsyncClient, team: Path, request_text: str
) -> None:
    body = {"request": request_text, "team": str(team), "plan": PLAN}
    response = await runs_api.post("/v1/runs", json=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_prompt"
    assert (await runs_api.get("/v1/runs")).json() == []


@pytest.mark.parametrize("budget", [0, -1.5])
async def test_budget_must_be_positive(
    runs_api: httpx.AsyncClient, team: Path, budget: float
) -> None:
    body = {"request": "x", "team": str(team), "plan": PLAN, "budget_usd": budget}
    response = await runs_api.post("/v1/runs", json=body)
    assert response.status_code == 400
    assert "budget must be greater than 0" in error_of(response)["message"]
    assert (await runs_api.get("/v1/runs")).json() == []


async def test_budget_is_recorded(runs_api: httpx.AsyncClient, team: Path) -> None:
    started = await submit(runs_api, team, budget_usd=2.5)
    assert started["budget_usd"] == 2.5
    await wait_done(runs_api, started["id"])


async def test_invalid_plan_names_every_problem(runs_api: httpx.AsyncClient, team: Path) -> None:
    plan = {
        "tasks": [
            {"task_id": "a", "worker": "carol", "description": "x"},
            {"task_id": "b", "worker": "bob", "description": "y", "dependencies": ["zzz"]},
        ]
    }
    body = {"request": "x", "team": str(team), "plan": plan}
    response = await runs_api.post("/v1/runs", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_plan"
    assert "carol" in error["message"]
    assert "zzz" in error["message"]


async def test_a_huge_chain_plan_is_refused_and_the_daemon_keeps_answering(
    runs_api: httpx.AsyncClient, team: Path
) -> None:
    # 10,000 tasks, each depending on the next: once the daemon spent its event loop
    # analysing the graph before refusing it.
    tasks = [
        {"task_id": f"t{i}", "worker": "alice", "description": "x", "dependencies": [f"t{i + 1}"]}
        for i in range(10_000)
    ]
    tasks[-1]["dependencies"] = []
    body = {"request": "x", "team": str(team), "plan": {"tasks": tasks}}
    refused, listed = await asyncio.gather(
        runs_api.post("/v1/runs", json=body), runs_api.get("/v1/runs")
    )
    assert refused.status_code == 400, refused.text
    error = error_of(refused)
    assert error["code"] == "invalid_plan"
    assert "has 10000 tasks; the limit is 100" in error["message"]
    assert listed.status_code == 200
    assert (await runs_api.get("/v1/runs")).json() == []


@pytest.mark.parametrize("budget", [True, "1", "Infinity"])
async def test_a_budget_must_be_a_finite_number(
    runs_api: httpx.AsyncClient, team: Path, budget: object
) -> None:
    body = json.dumps({"request": "x", "team": str(team), "plan": PLAN, "budget_usd": budget})
    if budget == "Infinity":
        body = body.replace('"Infinity"', "Infinity")  # what Python's JSON reader accepts
    response = await runs_api.post(
        "/v1/runs", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "budget_usd" in error_of(response)["message"]
    assert (await runs_api.get("/v1/runs")).json() == []


async def test_bad_team_file_is_a_usage_error(runs_api: httpx.AsyncClient, tmp_path: Path) -> None:
    body = {"request": "x", "team": str(tmp_path / "missing.toml"), "plan": PLAN}
    response = await runs_api.post("/v1/runs", json=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "team_error"
    assert "missing.toml" in error_of(response)["message"]


async def test_plan_and_plan_file_are_exclusive(
    runs_api: httpx.AsyncClient, team: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(PLAN))
    body = {"request": "x", "team": str(team), "plan": PLAN, "plan_file": str(plan_file)}
    response = await runs_api.post("/v1/runs", json=body)
    assert response.status_code == 400
    assert "not both" in error_of(response)["message"]
    only_file = {"request": "x", "team": str(team), "plan_file": str(plan_file)}
    started = await runs_api.post("/v1/runs", json=only_file)
    assert started.status_code == 201, started.text
    await wait_done(runs_api, started.json()["id"])


async def test_unknown_field_is_422(runs_api: httpx.AsyncClient, team: Path) -> None:
    body = {"request": "x", "team": str(team), "plan": PLAN, "budget": 3}
    response = await runs_api.post("/v1/runs", json=body)
    assert response.status_code == 422
    assert error_of(response)["code"] == "usage_error"


async def test_runs_need_a_run_engine(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/runs")
    assert response.status_code == 503
    assert error_of(response)["code"] == "daemon_error"
