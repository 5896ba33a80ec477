"""Shared pieces for run tests: the example team, scripted worker answers, plans."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from podium.orchestration import RateLimiter, RunEngine, write_example_team
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, RecordedRequest, Rule, Usage

LEAD = r"You lead a small team"  # in the example orchestrator's system prompt


def example_team(root: Path, *, extra_toml: str = "", limits: dict[str, Any] | None = None) -> Path:
    """``podium init``'s team, with limits adjusted for a test."""
    write_example_team(root)
    team = root / "podium.toml"
    text = team.read_text()
    for key, value in (limits or {}).items():
        lines = []
        for line in text.splitlines():
            if line.split("=")[0].strip() == key and not line.startswith("#"):
                line = f"{key} = {json.dumps(value)}"
            lines.append(line)
        text = "\n".join(lines) + "\n"
    team.write_text(text + extra_toml)
    return team


def review_result(severity: str, location: str, summary: str, remediation: str) -> str:
    return json.dumps(
        {
            "status": "complete",
            "findings": [
                {
                    "severity": severity,
                    "location": location,
                    "summary": summary,
                    "remediation": remediation,
                }
            ],
            "artifacts": [],
        }
    )


def plan_json(*tasks: dict[str, Any]) -> str:
    return json.dumps({"tasks": list(tasks)})


def task(task_id: str, worker: str, deps: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "worker": worker,
        "description": f"Review for {task_id}",
        "dependencies": list(deps),
        **extra,
    }


def task_rule(task_id: str, answer: str, **kwargs: Any) -> Rule:
    """Answer the first turn of task ``task_id`` (its prompt starts with the marker)."""
    return Rule(content=rf"(?m)^PODIUM TASK {task_id}$", text=answer, **kwargs)


def lead_rules(plan: str, synthesis: str) -> list[Rule]:
    return [
        Rule(system=LEAD, content=r"PODIUM PLAN REQUEST", text=plan),
        Rule(system=LEAD, content=r"PODIUM SYNTHESIS", text=synthesis),
    ]


def requests_for_task(fake: FakeAnthropic, task_id: str) -> list[Any]:
    return fake.requests_matching(content=rf"(?m)^PODIUM TASK {task_id}$")


def costly(output_tokens: int) -> Usage:
    return Usage(input_tokens=100, output_tokens=output_tokens)


@contextlib.asynccontextmanager
async def started_engine(
    runtime: Runtime, *, limiter: RateLimiter | None = None
) -> AsyncIterator[RunEngine]:
    runs = RunEngine(runtime, limiter=limiter)
    await runs.start()
    try:
        yield runs
    finally:
        await runs.close()


async def wait_for_task_request(
    fake: FakeAnthropic, task_id: str, timeout: float = 60.0
) -> RecordedRequest:
    """The first model call of task ``task_id``, once it has reached the fake."""
    deadline = time.monotonic() + timeout
    while not (found := requests_for_task(fake, task_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} sent nothing to the fake within {timeout} s")
        await asyncio.sleep(0.05)
    return found[0]


def cli_argv(pid: int) -> list[str]:
    """The command line a live process was started with, as the kernel has it."""
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [arg.decode() for arg in raw.split(b"\0") if arg]


def flag_value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None
