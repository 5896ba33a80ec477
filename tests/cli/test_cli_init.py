"""`podium init`: a working example team, and no overwriting without --force."""

from __future__ import annotations

import json
from pathlib import Path

from podium.orchestration import load_team
from tests._cli_helpers import Run, failed, ok


def test_init_writes_a_team_that_loads(run: Run, tmp_path: Path) -> None:
    result = ok(run("init", str(tmp_path), "--json"))
    data = json.loads(result.stdout)
    assert data["workers"] == ["anga", "fabien", "marie"]
    team = load_team(tmp_path / "podium.toml")
    assert team.orchestrator.system_prompt
    assert all(Path(f).exists() for f in data["files"])


def test_init_refuses_to_overwrite_and_names_the_file(run: Run, tmp_path: Path) -> None:
    ok(run("init", str(tmp_path)))
    before = (tmp_path / "podium.toml").read_text()
    failed(run("init", str(tmp_path)), 2, "podium.toml")
    assert (tmp_path / "podium.toml").read_text() == before
    ok(run("init", str(tmp_path), "--force"))
