"""Run files: atomic (old or new, never half), readable back, and kept inside the run dir."""

from __future__ import annotations

import calendar
import json
import os
from pathlib import Path

import pytest

from podium import UsageError
from podium.orchestration._artifacts import (
    RUN_ID_PATTERN,
    ArtifactError,
    RunDir,
    atomic_write_json,
    atomic_write_text,
    check_run_id,
    list_run_ids,
    new_run_id,
    read_json,
)

RUN_ID = "run-20240102-030405-beef"
# Above any pid_max, so no process can have it: its temp files are a crash's leftovers.
DEAD_PID = 2**31 - 1


def tmp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- atomic writes ------------------------------------------------------------------------


def test_json_is_written_indented_in_key_order_with_unicode_kept(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "data.json"
    atomic_write_json(path, {"zeta": 1, "alpha": ["é", None]})
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "zeta": 1,\n  "alpha": [\n    "é",\n    null\n  ]\n}\n'
    assert read_json(path) == {"zeta": 1, "alpha": ["é", None]}
    assert tmp_files(path.parent) == []


def test_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    atomic_write_text(path, "a long first version\n" * 100)
    atomic_write_text(path, "short\n")
    assert path.read_text(encoding="utf-8") == "short\n"
    assert tmp_files(tmp_path) == []


def test_a_failed_rename_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.json"
    atomic_write_json(path, {"status": "running"})

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ArtifactError) as info:
        atomic_write_json(path, {"status": "complete"})
    monkeypatch.undo()
    assert "No space left on device" in str(info.value)
    assert info.value.context["path"] == str(path)
    assert read_json(path) == {"status": "running"}
    assert tmp_files(tmp_path) == []


def test_unserializable_data_is_refused_before_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    atomic_write_json(path, {"ok": True})
    for bad in ({"when": object()}, {"cost": float("nan")}):
        with pytest.raises(ArtifactError) as info:
            atomic_write_json(path, bad)
        assert str(path) in str(info.value)
    assert read_json(path) == {"ok": True}
    assert tmp_files(tmp_path) == []


def test_crash_leftovers_are_ignored_then_removed_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    atomic_write_json(path, {"v": 1})
    leftover = tmp_path / f".run.json.{DEAD_PID}-0123abcd.tmp"
    leftover.write_text('{"v": 2, "half', encoding="utf-8")
    other_file = tmp_path / f".plan.json.{DEAD_PID}-0123abcd.tmp"
    other_file.write_text("{", encoding="utf-8")

    assert read_json(path) == {"v": 1}
    atomic_write_json(path, {"v": 3})
    assert not leftover.exists()
    assert other_file.exists()  # only temporaries of the file being written are touched
    assert read_json(path) == {"v": 3}


def test_a_live_writers_temp_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    in_progress = tmp_path / f".run.json.{os.getpid()}-feedf00d.tmp"
    in_progress.write_text("{", encoding="utf-8")
    atomic_write_json(path, {"v": 1})
    assert in_progress.exists()


def test_read_json_missing_is_none_and_corrupt_names_the_file(tmp_path: Path) -> None:
    assert read_json(tmp_path / "absent.json") is None
    path = tmp_path / "bad.json"
    path.write_text('{"a": 1,\n  "b": }', encoding="utf-8")
    with pytest.raises(ArtifactError) as info:
        read_json(path)
    assert str(info.value).startswith(f"{path}: corrupt JSON: ")
    assert "line 2 column" in str(info.value)
    assert info.value.context["path"] == str(path)
    assert info.value.code == "artifact_error"


# --- run ids ------------------------------------------------------------------------------


def test_new_run_id_is_the_utc_start_time_plus_a_random_tag() -> None:
    when = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0))
    run_id = new_run_id(when)
    assert run_id.startswith("run-20240102-030405-")
    assert RUN_ID_PATTERN.match(run_id)
    assert check_run_id(run_id) == run_id
    assert len({new_run_id(when) for _ in range(50)}) > 1
    assert RUN_ID_PATTERN.match(new_run_id())


