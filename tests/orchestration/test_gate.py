"""The quality gate: empty answers, output schemas and real check commands."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from podium import UsageError
from podium.orchestration._gate import (
    CHECK_OUTPUT_CHARS,
    MAX_SUMMARY_CHARS,
    QualityGate,
    check_output_schema,
)

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["summary", "findings"],
    "properties": {
        "summary": {"type": "string"},
        "status": {"type": "string"},
        "artifacts": {"type": "array", "items": {"type": "string"}},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "title"],
                "properties": {
                    "severity": {"enum": ["CRITICAL", "MAJOR", "MINOR"]},
                    "title": {"type": "string"},
                },
            },
        },
    },
}
GOOD = {
    "summary": "Two problems in the parser.\nDetails follow.",
    "status": "done",
    "artifacts": ["notes/parser.md"],
    "findings": [
        {"severity": "MAJOR", "title": "off by one"},
        {"severity": "MINOR", "title": "typo"},
    ],
}


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    """Exists and is not a zombie (an unreaped zombie cannot do anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


async def gone(pid: int) -> bool:
    for _ in range(200):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def wait_for_file(path: Path) -> str:
    for _ in range(400):
        if path.exists() and path.read_text():
            return path.read_text()
        await asyncio.sleep(0.025)
    raise AssertionError(f"{path} never appeared")


# --- answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [None, "", "  \n\t "])
async def test_empty_answer_fails(answer: str | None, tmp_path: Path) -> None:
    gate = QualityGate(output_schema=None, check=py("import sys; sys.exit(0)"))
    verdict = await gate.check(answer, cwd=tmp_path)
    assert not verdict.ok
    assert verdict.reasons == ("the answer is empty",)


async def test_text_answer_without_schema_passes_with_first_line_summary(tmp_path: Path) -> None:
    answer = "\n\n  All tests pass.  \nI changed three files."
    verdict = await QualityGate(output_schema=None).check(answer, cwd=tmp_path)
    assert verdict.ok
    assert verdict.reasons == ()
    assert verdict.output == answer
    assert verdict.summary == "All tests pass."
    assert (verdict.findings, verdict.artifacts, verdict.status) == ((), (), None)


async def test_prose_quoting_json_without_schema_stays_text(tmp_path: Path) -> None:
    answer = 'Set the option like this: {"debug": true}'
    verdict = await QualityGate(output_schema=None).check(answer, cwd=tmp_path)
    assert verdict.output == answer


async def test_bare_json_without_schema_is_parsed(tmp_path: Path) -> None:
    verdict = await QualityGate(output_schema=None).check(json.dumps(GOOD), cwd=tmp_path)
    assert verdict.ok
    assert verdict.output == GOOD
    assert verdict.status == "done"
    assert verdict.artifacts == ("notes/parser.md",)
    assert verdict.findings == tuple(GOOD["findings"])
    assert verdict.summary == "Two problems in the parser."


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(GOOD, indent=2),
        "Here is my review.\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nThanks!",
        "Done. " + json.dumps(GOOD) + " Let me know {if} you need more.",
    ],
    ids=["bare", "fenced", "in-prose"],
)
async def test_schema_answer_found_bare_fenced_or_in_prose(answer: str, tmp_path: Path) -> None:
    verdict = await QualityGate(output_schema=REVIEW_SCHEMA).check(answer, cwd=tmp_path)
    assert verdict.ok, verdict.reasons
    assert verdict.output == GOOD


async def test_schema_answer_that_is_not_json(tmp_path: Path) -> None:
    gate = QualityGate(output_schema=REVIEW_SCHEMA)
    verdict = await gate.check("I looked at everything and it is fine.", cwd=tmp_path)
    assert not verdict.ok
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("the answer is not JSON: Expecting value at line 1")
    assert verdict.output == "I looked at everything and it is fine."

    broken = '```json\n{"summary": "x",\n "findings": [}\n```'
    verdict = await gate.check(broken, cwd=tmp_path)
    assert not verdict.ok
    assert "line 2 column" in verdict.reasons[0]
    assert "fenced block" in verdict.reasons[0]


