"""The example team behind ``podium init``: it must load, and never clobber silently."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from podium.orchestration import EXAMPLE_FILES, TeamError, load_team, write_example_team

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def test_example_team_round_trips(tmp_path: Path) -> None:
    written = write_example_team(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "podium.toml",
        ".claude/orchestrator.md",
        ".claude/DANCE.md",
        ".claude/ANGA.md",
        ".claude/FABIEN.md",
    ]
    team = load_team(tmp_path / "podium.toml")
    assert team.orchestrator.name == "orchestrator"
    assert list(team.workers) == ["marie", "anga", "fabien"]
    for worker in team.workers.values():
        schema = worker.profile.output_schema
        assert schema is not None
        assert schema["required"] == ["status", "findings", "artifacts"]
        item = schema["properties"]["findings"]["items"]
        assert item["required"] == ["severity", "location", "summary", "remediation"]
        assert worker.profile.description
        assert worker.profile.allowed_tools
        assert "## Boundaries" in worker.profile.system_prompt
        json.dumps(worker.profile.agent_options().to_dict())

    marie = team.workers["marie"].profile
    assert marie.allowed_tools == ("Read", "Grep", "Glob")
    assert marie.permission_mode == "default"
    assert {"Write", "Edit"} <= set(marie.disallowed_tools)
    assert team.workers["anga"].model == "haiku"
    assert team.limits.budget_usd is not None
    assert team.limits.budget_usd > 0


def test_example_prompts_are_not_the_seed_verbatim(tmp_path: Path) -> None:
    seeds = sorted(SEED.glob("003_*.txt")) if SEED.is_dir() else []
    if not seeds:
        pytest.skip("seed document not available")
    seed = seeds[0].read_text(encoding="utf-8")
    for path in write_example_team(tmp_path)[1:]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if len(line) > 40 and not line.startswith(("  ", "#", "`", "{")):
                assert line.strip() not in seed, line


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    existing = tmp_path / ".claude" / "ANGA.md"
    existing.parent.mkdir()
    existing.write_text("mine\n")
    with pytest.raises(TeamError) as info:
        write_example_team(tmp_path)
    assert str(info.value).startswith(f"{existing}: already exists")
    assert existing.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["ANGA.md"]


def test_error_names_the_first_existing_file(tmp_path: Path) -> None:
    (tmp_path / "podium.toml").write_text("x")
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "FABIEN.md").write_text("x")
    with pytest.raises(TeamError) as info:
        write_example_team(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'podium.toml'}: ")


def test_force_overwrites(tmp_path: Path) -> None:
    (tmp_path / "podium.toml").write_text("broken = [")
    write_example_team(tmp_path, force=True)
    assert load_team(tmp_path).name == "review"


def test_creates_the_directory_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "new" / "project"
    write_example_team(target)
    write_example_team(target, force=True)
    names = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert names == sorted(dest for _, dest in EXAMPLE_FILES)


def test_unwritable_target_is_a_team_error(tmp_path: Path) -> None:
    (tmp_path / ".claude").write_text("a file where a directory should be")
    with pytest.raises(TeamError) as info:
        write_example_team(tmp_path, force=True)
    assert ".claude" in str(info.value)


def test_the_templates_commented_sections_load_as_they_say(tmp_path: Path) -> None:
    # A user enables an optional section by removing the "# " of its lines: each
    # must then load with the meaning its comment gives.
    write_example_team(tmp_path)
    toml = tmp_path / "podium.toml"
    lines = toml.read_text(encoding="utf-8").splitlines()
    sections = ("[checks]", "[integration]", "[runs]")
    enabled: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("# [") or line.startswith("["):
            inside = line.removeprefix("# ") in sections
        if inside and re.match(r"# (\[|[a-z_]+ = )", line):
            line = line[2:]
        enabled.append(line)
    toml.write_text("\n".join(enabled) + "\n", encoding="utf-8")
    team = load_team(toml)
    assert team.integration.check == ("python", "-m", "pytest", "-q")
    assert team.integration.attempts == 1
    assert team.review is True
    assert team.keep_worktrees == 3
