"""``podium spawn``'s isolation flags, through the real CLI and a real daemon.

The model is EchoBackend (no CLI process runs); the workspace each flag asks for is
prepared for real: a git worktree, a bubblewrap launcher, a container argv (built for
a stand-in ``docker`` that records its calls, since no engine runs here).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from podium.cli import app
from podium.isolation._netproxy import parse_target
from podium.isolation._sandbox import ISOLATOR as SANDBOX
from podium.isolation._sandbox import sandbox_unavailable_reason
from tests._cli_helpers import failed, ok
from tests._threaded_daemon import ThreadedDaemon

UNAVAILABLE = sandbox_unavailable_reason()


def podium(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@localhost"]
    done = subprocess.run(
        ["git", "-C", str(repo), *ident, *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PODIUM_HOME", str(home))
    monkeypatch.setenv("PODIUM_NO_AUTOSTART", "1")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return home


@pytest.fixture
def daemon(home: Path) -> Iterator[ThreadedDaemon]:
    running = ThreadedDaemon(home).start()
    try:
        yield running
    finally:
        podium("kill-all")  # releases relays (and "removes" containers) in the daemon
        running.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    (path / "app.py").write_text("print('hi')\n")
    return path


def spawned_spec(daemon: ThreadedDaemon) -> dict[str, object]:
    spec = daemon.echo.started[-1].options.isolation
    assert spec is not None
    return spec.to_dict()


# --- refused before the daemon is asked (none runs in these) ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory-mb", "1024"], "--memory-mb: only with --isolation"),
        (["--base", "main", "--copy-file", ".env"], "--base, --copy-file: only with --isolation"),
        (["--allow-host", "pypi.org:443"], "--allow-host: only with --isolation"),
        (["--cpus", "1"], "--cpus: only with --isolation"),
        (["--pids", "10"], "--pids: only with --isolation"),
        (["--image", "img:1"], "--image: only with --isolation"),
        (["--engine", "podman"], "--engine: only with --isolation"),
        (["--isolation", "vm"], "--isolation: must be one of shared, worktree, sandbox"),
        (["--isolation", "sandbox", "--cpus", "1"], "--cpus does not apply to --isolation sandbox"),
        (["--isolation", "sandbox", "--image", "i:1"], "--image does not apply to --isolation"),
        (["--isolation", "container", "--base", "dev"], "--base does not apply to --isolation"),
        (["--isolation", "worktree", "--memory-mb", "9"], "--memory-mb does not apply to"),
        (["--isolation", "shared", "--allow-host", "h:1"], "--allow-host does not apply to"),
        (["--isolation", "container", "--memory-mb", "0"], "--memory-mb: must be a number"),
        (["--isolation", "container", "--cpus", "-1"], "--cpus: must be a number of CPUs"),
        (["--isolation", "container", "--engine", "lxc"], "--engine: must be one of docker"),
        (["--isolation", "container", "--image", "-v/:/h"], "--image: must be a container image"),
        (["--isolation", "sandbox", "--allow-host", "nope"], "--allow-host: network target 'nope'"),
        (["--isolation", "worktree", "--copy-file", "/etc/passwd"], "--copy-file: entry"),
    ],
)
def test_bad_isolation_flags_are_refused_by_name(
    home: Path, project: Path, args: list[str], message: str
) -> None:
    result = failed(podium("spawn", "a", "--cwd", str(project), *args), 2, f"error: {message}")
    assert "daemon" not in result.stderr  # refused here, not after trying to connect
    assert not home.exists()


# --- through the daemon -------------------------------------------------------------------------


def test_worktree_from_a_chosen_base_with_chosen_files(
    daemon: ThreadedDaemon, project: Path
) -> None:
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "app.py")
    git(project, "commit", "-qm", "start")
    git(project, "checkout", "-qb", "dev")
    (project / "dev.txt").write_text("on dev\n")
    git(project, "add", "dev.txt")
    git(project, "commit", "-qm", "dev work")
    dev = git(project, "rev-parse", "HEAD")
    git(project, "checkout", "-q", "main")
    (project / ".env").write_text("SECRET_URL=x\n")
    (project / "config").mkdir()
    (project / "config" / "local.toml").write_text("debug = true\n")

    result = ok(
        podium(
            "spawn", "wt", "--cwd", str(project), "--isolation", "worktree", "--base", "dev",
            "--copy-file", "config/local.toml", "--json",
        )
    )  # fmt: skip
    cwd = Path(json.loads(result.stdout)["cwd"])
    assert cwd != project
    assert git(cwd, "rev-parse", "HEAD") == dev  # started from --base, not main
    assert (cwd / "dev.txt").read_text() == "on dev\n"
    assert (cwd / "config" / "local.toml").read_text() == "debug = true\n"
    assert not (cwd / ".env").exists()  # --copy-file replaces the default list
    assert spawned_spec(daemon)["base"] == "dev"
    assert spawned_spec(daemon)["copy_files"] == ["config/local.toml"]


def test_sandbox_limits_and_allowance_reach_the_launcher_and_the_relay(
    daemon: ThreadedDaemon, project: Path
) -> None:
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    ok(
        podium(
            "spawn", "sb", "--cwd", str(project), "--isolation", "sandbox", "--memory-mb", "1024",
            "--pids", "64", "--allow-host", "pypi.org:443",
        )
    )  # fmt: skip
    session = daemon.echo.started[-1]
    launcher = list(session.launcher)
    assert launcher[0].endswith("bwrap")
    assert f"as={1024 * 1024 * 1024}" in launcher
    assert "nproc=64" in launcher
    spec = spawned_spec(daemon)
    assert (spec["mode"], spec["memory_mb"], spec["pids"]) == ("sandbox", 1024, 64)
    assert spec["allow_hosts"] == ["pypi.org:443"]
    relay = SANDBOX.relay(session.options.workspace)
    assert relay is not None
    assert parse_target("pypi.org:443") in relay.allow


STUB = """#!{python}
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(sys.argv) + "\\n")
"""


def test_container_flags_reach_the_engine_argv(
    daemon: ThreadedDaemon, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(STUB.format(python=sys.executable))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_LOG", str(tmp_path / "calls.jsonl"))

    ok(
        podium(
            "spawn", "ct", "--cwd", str(project), "--isolation", "container", "--memory-mb",
            "8192", "--cpus", "1.5", "--pids", "100", "--image", "ghcr.io/me/worker:1",
            "--engine", "docker", "--allow-host", "pypi.org:443",
        )
    )  # fmt: skip
    launcher = list(daemon.echo.started[-1].launcher)
    assert launcher[0] == str(docker)

    def value(flag: str) -> str:
        return launcher[launcher.index(flag) + 1]

    assert value("--memory") == value("--memory-swap") == "8192m"
    assert value("--cpus") == "1.5"
    assert value("--pids-limit") == "100"
    assert "ghcr.io/me/worker:1" in launcher
    # The engine was asked whether it has the image before the agent was registered.
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert calls[0][1:] == ["image", "inspect", "ghcr.io/me/worker:1"]
