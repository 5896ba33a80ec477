"""The one way a team worker (or the team's lead) becomes an agent spec.

Planned runs, agentic runs and ``spawn_agent(worker=...)`` over MCP all build
their agents here, so a worker's isolation, API key variable, tools and limits
apply however the worker is started.
"""

from __future__ import annotations

from .._options import AgentSpec
from ..isolation import IsolationMode, IsolationSpec
from ._profiles import Profile
from ._team import Team, WorkerSpec

__all__ = ["lead_agent_spec", "profile_agent_spec", "worker_agent_spec", "worker_isolation"]


def worker_isolation(worker: WorkerSpec) -> IsolationSpec | None:
    """The worker's isolation setting as a spec; ``None`` for the project as is (shared)."""
    spec = worker.isolation_spec
    return None if spec.mode is IsolationMode.SHARED else spec


def profile_agent_spec(
    profile: Profile,
    *,
    model: str | None,
    isolation: IsolationSpec | None = None,
    api_key_env: str | None = None,
    config_dir: str | None = None,
) -> AgentSpec:
    """An agent following ``profile``: its prompt, backend, tools and limits.
    ``config_dir`` overrides the profile's."""
    options = profile.agent_options().replace(isolation=isolation, api_key_env=api_key_env)
    if config_dir is not None:
        options = options.replace(config_dir=config_dir)
    return AgentSpec.build(
        backend=profile.backend,
        model=model,
        system_prompt=profile.system_prompt,
        options=options,
    )


def worker_agent_spec(worker: WorkerSpec, *, model: str | None = None) -> AgentSpec:
    """An agent for ``worker``: its profile, model (``model`` overrides the team's),
    workspace and the daemon variable holding its key (read when its process starts)."""
    return profile_agent_spec(
        worker.profile,
        model=model or worker.model,
        isolation=worker_isolation(worker),
        api_key_env=worker.api_key_env,
        config_dir=worker.config_dir,
    )


def lead_agent_spec(team: Team) -> AgentSpec:
    """The team's orchestrator: its profile's model (else ``[defaults]``'s) and
    configuration (else ``[defaults]``'s)."""
    profile = team.orchestrator
    model = profile.model if profile.model not in (None, "inherit") else team.defaults.model
    return profile_agent_spec(
        profile, model=model, config_dir=profile.config_dir or team.defaults.config_dir
    )
