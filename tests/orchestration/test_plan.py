"""Plans: a model's JSON answer -> a validated DAG, or every problem named by its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from podium import UsageError
from podium.orchestration._plan import (
    MAX_PLAN_TASKS,
    PLAN_SCHEMA,
    Plan,
    PlanError,
    PlannedTask,
    _cycles,
    extract_json,
    load_plan_file,
    parse_plan,
    plan_from_data,
)

WORKERS = ("marie", "anga", "fabien")


def task(task_id: str, worker: str = "marie", *deps: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"task_id": task_id, "worker": worker, "description": f"do {task_id}"}
    if deps:
        data["dependencies"] = list(deps)
    return data | extra


def errors_of(data: Any, workers: tuple[str, ...] = WORKERS) -> tuple[str, ...]:
    with pytest.raises(PlanError) as info:
        plan_from_data(data, workers)
    return info.value.errors


def plan_of(*tasks: dict[str, Any]) -> Plan:
    return plan_from_data({"tasks": list(tasks)}, WORKERS)


# --- a valid plan --------------------------------------------------------------------


def test_valid_plan_keeps_every_field_and_fills_defaults() -> None:
    plan = plan_of(
        task("scan", "anga"),
        task("fix", "marie", "scan", priority=5, timeout=120),
    )
    assert plan.tasks == (
        PlannedTask(task_id="scan", worker="anga", description="do scan"),
        PlannedTask(
            task_id="fix",
            worker="marie",
            description="do fix",
            dependencies=("scan",),
            priority=5,
            timeout=120.0,
        ),
    )
    assert plan.task("fix").dependencies == ("scan",)


def test_bare_list_is_accepted_as_the_task_list() -> None:
    assert plan_from_data([task("scan")], WORKERS) == plan_of(task("scan"))


def test_repeated_dependency_is_harmless_and_kept_once() -> None:
    plan = plan_of(task("a"), task("b", "marie", "a", "a"))
    assert plan.task("b").dependencies == ("a",)


def test_null_timeout_means_the_workers_own() -> None:
    assert plan_of(task("a", timeout=None)).task("a").timeout is None


# --- every problem, each naming where ------------------------------------------------


def test_unknown_worker_names_the_task_and_lists_the_team() -> None:
    assert errors_of([task("scan", "bob")]) == (
        "tasks[0].worker: 'bob' is not a worker of this team (workers: anga, fabien, marie)",
    )


def test_duplicate_id_names_both_positions() -> None:
    assert errors_of([task("scan"), task("scan", "anga")]) == (
        "tasks[1].task_id: duplicate id 'scan' (also tasks[0])",
    )


def test_unknown_and_self_dependencies() -> None:
    errors = errors_of([task("a", "marie", "a"), task("b", "marie", "build")])
    assert errors == (
        "tasks[0].dependencies: a task cannot depend on itself",
        "tasks[1].dependencies: 'build' is not a task in this plan",
    )


def test_missing_field_is_reported_with_its_json_path() -> None:
    assert errors_of([{"task_id": "a", "worker": "marie"}]) == (
        "tasks[0]: 'description' is a required property",
    )


def test_misspelt_key_gets_a_suggestion() -> None:
    assert errors_of([task("a") | {"depends_on": ["x"]}]) == (
        "tasks[0]: unknown key 'depends_on'; did you mean 'dependencies'?",
    )


def test_bad_task_id_explains_the_rule() -> None:
    (error,) = errors_of([task("Scan Repo")])
    assert error.startswith("tasks[0].task_id: task id 'Scan Repo' is not allowed")
    assert "lowercase letters" in error


def test_task_id_longer_than_a_path_segment_allows() -> None:
    (error,) = errors_of([task("a" * 65)])
    assert error.startswith("tasks[0].task_id: task id")
    assert "65 characters; the limit is 64" in error


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"priority": 1001}, "tasks[0].priority: must be at most 1000, got 1001"),
        ({"priority": -1001}, "tasks[0].priority: must be at least -1000, got -1001"),
        ({"priority": 1.5}, "tasks[0].priority: must be an integer, got 1.5"),
        ({"priority": True}, "tasks[0].priority: must be an integer, got True"),
        ({"timeout": 0}, "tasks[0].timeout: must be greater than 0, got 0"),
        ({"timeout": 86401}, "tasks[0].timeout: must be at most 86400, got 86401"),
        ({"timeout": "10m"}, "tasks[0].timeout: must be a number or null, got '10m'"),
        ({"timeout": float("nan")}, "tasks[0].timeout: must be a finite number of seconds"),
        ({"description": "   \n"}, "tasks[0].description: must not be empty"),
        ({"description": ""}, "tasks[0].description: must not be empty"),
        ({"dependencies": "a"}, "tasks[0].dependencies: must be a list, got 'a'"),
        ({"worker": 3}, "tasks[0].worker: must be a string, got 3"),
    ],
)
def test_field_rules(extra: dict[str, Any], error: str) -> None:
    assert errors_of([task("t") | extra]) == (error,)


def test_description_over_64_kib_is_rejected_with_its_size() -> None:
    assert errors_of([task("a", description="é" * 40_000)]) == (
        "tasks[0].description: is 80000 bytes; the limit is 65536 (64 KiB)",
    )


def test_description_of_exactly_64_kib_is_accepted() -> None:
    assert plan_of(task("a", description="x" * 65536)).task("a").description == "x" * 65536


def test_task_count_limits() -> None:
    assert errors_of({"tasks": []}) == ("tasks: a plan needs at least one task",)
    too_many = [task(f"t{i}") for i in range(MAX_PLAN_TASKS + 1)]
    assert errors_of(too_many) == (f"tasks: has 101 tasks; the limit is {MAX_PLAN_TASKS}",)
    assert len(plan_of(*too_many[:MAX_PLAN_TASKS]).tasks) == MAX_PLAN_TASKS


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("just text", "top level: must be a JSON object {\"tasks\": [...]}, got 'just text'"),
        ({}, "top level: 'tasks' is a required property"),
        ({"tasks": [], "notes": "x"}, "top level: unknown key 'notes'; known keys: tasks"),
        ([5], "tasks[0]: must be an object, got 5"),
    ],
)
def test_wrong_shapes(data: Any, error: str) -> None:
    assert error in errors_of(data)


def test_all_problems_are_collected_in_task_order() -> None:
    with pytest.raises(PlanError) as info:
        plan_from_data(
            [
                task("a", "bob", "zzz"),
                {"task_id": "b", "worker": "marie"},
                task("a", "anga"),
            ],
            WORKERS,
        )
    err = info.value
    assert err.errors == (
        "tasks[0].worker: 'bob' is not a worker of this team (workers: anga, fabien, marie)",
        "tasks[0].dependencies: 'zzz' is not a task in this plan",
        "tasks[1]: 'description' is a required property",
        "tasks[2].task_id: duplicate id 'a' (also tasks[0])",
    )
    assert str(err) == "plan is invalid:\n" + "\n".join(f"- {e}" for e in err.errors)
    assert err.code == "invalid_plan"
    assert isinstance(err, UsageError)
    assert err.context["errors"] == list(err.errors)


def test_a_flood_of_problems_is_capped() -> None:
    tasks = [task(f"t{i}", "bob", "nope") for i in range(MAX_PLAN_TASKS)]
    errors = errors_of(tasks)
    assert len(errors) == 100
    assert errors[-1] == "... and 101 more problems"


def test_source_names_where_the_plan_came_from() -> None:
    with pytest.raises(PlanError) as info:
        plan_from_data([task("a", "bob")], WORKERS, source="orchestrator's plan")
    assert str(info.value).startswith("orchestrator's plan: plan is invalid:\n- tasks[0].worker")
    assert info.value.context["source"] == "orchestrator's plan"


# --- cycles --------------------------------------------------------------------------


def test_cycle_reports_the_actual_path() -> None:
    # a needs b, b needs c, c needs a.
    errors = errors_of([task("a", "marie", "b"), task("b", "marie", "c"), task("c", "marie", "a")])
    assert errors == ("cycle: a -> b -> c -> a (each task depends on the next)",)


def test_cycle_path_leaves_out_tasks_that_only_hang_off_it() -> None:
    errors = errors_of(
        [
            task("root"),
            task("x", "marie", "root", "z"),
            task("y", "marie", "x"),
            task("z", "marie", "y"),
            task("tail", "marie", "z"),
        ]
    )
    assert errors == ("cycle: x -> z -> y -> x (each task depends on the next)",)


def test_each_separate_cycle_is_reported_once() -> None:
    errors = errors_of(
        [
            task("a", "marie", "b"),
            task("b", "marie", "a"),
            task("c", "marie", "d"),
            task("d", "marie", "e"),
            task("e", "marie", "c", "d"),
        ]
    )
    assert errors == (
        "cycle: a -> b -> a (each task depends on the next)",
        "cycle: c -> d -> e -> c (each task depends on the next)",
    )


def test_plan_constructor_refuses_a_cycle() -> None:
    with pytest.raises(PlanError, match=r"cycle: a -> b -> a"):
        Plan(
            tasks=(
                PlannedTask(task_id="a", worker="marie", description="x", dependencies=("b",)),
                PlannedTask(task_id="b", worker="marie", description="x", dependencies=("a",)),
            )
        )


# --- graph queries -------------------------------------------------------------------


def diamond() -> Plan:
    return plan_of(
        task("report", "marie", "lint", "test"),
        task("lint", "anga", "checkout"),
        task("test", "fabien", "checkout"),
        task("checkout", "anga"),
        task("notes", "marie"),
    )


def test_topological_order_runs_dependencies_first_and_keeps_plan_order() -> None:
    assert diamond().topological_order() == ("checkout", "lint", "test", "report", "notes")
    flat = plan_of(task("c"), task("a"), task("b"))
    assert flat.topological_order() == ("c", "a", "b")


def test_dependents_and_depth() -> None:
    plan = diamond()
    assert plan.dependents("checkout") == ("lint", "test")
    assert plan.dependents("report") == ()
    assert plan.depth() == {"report": 2, "lint": 1, "test": 1, "checkout": 0, "notes": 0}


def test_critical_path_is_the_longest_chain() -> None:
    plan = diamond()
    total, path = plan.critical_path({"checkout": 1, "lint": 2, "test": 5, "report": 1, "notes": 3})
    assert (total, path) == (7.0, ("checkout", "test", "report"))


def test_critical_path_counts_missing_durations_as_zero_and_breaks_ties_by_plan_order() -> None:
    total, path = diamond().critical_path({})
    assert (total, path) == (0.0, ("checkout", "lint", "report"))
    total, path = diamond().critical_path({"checkout": 1, "lint": 1, "test": 1})
    assert (total, path) == (2.0, ("checkout", "lint", "report"))
    assert plan_of(task("x")).critical_path({"x": 4.5}) == (4.5, ("x",))


def test_unknown_task_is_a_plan_error_naming_the_known_ones() -> None:
    with pytest.raises(PlanError) as info:
        diamond().task("deploy")
    assert info.value.errors == (
        "no task 'deploy' in this plan (tasks: report, lint, test, checkout, notes)",
    )
    with pytest.raises(PlanError):
        diamond().dependents("deploy")


# --- round trips ---------------------------------------------------------------------


def test_to_dict_round_trips_and_is_itself_a_valid_plan() -> None:
    plan = plan_of(task("a", timeout=30.5, priority=-3), task("b", "anga", "a"))
    data = json.loads(json.dumps(plan.to_dict()))
    assert Plan.from_dict(data) == plan
    assert plan_from_data(data, WORKERS) == plan


def test_plan_error_survives_being_rebuilt_from_the_wire() -> None:
    err = PlanError(["tasks[0]: x", "cycle: a -> b -> a"], source="plan.json", run_id="run-1")
    data = err.to_dict()
    rebuilt = PlanError(data["message"], **data["context"])
    assert rebuilt.errors == err.errors
    assert str(rebuilt) == str(err)
    assert rebuilt.context == err.context


def test_plan_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(PLAN_SCHEMA)
    assert PLAN_SCHEMA["properties"]["tasks"]["maxItems"] == MAX_PLAN_TASKS


# --- extracting JSON from an answer --------------------------------------------------


PLAN_JSON = '{"tasks": [{"task_id": "a", "worker": "marie", "description": "d"}]}'


@pytest.mark.parametrize(
    "answer",
    [
        PLAN_JSON,
        f"\n  {PLAN_JSON}  \n",
        f"\ufeff{PLAN_JSON}",
        f"Here is the plan:\n```json\n{PLAN_JSON}\n```\nGood luck.",
        f"```\n{PLAN_JSON}\n```",
        f"I split it [1] into one task: {PLAN_JSON} and that is all.",
        f"{PLAN_JSON}\n\nThis plan keeps things simple.",
        f"```python\nx = {{1: 2}}\n```\n```json\n{PLAN_JSON}\n```",
    ],
)
def test_extract_json_finds_the_plan(answer: str) -> None:
    assert extract_json(answer) == json.loads(PLAN_JSON)


def test_extract_json_finds_a_bare_task_list_in_prose() -> None:
    answer = 'See [1]. Tasks: [{"task_id": "a"}] done'
    assert extract_json(answer) == [{"task_id": "a"}]


def test_extract_json_error_points_at_the_line_in_the_answer() -> None:
    answer = 'Plan:\n```json\n{"tasks": [\n  {"task_id": "a",}\n]}\n```\n'
    with pytest.raises(PlanError) as info:
        extract_json(answer)
    assert info.value.errors == (
        "answer is not JSON: Expecting property name enclosed in double quotes at line 4 column 19",
    )


def test_extract_json_error_for_prose_without_json() -> None:
    with pytest.raises(PlanError) as info:
        extract_json("I could not make a plan.")
    assert info.value.errors == ("answer is not JSON: Expecting value at line 1 column 1",)


def test_extract_json_refuses_an_empty_answer() -> None:
    with pytest.raises(PlanError, match="answer is not JSON: the answer is empty"):
        extract_json("  \n")


def test_extract_json_survives_absurd_nesting() -> None:
    with pytest.raises(PlanError, match="answer is not JSON"):
        extract_json("[" * 100_000)


def test_parse_plan_names_the_source_for_bad_json_and_bad_plans() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan("no plan", WORKERS, source="orchestrator's plan")
    assert str(info.value).startswith("orchestrator's plan: plan is invalid:\n- answer is not")
    with pytest.raises(PlanError) as info:
        parse_plan('```json\n[{"task_id": "a", "worker": "x", "description": "d"}]\n```', WORKERS)
    assert info.value.errors[0].startswith("tasks[0].worker: 'x' is not a worker")
    assert parse_plan(f"ok:\n{PLAN_JSON}", WORKERS).task("a").worker == "marie"


# --- plan files ----------------------------------------------------------------------


def test_load_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(PLAN_JSON, encoding="utf-8")
    assert load_plan_file(path, WORKERS).task("a").description == "d"


def file_error(path: Path) -> PlanError:
    with pytest.raises(PlanError) as info:
        load_plan_file(path, WORKERS)
    assert str(info.value).startswith(f"{path}: plan is invalid:\n- ")
    assert info.value.context["source"] == str(path)
    return info.value


def test_plan_file_errors_name_the_file(tmp_path: Path) -> None:
    assert file_error(tmp_path / "nope.json").errors == ("file does not exist",)
    assert file_error(tmp_path).errors == ("is not a file",)

    big = tmp_path / "big.json"
    big.write_bytes(b" " * (1024 * 1024 + 1))
    assert file_error(big).errors == ("file is larger than 1048576 bytes (1 MiB)",)

    bad = tmp_path / "bad.json"
    bad.write_text('{"tasks": [\n  {"task_id": "a"\n]}', encoding="utf-8")
    assert file_error(bad).errors == ("not JSON: Expecting ',' delimiter at line 3 column 1",)

    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe{}")
    assert file_error(binary).errors[0].startswith("file is not UTF-8 text")

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([task("a", "bob")]), encoding="utf-8")
    assert file_error(wrong).errors == (
        "tasks[0].worker: 'bob' is not a worker of this team (workers: anga, fabien, marie)",
    )


def test_plan_file_must_be_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(f"```json\n{PLAN_JSON}\n```", encoding="utf-8")
    assert file_error(path).errors[0].startswith("not JSON: ")


# --- big plans cost little to refuse -------------------------------------------------


class _Untouchable(dict[str, Any]):
    """A task that fails the test if validation looks inside it."""

    def _touched(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a plan over the task limit was validated task by task")

    __getitem__ = get = items = keys = values = __iter__ = __contains__ = _touched  # type: ignore[assignment]


def test_a_plan_over_the_limit_is_refused_before_its_tasks_are_read() -> None:
    tasks = [_Untouchable(task_id=f"t{i}") for i in range(10_000)]
    limit = f"tasks: has 10000 tasks; the limit is {MAX_PLAN_TASKS}"
    assert errors_of({"tasks": tasks}) == (limit,)


class _CountingEdges(dict[str, list[str]]):
    """Counts how often the graph checks read a task's dependencies."""

    reads = 0

    def __getitem__(self, key: str) -> list[str]:
        type(self).reads += 1
        return super().__getitem__(key)


