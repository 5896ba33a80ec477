"""The shape of ``podium.toml``, section by section, as strict pydantic models.

Each model is flat (a nested table such as one worker is validated on its
own), so the first error's location is always the offending key and the
loader can name it as ``section.key``. Semantic checks (names, models, budgets,
cross-references) live in the loader, where the messages can explain them.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from ._profiles import ISOLATION_MODES, IsolationMode
from ._validation import Strict

__all__ = [
    "CHECK_FAILURE_POLICIES",
    "EXPECT",
    "CheckFailurePolicy",
    "DefaultsSection",
    "IntegrationSection",
    "LimitsSection",
    "RateLimitSection",
    "RunsSection",
    "TeamSection",
    "WorkerTable",
]

CheckFailurePolicy = Literal["retry", "reassign", "fail"]
CHECK_FAILURE_POLICIES: tuple[str, ...] = get_args(CheckFailurePolicy)

EXPECT = {
    "name": "a string",
    "orchestrator": "a profile path or profile name",
    "profile": "a profile path or profile name",
    "model": "a string (haiku, sonnet, opus or a claude-... id)",
    "api_key_env": "the name of an environment variable",
    "isolation": "one of " + ", ".join(ISOLATION_MODES),
    "config_dir": "user, isolated or a Claude Code configuration directory",
    "timeout": "a positive number of seconds",
    "task_timeout": "a positive number of seconds",
    "retries": "an integer >= 0",
    "max_plan_repairs": "an integer >= 0",
    "on_check_failure": "one of " + ", ".join(CHECK_FAILURE_POLICIES),
    "max_parallel": "an integer >= 1",
    "budget_usd": "a number of dollars",
    "per_worker_budget_usd": "a number of dollars",
    "per_task_budget_usd": "a number of dollars",
    "requests_per_minute": "a positive integer",
    "input_tokens_per_minute": "a positive integer",
    "output_tokens_per_minute": "a positive integer",
    "check": 'an argv list such as ["python", "-m", "pytest", "-q"]',
    "attempts": "an integer >= 0",
    "keep_worktrees": "an integer >= 0 (finished runs whose worktrees are kept)",
    "review": "true or false",
}

_PosFloat = Annotated[float, Field(gt=0)]
_PosInt = Annotated[int, Field(gt=0)]
_NonNegInt = Annotated[int, Field(ge=0)]


class TeamSection(Strict):
    name: str
    orchestrator: str


class WorkerTable(Strict):
    profile: str
    model: str | None = None
    api_key_env: str | None = None
    isolation: IsolationMode | None = None
    config_dir: str | None = None
    timeout: _PosFloat | None = None
    retries: _NonNegInt | None = None


class DefaultsSection(Strict):
    model: str | None = None
    timeout: _PosFloat | None = None
    retries: _NonNegInt | None = None
    isolation: IsolationMode = "shared"
    config_dir: str | None = None
    on_check_failure: CheckFailurePolicy = "retry"


class LimitsSection(Strict):
    max_parallel: Annotated[int, Field(ge=1)] = 4
    # Budgets are type-checked here and range-checked in _budget, whose message
    # explains why zero is wrong.
    budget_usd: float | None = None
    task_timeout: _PosFloat = 1800.0
    retries: _NonNegInt = 1
    max_plan_repairs: _NonNegInt = 2
    per_worker_budget_usd: float | None = None
    per_task_budget_usd: float | None = None


class RateLimitSection(Strict):
    requests_per_minute: _PosInt | None = None
    input_tokens_per_minute: _PosInt | None = None
    output_tokens_per_minute: _PosInt | None = None


class IntegrationSection(Strict):
    """``[integration]``: the check run after each merge into a run's integration branch,
    and how often a conflicting or failing task is sent back to its worker."""

    check: list[str] | None = None
    attempts: _NonNegInt = 1


class RunsSection(Strict):
    """``[runs]``: how the team's runs go and what they leave."""

    keep_worktrees: _NonNegInt | None = None
    # true: every planned run stops after planning until its plan is approved.
    review: bool = False
