"""`podium doctor`: the real Claude Code CLI says who is logged in, for each config mode.

The "user" is a temporary HOME; a login is what `claude /login` leaves on Linux
(``~/.claude/.credentials.json``, with a made-up token). The model API is
podium's fake; nothing else is faked.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from podium.testing import FakeAnthropic
from tests._cli_helpers import Run
from tests._threaded_daemon import ThreadedDaemon

pytestmark = pytest.mark.cli

ACCESS = "sk-ant-oat01-FAKE-DOCTOR-LOGIN-0123456789abcdef"
REFRESH = "sk-ant-ort01-FAKE-DOCTOR-REFRESH-0123456789"
API_KEY = "sk-ant-api03-FAKE-DOCTOR-KEY-fedcba9876543210"
SETUP_TOKEN = "sk-ant-oat01-FAKE-DOCTOR-SETUP-TOKEN-13579bdf"
LOGIN_WAYS = ("claude /login", "claude setup-token", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY")


@pytest.fixture
def user_home(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with nothing set up: own HOME, no credential variables, the bundled CLI."""
    user = tmp_path / "user-home"
    user.mkdir()
    monkeypatch.setenv("HOME", str(user))
    for key in list(os.environ):
        if key.startswith(("CLAUDECODE", "ANTHROPIC_", "CLAUDE_CODE_", "CLAUDE_CONFIG_DIR")):
            monkeypatch.delenv(key)
    monkeypatch.delenv("PODIUM_CLAUDE_CLI", raising=False)
    monkeypatch.setenv("DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    return user


@pytest.fixture
def at_fake(user_home: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    return user_home


def log_in(user_home: Path) -> None:
    """What `claude /login` leaves behind on Linux, for a Max subscriber."""
    config = user_home / ".claude"
    config.mkdir(parents=True, exist_ok=True)
    creds = config / ".credentials.json"
    creds.write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": ACCESS,
                    "refreshToken": REFRESH,
                    "expiresAt": 4102444800000,
                    "scopes": ["user:inference", "user:profile"],
                    "subscriptionType": "max",
                }
            }
        )
    )
    creds.chmod(0o600)


def doctor(run: Run, *args: str) -> tuple[Result, dict[str, Any]]:
    result = run("doctor", "--json", *args)
    assert "Traceback" not in result.output, result.output
    return result, json.loads(result.stdout)


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in report["checks"] if c["check"] == name]
    assert len(found) == 1, (name, report["checks"])
    return found[0]


def no_secret_in(*texts: str) -> None:
    for text in texts:
        for secret in (ACCESS, REFRESH, API_KEY, SETUP_TOKEN):
            assert secret not in text


def test_a_logged_in_subscriber(run: Run, at_fake: Path, fake: FakeAnthropic) -> None:
    log_in(at_fake)
    result, report = doctor(run)
    assert result.exit_code == 0, result.output
    assert report["ok"] is True
    user, isolated = report["auth"]["user"], report["auth"]["isolated"]
    assert user["ok"] is True
    assert user["method"] == "claude.ai"
    assert user["billing"] == "subscription max (Agent SDK credit)"
    assert user["config_dir"] == str(at_fake / ".claude")
    # The login does not reach an isolated configuration: worth a warning, not a failure.
    assert isolated["ok"] is False
    assert isolated["billing"] == "none"
    assert check(report, "auth isolated")["mark"] == "warn"
    assert "CLAUDE_CODE_OAUTH_TOKEN" in check(report, "auth isolated")["hint"]
    assert report["claude"]["found"] is True
    assert report["claude"]["source"] == "bundled"
    assert report["claude"]["version"]
    assert report["environment"]["credential_source"] == "none"
    assert fake.requests == []  # without --api, no call to the model API

    text = run("doctor")
    assert text.exit_code == 0, text.output
    assert "✓ auth user" in text.stdout
    assert "subscription max (Agent SDK credit)" in text.stdout
    assert "✗" not in text.stdout.replace("the ✗ lines", "")
    no_secret_in(result.output, text.output)