@pytest.mark.parametrize(
    "bad",
    ["", "run-2024-01-02", "../run-20240102-030405-beef", "run-20240102-030405-BEEF", "x" * 500],
)
def test_malformed_run_ids_are_usage_errors(bad: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid run id"):
        check_run_id(bad)
    with pytest.raises(UsageError, match="invalid run id"):
        RunDir(tmp_path, bad)


def test_list_run_ids_newest_first_only_real_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert list_run_ids(runs) == []
    for run_id in ("run-20240102-030405-aaaa", "run-20250101-000000-0001", RUN_ID):
        rd = RunDir(runs, run_id)
        rd.create()
        rd.write_run({"run_id": run_id})
    RunDir(runs, "run-20260101-000000-cccc").create()  # crashed before run.json
    (runs / "notes").mkdir()
    (runs / "run-20270101-000000-dddd").write_text("a file, not a run", encoding="utf-8")
    assert list_run_ids(runs) == [
        "run-20250101-000000-0001",
        RUN_ID,
        "run-20240102-030405-aaaa",
    ]


# --- RunDir -------------------------------------------------------------------------------


def test_run_dir_layout(tmp_path: Path) -> None:
    rd = RunDir(tmp_path, RUN_ID)
    assert rd.path == tmp_path / RUN_ID
    assert rd.run_file == rd.path / "run.json"
    assert rd.request_file == rd.path / "request.txt"
    assert rd.plan_file == rd.path / "plan.json"
    assert rd.report_file == rd.path / "report.md"
    assert rd.task_file("marie", "scan") == rd.path / "tasks" / "marie" / "scan.json"
    assert rd.result_file("marie", "scan") == rd.path / "results" / "marie" / "scan.json"


@pytest.mark.parametrize(
    ("worker", "task_id"), [("..", "scan"), ("marie", "../../x"), ("a/b", "t")]
)
def test_worker_and_task_ids_cannot_escape_the_run_dir(
    tmp_path: Path, worker: str, task_id: str
) -> None:
    rd = RunDir(tmp_path, RUN_ID)
    with pytest.raises(UsageError):
        rd.task_file(worker, task_id)
    with pytest.raises(UsageError):
        rd.write_result(worker, task_id, {"status": "ok"})
    assert not (tmp_path / "x").exists()


def test_create_refuses_an_existing_run(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "runs", RUN_ID)
    rd.create()
    assert rd.path.is_dir()
    with pytest.raises(ArtifactError, match="already exists") as info:
        rd.create()
    assert info.value.context["run_id"] == RUN_ID


def test_every_run_file_round_trips(tmp_path: Path) -> None:
    rd = RunDir(tmp_path, RUN_ID)
    rd.create()
    assert rd.read_run() is None
    assert rd.read_plan() is None
    assert rd.read_request() is None
    assert rd.read_result("marie", "scan") is None

    rd.write_run({"status": "running", "tasks": {"scan": "pending"}})
    rd.write_request("Review the repo.\n")
    rd.write_plan({"tasks": [{"task_id": "scan", "worker": "marie"}]})
    rd.write_task("marie", "scan", {"description": "look"})
    rd.write_result("marie", "scan", {"status": "done", "output": {"findings": []}})
    rd.write_report("# Report\n")

    assert rd.read_run() == {"status": "running", "tasks": {"scan": "pending"}}
    assert rd.read_request() == "Review the repo.\n"
    assert rd.read_plan() == {"tasks": [{"task_id": "scan", "worker": "marie"}]}
    assert rd.read_task("marie", "scan") == {"description": "look"}
    assert rd.read_result("marie", "scan") == {"status": "done", "output": {"findings": []}}
    assert rd.report_file.read_text(encoding="utf-8") == "# Report\n"
    assert json.loads(rd.run_file.read_text(encoding="utf-8"))["status"] == "running"


def test_a_run_file_that_is_not_an_object_is_corrupt(tmp_path: Path) -> None:
    rd = RunDir(tmp_path, RUN_ID)
    rd.create()
    rd.run_file.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ArtifactError, match="expected a JSON object"):
        rd.read_run()


def test_relative_paths_for_prompts(tmp_path: Path) -> None:
    rd = RunDir(tmp_path, RUN_ID)
    assert rd.relative(rd.result_file("marie", "scan")) == "results/marie/scan.json"
    assert rd.relative(str(rd.report_file)) == "report.md"
    outside = tmp_path / "elsewhere.txt"
    assert rd.relative(outside) == str(outside)
