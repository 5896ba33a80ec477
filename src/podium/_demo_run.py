"""Part two of ``podium demo``: the seed's orchestrated review, offline.

``podium init``'s team (an orchestrator, Marie for security, Anga for
performance, Fabien for tests) reviews a tiny sample project. The fake model
plans three tasks (Fabien's depends on Marie's), answers each worker with a
structured report after a pause (so the parallelism shows in the live view),
and synthesises a report from the artifacts. Every agent is a real Claude Code
CLI process; the run goes through the same engine as ``podium run``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

from ._errors import WaitTimeout
from .cli._run_view import cost_table, live_view, plan_tree
from .orchestration import RunEngine, RunState, write_example_team
from .runtime import Runtime
from .testing import Rule, Usage

__all__ = ["REVIEW_REQUEST", "review_rules", "run_review"]

REVIEW_REQUEST = "Review this project: security, performance, and the tests we are missing."

_SAMPLE = {
    "app/db.py": (
        "import sqlite3\n\n"
        "def find_user(conn, name):\n"
        "    # builds SQL from user input\n"
        "    return conn.execute(f\"SELECT * FROM users WHERE name = '{name}'\").fetchall()\n"
    ),
    "app/api.py": (
        "from app.db import find_user\n\n"
        "def users_page(conn, names):\n"
        "    return [find_user(conn, n) for n in names]  # one query per name\n"
    ),
}
_PLAN = {
    "tasks": [
        {
            "task_id": "security",
            "worker": "marie",
            "priority": 10,
            "description": "Audit app/ for injection and unsafe input handling.",
        },
        {
            "task_id": "performance",
            "worker": "anga",
            "description": "Find hot paths and per-item queries in app/api.py and app/db.py.",
        },
        {
            "task_id": "tests",
            "worker": "fabien",
            "dependencies": ["security"],
            "description": "Propose tests that pin down the security findings.",
        },
    ]
}


def _report(severity: str, location: str, summary: str, remediation: str) -> str:
    finding = {
        "severity": severity,
        "location": location,
        "summary": summary,
        "remediation": remediation,
    }
    return json.dumps({"status": "complete", "findings": [finding], "artifacts": []})


_SYNTHESIS = """## Review of the sample project

1. **HIGH: SQL injection** in `app/db.py:5`: the query is built with an
   f-string from `name`. Use a bound parameter (Marie,
   `results/marie/security.json`).
2. **MEDIUM: one query per name** in `app/api.py:4` (N+1). Fetch all names
   with one `IN (...)` query (Anga, `results/anga/performance.json`).
3. **Missing test**: nothing exercises a hostile name such as `x' OR '1'='1`.
   Add it before fixing item 1 (Fabien, `results/fabien/tests.json`).

Next steps: fix 1 with its test, then batch the queries of 2.
"""


def review_rules() -> list[Rule]:
    lead = "You lead a small team"
    return [
        Rule(
            system=lead,
            content="PODIUM PLAN REQUEST",
            text=json.dumps(_PLAN),
            usage=Usage(input_tokens=3200, output_tokens=260),
        ),
        Rule(
            system=lead,
            content="PODIUM SYNTHESIS",
            text=_SYNTHESIS,
            usage=Usage(input_tokens=4100, output_tokens=380),
        ),
        Rule(
            content="(?m)^PODIUM TASK security$",
            delay=1.2,
            text=_report(
                "HIGH",
                "app/db.py:5",
                "SQL built with an f-string from user input.",
                "conn.execute('SELECT * FROM users WHERE name = ?', (name,))",
            ),
            usage=Usage(input_tokens=2900, output_tokens=210),
        ),
        Rule(
            content="(?m)^PODIUM TASK performance$",
            delay=1.6,
            text=_report(
                "MEDIUM",
                "app/api.py:4",
                "One query per name (N+1).",
                "Fetch all names with one IN (...) query.",
            ),
            usage=Usage(input_tokens=2700, output_tokens=190),
        ),
        Rule(
            content="(?m)^PODIUM TASK tests$",
            delay=0.8,
            text=_report(
                "MEDIUM",
                "tests/test_db.py",
                "No test feeds a hostile name.",
                "Add a test calling find_user with x' OR '1'='1.",
            ),
            usage=Usage(input_tokens=3000, output_tokens=200),
        ),
    ]


async def run_review(rt: Runtime, console: Console, project: Path) -> bool:
    """Write the example team and sample code into ``project``, run the review, show it."""
    write_example_team(project)
    for rel, text in _SAMPLE.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text, encoding="utf-8")
    console.print(f"[bold cyan]$ podium init[/]  (team: {project / 'podium.toml'})")
    console.print(f"[bold cyan]$ podium run[/] {REVIEW_REQUEST!r}")
    engine = RunEngine(rt)
    await engine.start()
    try:
        run = await engine.submit(REVIEW_REQUEST, team=project / "podium.toml")
        with Live(live_view(run, time.time()), console=console, refresh_per_second=8) as live:
            while not run.done:
                try:
                    run = await engine.wait(run.id, timeout=0.25)
                except WaitTimeout:  # still going: refresh the view
                    run = await engine.get(run.id)
                live.update(live_view(run, time.time()))
        console.print()
        console.print(plan_tree(run, time.time()))
        report = await engine.report(run.id)
        if report:
            console.print(Markdown(report))
        console.print(cost_table(run))
        run_dir = engine.run_dir(run.id)
        files = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
        console.print(f"run directory (a temporary one here): {', '.join(files)}")
        return run.state is RunState.COMPLETE
    finally:
        await engine.close()
