"""Configuration of orchestrated runs: worker profiles and the team file.

* :func:`load_profile` / :func:`discover_profiles`: markdown profiles (YAML
  frontmatter + system prompt), including Claude Code's own sub-agent files;
* :func:`load_team` / :func:`find_team`: ``podium.toml``, the orchestrator,
  workers, defaults, limits, rate limits and quality-gate checks;
* :func:`write_example_team`: the files behind ``podium init``;
* :class:`RunEngine`: orchestrated runs (plan → task graph → quality gate →
  synthesis) with budgets, rate limits, artifacts and resume;
* the parts it is made of, usable alone: :class:`Plan` / :func:`parse_plan`,
  :class:`Scheduler`, :class:`RateLimiter`, :class:`BudgetLedger`,
  :class:`QualityGate`, :class:`RunDir`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._artifacts import ArtifactError, RunDir, check_run_id, list_run_ids, new_run_id
from ._budget import BudgetExceeded, BudgetLedger, BudgetLimits
from ._gate import GateVerdict, QualityGate
from ._init_template import EXAMPLE_FILES, write_example_team
from ._plan import (
    PLAN_SCHEMA,
    Plan,
    PlanError,
    PlannedTask,
    load_plan_file,
    parse_plan,
    plan_from_data,
)
from ._profiles import (
    ISOLATION_MODES,
    PERMISSION_MODES,
    PROFILE_DIRS,
    IsolationMode,
    PermissionMode,
    Profile,
    ProfileError,
    SubAgent,
    discover_profiles,
    load_profile,
    parse_tools,
)
from ._ratelimit import ModelLimits, RateLimiter
from ._run_records import RunError, RunNotFound, RunRecord, RunState, TaskRecord, TaskState
from ._scheduler import Node, NodeState, Outcome, Scheduler
from ._team import (
    CHECK_FAILURE_POLICIES,
    TEAM_FILE,
    CheckFailurePolicy,
    Defaults,
    Limits,
    RateLimit,
    Team,
    TeamError,
    WorkerSpec,
    find_team,
    load_team,
)

__all__ = [
    "CHECK_FAILURE_POLICIES",
    "EXAMPLE_FILES",
    "ISOLATION_MODES",
    "PERMISSION_MODES",
    "PLAN_SCHEMA",
    "PROFILE_DIRS",
    "TEAM_FILE",
    "ArtifactError",
    "BudgetExceeded",
    "BudgetLedger",
    "BudgetLimits",
    "CheckFailurePolicy",
    "Defaults",
    "GateVerdict",
    "IsolationMode",
    "Limits",
    "ModelLimits",
    "Node",
    "NodeState",
    "Outcome",
    "PermissionMode",
    "Plan",
    "PlanError",
    "PlannedTask",
    "Profile",
    "ProfileError",
    "QualityGate",
    "RateLimit",
    "RateLimiter",
    "RunDir",
    "RunEngine",
    "RunError",
    "RunNotFound",
    "RunRecord",
    "RunState",
    "Scheduler",
    "SubAgent",
    "TaskRecord",
    "TaskState",
    "Team",
    "TeamError",
    "WorkerSpec",
    "check_run_id",
    "discover_profiles",
    "find_team",
    "list_run_ids",
    "load_plan_file",
    "load_profile",
    "load_team",
    "new_run_id",
    "parse_plan",
    "parse_tools",
    "plan_from_data",
    "write_example_team",
]

if TYPE_CHECKING:
    from ._engine import RunEngine


def __getattr__(name: str) -> Any:
    # The engine pulls in the runtime and its backends; commands that only read
    # a team file or talk to the daemon should not pay for that at start-up.
    if name == "RunEngine":
        from ._engine import RunEngine

        return RunEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
