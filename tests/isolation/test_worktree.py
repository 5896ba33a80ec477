"""Worktree isolation with real git: one worktree and branch per agent, diff, merge, clean.

The isolator is exercised directly, through the runtime (EchoBackend), through
the daemon and the ``podium`` commands, and in an orchestrated run whose two
workers are real Claude Code CLIs writing the same file with a scripted
``Write`` tool call. HOME is empty throughout: podium's commits must not need a
git identity.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest.mock import ANY

import pytest
from typer.testing import CliRunner, Result

from podium._client import Client
from podium._errors import InvalidOptions, UsageError
from podium.cli import app
from podium.isolation import (
    IsolationError,
    IsolationMode,
    IsolationSpec,
    MergeConflict,
    Workspace,
    diff_workspace,
    isolator_for,
    merge_workspace,
    worktree_path,
)
from podium.orchestration import RunEngine, RunState, TaskState
from podium.runtime import Runtime, RuntimeConfig
from podium.testing import FakeAnthropic, Rule, ToolCall
from tests._echo_backend import EchoBackend
from tests._threaded_daemon import ThreadedDaemon

WORKTREE = IsolationSpec(mode=IsolationMode.WORKTREE)
ENV_TEXT = "DATABASE_URL=postgres://localhost/dev\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout


def make_repo(path: Path) -> Path:
    """A repository with one commit on ``main`` and an untracked, unignored ``.env``."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# project\n")
    git(path, "add", "README.md")
    git(path, "-c", "user.name=dev", "-c", "user.email=dev@localhost", "commit", "-qm", "start")
    (path / ".env").write_text(ENV_TEXT)
    return path


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(key, raising=False)


async def prepare(
    home: Path, project: Path, agent: str, spec: IsolationSpec = WORKTREE
) -> Workspace:
    return await isolator_for(IsolationMode.WORKTREE).prepare(
        agent=agent,
        project=project,
        state_dir=home / "agents" / agent / "session",
        results_dir=home / "results",
        spec=spec,
        api_base_url=None,
    )


