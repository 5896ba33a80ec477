"""Secrets: the redaction helpers, and a worker's API key kept out of everything podium writes.

The end-to-end test runs the installed ``podium`` command and a real daemon; the
worker is a real Claude Code CLI talking to the fake API. Its key reaches the fake
(the ``x-api-key`` header proves it was used) and appears nowhere else: not in any
byte under the state directory (SQLite, events.jsonl, run directories, agent state),
not in the daemon log, not in any process's command line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.isolation._credentials import (
    MASK,
    MIN_SECRET_LENGTH,
    RedactingFormatter,
    SecretRegistry,
    redact,
)
from podium.orchestration import write_example_team
from podium.testing import FakeAnthropic, fake_api_env
from tests.e2e._helpers import podium, processes_under, wait_until
from tests.orchestration._run_helpers import (
    lead_rules,
    plan_json,
    review_result,
    task,
    task_rule,
)

KEY = "sk-ant-marie-6f1c9b2e-KEEP-OUT-OF-LOGS-3d7a"
OTHER = "sk-ant-other-0000-1111-2222"


# --- redaction helpers -----------------------------------------------------------------


def test_redact_masks_every_occurrence_and_leaves_other_text() -> None:
    text = f"key={KEY}; again {KEY}. other={OTHER}"
    assert redact(text, [KEY]) == f"key={MASK}; again {MASK}. other={OTHER}"
    assert redact(text, [KEY, OTHER]) == f"key={MASK}; again {MASK}. other={MASK}"
    assert redact(text, []) == text
    assert redact(text, [None, ""]) == text


def test_redact_masks_the_longer_of_overlapping_secrets_whole() -> None:
    short, long = "abcdefgh", "abcdefgh-and-more"
    assert redact(f"[{long}]", [short, long]) == f"[{MASK}]"
    assert redact(f"[{short}]", [short, long]) == f"[{MASK}]"


def test_short_values_are_not_secrets_to_mask() -> None:
    registry = SecretRegistry()
    too_short = "x" * (MIN_SECRET_LENGTH - 1)
    assert registry.add(too_short) is False
    assert registry.add("") is False
    assert registry.add(None) is False
    assert len(registry) == 0
    assert registry.redact(f"a{too_short}b") == f"a{too_short}b"


def test_regex_characters_in_a_secret_are_literal() -> None:
    registry = SecretRegistry()
    registry.add("a.b*c+d?e(f)")
    assert registry.redact("a.b*c+d?e(f) axbbbc") == f"{MASK} axbbbc"


def test_registry_scrubs_strings_bytes_and_nested_values_without_changing_them() -> None:
    registry = SecretRegistry()
    registry.add(KEY, owner="marie")
    data = {"error": f"401 for {KEY}", KEY: [1, ("x", KEY)], "n": 3, "ok": None}
    scrubbed = registry.redact_value(data)
    assert scrubbed == {"error": f"401 for {MASK}", MASK: [1, ("x", MASK)], "n": 3, "ok": None}
    assert data["error"] == f"401 for {KEY}"  # the original is untouched
    assert registry.redact_bytes(f"k={KEY}".encode()) == f"k={MASK}".encode()
    assert registry.contains(f"..{KEY}..")
    assert registry.contains(f"..{KEY}..".encode())
    assert not registry.contains("nothing here")


def test_forgetting_an_owner_drops_only_its_secrets() -> None:
    registry = SecretRegistry()
    registry.add_env({"ANTHROPIC_API_KEY": KEY, "SHORT": "abc"}, owner="marie")
    registry.add(OTHER, owner="anga")
    registry.add(OTHER, owner="fabien")
    assert len(registry) == 2
    registry.forget("marie")
    assert registry.redact(KEY) == KEY
    registry.forget("anga")
    assert registry.redact(OTHER) == MASK  # fabien still holds it
    registry.clear()
    assert registry.redact(OTHER) == OTHER


def test_redacting_formatter_scrubs_message_arguments_and_traceback() -> None:
    registry = SecretRegistry()
    registry.add(KEY)
    formatter = RedactingFormatter("%(levelname)s %(message)s", secrets=registry)
    try:
        raise RuntimeError(f"refused key {KEY}")
    except RuntimeError:
        record = logging.LogRecord(
            "podium", logging.ERROR, __file__, 1, "calling with %s", (KEY,), exc_info=True
        )
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert KEY not in line
    assert line.startswith(f"ERROR calling with {MASK}")
    assert f"refused key {MASK}" in line


# --- a worker's key, end to end ----------------------------------------------------------


def _team(project: Path) -> None:
    write_example_team(project)
    toml = project / "podium.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace(
        'marie = ".claude/DANCE.md"',
        'marie = { profile = ".claude/DANCE.md", api_key_env = "MARIE_API_KEY" }',
    )
    assert "MARIE_API_KEY" in text
    toml.write_text(text, encoding="utf-8")
    plan = plan_json(task("security", "marie"), task("perf", "anga"))
    (project / "plan.json").write_text(plan, encoding="utf-8")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _files_holding(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


@pytest.mark.cli
def test_a_workers_key_appears_nowhere_in_the_state_directory_logs_or_events(
    tmp_path: Path, home: Path, fake: FakeAnthropic
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _team(project)
    user_home = Path(os.environ["HOME"])
    env = {
        **os.environ,
        **fake_api_env(fake.base_url),
        "PODIUM_HOME": str(home),
        "MARIE_API_KEY": KEY,
    }
    marie_answer = review_result("HIGH", "app/db.py:88", "SQL built by formatting.", "Bind.")
    fake.add_rule(task_rule("security", marie_answer, delay=3.0))
    fake.add_rule(task_rule("perf", review_result("LOW", "app/a.py:1", "Slow loop.", "Cache.")))
    for rule in lead_rules(plan_json(), "# Review\n\nAll done."):
        fake.add_rule(rule)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "podium", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    podium(env, "up")
    try:
        run_id = run("run", "Review this code base.", "--plan", "plan.json", "--detach")
        run_id_text = run_id.stdout.strip().split()[-1]

        # While marie's turn is in flight at the fake, look at every live process.
        wait_until(lambda: bool(fake.requests_matching(content=r"(?m)^PODIUM TASK security$")))
        carriers = []
        for pid in processes_under(home):
            assert KEY.encode() not in _cmdline(pid), f"the key is in the argv of pid {pid}"
            if f"ANTHROPIC_API_KEY={KEY}".encode() in _environ(pid):
                carriers.append(_cmdline(pid))
        # ...and the key reached marie's CLI through its environment.
        assert carriers, "no process carries the key in ANTHROPIC_API_KEY"
        assert all(b"stream-json" in argv for argv in carriers), carriers  # the worker's CLI

        wait_until(
            lambda: (
                json.loads(run("show", run_id_text, "--json").stdout)["state"]
                in ("complete", "failed")
            ),
            timeout=120,
        )
        shown = json.loads(run("show", run_id_text, "--json").stdout)
        assert shown["state"] == "complete", shown
    finally:
        podium(env, "down", expect=None)
    wait_until(lambda: processes_under(home) == [])

    # The key was used: marie's calls carried it, nobody else's did.
    marie_calls = fake.requests_matching(content=r"(?m)^PODIUM TASK security$")
    assert marie_calls
    assert all(call.headers.get("x-api-key") == KEY for call in marie_calls)
    others = [r for r in fake.requests if r.is_message and r not in marie_calls]
    assert others
    assert all(r.headers.get("x-api-key") != KEY for r in others)

    # Nowhere on disk: the whole state directory (SQLite, events.jsonl, runs, agents'
    # config dirs and transcripts, daemon.log), the project and the test HOME.
    assert (home / "daemon.log").stat().st_size > 0
    assert run_id_text in (home / "events.jsonl").read_text(encoding="utf-8")
    assert (home / "podium.db").exists()
    assert (home / "runs" / run_id_text / "results" / "marie" / "security.json").exists()
    for root in (home, project, user_home):
        assert _files_holding(root, KEY.encode()) == [], root

    # The agents ran with the user's own Claude Code configuration (the default): the
    # CLI keeps its state there, and the worker's key is in none of it (checked above).
    assert (user_home / ".claude.json").exists()
    assert KEY not in (user_home / ".claude.json").read_text()
    # Their transcripts are there too: the orchestrator's and the two workers'.
    assert len(list((user_home / ".claude").glob("projects/*/*.jsonl"))) >= 3
