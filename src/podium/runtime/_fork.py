"""Forks: a new session carrying its parent's conversation, on the same backend or another.

On the same backend the backend copies its own session (a Claude Code transcript,
an API history file). Onto another backend only the visible conversation
(prompts and answers) can travel; it comes from the parent backend when it keeps
one, else from the parent's request records.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .._backend_info import backend_info
from .._errors import AgentExists, UsageError
from .._names import check_model, check_name
from .._options import check_base_url
from .._records import AgentRecord, AgentStatus, RequestState
from ..backends import Backend, ChatMessage, ConversationBackend, SessionSpec, StartMode
from ..isolation import IsolationMode
from ..store import Store

if TYPE_CHECKING:
    from ._host import Runtime

__all__ = ["fork_record", "visible_conversation"]

_CONFINED = frozenset({IsolationMode.SANDBOX, IsolationMode.CONTAINER})
# Fork chains deeper than this stop inheriting (a guard against a corrupt cycle).
_MAX_LINEAGE = 32


async def fork_record(
    runtime: Runtime,
    source: str,
    new: str,
    model: str | None,
    *,
    backend: str | None,
    base_url: str | None,
) -> AgentRecord:
    """Check the fork, give the child its copy of the session and return its record.

    The record is not registered yet: the caller does that (and starts it).
    """
    check_name(new)
    store = runtime.store
    parent = await store.get_agent(source)
    target = backend_info(backend or parent.backend).name.value
    if target not in runtime.backends:
        raise UsageError(
            f"backend {target!r} is not available here; available: "
            f"{', '.join(sorted(runtime.backends))}",
            agent=new,
        )
    check_model(model, backend=target)
    if await store.find_agent(new) is not None:
        raise AgentExists(f"agent {new!r} already exists", agent=new)
    parent_ws = parent.options.workspace
    if parent_ws is not None and parent_ws.mode in _CONFINED:
        # Its launcher only exposes the parent's own state directory; a child
        # needs a sandbox of its own, which fork does not build.
        raise UsageError(
            f"agent {source!r} runs in {parent_ws.mode.value} isolation, which fork "
            "does not support; spawn a new agent with the same isolation instead",
            agent=source,
        )
    parent_backend = runtime.backend_for(parent)
    parent_backend.check()
    child_backend = runtime.backends[target]
    child_backend.check()
    session_id = str(uuid.uuid4())
    parent_spec = SessionSpec(
        agent=parent.name,
        session_id=parent.session_id,
        mode=StartMode.RESUME,
        cwd=Path(parent.cwd),
        state_dir=runtime.config.agent_dir(parent.name, parent.session_id),
        options=parent.options,
        env=runtime.agent_env(parent),
    )
    child_spec = SessionSpec(
        agent=new,
        session_id=session_id,
        mode=StartMode.NEW,
        cwd=Path(parent.cwd),
        state_dir=runtime.config.agent_dir(new, session_id),
    )
    # A fork works in its parent's directory (a worktree's too) but does not own the
    # workspace: diff, merge and clean go through the parent.
    options = parent.options.replace(isolation=None, workspace=None)
    in_container = parent.options.workspace is not None and (
        parent.options.workspace.mode is IsolationMode.CONTAINER
    )
    if in_container and options.config_dir is None:
        # Its parent's configuration is the container's own (see the claude-code backend).
        options = options.replace(config_dir="isolated")
    if target == parent.backend:
        inherited = await parent_backend.prepare_fork(
            parent=parent_spec,
            child_session_id=session_id,
            child_state_dir=child_spec.state_dir,
            child_cwd=child_spec.cwd,
        )
        carried = parent.session_id if inherited else None
    else:
        if model is None:
            # The parent's model means nothing to another backend's servers.
            raise UsageError(
                f"forking {source!r} onto the {target} backend needs a model for it",
                agent=new,
            )
        await _carry_conversation(
            store, parent, parent_backend, parent_spec, child_backend, child_spec
        )
        carried = None
        # Endpoint settings, fallback chains and batching belong to the parent's backend.
        options = options.replace(
            carried_conversation=True,
            base_url=None,
            api_key_env=None,
            fallback=(),
            batch=False,
            config_dir=None,
        )
    if base_url is not None:
        options = options.replace(base_url=check_base_url(base_url))
    options = options.checked(target)
    now = time.time()
    return parent.replace(
        name=new,
        backend=target,
        model=model or parent.model,
        resolved_model=None if model else parent.resolved_model,
        session_id=session_id,
        has_session=False,
        # A parent with no conversation yet gives its configuration (system
        # prompt, tools, cwd) and nothing else: the fork still works.
        forked_from=parent.name,
        forked_from_session=carried,
        options=options,
        status=AgentStatus.HIBERNATED,
        created_at=now,
        updated_at=now,
        request_count=0,
        cost_usd=0.0,
        unpriced_requests=0,
        usage=type(parent.usage)(),
        pid=None,
        last_request_id=None,
    )


async def _carry_conversation(
    store: Store,
    parent: AgentRecord,
    parent_backend: Backend,
    parent_spec: SessionSpec,
    child_backend: Backend,
    child_spec: SessionSpec,
) -> None:
    """Give a fork on another backend the parent's visible conversation."""
    if not isinstance(child_backend, ConversationBackend):
        raise UsageError(
            f"the {child_backend.name} backend cannot take over a conversation "
            f"from {parent.backend}",
            agent=child_spec.agent,
        )
    messages: list[ChatMessage] | None = None
    if isinstance(parent_backend, ConversationBackend):
        messages = parent_backend.export_conversation(parent_spec)
    if messages is None:
        messages = await visible_conversation(store, parent)
    child_backend.import_conversation(child_spec, messages)


async def visible_conversation(
    store: Store, agent: AgentRecord, *, until: float | None = None, depth: int = 0
) -> list[ChatMessage]:
    """An agent's prompts and answers in order, from its request records, preceded
    by what it inherited from the agent it was forked from (up to the fork).
    ``until``: only requests completed by then."""
    messages: list[ChatMessage] = []
    inherited = agent.forked_from_session or agent.options.carried_conversation
    if agent.forked_from and inherited and depth < _MAX_LINEAGE:
        parent = await store.find_agent(agent.forked_from)
        if parent is not None:
            messages = await visible_conversation(
                store, parent, until=agent.created_at, depth=depth + 1
            )
    requests = await store.list_requests(agent=agent.name)
    for request in sorted(requests, key=lambda r: r.seq):
        if request.state is not RequestState.COMPLETE or request.result is None:
            continue
        if until is not None and (request.completed_at or 0.0) > until:
            continue
        messages.append(ChatMessage("user", request.prompt))
        messages.append(ChatMessage("assistant", request.result))
    return messages
