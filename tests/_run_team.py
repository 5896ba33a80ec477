"""A small team for tests of orchestrated runs: no output schemas, so any answer passes.

With an inline plan no planning call is made; EchoBackend answers every task with
its prompt and the orchestrator's synthesis with its prompt, so a run completes.
:class:`SlowEcho` makes a turn take long when its prompt mentions ``sleep:<s>``
anywhere (task prompts wrap the description), for cancel and Ctrl-C tests, and
fail when it mentions ``FAIL-ME``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from podium.backends import EventSink, SessionSpec, TurnResult
from tests._echo_backend import EchoBackend, EchoSession

__all__ = ["PLAN", "SLOW_PLAN", "SlowEcho", "write_project", "write_team"]

TEAM_TOML = """\
[team]
name = "crew"
orchestrator = "lead.md"

[workers]
alice = "alice.md"
bob = "bob.md"
"""

PLAN: dict[str, Any] = {
    "tasks": [
        {"task_id": "scan", "worker": "alice", "description": "List the files."},
        {
            "task_id": "sum-up",
            "worker": "bob",
            "description": "Summarise the scan.",
            "dependencies": ["scan"],
        },
    ]
}

SLOW_PLAN: dict[str, Any] = {
    "tasks": [{"task_id": "slow", "worker": "alice", "description": "Wait. sleep:60"}]
}

_SLEEP = re.compile(r"sleep:(\d+(?:\.\d+)?)")


def write_team(root: Path) -> Path:
    """podium.toml and plain profiles (system prompt only) in ``root``; returns the toml."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("lead", "alice", "bob"):
        (root / f"{name}.md").write_text(f"You are {name}.\n", encoding="utf-8")
    team = root / "podium.toml"
    team.write_text(TEAM_TOML, encoding="utf-8")
    return team


def write_project(root: Path, plans: dict[str, dict[str, Any]]) -> Path:
    """The team (:func:`write_team`) in ``root``, and each plan as ``root/<file name>``."""
    write_team(root)
    for name, plan in plans.items():
        (root / name).write_text(json.dumps(plan), encoding="utf-8")
    return root


class SlowSession(EchoSession):
    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        if "FAIL-ME" in prompt:
            return await super().run_turn("fail:the model refused", on_event)
        found = _SLEEP.search(prompt)
        if found is not None and not prompt.startswith("sleep:"):
            # EchoSession's own form: an interruptible sleep.
            return await super().run_turn(f"sleep:{found.group(1)}", on_event)
        return await super().run_turn(prompt, on_event)


class SlowEcho(EchoBackend):
    def session(self, spec: SessionSpec) -> SlowSession:
        return SlowSession(self, spec)