def test_an_api_key_in_the_environment(
    run: Run, at_fake: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    result, report = doctor(run, "--api")
    assert result.exit_code == 0, result.output
    for mode in ("user", "isolated"):
        auth = report["auth"][mode]
        assert (auth["ok"], auth["method"], auth["billing"]) == (True, "api_key", "api-key")
    assert report["environment"] == {
        "credential_source": "ANTHROPIC_API_KEY",
        "api_base_url": fake.base_url,
    }
    # One cheap call, with the key the agents would send.
    assert report["api"]["status"] == 200
    assert report["api"]["credential"] == "ANTHROPIC_API_KEY"
    [probe] = fake.requests
    assert probe.path.startswith("/v1/models")
    assert probe.headers.get("x-api-key") == API_KEY
    text = run("doctor", "--api")
    assert text.exit_code == 0, text.output
    no_secret_in(result.output, text.output)


def test_a_setup_token_in_the_environment(
    run: Run, at_fake: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", SETUP_TOKEN)
    result, report = doctor(run, "--api")
    assert result.exit_code == 0, result.output
    for mode in ("user", "isolated"):
        auth = report["auth"][mode]
        assert auth["ok"] is True
        assert auth["method"] == "oauth_token"
        assert auth["billing"] == "subscription (Agent SDK credit)"
    assert report["environment"]["credential_source"] == "CLAUDE_CODE_OAUTH_TOKEN"
    [probe] = fake.requests
    assert probe.headers.get("authorization") == f"Bearer {SETUP_TOKEN}"
    text = run("doctor")
    assert text.exit_code == 0, text.output
    assert "✓ auth isolated" in text.stdout
    no_secret_in(result.output, text.output)


def test_nobody_logged_in_fails_and_says_how_to_log_in(run: Run, at_fake: Path) -> None:
    result, report = doctor(run)
    assert result.exit_code == 1
    assert report["ok"] is False
    for mode in ("user", "isolated"):
        assert report["auth"][mode]["ok"] is False
        assert check(report, f"auth {mode}")["mark"] == "fail"
    for way in LOGIN_WAYS:
        assert way in check(report, "auth user")["hint"]
    # An isolated configuration never sees a /login: only the environment helps there.
    isolated_hint = check(report, "auth isolated")["hint"]
    assert "claude setup-token" in isolated_hint
    assert "ANTHROPIC_API_KEY" in isolated_hint
    assert "/login" not in isolated_hint
    # What does hold is still reported as holding.
    assert check(report, "claude")["mark"] == "ok"
    assert check(report, "home")["mark"] == "ok"

    text = run("doctor")
    assert text.exit_code == 1
    assert "✗ auth user" in text.stdout
    hints = [line for line in text.stdout.splitlines() if "hint:" in line]
    assert hints
    assert all(way in hints[0] for way in LOGIN_WAYS)


def test_a_missing_cli_or_an_unwritable_home_fails(
    run: Run, at_fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("PODIUM_CLAUDE_CLI", str(tmp_path / "no-such-claude"))
    result, report = doctor(run)
    assert result.exit_code == 1
    assert report["claude"] == {
        "found": False,
        "usable": False,
        "path": str(tmp_path / "no-such-claude"),
        "version": None,
        "problem": None,
        "source": "PODIUM_CLAUDE_CLI",
    }
    assert "PODIUM_CLAUDE_CLI" in check(report, "claude")["hint"]

    monkeypatch.delenv("PODIUM_CLAUDE_CLI")
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    monkeypatch.setenv("PODIUM_HOME", str(not_a_dir))
    result, report = doctor(run)
    assert result.exit_code == 1
    assert report["claude"]["usable"] is True
    assert report["home"]["writable"] is False
    assert "PODIUM_HOME" in check(report, "home")["hint"]
    no_secret_in(result.output)


def test_an_unreachable_api_fails_only_when_asked(
    run: Run, user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    assert doctor(run)[1]["api"] is None
    result, report = doctor(run, "--api")
    assert result.exit_code == 1
    assert report["api"]["reachable"] is False
    assert check(report, "api")["mark"] == "fail"
    assert "ANTHROPIC_BASE_URL" in check(report, "api")["hint"]
    no_secret_in(result.output)

    # A key that cannot be sent as a header: the error that says so quotes it; not shown.
    bad_key = API_KEY + "-é"
    monkeypatch.setenv("ANTHROPIC_API_KEY", bad_key)
    result, report = doctor(run, "--api")
    assert report["api"]["reachable"] is False
    assert report["api"]["problem"]
    assert API_KEY not in result.output


def test_the_daemons_api_environment_is_compared_with_this_shells(
    run: Run, at_fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    home = Path(os.environ["PODIUM_HOME"])
    running = ThreadedDaemon(home).start()  # records this environment, as a daemon does
    try:
        result, report = doctor(run)
        assert result.exit_code == 0, result.output
        assert report["daemon"]["running"] is True
        assert report["daemon"]["credential_source"] == "ANTHROPIC_API_KEY"
        assert report["daemon"]["environment_matches"] is True

        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY[::-1])
        result, report = doctor(run)
        assert result.exit_code == 0, result.output  # a warning, not a failure
        assert report["daemon"]["environment_matches"] is False
        found = check(report, "daemon")
        assert found["mark"] == "warn"
        assert "podium down && podium up" in found["hint"]
        assert API_KEY[::-1] not in result.output
        no_secret_in(result.output)
    finally:
        running.stop()


async def test_the_report_is_a_typed_record_for_any_front(
    user_home: Path, fake: FakeAnthropic, tmp_path: Path
) -> None:
    from podium._doctor import DoctorReport, Mark, run_doctor

    # The environment is an argument: a front can check one other than its own.
    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": fake.base_url,
        "CLAUDE_CODE_OAUTH_TOKEN": SETUP_TOKEN,
    }
    report = await run_doctor(tmp_path / "state", env)
    assert isinstance(report, DoctorReport)
    assert report.ok is True
    assert report.auth_isolated.ok is True
    assert report.auth_isolated.billing == "subscription (Agent SDK credit)"
    assert report.credential_source == "CLAUDE_CODE_OAUTH_TOKEN"
    assert {f.check for f in report.findings if f.mark is Mark.FAIL} == set()
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in os.environ  # this process's was not used
    with pytest.raises(AttributeError):
        report.auth_user.ok = False  # type: ignore[misc]
    no_secret_in(json.dumps(report.to_dict()), repr(report))
