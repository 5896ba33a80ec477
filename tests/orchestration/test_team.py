"""podium.toml: a complete Team or a one-line error naming the file and the dotted key."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from podium import UsageError
from podium.orchestration import (
    Defaults,
    Limits,
    TeamError,
    WorkerSpec,
    find_team,
    load_team,
)

PROMPT = "You are {name}.\n"
BRIEF_EXAMPLE = (
    """\
[team]
name = "review"
orchestrator = ".claude/orchestrator.md"

[workers]
marie = ".claude/DANCE.md"
"""
    # TOML inline tables must stay on one line; split here only for line length.
    'anga = { profile = ".claude/ANGA.md", model = "haiku", '
    'api_key_env = "ANGA_API_KEY", isolation = "shared" }\n'
    """\
fabien = "fabien"

[defaults]
model = "sonnet"
timeout = 600
retries = 1
isolation = "shared"
on_check_failure = "retry"

[limits]
max_parallel = 4
budget_usd = 5.0
task_timeout = 900
retries = 1
max_plan_repairs = 2
per_worker_budget_usd = 2.0
per_task_budget_usd = 1.0

[rate_limits.sonnet]
requests_per_minute = 50
input_tokens_per_minute = 40000
output_tokens_per_minute = 8000

[checks]
fabien = ["python", "-m", "json.tool"]
"""
)

MINIMAL = """\
[team]
name = "t"
orchestrator = "lead.md"

[workers]
marie = "marie.md"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with the seed's prompt files (no frontmatter) and a sub-agent."""
    write(tmp_path / ".claude" / "orchestrator.md", "You coordinate.\n")
    write(tmp_path / ".claude" / "DANCE.md", "You are Marie.\n")
    write(tmp_path / ".claude" / "ANGA.md", "---\nmodel: opus\ntimeout: 300\n---\nYou are Anga.\n")
    write(tmp_path / ".claude" / "agents" / "fabien.md", "---\nname: fabien\n---\nTests.\n")
    write(tmp_path / "lead.md", "Lead.\n")
    write(tmp_path / "marie.md", "Marie.\n")
    return tmp_path


def team_error(team_file: Path) -> TeamError:
    with pytest.raises(TeamError) as info:
        load_team(team_file)
    return info.value


def assert_names(err: TeamError, team_file: Path, key: str) -> None:
    assert str(err).startswith(f"{team_file}: {key}: "), str(err)
    assert err.context["path"] == str(team_file)
    assert err.context["key"] == key


def with_minimal(project: Path, extra: str) -> Path:
    return write(project / "podium.toml", MINIMAL + extra)


# --- loading --------------------------------------------------------------------


def test_brief_example_loads(project: Path) -> None:
    team = load_team(write(project / "podium.toml", BRIEF_EXAMPLE))
    assert team.name == "review"
    assert team.path == (project / "podium.toml").absolute()
    assert team.root == project.absolute()
    assert team.orchestrator.name == "orchestrator"
    assert team.orchestrator.path == (project / ".claude" / "orchestrator.md").absolute()
    assert list(team.workers) == ["marie", "anga", "fabien"]

    marie, anga, fabien = team.workers.values()
    assert marie.profile.name == "marie"  # no frontmatter: named after the worker
    assert marie.profile.system_prompt == "You are Marie."
    assert marie.model == "sonnet"  # from [defaults]
    assert marie.timeout == 600
    assert marie.check is None
    assert anga.model == "haiku"  # worker table beats the profile's opus
    assert anga.timeout == 300  # the profile beats [defaults]
    assert anga.api_key_env == "ANGA_API_KEY"
    assert fabien.profile.path == (project / ".claude" / "agents" / "fabien.md").absolute()
    assert fabien.check == ("python", "-m", "json.tool")

    assert team.defaults == Defaults(
        model="sonnet", timeout=600, retries=1, isolation="shared", on_check_failure="retry"
    )
    assert team.limits == Limits(
        max_parallel=4,
        budget_usd=5.0,
        task_timeout=900,
        retries=1,
        max_plan_repairs=2,
        per_worker_budget_usd=2.0,
        per_task_budget_usd=1.0,
    )
    sonnet = team.rate_limits["sonnet"]
    assert (sonnet.requests_per_minute, sonnet.input_tokens_per_minute) == (50, 40000)
    assert sonnet.output_tokens_per_minute == 8000