@pytest.mark.parametrize("closed", [False, True])
def test_cycle_search_reads_each_task_a_bounded_number_of_times(closed: bool) -> None:
    # A chain t0 <- t1 <- ... (optionally closed into one ring): the old search read
    # every task once per task (quadratic); the check must stay linear.
    n = 3000
    edges = _CountingEdges({f"t{i}": [f"t{i + 1}"] if i + 1 < n else [] for i in range(n)})
    if closed:
        edges[f"t{n - 1}"] = ["t0"]
    _CountingEdges.reads = 0
    cycles = _cycles(edges)
    assert _CountingEdges.reads <= 10 * n
    if closed:
        assert len(cycles) == 1
        assert cycles[0][0] == cycles[0][-1] == "t0"
        assert len(cycles[0]) == n + 1
    else:
        assert cycles == []


def test_topological_order_and_depth_of_a_long_reversed_chain() -> None:
    # Each task depends on the next one in plan order: the deepest task comes last.
    n = MAX_PLAN_TASKS
    plan = Plan(
        tasks=tuple(
            PlannedTask(
                task_id=f"t{i}",
                worker="marie",
                description="x",
                dependencies=(f"t{i + 1}",) if i + 1 < n else (),
            )
            for i in range(n)
        )
    )
    assert plan.topological_order() == tuple(f"t{i}" for i in reversed(range(n)))
    assert plan.depth()["t0"] == n - 1


def test_a_task_id_with_a_trailing_newline_is_refused() -> None:
    (error,) = errors_of([task("scan\n")])
    assert error.startswith("tasks[0].task_id: task id 'scan\\n' is not allowed")