async def test_every_schema_error_is_reported_by_path_in_order(tmp_path: Path) -> None:
    findings = [{"severity": "MINOR", "title": "ok"} for _ in range(11)]
    findings[10] = {"severity": "SEVERE", "title": "x"}
    findings[2] = {"title": 3}
    answer = json.dumps({"findings": findings, "status": 1})
    verdict = await QualityGate(output_schema=REVIEW_SCHEMA).check(answer, cwd=tmp_path)
    assert not verdict.ok
    assert verdict.reasons == (
        "output: 'summary' is a required property",
        "output.findings[2]: 'severity' is a required property",
        "output.findings[2].title: 3 is not of type 'string'",
        "output.findings[10].severity: 'SEVERE' is not one of ['CRITICAL', 'MAJOR', 'MINOR']",
        "output.status: 1 is not of type 'string'",
    )
    # What the answer said is still available for the run's records.
    assert verdict.output["findings"][10]["severity"] == "SEVERE"
    assert verdict.status is None


async def test_summary_counts_findings_by_severity_when_there_is_no_summary(
    tmp_path: Path,
) -> None:
    output = {
        "findings": [
            {"severity": "CRITICAL"},
            {"severity": "MINOR"},
            {"severity": "CRITICAL"},
        ]
    }
    gate = QualityGate(output_schema=None)
    verdict = await gate.check(json.dumps(output), cwd=tmp_path)
    assert verdict.summary == "3 findings (2 CRITICAL, 1 MINOR)"
    verdict = await gate.check('{"findings": []}', cwd=tmp_path)
    assert verdict.summary == "no findings"


async def test_summary_carries_the_gist_of_each_finding(tmp_path: Path) -> None:
    output = {
        "findings": [
            {
                "severity": "HIGH",
                "location": "app/db.py:88",
                "summary": "SQL by formatting.\nMore.",
            },
            {"severity": "LOW", "summary": "Weak default."},
        ]
    }
    verdict = await QualityGate(output_schema=None).check(json.dumps(output), cwd=tmp_path)
    assert verdict.summary == (
        "2 findings (1 HIGH, 1 LOW); HIGH app/db.py:88: SQL by formatting.; LOW: Weak default."
    )


async def test_summary_is_at_most_300_characters(tmp_path: Path) -> None:
    verdict = await QualityGate(output_schema=None).check("word " * 500, cwd=tmp_path)
    assert len(verdict.summary) <= MAX_SUMMARY_CHARS
    assert verdict.summary.startswith("word word")


def test_invalid_schemas_are_rejected_with_every_reason() -> None:
    assert check_output_schema(REVIEW_SCHEMA) == []
    errors = check_output_schema(
        {"type": "objekt", "properties": {"a": {"type": 5}}, "required": "a"}
    )
    assert len(errors) == 3
    assert any(e.startswith("schema.properties.a.type: ") for e in errors)
    assert any(e.startswith("schema.required: ") for e in errors)
    assert any(e.startswith("schema.type: ") for e in errors)
    with pytest.raises(UsageError, match="output schema is invalid"):
        QualityGate(output_schema={"type": "objekt"})


@pytest.mark.parametrize("check", ["pytest -q", [], ["pytest", ""]])
def test_check_must_be_an_argv_list(check: Any) -> None:
    with pytest.raises(UsageError, match="argv list"):
        QualityGate(output_schema=None, check=check)


# --- check commands -----------------------------------------------------------------------


