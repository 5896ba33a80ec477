"""The environment a run's checks run in: the user's ``PATH``, not the daemon's.

The daemon is long-lived and may have been started from podium's own virtualenv
(its ``bin`` first on ``PATH``, ``VIRTUAL_ENV`` set): a check such as
``["python", "-m", "pytest"]`` must find the project's Python, as it would in
the user's shell. So whoever submits a run sends ``PATH`` (and ``VIRTUAL_ENV``
when set) along; the quality gate and the integration check run with them,
and the daemon's own values of these keys are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .._errors import UsageError

__all__ = ["USER_ENV_KEYS", "check_environment", "check_user_env", "submitter_env"]

USER_ENV_KEYS = ("PATH", "VIRTUAL_ENV")


def submitter_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The keys of ``environ`` (default: this process's) a run's checks take from it."""
    source = os.environ if environ is None else environ
    return {key: source[key] for key in USER_ENV_KEYS if source.get(key)}


def check_user_env(value: Any) -> dict[str, str]:
    """A submitted ``user_env``: only :data:`USER_ENV_KEYS`, string values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"user_env must be an object of strings, got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, text in value.items():
        if key not in USER_ENV_KEYS:
            raise UsageError(
                f"user_env: {key!r} is not sent with a run (only {', '.join(USER_ENV_KEYS)})",
                key=str(key),
            )
        if not isinstance(text, str) or "\0" in text:
            raise UsageError(f"user_env: {key} must be a string without NUL bytes", key=key)
        if text:
            out[key] = text
    return out


def check_environment(user_env: Mapping[str, str]) -> dict[str, str] | None:
    """The full environment for a check; None (this process's own) when nothing was sent."""
    if not user_env.get("PATH"):
        return None
    env = {k: v for k, v in os.environ.items() if k not in USER_ENV_KEYS}
    env.update(user_env)
    return env
