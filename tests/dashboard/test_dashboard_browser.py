"""The dashboard in a real headless Chromium, against real daemons.

The page must load with the token from its URL fragment, show what the API
reports (the same numbers), and follow the daemon live: a request completing
or a task of a run changing state shows up without a reload. The orchestrated
run uses the real Claude Code CLI for every agent (the model is podium's fake
API) and leaves a screenshot taken mid-run in ``build/dashboard-run.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from podium import Client
from podium.cli import main as podium_main
from podium.testing import FakeAnthropic, Usage
from tests._threaded_daemon import ThreadedDaemon
from tests.orchestration._run_helpers import (
    example_team,
    lead_rules,
    plan_json,
    review_result,
    task,
    task_rule,
)

from .conftest import REPO, api_requests, open_dashboard, wait_for

SCREENSHOT = REPO / "build" / "dashboard-run.png"


def usd(value: float) -> str:
    """How the page shows a cost (its data-cost attribute holds the exact number)."""
    return f"${value:.4f}"


def shown_cost(page: Page, selector: str) -> float:
    value = page.locator(selector).get_attribute("data-cost")
    assert value is not None, selector
    return float(value)


def streams_events(daemon: ThreadedDaemon) -> bool:
    """Whether this daemon answers GET /v1/events with Server-Sent Events when asked to."""
    headers = {"Authorization": f"Bearer {daemon.token}", "Accept": "text/event-stream"}
    with httpx.stream("GET", f"{daemon.url}/v1/events", headers=headers, timeout=10) as response:
        return response.headers.get("content-type", "").startswith("text/event-stream")


def mark_document(page: Page) -> None:
    """Tag the loaded document: the tag is gone if the page reloads or navigates."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


# --- loading, token, live agents (EchoBackend as the model) --------------------------------


