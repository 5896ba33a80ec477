"""Apply, clean and retention on real runs: real Claude Code CLIs against the fake API
write files in their task worktrees (a scripted ``Write``); real git throughout.

Each run makes its integration branch ``podium/run/<run id>`` itself (from the run's
base, every completed task merged); apply lands that branch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from podium.isolation import IsolationError
from podium.orchestration import RunEngine, RunState, load_team
from podium.orchestration._apply import apply_run
from podium.orchestration._clean import clean_run
from podium.orchestration._team import TeamError
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, ToolCall
from tests.orchestration._landing_helpers import branches, git, make_repo, worktrees

TEAM = """\
[team]
name = "pair"
orchestrator = "lead.md"

[defaults]
isolation = "worktree"

[workers.bob]
profile = "writer.md"

[runs]
keep_worktrees = 1
"""
WRITER = "---\ntools: Write\n---\nYou write files when asked.\n"


def write_team(root: Path, text: str = TEAM) -> Path:
    root.mkdir(exist_ok=True)
    (root / "lead.md").write_text("You lead the pair.\n")
    (root / "writer.md").write_text(WRITER)
    (root / "podium.toml").write_text(text)
    return root / "podium.toml"


def writes(task_id: str, name: str, text: str) -> Rule:
    call = ToolCall("Write", {"file_path": name, "content": text})
    return Rule(content=rf"(?m)^PODIUM TASK {task_id}$", tool_result=False, tool_calls=[call])


def plan(task_id: str) -> dict[str, Any]:
    return {"tasks": [{"task_id": task_id, "worker": "bob", "description": "Write a file."}]}


@pytest.fixture
async def engine(home: Path, fake: FakeAnthropic) -> AsyncIterator[RunEngine]:
    from tests.conftest import make_config

    rt = Runtime(make_config(home, fake))
    await rt.start()
    runs = RunEngine(rt)
    await runs.start()
    try:
        yield runs
    finally:
        await runs.close()
        await rt.close()


@pytest.mark.cli
async def test_a_runs_work_is_applied_cleaned_and_older_worktrees_retired(
    engine: RunEngine, fake: FakeAnthropic, home: Path, tmp_path: Path
) -> None:
    project = make_repo(tmp_path / "project")
    base = git(project, "rev-parse", "HEAD").strip()
    team = write_team(tmp_path / "team")
    fake.add_rule(Rule(content="PODIUM SYNTHESIS", text="Done."))
    fake.add_rule(writes("first", "one.txt", "one\n"))
    fake.add_rule(writes("second", "two.txt", "two\n"))
    fake.add_rule(Rule(tool_result=True, text="Wrote it."))
    root = home.resolve() / "worktrees"

    one = await engine.submit("Write one.", team=team, cwd=project, plan=plan("first"))
    one = await engine.wait(one.id, timeout=120)
    assert one.state is RunState.COMPLETE, (one.error, [t.reason for t in one.tasks])
    # The task's worktree and the run's integration worktree.
    assert worktrees(project) == {
        str(root / f"{one.id}-first"),
        str(root / f"{one.id}.integration"),
    }
    two = await engine.submit("Write two.", team=team, cwd=project, plan=plan("second"))
    two = await engine.wait(two.id, timeout=120)
    assert two.state is RunState.COMPLETE, (two.error, [t.reason for t in two.tasks])

    # keep_worktrees = 1: when the second run finished, the first one's worktrees went;
    # its work, in no branch of the user's, stays on its branches.
    assert str(root / f"{one.id}-first") not in worktrees(project)
    assert str(root / f"{one.id}.integration") not in worktrees(project)
    assert str(root / f"{two.id}-second") in worktrees(project)
    assert git(project, "show", f"podium/{one.id}-first:one.txt") == "one\n"

    # The run made its integration branch: from its base, with the task's work merged.
    integration = f"podium/run/{two.id}"
    assert integration in branches(project)
    assert two.base_commit == base
    assert git(project, "merge-base", integration, "main").strip() == base
    assert git(project, "show", f"{integration}:two.txt") == "two\n"
    applied = await apply_run(engine, two.id)
    assert applied["mode"] == "fast-forward"
    assert applied["tasks"] == ["second"]
    assert (project / "two.txt").read_text() == "two\n"
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"

    cleaned = await clean_run(engine, two.id)
    assert sorted(cleaned["removed_branches"]) == [
        f"podium/{two.id}-second",
        f"podium/run/{two.id}",
    ]
    assert not any(two.id in name for name in branches(project) | worktrees(project))

    with pytest.raises(IsolationError, match=rf"1 commit\(s\) on podium/{one.id}-first"):
        await clean_run(engine, one.id)
    await clean_run(engine, one.id, force=True)
    assert branches(project) == {"main"}
    assert worktrees(project) == set()


def test_keep_worktrees_is_read_from_the_team_file(tmp_path: Path) -> None:
    assert load_team(write_team(tmp_path / "a")).keep_worktrees == 1
    plain = TEAM.replace("[runs]\nkeep_worktrees = 1\n", "")
    assert load_team(write_team(tmp_path / "b", plain)).keep_worktrees is None
    with pytest.raises(TeamError, match=r"runs\.keep_worktrees: .*an integer >= 0"):
        load_team(write_team(tmp_path / "c", TEAM.replace("= 1", "= -1")))
    with pytest.raises(TeamError, match=r"runs\.keep: "):
        load_team(write_team(tmp_path / "d", TEAM.replace("keep_worktrees", "keep")))