def test_paths_are_relative_to_the_team_file_not_the_cwd(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    team_file = write(project / "podium.toml", BRIEF_EXAMPLE)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    team = load_team(team_file)
    assert team.workers["marie"].profile.path == (project / ".claude" / "DANCE.md").absolute()


def test_relative_team_path_from_its_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "podium.toml", BRIEF_EXAMPLE)
    monkeypatch.chdir(project)
    team = load_team("podium.toml")
    assert team.path == project / "podium.toml"
    assert team.workers["marie"].profile.path == project / ".claude" / "DANCE.md"


def test_a_directory_means_its_podium_toml(project: Path) -> None:
    write(project / "podium.toml", MINIMAL)
    assert load_team(project).name == "t"


def test_defaults_when_sections_are_absent(project: Path) -> None:
    team = load_team(write(project / "podium.toml", MINIMAL))
    assert team.defaults == Defaults()
    assert team.limits == Limits()
    assert team.rate_limits == {}
    worker = team.workers["marie"]
    assert (worker.model, worker.isolation) == (None, "shared")
    assert worker.timeout == Limits().task_timeout  # no timeout anywhere: the ceiling
    assert worker.retries == Limits().retries


def test_profile_inherit_model_falls_back_to_defaults(project: Path) -> None:
    write(project / "marie.md", "---\nmodel: inherit\nisolation: worktree\n---\nMarie.\n")
    team = load_team(with_minimal(project, '[defaults]\nmodel = "opus"\n'))
    assert team.workers["marie"].model == "opus"
    assert team.workers["marie"].isolation == "worktree"