@pytest.mark.parametrize("transport", ["auto", "poll"])
def test_agents_update_live_with_the_apis_numbers(
    echo_daemon: ThreadedDaemon, page: Page, page_errors: list[str], transport: str
) -> None:
    seen = api_requests(page)
    query = "" if transport == "auto" else f"?transport={transport}"
    open_dashboard(page, echo_daemon, query=query)

    expect(page.locator("#main")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    # The event stream when the daemon serves one, else (or when told so) the long poll.
    expected = "sse" if transport == "auto" and streams_events(echo_daemon) else "poll"
    expect(page.locator("#connection")).to_have_attribute("data-transport", expected)
    # The token left the address bar for this tab's session storage.
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('podium.token')") == echo_daemon.token
    expect(page.locator("#agents-empty")).to_be_visible()
    mark_document(page)

    client = echo_daemon.client()
    with client:
        client.spawn("alice", model="haiku")
        row = page.locator("tr[data-agent='alice']")
        expect(row).to_be_visible()
        expect(row).to_have_attribute("data-requests", "0")
        expect(row.locator("[data-field='model']")).to_have_text("echo-haiku")

        # A slow turn: the row goes busy, then the completed request shows up live.
        request = client.ask("alice", "sleep:1.5")
        expect(row).to_have_attribute("data-status", "busy")
        expect(page.locator("#total-busy")).to_have_text("1")
        client.wait(request.id, timeout=20)
        expect(row).to_have_attribute("data-requests", "1")
        expect(row).to_have_attribute("data-status", "idle")
        alice = client.get_agent("alice")
        assert alice.request_count == 1
        assert alice.cost_usd > 0
        cost_cell = row.locator("[data-field='cost']")
        expect(cost_cell).to_have_text(usd(alice.cost_usd))
        assert float(cost_cell.get_attribute("data-cost") or "nan") == pytest.approx(
            alice.cost_usd, rel=1e-12
        )

        # A fork shows its lineage; the header totals are the API's.
        client.fork("alice", "bob")
        client.ask("bob", "second question", wait=True)
        client.ask("alice", "third question", wait=True)
        bob_row = page.locator("tr[data-agent='bob']")
        expect(bob_row).to_have_attribute("data-requests", "1")
        expect(bob_row.locator("[data-field='lineage']")).to_have_attribute(
            "data-forked-from", "alice"
        )
        expect(bob_row.locator("[data-field='lineage']")).to_contain_text("alice")
        expect(row).to_have_attribute("data-requests", "2")
        agents = client.list_agents()
        total = sum(a.cost_usd for a in agents)
        expect(page.locator("#total-requests")).to_have_text(
            str(sum(a.request_count for a in agents))
        )
        expect(page.locator("#total-cost")).to_have_text(usd(total))
        assert shown_cost(page, "#total-cost") == pytest.approx(total)
        assert shown_cost(page, "#agents-cost-total") == pytest.approx(total)
        for agent in agents:
            agent_row = page.locator(f"tr[data-agent='{agent.name}']")
            assert shown_cost(page, f"tr[data-agent='{agent.name}']") == pytest.approx(
                agent.cost_usd
            )
            expect(agent_row.locator("[data-field='cost']")).to_have_text(usd(agent.cost_usd))
        by_model: dict[str, float] = {}
        for agent in agents:
            by_model[agent.resolved_model or ""] = (
                by_model.get(agent.resolved_model or "", 0.0) + agent.cost_usd
            )
        for model, cost in by_model.items():
            selector = f"#agent-cost-by-model tr[data-model='{model}'] td.cost"
            assert shown_cost(page, selector) == pytest.approx(cost)

        # The transcript: every request of the agent, prompt and answer.
        row.click()
        expect(page.locator("#transcript-panel")).to_have_attribute("data-agent", "alice")
        turns = page.locator("#transcript li[data-request]")
        expect(turns).to_have_count(2)
        first = page.locator(f"#transcript li[data-request='{request.id}']")
        expect(first).to_have_attribute("data-state", "complete")
        expect(first.locator(".prompt pre")).to_have_text("sleep:1.5")
        expect(first.locator(".answer pre")).to_have_text("sleep:1.5")
        # ... and it follows new requests live too.
        client.ask("alice", "fourth question", wait=True)
        expect(turns).to_have_count(3)
        expect(turns.first.locator(".prompt pre")).to_have_text("fourth question")
        info = client.info("alice")
        expect(page.locator("#agent-info [data-field='cost']")).to_have_text(usd(info["cost_usd"]))

    # The feed shows the events as they came, newest first.
    expect(page.locator("#events li[data-kind='forked'][data-agent='bob']")).to_have_count(1)
    assert page.locator("#events li").first.get_attribute("data-kind") == "request_finished"

    # All without a reload; every API call carried the token, none in its URL.
    assert same_document(page)
    assert seen
    for sent in seen:
        assert sent.headers.get("authorization") == f"Bearer {echo_daemon.token}"
        assert echo_daemon.token not in sent.url
    assert page_errors == []


def test_no_token_shows_a_clear_message_and_calls_nothing(
    echo_daemon: ThreadedDaemon, page: Page, page_errors: list[str]
) -> None:
    seen = api_requests(page)
    page.goto(f"{echo_daemon.url}/dashboard/")
    box = page.locator("#auth-error")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("data-reason", "missing")
    expect(page.locator("#auth-error-title")).to_have_text("Token missing")
    expect(box).to_contain_text("podium dashboard")
    expect(page.locator("#main")).to_be_hidden()
    page.wait_for_timeout(1000)
    assert seen == []
    assert page_errors == []


def test_wrong_token_shows_a_clear_message_and_calls_nothing_else(
    echo_daemon: ThreadedDaemon, page: Page
) -> None:
    seen = api_requests(page)
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/v1/" in r.url else None)
    page.goto(f"{echo_daemon.url}/dashboard/#token=not-the-token")
    box = page.locator("#auth-error")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("data-reason", "invalid")
    expect(page.locator("#auth-error-title")).to_have_text("Token invalid")
    expect(page.locator("#auth-error-detail")).to_contain_text("refused")
    expect(page.locator("#main")).to_be_hidden()
    expect(page.locator("#connection")).to_have_attribute("data-state", "unauthorized")
    page.wait_for_timeout(1000)
    # One call found out the token is wrong; nothing else was asked, and it is forgotten.
    assert [urlpath(r.url) for r in seen] == ["/v1/agents"]
    assert statuses == [401]
    assert page.evaluate("sessionStorage.getItem('podium.token')") is None
    assert "not-the-token" not in page.url


def urlpath(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("?")[0]


# --- an orchestrated run (the real Claude Code CLI; the fake API as the model) -------------

# Three tasks start together (max_parallel 3); "secrets" and "deps" finish soon,
# "sql" then starts, "perf" runs long: mid-run some are complete, some running,
# some pending. Each answer is billed from its usage, so costs differ per task.
PLAN = plan_json(
    task("secrets", "marie"),
    task("deps", "anga"),
    task("perf", "anga"),
    task("sql", "marie", ("secrets",)),
    task("tests", "fabien", ("sql", "deps")),
    task("summary", "fabien", ("tests", "perf")),
)
DELAYS = {"secrets": 0.5, "deps": 1.0, "perf": 12.0, "sql": 8.0, "tests": 1.0, "summary": 0.5}
SYNTHESIS = "# Review\n\nEverything is in results/."


def script_the_run(fake: FakeAnthropic) -> None:
    for n, (task_id, delay) in enumerate(DELAYS.items()):
        answer = review_result("LOW", f"app/{task_id}.py:1", f"Looked at {task_id}.", "None.")
        fake.add_rule(
            task_rule(
                task_id,
                answer,
                delay=delay,
                usage=Usage(input_tokens=200 + 50 * n, output_tokens=300 + 120 * n),
            )
        )
    for rule in lead_rules("", SYNTHESIS):
        fake.add_rule(rule)


def states_in_page(page: Page) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#task-graph [data-task]')]
            .map((node) => [node.dataset.task, node.dataset.state]))"""
    )
    return result


@pytest.mark.cli
def test_run_graph_follows_the_run_live_with_the_apis_costs(
    cli_daemon: ThreadedDaemon,
    page: Page,
    page_errors: list[str],
    fake: FakeAnthropic,
    workdir: Path,
    record_property: Any,
) -> None:
    team = example_team(workdir, limits={"budget_usd": 5.0, "max_parallel": 3})
    script_the_run(fake)
    open_dashboard(page, cli_daemon)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    mark_document(page)

    with cli_daemon.client() as client:
        run = client.submit_run(
            "Review this code base", team=team, cwd=workdir, plan=json.loads(PLAN)
        )
        detail = page.locator(f"#run-detail[data-run='{run.id}']")
        expect(detail).to_be_visible()
        expect(page.locator(f"#runs tr[data-run='{run.id}']")).to_be_visible()
        nodes = page.locator("#task-graph [data-task]")
        expect(nodes).to_have_count(6)
        edges = page.locator("#task-graph .edge")
        expect(edges).to_have_count(5)
        expect(page.locator("#task-graph .edge[data-from='sql'][data-to='tests']")).to_have_count(1)

        # Mid-run: the first tasks complete while others still run.
        seen_states: list[dict[str, str]] = []

        def mid_run() -> bool:
            states = states_in_page(page)
            seen_states.append(states)
            values = list(states.values())
            return values.count("complete") >= 2 and values.count("running") >= 2

        wait_for(mid_run, timeout=60)
        # The page agrees with the API at this moment.
        api_states = {t.task_id: t.state.value for t in client.get_run(run.id).tasks}
        assert api_states["secrets"] == "complete"
        assert api_states["perf"] == "running"
        assert states_in_page(page)["perf"] == "running"
        assert states_in_page(page)["summary"] == "pending"
        # Show the transcript of a finished task's agent, then take the picture.
        page.locator("#task-graph [data-task='secrets']").click()
        expect(page.locator("#transcript li[data-request]")).to_have_count(1)
        expect(page.locator("#transcript .answer pre")).to_contain_text("Looked at secrets.")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        record_property("dashboard_screenshot", str(SCREENSHOT))

        final = client.wait_run(run.id, timeout=120)
        assert final.state.value == "complete", final.error
        expect(detail).to_have_attribute("data-state", "complete")
        expect(page.locator("#task-graph [data-task][data-state='complete']")).to_have_count(6)

        # Each task's state went pending -> running -> complete in front of us.
        perf_states = [s.get("perf") for s in seen_states]
        assert "running" in perf_states
        assert "pending" not in perf_states[perf_states.index("running") :]

        # The numbers are the API's: per task, per worker, per model and in total.
        run_json = client.run_info(run.id)
        expect(page.locator("#run-cost-total")).to_have_text(usd(run_json["cost_usd"]))
        assert shown_cost(page, "#run-cost-total") == pytest.approx(run_json["cost_usd"])
        assert run_json["cost_usd"] > 0
        assert shown_cost(page, "#run-cost-synthesis") == pytest.approx(
            run_json["synthesis_cost_usd"]
        )
        for task_json in run_json["tasks"]:
            node = f"#task-graph [data-task='{task_json['task_id']}']"
            assert task_json["cost_usd"] > 0
            assert shown_cost(page, node) == pytest.approx(task_json["cost_usd"])
            expect(page.locator(f"{node} .node-cost")).to_have_text(usd(task_json["cost_usd"]))
        for worker, cost in run_json["cost_by_worker"].items():
            assert shown_cost(page, f"#cost-by-worker tr[data-worker='{worker}'] td.cost") == (
                pytest.approx(cost)
            )
        expect(page.locator("#cost-by-worker tbody tr")).to_have_count(
            len(run_json["cost_by_worker"])
        )
        for model, cost in run_json["cost_by_model"].items():
            assert shown_cost(page, f"#cost-by-model tr[data-model='{model}'] td.cost") == (
                pytest.approx(cost)
            )
        expect(page.locator(f"#runs tr[data-run='{run.id}'] td.cost")).to_have_text(
            usd(run_json["cost_usd"])
        )
        expect(page.locator("#events li[data-kind='run_finished']")).to_have_count(1)

    assert same_document(page)
    assert page_errors == []


# --- the command -----------------------------------------------------------------------------


def test_podium_dashboard_prints_a_working_address(
    echo_daemon: ThreadedDaemon, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    assert podium_main(["dashboard", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    url = printed["url"]
    assert url == f"{echo_daemon.url}/dashboard/#token={echo_daemon.token}"
    assert printed["opened"] is False

    assert podium_main(["dashboard"]) == 0
    assert capsys.readouterr().out.strip() == url

    with Client(echo_daemon.url, echo_daemon.token) as client:
        client.spawn("carol")
    page.goto(url)
    expect(page.locator("tr[data-agent='carol']")).to_be_visible()


# --- the graph's node selection survives redraws --------------------------------------------

GRAPH_PROBE = """async () => {
  const { bindGraph, drawGraph } = await import("./graph.js");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  document.body.append(svg);
  const picked = [];
  bindGraph(svg, (agent, task) => picked.push([agent, task]));
  const run = (state) => ({
    id: "run-x",
    state: "running",
    tasks: [
      { task_id: "a", worker: "w", state: "complete", agent: "run-x-a", dependencies: [] },
      { task_id: "b", worker: "w", state, agent: null, dependencies: ["a"] },
    ],
  });
  const node = (id) => svg.querySelector(`[data-task="${id}"] rect`);
  const press = (target, type) =>
    target.dispatchEvent(new PointerEvent(type, { bubbles: true, button: 0 }));
  drawGraph(svg, run("pending"));
  // Pressed on one drawing of the node, released on the next: still a pick.
  press(node("a"), "pointerdown");
  drawGraph(svg, run("running"));
  press(node("a"), "pointerup");
  // A task without an agent yet is not pickable; a press that ends elsewhere is no pick.
  press(node("b"), "pointerdown");
  press(node("b"), "pointerup");
  press(node("a"), "pointerdown");
  press(node("b"), "pointerup");
  // The keyboard picks the focused node, and a redraw keeps the focus on it.
  svg.querySelector('[data-task="a"]').focus();
  drawGraph(svg, run("complete"));
  const focused = document.activeElement?.dataset?.task ?? null;
  const enter = new KeyboardEvent("keydown", { key: "Enter", bubbles: true });
  document.activeElement.dispatchEvent(enter);
  svg.remove();
  return { picked, focused };
}"""


def test_a_task_node_is_picked_even_when_redrawn_between_press_and_release(
    echo_daemon: ThreadedDaemon, page: Page, page_errors: list[str]
) -> None:
    open_dashboard(page, echo_daemon)
    expect(page.locator("#main")).to_be_visible()
    result = page.evaluate(GRAPH_PROBE)
    assert result == {"picked": [["run-x-a", "a"], ["run-x-a", "a"]], "focused": "a"}
    assert page_errors == []


# --- a code-changing run: its integration branch --------------------------------------------


def test_a_worktree_run_shows_its_integration_branch_and_merged_tasks(
    cli_daemon: ThreadedDaemon,
    page: Page,
    page_errors: list[str],
    fake: FakeAnthropic,
    tmp_path: Path,
) -> None:
    from tests.e2e.test_run_integration import make_project, synthesis, writes

    project = make_project(tmp_path / "app")
    writes(fake, "PODIUM TASK a", "a.txt", "a\n")
    writes(fake, "PODIUM TASK b", "b.txt", "b\n")
    synthesis(fake)
    open_dashboard(page, cli_daemon)
    plan = {
        "tasks": [
            {"task_id": "a", "worker": "alice", "description": "Write a."},
            {"task_id": "b", "worker": "bob", "description": "Write b.", "dependencies": ["a"]},
        ]
    }
    with cli_daemon.client() as client:
        run = client.submit_run("Write files", team=project, cwd=project, plan=plan)
        final = client.wait_run(run.id, timeout=120)
        assert final.state.value == "complete", final.error
    line = page.locator("#run-integration")
    expect(line).to_contain_text(f"podium/run/{run.id}")
    expect(line.locator("[data-merged]")).to_have_count(2)
    expect(line.locator("[data-merged='a']")).to_contain_text("a merged")
    expect(line.locator("[data-conflicted]")).to_have_count(0)
    assert page_errors == []
