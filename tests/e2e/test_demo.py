"""`podium demo`: the seed walkthrough with the real CLI against the built-in fake API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli


def test_demo_runs_offline_and_shows_inheritance_relay_and_costs(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "podium", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "READY" in out
    # The fake answers with the role only if the fork really carried the context.
    assert "I am a crypto portfolio analyst" in out
    assert "I don't know my role" not in out
    assert '"maxSupply"' in out
    assert "HASH Token Supply Analysis" in out
    assert "total cost: $" in out
    assert "killed: orchestrator, fetcher" in out
    # Part two: the orchestrated review ran its plan and the report cites every artifact.
    assert "security     marie   complete" in out or "security  marie  complete" in out
    for artifact in (
        "results/marie/security.json",
        "results/anga/performance.json",
        "results/fabien/tests.json",
    ):
        assert artifact in out
    assert "Run summary (written by podium)" in out
    # Part three: the API backends. The local model's rule answers only when the
    # fork carried the planner's conversation; the second planner turn reads the cache.
    assert "Summary (local model): 1,200 payments/s peak" in out
    assert re.search(r"cache read [1-9]\d*, out", out)
    assert "cost unknown" in out
    assert "Agreed with the local summary." in out
    assert re.search(r"answered by batch msgbatch_\w+", out)
    assert "fell back anthropic-api:opus -> openai:gpt-4o-mini (529)" in out