def test_team_objects_are_frozen(project: Path) -> None:
    team = load_team(write(project / "podium.toml", MINIMAL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        team.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        team.workers["marie"].model = "opus"  # type: ignore[misc]
    with pytest.raises(TypeError):
        WorkerSpec("a")  # type: ignore[call-arg]


def test_find_team_walks_up(project: Path) -> None:
    team_file = write(project / "podium.toml", MINIMAL)
    deep = project / "src" / "pkg" / "sub"
    deep.mkdir(parents=True)
    assert find_team(deep) == team_file.absolute()
    assert find_team(team_file) == team_file.absolute()


def test_find_team_returns_none_when_absent(tmp_path: Path) -> None:
    if any((parent / "podium.toml").is_file() for parent in tmp_path.absolute().parents):
        pytest.skip("a podium.toml above the temporary directory")
    assert find_team(tmp_path) is None


def test_find_team_defaults_to_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    team_file = write(project / "podium.toml", MINIMAL)
    monkeypatch.chdir(project / ".claude")
    assert find_team() == team_file.absolute()


# --- bad input: the file --------------------------------------------------------


def test_error_is_a_usage_error_with_its_own_code(tmp_path: Path) -> None:
    err = team_error(tmp_path / "podium.toml")
    assert isinstance(err, UsageError)
    assert err.code == "team_error"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "podium.toml"
    assert str(team_error(path)) == f"{path}: team file does not exist"


def test_malformed_toml_names_the_line(project: Path) -> None:
    path = write(project / "podium.toml", '[team]\nname = "t"\norchestrator = \n')
    err = team_error(path)
    assert str(err).startswith(f"{path}: invalid TOML: ")
    assert "line 3" in str(err)


def test_not_utf8(project: Path) -> None:
    path = project / "podium.toml"
    path.write_bytes(b"[team]\nname = '\xff'\n")
    assert "not UTF-8" in str(team_error(path))


def test_unknown_section(project: Path) -> None:
    path = with_minimal(project, "[limit]\nmax_parallel = 2\n")
    assert_names(team_error(path), path, "limit")


def test_section_that_is_not_a_table(project: Path) -> None:
    path = write(project / "podium.toml", 'defaults = "fast"\n' + MINIMAL)
    assert_names(team_error(path), path, "defaults")


def test_missing_team_section(project: Path) -> None:
    path = write(project / "podium.toml", '[workers]\nmarie = "marie.md"\n')
    assert str(team_error(path)) == f"{path}: missing [team] section"


def test_missing_orchestrator(project: Path) -> None:
    path = write(project / "podium.toml", '[team]\nname = "t"\n[workers]\nm = "marie.md"\n')
    err = team_error(path)
    assert_names(err, path, "team.orchestrator")
    assert "is required" in str(err)


def test_unknown_key_in_team(project: Path) -> None:
    path = write(project / "podium.toml", MINIMAL.replace('name = "t"', 'name = "t"\nnmae = 1'))
    assert_names(team_error(path), path, "team.nmae")


def test_team_name_not_an_identifier(project: Path) -> None:
    path = write(project / "podium.toml", MINIMAL.replace('name = "t"', 'name = "My Team"'))
    assert_names(team_error(path), path, "team.name")


def test_orchestrator_profile_missing(project: Path) -> None:
    path = write(project / "podium.toml", MINIMAL.replace("lead.md", "gone.md"))
    message = f"{path}: team.orchestrator: profile file gone.md does not exist"
    assert str(team_error(path)) == message


# --- bad input: workers ---------------------------------------------------------


def test_worker_profile_file_missing(project: Path) -> None:
    (project / ".claude" / "DANCE.md").unlink()
    path = write(project / "podium.toml", BRIEF_EXAMPLE)
    err = team_error(path)
    assert str(err) == f"{path}: workers.marie: profile file .claude/DANCE.md does not exist"


def test_worker_profile_content_error_names_both_files(project: Path) -> None:
    write(project / "marie.md", "---\nmax_turns: ten\n---\nMarie.\n")
    path = with_minimal(project, "")
    err = team_error(path)
    assert_names(err, path, "workers.marie")
    assert str(project / "marie.md") in str(err)
    assert "'max_turns' must be a positive integer, got 'ten'" in str(err)


def test_worker_bare_name_not_discovered(project: Path) -> None:
    path = with_minimal(project, 'ghost = "ghost"\n')
    err = team_error(path)
    assert_names(err, path, "workers.ghost")
    assert "no profile named 'ghost'" in str(err)
    assert "fabien" in str(err)  # lists what was found


def test_worker_profile_that_is_a_directory(project: Path) -> None:
    (project / "dir.md").mkdir()
    path = with_minimal(project, 'x = "dir.md"\n')
    assert "is not a file" in str(team_error(path))


@pytest.mark.parametrize("name", ["Marie", "bad-name!", "9lives", '"a b"'])
def test_worker_name_not_an_identifier(project: Path, name: str) -> None:
    quoted = name if name.startswith('"') else f'"{name}"'
    path = with_minimal(project, f'{quoted} = "marie.md"\n')
    err = team_error(path)
    assert str(err).startswith(f"{path}: workers.")
    assert "worker name" in str(err)


def test_no_workers(project: Path) -> None:
    path = write(project / "podium.toml", MINIMAL.replace('marie = "marie.md"\n', ""))
    assert_names(team_error(path), path, "workers")


def test_worker_entry_of_wrong_type(project: Path) -> None:
    path = with_minimal(project, "anga = 3\n")
    assert_names(team_error(path), path, "workers.anga")


def test_worker_table_unknown_key(project: Path) -> None:
    path = with_minimal(project, 'anga = { profile = "marie.md", modle = "haiku" }\n')
    err = team_error(path)
    assert_names(err, path, "workers.anga.modle")
    assert "did you mean 'model'" in str(err)


def test_worker_table_without_profile(project: Path) -> None:
    path = with_minimal(project, 'anga = { model = "haiku" }\n')
    assert_names(team_error(path), path, "workers.anga.profile")


def test_worker_model_unknown(project: Path) -> None:
    path = with_minimal(project, 'anga = { profile = "marie.md", model = "gpt-4" }\n')
    assert_names(team_error(path), path, "workers.anga.model")


def test_worker_isolation_unknown(project: Path) -> None:
    path = with_minimal(project, 'anga = { profile = "marie.md", isolation = "vm" }\n')
    assert_names(team_error(path), path, "workers.anga.isolation")


def test_worker_api_key_env_not_a_variable_name(project: Path) -> None:
    path = with_minimal(project, 'anga = { profile = "marie.md", api_key_env = "sk-ant-123" }\n')
    assert_names(team_error(path), path, "workers.anga.api_key_env")


def test_worker_timeout_above_the_ceiling(project: Path) -> None:
    path = with_minimal(
        project, 'a = { profile = "marie.md", timeout = 50 }\n[limits]\ntask_timeout = 10\n'
    )
    err = team_error(path)
    assert_names(err, path, "workers.a.timeout")
    assert "limits.task_timeout" in str(err)


def test_default_retries_above_the_ceiling(project: Path) -> None:
    path = with_minimal(project, "[defaults]\nretries = 3\n[limits]\nretries = 1\n")
    assert_names(team_error(path), path, "defaults.retries")


# --- bad input: defaults, limits, rate limits, checks ---------------------------


def test_defaults_wrong_type(project: Path) -> None:
    path = with_minimal(project, '[defaults]\ntimeout = "10m"\n')
    err = team_error(path)
    assert str(err) == (
        f"{path}: defaults.timeout: must be a positive number of seconds, got '10m'"
    )


def test_defaults_unknown_check_failure_policy(project: Path) -> None:
    path = with_minimal(project, '[defaults]\non_check_failure = "ignore"\n')
    err = team_error(path)
    assert_names(err, path, "defaults.on_check_failure")
    assert "reassign" in str(err)


def test_defaults_model_unknown(project: Path) -> None:
    path = with_minimal(project, '[defaults]\nmodel = "inherit"\n')
    assert_names(team_error(path), path, "defaults.model")


def test_budget_zero_is_rejected_with_a_reason(project: Path) -> None:
    path = with_minimal(project, "[limits]\nbudget_usd = 0\n")
    err = team_error(path)
    assert_names(err, path, "limits.budget_usd")
    assert "a run with no budget cannot dispatch anything" in str(err)


@pytest.mark.parametrize("key", ["budget_usd", "per_worker_budget_usd", "per_task_budget_usd"])
def test_negative_budgets(project: Path, key: str) -> None:
    path = with_minimal(project, f"[limits]\n{key} = -1.5\n")
    assert_names(team_error(path), path, f"limits.{key}")


def test_budget_nan_is_rejected(project: Path) -> None:
    path = with_minimal(project, "[limits]\nbudget_usd = nan\n")
    assert_names(team_error(path), path, "limits.budget_usd")


def test_budget_wrong_type(project: Path) -> None:
    path = with_minimal(project, '[limits]\nbudget_usd = "5"\n')
    assert_names(team_error(path), path, "limits.budget_usd")


def test_per_task_budget_above_total(project: Path) -> None:
    path = with_minimal(project, "[limits]\nbudget_usd = 1.0\nper_task_budget_usd = 2.0\n")
    assert_names(team_error(path), path, "limits.per_task_budget_usd")


@pytest.mark.parametrize("value", ["0", "-2", '"4"', "2.5", "true"])
def test_max_parallel_must_be_at_least_one(project: Path, value: str) -> None:
    path = with_minimal(project, f"[limits]\nmax_parallel = {value}\n")
    err = team_error(path)
    assert_names(err, path, "limits.max_parallel")
    assert "an integer >= 1" in str(err)


def test_limits_unknown_key(project: Path) -> None:
    path = with_minimal(project, "[limits]\nmax_paralel = 2\n")
    assert_names(team_error(path), path, "limits.max_paralel")


@pytest.mark.parametrize("value", ["0", "-10", "1.5"])
def test_rate_limits_must_be_positive_integers(project: Path, value: str) -> None:
    path = with_minimal(project, f"[rate_limits.sonnet]\nrequests_per_minute = {value}\n")
    assert_names(team_error(path), path, "rate_limits.sonnet.requests_per_minute")


def test_rate_limit_keyed_by_unknown_model(project: Path) -> None:
    path = with_minimal(project, "[rate_limits.gpt]\nrequests_per_minute = 5\n")
    assert_names(team_error(path), path, "rate_limits.gpt")


def test_rate_limit_by_full_model_id(project: Path) -> None:
    path = with_minimal(
        project, '[rate_limits."claude-sonnet-4-5"]\noutput_tokens_per_minute = 9\n'
    )
    assert load_team(path).rate_limits["claude-sonnet-4-5"].output_tokens_per_minute == 9


def test_rate_limit_that_sets_nothing(project: Path) -> None:
    path = with_minimal(project, "[rate_limits.sonnet]\n")
    assert_names(team_error(path), path, "rate_limits.sonnet")


def test_rate_limit_unknown_key(project: Path) -> None:
    path = with_minimal(project, "[rate_limits.sonnet]\nrpm = 5\n")
    assert_names(team_error(path), path, "rate_limits.sonnet.rpm")


def test_check_as_a_shell_string(project: Path) -> None:
    path = with_minimal(project, '[checks]\nmarie = "pytest -q && rm -rf /"\n')
    err = team_error(path)
    assert_names(err, path, "checks.marie")
    assert "not a shell string" in str(err)


@pytest.mark.parametrize("value", ["[]", '["pytest", 3]', '["pytest", ""]', "3", "{ a = 1 }"])
def test_check_must_be_a_non_empty_list_of_strings(project: Path, value: str) -> None:
    path = with_minimal(project, f"[checks]\nmarie = {value}\n")
    assert_names(team_error(path), path, "checks.marie")


def test_check_for_an_unknown_worker(project: Path) -> None:
    path = with_minimal(project, '[checks]\nnobody = ["true"]\n')
    assert_names(team_error(path), path, "checks.nobody")


def test_integration_section_loads(project: Path) -> None:
    team = load_team(with_minimal(project, ""))
    assert team.integration.check is None
    assert team.integration.attempts == 1
    path = with_minimal(project, '[integration]\ncheck = ["pytest", "-q"]\nattempts = 0\n')
    team = load_team(path)
    assert team.integration.check == ("pytest", "-q")
    assert team.integration.attempts == 0


@pytest.mark.parametrize(
    ("body", "key", "says"),
    [
        ('check = "pytest -q"', "integration.check", "not a shell string"),
        ("check = []", "integration.check", "non-empty list"),
        ('check = ["pytest", 3]', "integration.check", "non-empty string"),
        ("attempts = -1", "integration.attempts", "an integer >= 0"),
        ('attempts = "2"', "integration.attempts", "an integer >= 0"),
        ("atempts = 2", "integration.atempts", "attempts"),
    ],
)
def test_integration_section_errors_name_the_key(
    project: Path, body: str, key: str, says: str
) -> None:
    path = with_minimal(project, f"[integration]\n{body}\n")
    err = team_error(path)
    assert_names(err, path, key)
    assert says in str(err)


def test_no_partial_team_on_error(project: Path) -> None:
    # The first worker is fine, the second is not: no Team at all comes back.
    path = with_minimal(project, 'anga = "missing.md"\n')
    with pytest.raises(TeamError) as info:
        load_team(path)
    assert_names(info.value, path, "workers.anga")


# --- isolation: a mode name or a table of settings ----------------------------------


def test_worker_isolation_table_gives_a_spec(project: Path) -> None:
    from podium.isolation import IsolationMode, IsolationSpec
    from podium.orchestration._worker_agent import worker_agent_spec

    team = load_team(
        with_minimal(
            project,
            'anga = { profile = "marie.md", isolation = { mode = "container", '
            'memory_mb = 8192, cpus = 1.5, image = "ghcr.io/me/worker:1" } }\n'
            "[workers.bob]\n"
            'profile = "marie.md"\n'
            "[workers.bob.isolation]\n"
            'mode = "worktree"\n'
            'base = "dev"\n'
            'copy_files = [".env", "config/local.toml"]\n',
        )
    )
    anga = team.workers["anga"]
    expected = IsolationSpec(
        mode=IsolationMode.CONTAINER, memory_mb=8192, cpus=1.5, image="ghcr.io/me/worker:1"
    )
    assert anga.isolation == expected
    assert anga.isolation_spec == expected
    # What a worker's agent is spawned with, by a planned run, an agentic run or MCP.
    assert worker_agent_spec(anga).options.isolation == expected
    assert team.workers["bob"].isolation == IsolationSpec(
        mode=IsolationMode.WORKTREE, base="dev", copy_files=(".env", "config/local.toml")
    )
    # A mode name stays a name; its spec has every default.
    assert team.workers["marie"].isolation == "shared"
    assert team.workers["marie"].isolation_spec == IsolationSpec()


def test_isolation_precedence_is_worker_then_profile_then_defaults(project: Path) -> None:
    from podium.isolation import IsolationMode, IsolationSpec

    write(project / "boxed.md", "---\nisolation: {mode: sandbox, pids: 32}\n---\nBoxed.\n")
    team = load_team(
        with_minimal(
            project,
            'boxed = "boxed.md"\n'
            'own = { profile = "boxed.md", isolation = "worktree" }\n'
            "[defaults]\n"
            'isolation = { mode = "container", memory_mb = 2048 }\n',
        )
    )
    assert team.defaults.isolation == IsolationSpec(mode=IsolationMode.CONTAINER, memory_mb=2048)
    assert team.workers["marie"].isolation == team.defaults.isolation  # no setting of its own
    assert team.workers["boxed"].isolation == IsolationSpec(mode=IsolationMode.SANDBOX, pids=32)
    # The first set wins whole: tables are not merged key by key.
    assert team.workers["own"].isolation == "worktree"


@pytest.mark.parametrize(
    ("isolation", "key", "fragment"),
    [
        ('{ mode = "container", memory_mb = "lots" }', "memory_mb", "must be a number"),
        ('{ mode = "container", memory_mb = 0 }', "memory_mb", "greater than 0, got 0"),
        ('{ mode = "container", cpus = "two" }', "cpus", "must be a number of CPUs"),
        ('{ mode = "container", pids = -1 }', "pids", "greater than 0, got -1"),
        ('{ mode = "container", engine = "lxc" }', "engine", "one of docker, podman"),
        ('{ mode = "container", image = "--privileged" }', "image", "image reference"),
        ('{ mode = "sandbox", allow_hosts = ["pypi.org"] }', "allow_hosts", "not host:port"),
        ('{ mode = "sandbox", cpus = 1 }', "cpus", "does not apply to isolation mode 'sandbox'"),
        ('{ mode = "worktree", image = "i:1" }', "image", "does not apply to isolation mode"),
        ('{ mode = "worktree", copy_files = "../x" }', "copy_files", "a list of paths"),
        ('{ mode = "worktree", base = "-b" }', "base", "git branch, tag or commit"),
        ('{ mode = "worktree", bsae = "dev" }', "bsae", "did you mean 'base'?"),
        ("{ memory_mb = 1024 }", "mode", "is required in an isolation table"),
        ('{ mode = "vm" }', "mode", "must be one of shared, worktree, sandbox, container"),
    ],
)
def test_worker_isolation_table_errors_name_the_key(
    project: Path, isolation: str, key: str, fragment: str
) -> None:
    path = with_minimal(project, f'anga = {{ profile = "marie.md", isolation = {isolation} }}\n')
    err = team_error(path)
    assert_names(err, path, f"workers.anga.isolation.{key}")
    assert fragment in str(err)


def test_worker_isolation_of_the_wrong_type(project: Path) -> None:
    path = with_minimal(project, 'anga = { profile = "marie.md", isolation = 3 }\n')
    err = team_error(path)
    assert_names(err, path, "workers.anga.isolation")
    assert "a mode name (shared, worktree, sandbox, container) or a table" in str(err)


def test_defaults_isolation_errors_name_the_key(project: Path) -> None:
    path = with_minimal(project, '[defaults]\nisolation = { mode = "container", cpus = 0 }\n')
    assert_names(team_error(path), path, "defaults.isolation.cpus")
    path = with_minimal(project, '[defaults]\nisolation = "vm"\n')
    assert_names(team_error(path), path, "defaults.isolation")


def test_a_profile_isolation_error_names_the_team_key_and_the_profile_key(project: Path) -> None:
    write(project / "bad.md", "---\nisolation:\n  mode: container\n  memory_mb: lots\n---\nB.\n")
    path = with_minimal(project, 'bad = "bad.md"\n')
    err = team_error(path)
    assert_names(err, path, "workers.bad")
    assert "key 'isolation.memory_mb': must be a number" in str(err)


# --- paths stay inside the project ----------------------------------------------


@pytest.fixture
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside the project, as a private key would be."""
    return write(tmp_path_factory.mktemp("outside") / "id_rsa", "PRIVATE KEY MATERIAL\n")


def _relative(target: Path, start: Path) -> str:
    return os.path.relpath(target, start)


def test_a_worker_profile_outside_the_project_is_refused(project: Path, secret: Path) -> None:
    path = with_minimal(project, f'leak = "{_relative(secret, project)}"\n')
    err = team_error(path)
    assert_names(err, path, "workers.leak.profile")
    assert "outside the project directory" in str(err)
    assert "PRIVATE KEY" not in str(err)


def test_an_absolute_worker_profile_path_outside_is_refused(project: Path, secret: Path) -> None:
    path = with_minimal(project, f'[workers.leak]\nprofile = "{secret}"\n')
    err = team_error(path)
    assert_names(err, path, "workers.leak.profile")
    assert "outside the project directory" in str(err)


def test_a_symlinked_profile_pointing_outside_is_refused(project: Path, secret: Path) -> None:
    (project / ".claude" / "innocent.md").symlink_to(secret)
    path = with_minimal(project, 'leak = ".claude/innocent.md"\n')
    err = team_error(path)
    assert_names(err, path, "workers.leak.profile")
    assert "outside the project directory" in str(err)


def test_a_symlinked_directory_pointing_outside_is_refused(project: Path, secret: Path) -> None:
    (project / "keys").symlink_to(secret.parent, target_is_directory=True)
    path = with_minimal(project, 'leak = "keys/id_rsa"\n')
    assert_names(team_error(path), path, "workers.leak.profile")


def test_an_orchestrator_outside_the_project_is_refused(project: Path, secret: Path) -> None:
    text = MINIMAL.replace("lead.md", _relative(secret, project))
    path = write(project / "podium.toml", text)
    err = team_error(path)
    assert_names(err, path, "team.orchestrator")
    assert "outside the project directory" in str(err)


def test_a_discovered_profile_symlinked_outside_is_refused(project: Path, secret: Path) -> None:
    (project / ".claude" / "agents" / "leak.md").symlink_to(secret)
    path = with_minimal(project, 'leak = "leak"\n')
    err = team_error(path)
    assert_names(err, path, "workers.leak")
    assert "outside the project directory" in str(err)
    assert "PRIVATE KEY" not in str(err)


def test_an_output_schema_outside_the_project_is_refused(project: Path, secret: Path) -> None:
    schema = write(secret.parent / "schema.json", '{"type": "object"}')
    rel = _relative(schema, project / ".claude")
    write(project / ".claude" / "typed.md", f"---\noutput_schema: {rel}\n---\nTyped.\n")
    path = with_minimal(project, 'typed = ".claude/typed.md"\n')
    err = team_error(path)
    assert_names(err, path, "workers.typed")
    assert "'output_schema'" in str(err)
    assert "outside the project directory" in str(err)


def test_an_output_schema_symlinked_outside_is_refused(project: Path, secret: Path) -> None:
    schema = write(secret.parent / "schema.json", '{"type": "object"}')
    (project / ".claude" / "schema.json").symlink_to(schema)
    write(project / ".claude" / "typed.md", "---\noutput_schema: schema.json\n---\nTyped.\n")
    path = with_minimal(project, 'typed = ".claude/typed.md"\n')
    err = team_error(path)
    assert "'output_schema'" in str(err)
    assert "outside the project directory" in str(err)


def test_paths_and_symlinks_inside_the_project_still_load(project: Path) -> None:
    write(project / "schemas" / "out.json", '{"type": "object"}')
    write(project / ".claude" / "typed.md", "---\noutput_schema: ../schemas/out.json\n---\nT.\n")
    (project / "alias.md").symlink_to(project / ".claude" / "DANCE.md")
    path = with_minimal(project, 'typed = ".claude/typed.md"\nalias = "alias.md"\n')
    team = load_team(path)
    assert team.workers["typed"].profile.output_schema == {"type": "object"}
    assert team.workers["alias"].profile.system_prompt == "You are Marie."


# --- config_dir: which Claude Code configuration a worker's agents run with ------------------


def test_config_dir_from_worker_profile_or_defaults(project: Path) -> None:
    from podium.orchestration._worker_agent import lead_agent_spec, worker_agent_spec

    second = project / "second-account"
    second.mkdir()
    write(project / "boxed.md", "---\nname: boxed\nconfig_dir: isolated\n---\nYou are boxed.\n")
    team = load_team(
        with_minimal(
            project,
            'anga = { profile = "marie.md", config_dir = "second-account" }\n'
            'bob = "boxed.md"\n'
            "[defaults]\n"
            'config_dir = "user"\n',
        )
    )
    assert team.workers["anga"].config_dir == str(second.resolve())
    assert team.workers["bob"].config_dir == "isolated"  # its profile says so
    assert worker_agent_spec(team.workers["anga"]).options.config_dir == str(second.resolve())
    assert worker_agent_spec(team.workers["bob"]).options.config_dir == "isolated"
    assert lead_agent_spec(team).options.config_dir == "user"


def test_config_dir_that_is_no_directory_names_the_key(project: Path) -> None:
    path = with_minimal(project, 'anga = { profile = "marie.md", config_dir = "nowhere" }\n')
    err = team_error(path)
    assert_names(err, path, "workers.anga.config_dir")
    assert "not a directory" in str(err)
