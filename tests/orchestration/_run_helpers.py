"""Shared pieces for run tests: the example team, scripted worker answers, plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from podium.orchestration import write_example_team
from podium.testing import FakeAnthropic, Rule, Usage

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
