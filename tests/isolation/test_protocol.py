"""The isolation interface: the public surface, spec and workspace round trips, the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import podium.isolation as isolation
from podium._errors import PodiumError, UsageError, error_from_dict
from podium._options import AgentOptions
from podium.isolation import (
    IsolationError,
    IsolationMode,
    IsolationSpec,
    Isolator,
    MergeConflict,
    Workspace,
    isolator_for,
)


def test_public_surface() -> None:
    assert sorted(isolation.__all__) == [
        "IsolationError",
        "IsolationMode",
        "IsolationSpec",
        "Isolator",
        "MergeConflict",
        "Workspace",
        "diff_workspace",
        "isolator_for",
        "merge_workspace",
        "register_isolator",
        "worktree_path",
    ]
    for name in isolation.__all__:
        assert getattr(isolation, name) is not None


def test_modes_and_errors() -> None:
    assert [m.value for m in IsolationMode] == ["shared", "worktree", "sandbox", "container"]
    assert issubclass(IsolationError, UsageError)
    # A conflict is not a usage error: the request was valid, the work disagrees (exit 1).
    assert issubclass(MergeConflict, PodiumError)
    assert not issubclass(MergeConflict, UsageError)
    for cls in (IsolationError, MergeConflict):
        exc = cls("boom", agent="a", files=["x"])
        rebuilt = error_from_dict(exc.to_dict())
        assert type(rebuilt) is cls
        assert rebuilt.context == {"agent": "a", "files": ["x"]}


def test_spec_defaults_and_round_trip() -> None:
    spec = IsolationSpec()
    assert spec.mode is IsolationMode.SHARED
    assert spec.copy_files == (".env",)
    assert IsolationSpec.from_dict(spec.to_dict()) == spec
    full = IsolationSpec(
        mode=IsolationMode.CONTAINER,
        base="main",
        copy_files=(".env", "config/local.toml"),
        allow_hosts=("pypi.org:443",),
        memory_mb=None,
        cpus=0.5,
        pids=64,
        image="img:1",
        engine="podman",
    )
    assert IsolationSpec.from_dict(full.to_dict()) == full
    assert IsolationSpec.from_dict({"mode": "worktree"}) == IsolationSpec(
        mode=IsolationMode.WORKTREE
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, IsolationSpec()),
        ("worktree", IsolationSpec(mode=IsolationMode.WORKTREE)),
        (IsolationMode.SANDBOX, IsolationSpec(mode=IsolationMode.SANDBOX)),
        (
            {"mode": "worktree", "base": "dev"},
            IsolationSpec(mode=IsolationMode.WORKTREE, base="dev"),
        ),
    ],
)
def test_coerce(value: Any, expected: IsolationSpec) -> None:
    assert IsolationSpec.coerce(value) == expected
    assert IsolationSpec.coerce(expected) is expected


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"mode": "vm"}, "unknown isolation mode 'vm'"),
        ({"mode": "worktree", "bsae": "main"}, "unknown isolation setting(s): bsae"),
        ({"copy_files": ".env"}, "copy_files must be a list of strings"),
        ({"copy_files": [1]}, "copy_files must be a list of strings"),
        ({"memory_mb": "lots"}, "memory_mb must be a number"),
        ({"cpus": True}, "cpus must be a number"),
    ],
)
def test_bad_specs_are_precise(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(IsolationError) as caught:
        IsolationSpec.from_dict(data)
    assert fragment in caught.value.message
    with pytest.raises(IsolationError):
        IsolationSpec.coerce(42)  # type: ignore[arg-type]


def test_workspace_round_trip_and_lookup(tmp_path: Path) -> None:
    ws = Workspace(
        mode=IsolationMode.WORKTREE,
        cwd=tmp_path / "wt",
        project=tmp_path / "project",
        results_dir=tmp_path / "results",
        launcher=("bwrap", "--"),
        env={"A": "1"},
        branch="podium/a",
        base_commit="0" * 40,
        copied_files=(".env",),
    )
    assert Workspace.from_dict(ws.to_dict()) == ws
    stored = AgentOptions.from_stored({"isolation": {"spec": {}, "workspace": ws.to_dict()}})
    assert stored.workspace == ws
    assert stored.launcher == ("bwrap", "--")
    assert AgentOptions.from_stored(stored.to_dict()).workspace == ws
    assert AgentOptions.from_stored({}).workspace is None
    assert AgentOptions.from_stored({"isolation": "worktree"}).workspace is None
    minimal = Workspace(
        mode=IsolationMode.SHARED, cwd=tmp_path, project=tmp_path, results_dir=tmp_path
    )
    assert minimal.launcher == ()
    assert minimal.env == {}
    assert Workspace.from_dict(minimal.to_dict()) == minimal


@pytest.mark.parametrize("mode", [IsolationMode.SHARED, IsolationMode.WORKTREE])
def test_registry_gives_one_isolator_per_mode(mode: IsolationMode) -> None:
    found = isolator_for(mode)
    assert isinstance(found, Isolator)
    assert found.mode is mode
    assert isolator_for(mode.value) is found


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(IsolationError, match="unknown isolation mode 'chroot'"):
        isolator_for("chroot")


async def test_shared_is_the_project_as_is(tmp_path: Path) -> None:
    shared = isolator_for(IsolationMode.SHARED)
    ws = await shared.prepare(
        agent="a",
        project=tmp_path,
        state_dir=tmp_path / "state",
        results_dir=tmp_path / "results",
        spec=IsolationSpec(),
        api_base_url=None,
    )
    assert ws.cwd == tmp_path
    assert ws.project == tmp_path
    assert ws.launcher == ()
    assert ws.env == {}
    assert await shared.finish_task(ws, message="m") is None
    await shared.release(ws)
    assert tmp_path.is_dir()
