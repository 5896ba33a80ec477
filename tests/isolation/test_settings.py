"""An isolation setting as a config file or ``podium spawn`` gives it: a mode name or a table.

Every bad value is refused before anything is prepared, naming the key (or the flag)
and what it should have been.
"""

from __future__ import annotations

from typing import Any

import pytest

from podium._errors import UsageError
from podium.cli._isolation import ISOLATION_FLAGS, isolation_option
from podium.isolation import IsolationMode, IsolationSpec
from podium.isolation._settings import (
    SETTING_MODES,
    IsolationSettingError,
    read_isolation_setting,
)

GOOD_VALUES: dict[str, Any] = {
    "base": "main",
    "copy_files": [".env", "config/local.toml"],
    "allow_hosts": ["pypi.org:443"],
    "memory_mb": 1024,
    "cpus": 0.5,
    "pids": 64,
    "image": "ghcr.io/me/worker:1",
    "engine": "podman",
}


def test_a_mode_name_stays_a_name() -> None:
    for mode in IsolationMode:
        assert read_isolation_setting(mode.value) == mode.value


def test_a_table_becomes_a_spec_whose_other_settings_keep_their_defaults() -> None:
    spec = read_isolation_setting({"mode": "container", "memory_mb": 8192, "image": "img:2"})
    assert spec == IsolationSpec(mode=IsolationMode.CONTAINER, memory_mb=8192, image="img:2")
    assert isinstance(spec, IsolationSpec)
    assert (spec.cpus, spec.pids) == (2.0, 512)
    worktree = read_isolation_setting(
        {"mode": "worktree", "base": "dev", "copy_files": [".env", "a/b.toml"]}
    )
    assert worktree == IsolationSpec(
        mode=IsolationMode.WORKTREE, base="dev", copy_files=(".env", "a/b.toml")
    )
    sandbox = read_isolation_setting(
        {"mode": "sandbox", "allow_hosts": ["pypi.org:443"], "memory_mb": None, "pids": 32}
    )
    assert sandbox == IsolationSpec(
        mode=IsolationMode.SANDBOX, allow_hosts=("pypi.org:443",), memory_mb=None, pids=32
    )


def test_every_setting_is_accepted_by_a_mode_that_uses_it() -> None:
    for key, modes in SETTING_MODES.items():
        if key == "mode":
            continue
        for mode in modes:
            spec = read_isolation_setting({"mode": mode.value, key: GOOD_VALUES[key]})
            assert isinstance(spec, IsolationSpec)
            value = getattr(spec, key)
            expected = GOOD_VALUES[key]
            assert value == (tuple(expected) if isinstance(expected, list) else expected)


def test_the_default_spec_has_the_seeds_container_limits() -> None:
    spec = IsolationSpec()
    assert spec.memory_mb == 4096  # the seed's --memory="4g"
    assert spec.cpus == 2.0  # the seed's --cpus="2.0"


@pytest.mark.parametrize(
    ("value", "setting", "fragment"),
    [
        ("vm", None, "must be one of shared, worktree, sandbox, container, got 'vm'"),
        (42, None, "must be a mode name (shared, worktree, sandbox, container) or a table"),
        (["sandbox"], None, "or a table of isolation settings, got ['sandbox']"),
        ({"memory_mb": 1024}, "mode", "is required in an isolation table"),
        ({"mode": "vm"}, "mode", "must be one of shared, worktree, sandbox, container"),
        ({"mode": "container", "memroy_mb": 1}, "memroy_mb", "did you mean 'memory_mb'?"),
        ({"mode": "container", "gpu": 1}, "gpu", "is not a recognised isolation setting"),
        ({"mode": "container", "memory_mb": "lots"}, "memory_mb", "must be a number"),
        ({"mode": "container", "memory_mb": 0}, "memory_mb", "greater than 0, got 0"),
        ({"mode": "container", "memory_mb": -5}, "memory_mb", "greater than 0, got -5"),
        ({"mode": "container", "memory_mb": 1.5}, "memory_mb", "whole MiB"),
        ({"mode": "container", "memory_mb": True}, "memory_mb", "must be a number"),
        ({"mode": "container", "cpus": "two"}, "cpus", "must be a number of CPUs"),
        ({"mode": "container", "cpus": 0}, "cpus", "greater than 0, got 0"),
        ({"mode": "container", "cpus": float("inf")}, "cpus", "greater than 0, got inf"),
        ({"mode": "sandbox", "pids": 0}, "pids", "a whole count of processes"),
        ({"mode": "container", "image": "--privileged"}, "image", "image reference"),
        ({"mode": "container", "image": 3}, "image", "image reference"),
        ({"mode": "container", "engine": "lxc"}, "engine", "one of docker, podman, got 'lxc'"),
        ({"mode": "sandbox", "allow_hosts": "pypi.org:443"}, "allow_hosts", "a list of"),
        ({"mode": "sandbox", "allow_hosts": ["pypi.org"]}, "allow_hosts", "is not host:port"),
        ({"mode": "sandbox", "allow_hosts": ["h:0"]}, "allow_hosts", "invalid port"),
        ({"mode": "worktree", "copy_files": ".env"}, "copy_files", "must be a list of paths"),
        ({"mode": "worktree", "copy_files": ["../up"]}, "copy_files", "entry '../up'"),
        ({"mode": "worktree", "copy_files": ["/etc/x"]}, "copy_files", "relative path"),
        ({"mode": "worktree", "base": "--orphan"}, "base", "git branch, tag or commit"),
        ({"mode": "worktree", "base": "a b"}, "base", "git branch, tag or commit"),
        ({"mode": "worktree", "base": 7}, "base", "git branch, tag or commit"),
    ],
)
def test_bad_settings_name_the_key(value: Any, setting: str | None, fragment: str) -> None:
    with pytest.raises(IsolationSettingError) as caught:
        read_isolation_setting(value)
    assert caught.value.setting == setting
    assert fragment in caught.value.problem
    where = "isolation" if setting is None else f"isolation.{setting}"
    assert caught.value.message.startswith(f"{where}: ")
    assert isinstance(caught.value, UsageError)