async def test_check_runs_in_cwd_with_env_and_result_file(tmp_path: Path) -> None:
    result_file = tmp_path / "results" / "scan.json"
    code = (
        "import os, pathlib; pathlib.Path('seen.txt').write_text("
        "os.environ['PODIUM_RESULT_FILE'] + '|' + os.environ['TEAM_FLAG'])"
    )
    gate = QualityGate(output_schema=None, check=py(code))
    verdict = await gate.check(
        "done", cwd=tmp_path, env={"TEAM_FLAG": "on"}, result_file=result_file
    )
    assert verdict.ok, verdict.reasons
    assert (tmp_path / "seen.txt").read_text() == f"{result_file}|on"


async def test_failing_check_reports_exit_code_and_output_tail(tmp_path: Path) -> None:
    code = (
        "import sys; print('x' * 5000); print('stderr says: 2 failed', file=sys.stderr);"
        " sys.exit(3)"
    )
    argv = py(code)
    verdict = await QualityGate(output_schema=None, check=argv).check("done", cwd=tmp_path)
    assert not verdict.ok
    (reason,) = verdict.reasons
    prefix = f"check `{' '.join(argv[:2])} "
    assert reason.startswith(prefix)
    assert " exited 3: " in reason
    assert reason.endswith("stderr says: 2 failed")
    tail = reason.split(" exited 3: ", 1)[1]
    assert len(tail) == CHECK_OUTPUT_CHARS
    assert verdict.output == "done"  # the answer itself is kept


async def test_check_is_not_run_when_the_answer_already_failed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    gate = QualityGate(
        output_schema=REVIEW_SCHEMA,
        check=py(f"open({str(marker)!r}, 'w').close()"),
    )
    verdict = await gate.check("not json", cwd=tmp_path)
    assert not verdict.ok
    assert not marker.exists()
    verdict = await gate.check(json.dumps(GOOD), cwd=tmp_path)
    assert verdict.ok
    assert marker.exists()


async def test_missing_executable_is_named(tmp_path: Path) -> None:
    gate = QualityGate(output_schema=None, check=["no-such-checker-xyz", "--all"])
    verdict = await gate.check("done", cwd=tmp_path)
    assert not verdict.ok
    assert verdict.reasons == (
        "check `no-such-checker-xyz --all` cannot run: executable 'no-such-checker-xyz' not found",
    )


async def test_missing_working_directory_is_named(tmp_path: Path) -> None:
    gate = QualityGate(output_schema=None, check=py("pass"))
    verdict = await gate.check("done", cwd=tmp_path / "gone")
    assert not verdict.ok
    assert "working directory" in verdict.reasons[0]


async def test_timed_out_check_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time, pathlib;"
        " child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
        f" pathlib.Path({str(pid_file)!r}).write_text(str(child.pid));"
        " print('started', flush=True); time.sleep(120)"
    )
    gate = QualityGate(output_schema=None, check=py(code), check_timeout=2)
    verdict = await gate.check("done", cwd=tmp_path)
    assert not verdict.ok
    (reason,) = verdict.reasons
    assert " timed out after 2 s" in reason
    assert reason.endswith("started")
    assert await gone(int(pid_file.read_text()))


async def test_check_leaving_a_process_behind_still_finishes(tmp_path: Path) -> None:
    # The background process inherits the output pipe; the gate must not wait for it.
    pid_file = tmp_path / "orphan.pid"
    code = (
        "import subprocess, sys, pathlib;"
        " child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
        f" pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))"
    )
    gate = QualityGate(output_schema=None, check=py(code), check_timeout=120)
    verdict = await gate.check("done", cwd=tmp_path)
    assert verdict.ok, verdict.reasons
    assert await gone(int(pid_file.read_text()))


async def test_cancelling_the_gate_kills_the_check(tmp_path: Path) -> None:
    pid_file = tmp_path / "check.pid"
    code = (
        f"import os, time, pathlib; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()));"
        " time.sleep(120)"
    )
    gate = QualityGate(output_schema=None, check=py(code), check_timeout=120)
    task = asyncio.create_task(gate.check("done", cwd=tmp_path))
    pid = int(await wait_for_file(pid_file))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(pid)
