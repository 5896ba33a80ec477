"""Configuration of orchestrated runs: worker profiles and the team file.

* :func:`load_profile` / :func:`discover_profiles`: markdown profiles (YAML
  frontmatter + system prompt), including Claude Code's own sub-agent files;
* :func:`load_team` / :func:`find_team`: ``podium.toml``, the orchestrator,
  workers, defaults, limits, rate limits and quality-gate checks;
* :func:`write_example_team`: the files behind ``podium init``.

Only loading and validation live here; planning and scheduling come later.
"""

from __future__ import annotations

from ._init_template import EXAMPLE_FILES, write_example_team
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
    "PROFILE_DIRS",
    "TEAM_FILE",
    "CheckFailurePolicy",
    "Defaults",
    "IsolationMode",
    "Limits",
    "PermissionMode",
    "Profile",
    "ProfileError",
    "RateLimit",
    "SubAgent",
    "Team",
    "TeamError",
    "WorkerSpec",
    "discover_profiles",
    "find_team",
    "load_profile",
    "load_team",
    "parse_tools",
    "write_example_team",
]