@pytest.mark.parametrize(
    ("mode", "key"),
    [
        (mode, key)
        for key, modes in SETTING_MODES.items()
        for mode in IsolationMode
        if mode not in modes
    ],
)
def test_a_setting_the_mode_does_not_use_is_refused(mode: IsolationMode, key: str) -> None:
    with pytest.raises(IsolationSettingError) as caught:
        read_isolation_setting({"mode": mode.value, key: GOOD_VALUES[key]})
    assert caught.value.setting == key
    assert f"does not apply to isolation mode {mode.value!r}" in caught.value.problem


def test_which_settings_apply_where() -> None:
    # cpus: bubblewrap has no CPU limit, so only a container takes it.
    assert SETTING_MODES["cpus"] == {IsolationMode.CONTAINER}
    assert SETTING_MODES["memory_mb"] == {IsolationMode.SANDBOX, IsolationMode.CONTAINER}
    assert SETTING_MODES["base"] == {IsolationMode.WORKTREE}
    assert set(SETTING_MODES) - {"mode"} == set(ISOLATION_FLAGS)


# --- podium spawn's flags, before the daemon is asked ------------------------------------------


def test_a_mode_alone_is_sent_as_its_name() -> None:
    assert isolation_option(None) is None
    assert isolation_option("sandbox") == "sandbox"
    assert isolation_option("worktree", copy_files=[], allow_hosts=None) == "worktree"


def test_flags_become_a_table_with_the_mode() -> None:
    assert isolation_option(
        "container", memory_mb=8192, cpus=1.5, pids=100, image="img:1", engine="docker",
        allow_hosts=["pypi.org:443"],
    ) == {
        "mode": "container", "memory_mb": 8192, "cpus": 1.5, "pids": 100, "image": "img:1",
        "engine": "docker", "allow_hosts": ["pypi.org:443"],
    }  # fmt: skip
    assert isolation_option("worktree", base="dev", copy_files=["a.env", "b.env"]) == {
        "mode": "worktree",
        "base": "dev",
        "copy_files": ["a.env", "b.env"],
    }


@pytest.mark.parametrize(("key", "flag"), sorted(ISOLATION_FLAGS.items()))
def test_each_flag_without_isolation_is_refused_by_name(key: str, flag: str) -> None:
    with pytest.raises(UsageError) as caught:
        isolation_option(None, **{key: GOOD_VALUES[key]})
    assert caught.value.message.startswith(f"{flag}: only with --isolation")


@pytest.mark.parametrize(
    ("mode", "key"),
    [
        (mode.value, key)
        for key, modes in SETTING_MODES.items()
        if key != "mode"
        for mode in IsolationMode
        if mode not in modes
    ],
)
def test_each_flag_with_a_mode_it_does_not_apply_to_is_refused(mode: str, key: str) -> None:
    with pytest.raises(UsageError) as caught:
        isolation_option(mode, **{key: GOOD_VALUES[key]})
    assert caught.value.message.startswith(
        f"{ISOLATION_FLAGS[key]} does not apply to --isolation {mode} (only to "
    )


@pytest.mark.parametrize(
    ("mode", "settings", "message"),
    [
        ("vm", {}, "--isolation: must be one of shared, worktree, sandbox, container, got 'vm'"),
        ("container", {"memory_mb": 0}, "--memory-mb: must be a number: whole MiB greater than 0"),
        ("container", {"cpus": -1.0}, "--cpus: must be a number of CPUs greater than 0"),
        ("sandbox", {"pids": -2}, "--pids: must be a number: a whole count of processes"),
        ("container", {"image": "a;b"}, "--image: must be a container image reference"),
        ("container", {"engine": "lxc"}, "--engine: must be one of docker, podman, got 'lxc'"),
        ("sandbox", {"allow_hosts": ["nope"]}, "--allow-host: network target 'nope' is not"),
        ("worktree", {"copy_files": ["../x"]}, "--copy-file: entry '../x' must be a relative"),
        ("worktree", {"base": "-x"}, "--base: must be a git branch, tag or commit, got '-x'"),
    ],
)
def test_bad_flag_values_name_the_flag(mode: str, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        isolation_option(mode, **settings)
    assert caught.value.message.startswith(message), caught.value.message
