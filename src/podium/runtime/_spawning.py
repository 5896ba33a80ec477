"""Making an agent: its record, its key, its workspace, and its login checked before
anything is written or spent. :meth:`Runtime.spawn_spec` registers what this makes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .._backend_info import backend_info
from .._errors import AgentExists, PodiumError, UsageError
from .._names import check_name
from .._options import AgentOptions, AgentSpec
from .._records import AgentRecord, AgentStatus
from ..backends import AuthenticatingBackend, SessionSpec, StartMode
from ..isolation import IsolationSpec, Workspace, isolator_for
from ..isolation._credentials import DEFAULT_SECRETS
from ._config import RuntimeConfig

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = [
    "check_login",
    "key_from_env",
    "new_agent",
    "preflight",
    "prepare_workspace",
    "with_key",
]


def key_from_env(name: str, options: AgentOptions, env: Mapping[str, str]) -> dict[str, str]:
    """The agent's key from the variable its ``api_key_env`` names (the agent's own
    env, the runtime's, then the daemon's), under that variable's name."""
    variable = options.api_key_env
    if variable is None:
        return {}
    value = env.get(variable) or os.environ.get(variable)
    if not value:
        raise UsageError(
            f"agent {name!r}: environment variable {variable} (its api_key_env) is not "
            "set in the daemon's environment; set it where the daemon starts "
            "(`podium down`, export it, then try again)",
            agent=name,
            variable=variable,
        )
    return {variable: value}


def with_key(agent: AgentRecord, env: dict[str, str]) -> dict[str, str]:
    """``env`` plus the agent's key (if its ``api_key_env`` names one) under the name
    its backend reads; the key is masked wherever podium writes text."""
    key = key_from_env(agent.name, agent.options, env)
    if key:
        DEFAULT_SECRETS.add_env(key, owner=agent.name)
        env[backend_info(agent.backend).key_env] = next(iter(key.values()))
    return env


def _record(name: str, spec: AgentSpec, options: AgentOptions, cwd: Path) -> AgentRecord:
    """A new agent of ``spec``, with no session yet and no process."""
    now = time.time()
    return AgentRecord(
        name=name,
        backend=spec.backend.value,
        model=spec.model,
        resolved_model=None,
        system_prompt=spec.system_prompt,
        cwd=str(cwd),
        session_id=str(uuid.uuid4()),
        has_session=False,
        forked_from=None,
        forked_from_session=None,
        status=AgentStatus.HIBERNATED,
        created_at=now,
        updated_at=now,
        options=options,
    )


async def new_agent(
    runtime: Runtime,
    name: str,
    spec: AgentSpec,
    *,
    cwd: str | Path | None,
    results_dir: str | Path | None,
) -> tuple[AgentRecord, Workspace | None]:
    """The record of a new agent named ``name``, and the workspace prepared for it (if
    its isolation asks for one): nothing is stored yet. Whoever registers it releases
    the workspace if that fails."""
    check_name(name)
    workdir = Path(cwd or os.getcwd()).expanduser().resolve()
    if not workdir.is_dir():
        raise UsageError(f"working directory {workdir} does not exist", agent=name)
    backend = spec.backend.value
    if backend not in runtime.backends:
        raise UsageError(
            f"backend {backend!r} is not available here; available: "
            f"{', '.join(sorted(runtime.backends))}",
            agent=name,
        )
    runtime.backends[backend].check()
    if await runtime.store.find_agent(name) is not None:
        raise AgentExists(f"agent {name!r} already exists", agent=name)
    opts = spec.options
    key_from_env(name, opts, {**runtime.config.env, **opts.env})
    record = _record(name, spec, opts, workdir)
    workspace: Workspace | None = None
    if opts.isolation is not None and opts.workspace is None:
        workspace = await prepare_workspace(
            runtime.config,
            name,
            record.session_id,
            workdir,
            opts.isolation,
            results_dir,
            config_dir=_shared_config(runtime, spec.backend, opts),
        )
        opts = opts.replace(workspace=workspace)
    if opts.workspace is not None:
        workdir = opts.workspace.cwd
    return record.replace(cwd=str(workdir), options=opts), workspace


def _shared_config(runtime: Runtime, backend: str, options: AgentOptions) -> Path | None:
    found = runtime.backends.get(backend)
    if not isinstance(found, AuthenticatingBackend):
        return None
    return found.shared_config(options, {**runtime.config.env, **options.env})


async def preflight(runtime: Runtime, record: AgentRecord) -> AgentRecord:
    """Refuse an agent nobody is logged in for, before anything is written or spent;
    note which pool its turns will draw from (API key, subscription)."""
    backend = runtime.backends.get(record.backend)
    if not isinstance(backend, AuthenticatingBackend):
        return record
    spec = SessionSpec(
        agent=record.name,
        session_id=record.session_id,
        mode=StartMode.NEW,
        cwd=Path(record.cwd),
        state_dir=runtime.config.agent_dir(record.name, record.session_id),
        model=record.model,
        options=record.options,
        env=runtime.agent_env(record),
        launcher=record.options.launcher,
    )
    status = await backend.check_auth(spec)
    return record.replace(options=record.options.replace(billing=status.billing))


async def check_login(runtime: Runtime, name: str, spec: AgentSpec, *, cwd: Path) -> str | None:
    """See :meth:`Runtime.check_login`."""
    check_name(name)
    if not isinstance(runtime.backends.get(spec.backend.value), AuthenticatingBackend):
        return None
    key_from_env(name, spec.options, {**runtime.config.env, **spec.options.env})
    probe = _record(name, spec, spec.options, cwd)
    return (await preflight(runtime, probe)).options.billing


async def prepare_workspace(
    config: RuntimeConfig,
    name: str,
    session_id: str,
    project: Path,
    spec: IsolationSpec,
    results_dir: str | Path | None,
    *,
    config_dir: Path | None = None,
) -> Workspace:
    """Where the agent works, made (or, after a restart, its relays started again)."""
    state_dir = config.agent_dir(name, session_id)
    results = (
        Path(results_dir).expanduser().resolve()
        if results_dir is not None
        else state_dir / "results"
    )
    results.mkdir(parents=True, exist_ok=True)
    api_base_url = config.env.get("ANTHROPIC_BASE_URL") or os.environ.get("ANTHROPIC_BASE_URL")
    try:
        return await isolator_for(spec.mode).prepare(
            agent=name,
            project=project,
            state_dir=state_dir,
            results_dir=results,
            spec=spec,
            api_base_url=api_base_url,
            config_dir=config_dir,
        )
    except PodiumError as exc:
        exc.context.setdefault("agent", name)
        raise
