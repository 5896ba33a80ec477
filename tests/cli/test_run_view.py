"""How a run is drawn: plan tree, task table, costs, reasons (from hand-built records)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, RenderableType

from podium.cli._run_view import (
    cost_lines,
    cost_table,
    format_cost,
    format_duration,
    live_view,
    path_lines,
    plan_tree,
    reasons_table,
    runs_table,
    show_view,
    task_elapsed,
    tasks_done,
)
from podium.orchestration._run_records import RunRecord, RunState, TaskRecord, TaskState

T0 = 1_700_000_000.0


def render(renderable: RenderableType, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def make_run(**changes: object) -> RunRecord:
    tasks = (
        TaskRecord(
            task_id="scan",
            worker="alice",
            description="scan",
            state=TaskState.COMPLETE,
            model="sonnet",
            attempts=1,
            cost_usd=0.25,
            started_at=T0 + 10,
            finished_at=T0 + 40,
        ),
        TaskRecord(
            task_id="fix",
            worker="bob",
            description="fix",
            dependencies=("scan",),
            state=TaskState.FAILED,
            model="haiku",
            attempts=2,
            cost_usd=0.5,
            started_at=T0 + 40,
            finished_at=T0 + 100,
            reason="check `pytest -q` exited 1",
        ),
        TaskRecord(
            task_id="docs",
            worker="alice",
            description="docs",
            dependencies=("scan",),
            state=TaskState.RUNNING,
            model="sonnet",
            attempts=1,
            cost_usd=0.125,
            started_at=T0 + 40,
        ),
        TaskRecord(
            task_id="ship",
            worker="bob",
            description="ship",
            dependencies=("fix", "docs"),
            state=TaskState.SKIPPED,
            reason="dependency fix failed",
        ),
    )
    values: dict[str, object] = {
        "id": "run-20240101-120000-abcd",
        "request": "review the code",
        "team_path": "/project/podium.toml",
        "team_name": "crew",
        "cwd": "/project",
        "state": RunState.RUNNING,
        "created_at": T0,
        "updated_at": T0 + 100,
        "budget_usd": 5.0,
        "cost_usd": 1.0,
        "planning_cost_usd": 0.1,
        "synthesis_cost_usd": 0.025,
        "tasks": tasks,
    }
    values.update(changes)
    return RunRecord(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.04, "0.0s"), (8.25, "8.2s"), (245, "4m05s"), (7380, "2h03m"), (-3, "0.0s")],
)
def test_durations(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_costs_have_four_decimals() -> None:
    assert format_cost(0.0123456) == "$0.0123"
    assert format_cost(None) == "$0.0000"


def test_elapsed_runs_until_now_then_stops_at_finish() -> None:
    run = make_run()
    assert task_elapsed(run.task("scan"), now=T0 + 1000) == 30
    assert task_elapsed(run.task("docs"), now=T0 + 50) == 10
    assert task_elapsed(run.task("ship"), now=T0 + 50) is None
    assert tasks_done(run) == (3, 4)


def test_tree_puts_each_task_under_each_dependency() -> None:
    lines = render(plan_tree(make_run(), now=T0 + 100)).splitlines()
    assert "4 task(s)" in lines[0]

    def indent(task_id: str) -> list[int]:
        found = [line for line in lines if f" {task_id}  " in line]
        return [line.index(task_id) for line in found]

    assert len(indent("scan")) == 1
    # fix and docs depend on scan: one level deeper; ship is under both of them.
    assert indent("fix") == indent("docs") == [indent("scan")[0] + 4]
    assert indent("ship") == [indent("fix")[0] + 4] * 2
    text = "\n".join(lines)
    assert text.index(" scan ") < text.index(" fix ") < text.index(" docs ")
    # Reasons of tasks that did not complete are in the tree.
    assert "dependency fix failed" in text
    assert "exited 1" in text


def test_diamond_dependents_are_drawn_once() -> None:
    run = make_run()
    after = TaskRecord(
        task_id="after",
        worker="alice",
        description="after",
        dependencies=("ship",),
    )
    text = render(plan_tree(run.replace(tasks=(*run.tasks, after)), now=T0))
    assert text.count(" after ") == 1
    assert "(dependents above)" in text


def test_roots_with_unknown_dependencies_still_appear() -> None:
    lone = TaskRecord(task_id="lone", worker="bob", description="x", dependencies=("gone",))
    text = render(plan_tree(make_run(tasks=(lone,)), now=T0))
    assert " lone " in text


def test_cost_lines_sum_tasks_when_the_run_has_no_breakdown() -> None:
    lines = {(c.kind, c.name): c.cost_usd for c in cost_lines(make_run())}
    assert lines[("worker", "alice")] == pytest.approx(0.375)
    assert lines[("worker", "bob")] == pytest.approx(0.5)
    assert lines[("model", "sonnet")] == pytest.approx(0.375)
    assert lines[("model", "haiku")] == pytest.approx(0.5)
    assert lines[("planning", "orchestrator")] == pytest.approx(0.1)
    assert lines[("synthesis", "orchestrator")] == pytest.approx(0.025)
    assert lines[("total", "run")] == pytest.approx(1.0)
    assert ("model", "default") not in lines  # the skipped task never ran


def test_cost_lines_prefer_the_runs_own_breakdown() -> None:
    run = make_run(cost_by_worker={"alice": 0.4, "bob": 0.6}, cost_by_model={"echo": 1.0})
    lines = {(c.kind, c.name): c.cost_usd for c in cost_lines(run)}
    assert lines[("worker", "alice")] == 0.4
    assert lines[("model", "echo")] == 1.0
    assert ("model", "sonnet") not in lines


def test_cost_table_shows_every_line_and_the_budget() -> None:
    text = render(cost_table(make_run()))
    for fragment in ("alice", "$0.3750", "bob", "$0.5000", "haiku", "planning", "$0.1000"):
        assert fragment in text
    assert "synthesis" in text
    assert "$0.0250" in text
    assert "total" in text
    assert "$1.0000" in text
    assert "budget" in text
    assert "$5.0000" in text


def test_reasons_table_lists_only_tasks_that_did_not_complete() -> None:
    table = reasons_table(make_run())
    assert table is not None
    text = render(table)
    assert "dependency fix failed" in text
    assert "exited 1" in text
    first_words = {line.split()[0] for line in text.splitlines() if line.strip()}
    assert {"fix", "ship"} <= first_words
    assert not {"scan", "docs"} & first_words
    complete = make_run(tasks=(make_run().task("scan"),))
    assert reasons_table(complete) is None


def test_live_view_has_the_header_and_one_row_per_task() -> None:
    text = render(live_view(make_run(), now=T0 + 100), width=80)
    header = text.splitlines()[:2]
    assert all(len(line.rstrip()) <= 80 for line in text.splitlines())
    for fragment in ("run-20240101-120000-abcd", "running", "crew"):
        assert fragment in header[0]
    for fragment in ("tasks 3/4", "$1.0000 / $5.0000", "elapsed 1m40s"):
        assert fragment in header[1]
    for task_id, state in (("scan", "complete"), ("fix", "failed"), ("ship", "skipped")):
        row = next(line for line in text.splitlines() if line.startswith(f"{task_id} "))
        assert state in row
    docs = next(line for line in text.splitlines() if line.startswith("docs "))
    assert "1m00s" in docs  # running since T0 + 40
    assert "$0.1250" in docs


def test_live_view_while_planning() -> None:
    text = render(live_view(make_run(state=RunState.PLANNING, tasks=()), now=T0))
    assert "planning" in text


def test_show_view_has_details_and_timings() -> None:
    run = make_run(state=RunState.FAILED, finished_at=T0 + 120, error="1 task(s) did not complete")
    text = render(show_view(run, now=T0 + 500))
    for fragment in (
        "review the code",
        "crew",
        "1 task(s) did not complete",
        "what did not complete",
        "costs",
        "timings",
    ):
        assert fragment in text
    timings = text[text.index("timings") :].splitlines()

    def row(name: str) -> list[str]:
        return next(line.split() for line in timings if line.startswith(name + " "))

    assert row("planning")[-1] == "10.0s"  # until the first task started
    assert row("total")[-2:] == ["2m00s", "-"]  # created to finished, not to now
    assert row("fix")[-2:] == ["1m00s", "-"]
    assert row("ship")[1:] == ["-", "-", "-", "-"]  # never started


def test_path_lines_name_every_file_of_the_run() -> None:
    run = make_run(report_path="report.md")
    lines = [line.plain for line in path_lines(run, "/home/runs/run-20240101-120000-abcd")]
    assert lines == [
        "team file /project/podium.toml",
        "cwd       /project",
        "directory /home/runs/run-20240101-120000-abcd",
        "report    /home/runs/run-20240101-120000-abcd/report.md",
    ]
    assert [line.plain for line in path_lines(run)][-1] == "cwd       /project"


def test_user_text_is_not_markup() -> None:
    run = make_run(tasks=(make_run().task("fix").replace(reason="[red]boom[/red]"),))
    assert "[red]boom[/red]" in render(reasons_table(run) or "")


def test_runs_table_rows() -> None:
    text = render(runs_table([make_run(), make_run(id="run-20240102-120000-0000", tasks=())]))
    assert "run-20240101-120000-abcd" in text
    assert "3/4" in text
    assert "run-20240102-120000-0000" in text
    assert "0/0" in text
    assert "crew" in text


def test_interrupted_tasks_are_not_counted_as_done() -> None:
    # The daemon stopped under "docs": a resume runs it again, so it has not ended.
    run = make_run(state=RunState.INTERRUPTED)
    tasks = tuple(
        t.replace(state=TaskState.INTERRUPTED, finished_at=T0 + 60) if t.task_id == "docs" else t
        for t in run.tasks
    )
    run = make_run(state=RunState.INTERRUPTED, tasks=tasks)
    assert tasks_done(run) == (3, 4)
    assert "3/4" in render(runs_table([run]))
    only_interrupted = make_run(tasks=tuple(t.replace(state=TaskState.INTERRUPTED) for t in tasks))
    assert tasks_done(only_interrupted) == (0, 4)
    assert "0/4" in render(runs_table([only_interrupted]))