def clean_status(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=no")


# --- the isolator ----------------------------------------------------------------------------


async def test_two_workers_write_one_file_apart_then_merge_reports_the_conflict(
    tmp_path: Path,
) -> None:
    project = make_repo(tmp_path / "project")
    home = tmp_path / "home"
    iso = isolator_for(IsolationMode.WORKTREE)
    alice = await prepare(home, project, "alice")
    bob = await prepare(home, project, "bob")

    assert alice.cwd == home / "worktrees" / "alice"
    assert (alice.branch, bob.branch) == ("podium/alice", "podium/bob")
    assert alice.base_commit == bob.base_commit == git(project, "rev-parse", "HEAD").strip()
    for ws in (alice, bob):
        assert (ws.cwd / ".env").read_text() == ENV_TEXT  # untracked, copied in
        assert ws.copied_files == (".env",)
        assert (ws.cwd / "README.md").is_file()

    (alice.cwd / "notes.txt").write_text("alice was here\n")
    (bob.cwd / "notes.txt").write_text("bob was here\n")
    # Neither sees the other's change; the project sees neither.
    assert (alice.cwd / "notes.txt").read_text() == "alice was here\n"
    assert (bob.cwd / "notes.txt").read_text() == "bob was here\n"
    assert not (project / "notes.txt").exists()

    sha_a = await iso.finish_task(alice, message="podium: run-1 task a (alice)")
    sha_b = await iso.finish_task(bob, message="podium: run-1 task b (bob)")
    assert sha_a is not None
    assert sha_b is not None
    assert sha_a != sha_b
    assert git(project, "rev-parse", "podium/alice").strip() == sha_a
    assert git(project, "rev-parse", "podium/bob").strip() == sha_b
    assert git(project, "show", "podium/alice:notes.txt") == "alice was here\n"
    assert git(project, "show", "podium/bob:notes.txt") == "bob was here\n"
    assert git(project, "log", "-1", "--format=%an <%ae>|%s", "podium/alice").strip() == (
        "podium <podium@localhost>|podium: run-1 task a (alice)"
    )
    # The copied .env is never committed.
    assert git(project, "ls-tree", "-r", "--name-only", "podium/alice").split() == [
        "README.md",
        "notes.txt",
    ]
    assert await iso.finish_task(alice, message="nothing new") is None

    # Clean-up refuses to lose the unmerged commit.
    with pytest.raises(IsolationError, match=r"1 commit\(s\) on podium/alice not merged"):
        await iso.release(alice)
    assert alice.cwd.is_dir()

    merged = await merge_workspace(alice)
    assert merged["merged"] is True
    assert merged["into"] == "main"
    assert merged["changed"] is True
    assert (project / "notes.txt").read_text() == "alice was here\n"

    head = git(project, "rev-parse", "HEAD")
    with pytest.raises(MergeConflict) as caught:
        await merge_workspace(bob)
    conflict = caught.value
    assert conflict.context["files"] == ["notes.txt"]
    assert conflict.context["branch"] == "podium/bob"
    assert "notes.txt" in conflict.message
    # Aborted: the project is exactly as before, bob's work still on its branch.
    assert git(project, "rev-parse", "HEAD") == head
    assert clean_status(project) == ""
    assert not (project / ".git" / "MERGE_HEAD").exists()
    assert (project / "notes.txt").read_text() == "alice was here\n"
    assert git(project, "rev-parse", "podium/bob").strip() == sha_b

    await iso.release(alice)  # merged: allowed
    assert not alice.cwd.exists()
    assert "podium/alice" not in git(project, "branch", "--list")
    with pytest.raises(IsolationError, match="refusing to delete the worktree of agent 'bob'"):
        await iso.release(bob)
    await iso.release(bob, force=True)
    assert not bob.cwd.exists()
    assert git(project, "branch", "--list", "podium/*") == ""
    assert (project / ".env").read_text() == ENV_TEXT


async def test_release_refuses_uncommitted_work(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    ws = await prepare(tmp_path / "home", project, "carol")
    iso = isolator_for(IsolationMode.WORKTREE)
    await iso.release(ws)  # nothing done yet: nothing to lose (the copied .env does not count)
    ws = await prepare(tmp_path / "home", project, "carol")
    (ws.cwd / "draft.md").write_text("half done\n")
    with pytest.raises(IsolationError, match=r"uncommitted changes in 1 file\(s\): draft.md"):
        await iso.release(ws)
    assert (ws.cwd / "draft.md").is_file()
    await iso.release(ws, force=True)
    assert not ws.cwd.exists()


async def test_diff_shows_committed_and_uncommitted_work(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    ws = await prepare(tmp_path / "home", project, "dan")
    (ws.cwd / "README.md").write_text("# project\ncommitted line\n")
    await isolator_for(IsolationMode.WORKTREE).finish_task(ws, message="one")
    (ws.cwd / "README.md").write_text("# project\ncommitted line\npending line\n")
    (ws.cwd / "new.txt").write_text("brand new\n")

    found = await diff_workspace(ws)

    assert found["commits"] == 1
    assert "+committed line" in found["diff"]
    assert "pending line" not in found["diff"]
    assert "+pending line" in found["uncommitted"]
    assert "+brand new" in found["uncommitted"]
    assert found["untracked"] == ["new.txt"]
    assert ".env" not in found["uncommitted"]


async def test_merge_commits_pending_work_and_can_target_another_branch(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    git(project, "branch", "integration")
    ws = await prepare(tmp_path / "home", project, "erin")
    (ws.cwd / "feature.txt").write_text("feature\n")  # never committed by a task

    merged = await merge_workspace(ws, into="integration")

    assert merged["committed_first"]
    assert merged["into"] == "integration"
    assert git(project, "show", "integration:feature.txt") == "feature\n"
    # The project is back on its own branch, untouched.
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert not (project / "feature.txt").exists()
    again = await merge_workspace(ws, into="integration")
    assert again["changed"] is False


async def test_merge_refuses_a_dirty_project(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    ws = await prepare(tmp_path / "home", project, "fay")
    (ws.cwd / "a.txt").write_text("a\n")
    (project / "README.md").write_text("local edit\n")
    with pytest.raises(IsolationError, match="has uncommitted changes"):
        await merge_workspace(ws)
    assert (project / "README.md").read_text() == "local edit\n"
    assert git(project, "rev-parse", "podium/fay").strip() == ws.base_commit  # nothing done
    git(project, "checkout", "--", "README.md")
    with pytest.raises(IsolationError, match="no branch 'nope'"):
        await merge_workspace(ws, into="nope")


async def test_base_and_subdirectory(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    first = git(project, "rev-parse", "HEAD").strip()
    (project / "pkg").mkdir()
    (project / "pkg" / "mod.py").write_text("x = 1\n")
    (project / "pkg" / ".env").write_text("PKG=1\n")
    git(project, "add", "pkg/mod.py")
    git(project, "-c", "user.name=d", "-c", "user.email=d@l", "commit", "-qm", "pkg")
    git(project, "tag", "v1", first)

    old = await prepare(
        tmp_path / "home", project, "gus", IsolationSpec(mode=IsolationMode.WORKTREE, base="v1")
    )
    assert old.base_commit == first
    assert not (old.cwd / "pkg").exists()

    sub = await prepare(tmp_path / "home", project / "pkg", "hal")
    assert sub.cwd == tmp_path / "home" / "worktrees" / "hal" / "pkg"
    assert (sub.cwd / "mod.py").read_text() == "x = 1\n"
    assert (sub.cwd / ".env").read_text() == "PKG=1\n"
    assert sub.copied_files == ("pkg/.env",)
    (sub.cwd / "mod.py").write_text("x = 2\n")
    sha = await isolator_for(IsolationMode.WORKTREE).finish_task(sub, message="sub")
    assert sha is not None
    assert git(project, "ls-tree", "-r", "--name-only", "podium/hal").split() == [
        "README.md",
        "pkg/mod.py",
    ]


@pytest.mark.parametrize(
    ("setup", "spec", "fragment"),
    [
        ("plain", WORKTREE, "is not in a git repository; worktree isolation needs one"),
        ("empty", WORKTREE, "has no commit yet"),
        ("repo", IsolationSpec(mode=IsolationMode.WORKTREE, base="no-such-branch"),
         "base 'no-such-branch' is not a branch, tag or commit"),
        ("repo", IsolationSpec(mode=IsolationMode.WORKTREE, base="--orphan"),
         "base '--orphan' is not a valid git ref"),
        ("repo", IsolationSpec(mode=IsolationMode.WORKTREE, copy_files=("../secrets",)),
         "copy_files entry '../secrets' must be a path inside the project"),
    ],
)  # fmt: skip
async def test_precise_errors(
    tmp_path: Path, setup: str, spec: IsolationSpec, fragment: str
) -> None:
    project = tmp_path / "project"
    if setup == "repo":
        make_repo(project)
    else:
        project.mkdir()
        if setup == "empty":
            git(project, "init", "-q")
    with pytest.raises(IsolationError) as caught:
        await prepare(tmp_path / "home", project, "ivy", spec)
    assert fragment in caught.value.message
    assert not (tmp_path / "home" / "worktrees" / "ivy").exists()


async def test_a_leftover_worktree_is_never_reused(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    ws = await prepare(tmp_path / "home", project, "jo")
    (ws.cwd / "work.txt").write_text("precious\n")
    with pytest.raises(IsolationError, match="already exists"):
        await prepare(tmp_path / "home", project, "jo")
    assert (ws.cwd / "work.txt").read_text() == "precious\n"


async def test_a_copied_file_symlinked_outside_the_project_is_refused(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    secret = tmp_path / "elsewhere" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("PRIVATE KEY MATERIAL\n")
    (project / ".env").unlink()
    (project / ".env").symlink_to(secret)  # inside the project, pointing out of it
    with pytest.raises(IsolationError) as caught:
        await prepare(tmp_path / "home", project, "kit")
    assert "copy_files entry '.env' resolves outside the project" in caught.value.message
    assert caught.value.context["field"] == "copy_files"
    assert "PRIVATE KEY" not in caught.value.message
    # Refused before anything was made: no worktree, no branch.
    assert not (tmp_path / "home" / "worktrees" / "kit").exists()
    assert git(project, "branch", "--list", "podium/kit") == ""


async def test_a_copied_file_behind_a_symlinked_directory_is_refused(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "creds").write_text("token\n")
    (project / "conf").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    spec = IsolationSpec(mode=IsolationMode.WORKTREE, copy_files=("conf/creds",))
    with pytest.raises(IsolationError, match="resolves outside the project"):
        await prepare(tmp_path / "home", project, "lou", spec)


async def test_a_copied_file_symlinked_inside_the_project_is_copied(tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    (project / ".env").rename(project / "dev.env")
    (project / ".env").symlink_to(project / "dev.env")
    ws = await prepare(tmp_path / "home", project, "max")
    assert (ws.cwd / ".env").read_text() == ENV_TEXT
    assert ws.copied_files == (".env",)


# --- through the runtime ---------------------------------------------------------------------


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = Runtime(RuntimeConfig(home=tmp_path / "home"), backends={"claude-code": EchoBackend()})
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


async def test_runtime_spawns_into_the_worktree_and_kill_keeps_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    project = make_repo(tmp_path / "project")
    secret = "sk-ant-test-0123456789abcdef"
    agent = await runtime.spawn(
        "kim", cwd=project, isolation=WORKTREE, secret_env={"ANTHROPIC_API_KEY": secret}
    )
    worktree = tmp_path / "home" / "worktrees" / "kim"
    assert agent.cwd == str(worktree)
    assert agent.options.launcher == ()
    assert agent.options.isolation == WORKTREE
    ws = agent.options.workspace
    assert ws is not None
    assert ws.project == project
    assert ws.branch == "podium/kim"
    assert runtime.agent_env(agent)["ANTHROPIC_API_KEY"] == secret
    assert secret not in json.dumps(agent.to_dict())
    echo = runtime.backends["claude-code"]
    assert isinstance(echo, EchoBackend)
    assert echo.started[-1].cwd == worktree

    await runtime.kill("kim")
    assert worktree.is_dir()  # kept for diff / merge
    assert "ANTHROPIC_API_KEY" not in runtime.agent_env(agent)
    with pytest.raises(IsolationError, match="already exists"):
        await runtime.spawn("kim", cwd=project, isolation=WORKTREE)

    # Fronts that only pass options ask for a mode by name.
    other = await runtime.spawn("lee", cwd=project, options={"isolation": "worktree"})
    assert other.cwd == str(tmp_path / "home" / "worktrees" / "lee")
    # A made workspace is podium's own to record; a caller may only ask for a spec.
    with pytest.raises(InvalidOptions, match=r"isolation\.workspace"):
        await runtime.spawn("max", cwd=project, options={"isolation": {"workspace": {}}})


async def test_a_fork_works_in_its_parents_worktree_without_owning_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    project = make_repo(tmp_path / "project")
    secret = "sk-ant-test-fedcba9876543210"
    parent = await runtime.spawn(
        "pam", cwd=project, isolation=WORKTREE, secret_env={"ANTHROPIC_API_KEY": secret}
    )
    await runtime.wait((await runtime.ask("pam", "hello")).id)
    child = await runtime.fork("pam", "pip")
    assert child.cwd == parent.cwd
    assert child.options.isolation is None
    assert child.options.workspace is None
    assert runtime.agent_env(child)["ANTHROPIC_API_KEY"] == secret


async def test_runtime_refuses_a_worktree_outside_git(runtime: Runtime, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(IsolationError, match="is not in a git repository") as caught:
        await runtime.spawn("ned", cwd=plain, isolation=WORKTREE)
    assert caught.value.context["agent"] == "ned"
    assert await runtime.store.find_agent("ned") is None


# --- through the daemon and the podium commands ----------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedDaemon]:
    home = tmp_path / "home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    running = ThreadedDaemon(home).start()
    try:
        yield running
    finally:
        running.stop()


def podium(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_podium_diff_merge_clean(daemon: ThreadedDaemon, tmp_path: Path) -> None:
    project = make_repo(tmp_path / "project")
    with Client(daemon.url, daemon.token) as client:
        one = client.spawn("one", cwd=project, options={"isolation": "worktree"})
        two = client.spawn("two", cwd=project, options={"isolation": "worktree"})
        client.spawn("plain", cwd=project)
    Path(one.cwd, "same.txt").write_text("one\n")
    Path(two.cwd, "same.txt").write_text("two\n")

    shown = podium("diff", "one")
    assert shown.exit_code == 0, shown.output
    assert "+one" in shown.stdout
    as_json = json.loads(podium("diff", "two", "--json").stdout)
    assert as_json["untracked"] == ["same.txt"]

    refused = podium("clean", "one")
    assert refused.exit_code == 2
    assert "still alive" in refused.stderr
    assert podium("kill", "one").exit_code == 0
    refused = podium("clean", "one")
    assert refused.exit_code == 2
    assert "uncommitted changes in 1 file(s): same.txt" in refused.stderr
    assert Path(one.cwd, "same.txt").exists()

    merged = podium("merge", "one")  # a killed agent's work merges all the same
    assert merged.exit_code == 0, merged.output
    assert "merged podium/one into main" in merged.stdout
    assert (project / "same.txt").read_text() == "one\n"

    conflict = podium("merge", "two")
    assert conflict.exit_code == 1, conflict.output
    assert conflict.stdout == ""
    error, *named = conflict.stderr.splitlines(keepends=True)
    assert error.startswith("error: ")
    assert "conflicts in 1 file(s): same.txt" in error
    assert named == ["conflict: same.txt\n"]
    as_json = podium("merge", "two", "--json")
    assert as_json.exit_code == 1
    assert as_json.stderr == ""
    failure = json.loads(as_json.stdout)
    assert failure == {
        "merged": False,
        "error": {"code": "merge_conflict", "message": error[len("error: ") : -1], "context": ANY},
    }
    assert failure["error"]["context"]["files"] == ["same.txt"]
    assert clean_status(project) == ""
    assert (project / "same.txt").read_text() == "one\n"

    assert podium("clean", "one").exit_code == 0
    assert not Path(one.cwd).exists()
    forced = podium("clean", "two", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["killed"] is True
    assert not Path(two.cwd).exists()

    missing = podium("diff", "ghost")
    assert missing.exit_code == 2
    assert "no agent named 'ghost'" in missing.stderr
    no_worktree = podium("merge", "plain")
    assert no_worktree.exit_code == 2
    assert "has no isolated workspace" in no_worktree.stderr


# --- an orchestrated run: real CLIs, a scripted Write -------------------------------------------

TEAM = """\
[team]
name = "pair"
orchestrator = "lead.md"

[defaults]
isolation = "worktree"

[workers.alice]
profile = "writer.md"
api_key_env = "MARIE_API_KEY"

[workers.bob]
profile = "writer.md"
"""
WRITER = "---\ntools: Write\n---\nYou write files when asked.\n"


def write_team(root: Path) -> Path:
    root.mkdir()
    (root / "lead.md").write_text("You lead the pair.\n")
    (root / "writer.md").write_text(WRITER)
    (root / "podium.toml").write_text(TEAM)
    return root / "podium.toml"


def writes(task_id: str, text: str) -> Rule:
    """Task ``task_id``'s first turn: write notes.txt (relative: the agent's own cwd)."""
    call = ToolCall("Write", {"file_path": "notes.txt", "content": text})
    return Rule(content=rf"(?m)^PODIUM TASK {task_id}$", tool_result=False, tool_calls=[call])


PAIR_PLAN = {
    "tasks": [
        {"task_id": "left", "worker": "alice", "description": "Write notes."},
        {"task_id": "right", "worker": "bob", "description": "Write notes."},
    ]
}


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
async def test_run_workers_commit_on_their_own_branches_and_merge_reports_the_conflict(
    engine: RunEngine, fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-ant-marie-0123456789abcdef"
    monkeypatch.setenv("MARIE_API_KEY", key)
    project = make_repo(tmp_path / "project")
    team = write_team(tmp_path / "team")
    fake.add_rule(Rule(content="PODIUM SYNTHESIS", text="Both wrote notes."))
    fake.add_rule(writes("left", "from alice\n"))
    fake.add_rule(writes("right", "from bob\n"))
    fake.add_rule(Rule(tool_result=True, text="Wrote notes.txt."))

    run = await engine.submit("Write notes.", team=team, cwd=project, plan=PAIR_PLAN)
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, (run.error, [t.reason for t in run.tasks])
    assert [t.state for t in run.tasks] == [TaskState.COMPLETE] * 2
    run_dir = engine.run_dir(run.id)
    store = engine.runtime.store
    spaces: dict[str, Workspace] = {}
    for worker, task_id, text in (
        ("alice", "left", "from alice\n"),
        ("bob", "right", "from bob\n"),
    ):
        result = json.loads((run_dir / "results" / worker / f"{task_id}.json").read_text())
        agent = next(
            a for a in await store.list_agents(include_killed=True) if a.name == result["agent"]
        )
        ws = agent.options.workspace
        assert ws is not None
        spaces[worker] = ws
        assert result["isolation"] == "worktree"
        assert result["branch"] == ws.branch == f"podium/{agent.name}"
        assert result["commit"] == git(project, "rev-parse", ws.branch).strip()
        assert git(project, "show", f"{ws.branch}:notes.txt") == text
        assert git(project, "log", "-1", "--format=%s", ws.branch).strip() == (
            f"podium: {run.id} task {task_id} ({worker})"
        )
        assert (ws.cwd / "notes.txt").read_text() == text  # neither sees the other's
        assert (ws.cwd / ".env").read_text() == ENV_TEXT
    assert not (project / "notes.txt").exists()

    # alice's key went to the model as hers; bob's turns used the runtime's.
    alice_turns = fake.requests_matching(content=r"(?m)^PODIUM TASK left$")
    bob_turns = fake.requests_matching(content=r"(?m)^PODIUM TASK right$")
    assert alice_turns
    assert bob_turns
    assert {r.headers.get("x-api-key") for r in alice_turns} == {key}
    assert key not in {r.headers.get("x-api-key") for r in bob_turns}
    for path in run_dir.rglob("*.json"):
        assert key not in path.read_text()

    await merge_workspace(spaces["alice"])
    with pytest.raises(MergeConflict) as caught:
        await merge_workspace(spaces["bob"])
    assert caught.value.context["files"] == ["notes.txt"]
    assert (project / "notes.txt").read_text() == "from alice\n"
    assert clean_status(project) == ""


@pytest.mark.cli
async def test_run_names_a_missing_api_key_variable(
    engine: RunEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MARIE_API_KEY", raising=False)
    project = make_repo(tmp_path / "project")
    team = write_team(tmp_path / "team")
    plan = {"tasks": [PAIR_PLAN["tasks"][0]]}

    # Checked for every worker before the run starts: nothing is made or spent.
    with pytest.raises(UsageError) as refused:
        await engine.submit("Write.", team=team, cwd=project, plan=plan)
    assert "MARIE_API_KEY" in refused.value.message
    assert "not set" in refused.value.message
    assert await engine.runtime.list_agents() == []


@pytest.mark.cli
async def test_each_task_of_one_worker_gets_its_own_worktree_and_branch(
    engine: RunEngine, fake: FakeAnthropic, tmp_path: Path
) -> None:
    """Per agent is per task in a run: every task is a fresh agent with its own checkout."""
    project = make_repo(tmp_path / "project")
    team = write_team(tmp_path / "team")
    fake.add_rule(Rule(content="PODIUM SYNTHESIS", text="Both wrote notes."))
    fake.add_rule(writes("first", "first task\n"))
    fake.add_rule(writes("second", "second task\n"))
    fake.add_rule(Rule(tool_result=True, text="Wrote notes.txt."))
    plan = {
        "tasks": [
            {"task_id": "first", "worker": "bob", "description": "Write notes."},
            {"task_id": "second", "worker": "bob", "description": "Write notes."},
        ]
    }

    run = await engine.submit("Write notes twice.", team=team, cwd=project, plan=plan)
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, (run.error, [t.reason for t in run.tasks])
    results = engine.run_dir(run.id) / "results" / "bob"
    branches = {}
    for task_id, text in (("first", "first task\n"), ("second", "second task\n")):
        result = json.loads((results / f"{task_id}.json").read_text())
        assert result["branch"] == f"podium/{run.id}-{task_id}"
        assert git(project, "show", f"{result['branch']}:notes.txt") == text
        branches[task_id] = result["branch"]
    assert branches["first"] != branches["second"]
    first_cwd = worktree_path(engine.runtime.config.home, f"{run.id}-first")
    second_cwd = worktree_path(engine.runtime.config.home, f"{run.id}-second")
    assert (first_cwd / "notes.txt").read_text() == "first task\n"
    assert (second_cwd / "notes.txt").read_text() == "second task\n"
