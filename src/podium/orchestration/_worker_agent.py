"""The one way a team worker (or the team's lead) becomes an agent spec.

Planned runs, agentic runs and ``spawn_agent(worker=...)`` over MCP all build
their agents here, so a worker's isolation, API key variable, tools and limits
apply however the worker is started.
"""

from __future__ import annotations

from .._options import AgentSpec
from ..isolation import IsolationMode, IsolationSpec
from ._profiles import Profile
from ._team import WorkerSpec

__all__ = ["profile_agent_spec", "worker_agent_spec", "worker_isolation"]


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
) -> AgentSpec:
    """An agent following ``profile``: its prompt, backend, tools and limits."""
    options = profile.agent_options().replace(isolation=isolation, api_key_env=api_key_env)
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
    )
