"""The public package surface and the CLI's start-up cost (no daemon, no model needed)."""

from __future__ import annotations

import subprocess
import sys

import podium


def test_public_names_resolve() -> None:
    for name in podium.__all__:
        assert getattr(podium, name) is not None, name
    assert podium.Client.__name__ == "Client"
    assert podium.Runtime.__name__ == "Runtime"
    assert podium.RuntimeConfig.__name__ == "RuntimeConfig"
    assert issubclass(podium.AgentNotFound, podium.UsageError)


def test_cli_and_client_do_not_import_the_server_or_the_model_sdk() -> None:
    # Every CLI command pays for its imports; FastAPI and the SDK cost seconds.
    code = (
        "import sys, podium, podium.cli, podium._client, podium.server; "
        "heavy = [m for m in ('fastapi', 'uvicorn', 'claude_agent_sdk', 'podium.runtime') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_python_dash_m_podium_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "podium", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "Exit codes" in result.stdout
