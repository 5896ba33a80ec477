"""A generic DAG executor: start each node the moment its last dependency completes.

Nothing here knows about agents. A node is an id, its dependencies, a priority and
its position in the plan; ``execute(node)`` does the work and returns an
:class:`Outcome`. The scheduler is event-driven: a finishing node releases its
slot, readies its dependents and dispatches the next nodes from inside its own
task, so no loop polls and no tick delays a start.

Lifecycle of a node, reported through ``on_change``::

    PENDING -> READY -> RUNNING -> DONE | FAILED | CANCELLED
    PENDING | READY -> SKIPPED     (a dependency did not succeed, admit() refused, stop())
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "Admit",
    "Execute",
    "Node",
    "NodeState",
    "OnChange",
    "OnSoon",
    "Outcome",
    "Scheduler",
]

_log = logging.getLogger("podium.orchestration")


class NodeState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({NodeState.DONE, NodeState.FAILED, NodeState.SKIPPED, NodeState.CANCELLED})
_NOT_STARTED = frozenset({NodeState.PENDING, NodeState.READY})


@dataclass(frozen=True, kw_only=True)
class Node:
    id: str
    dependencies: tuple[str, ...] = ()
    priority: int = 0
    """Higher starts first among ready nodes."""
    order: int = 0
    """Position in the plan: breaks ties between equal priorities (lower first)."""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What ``execute`` returns: ``ok`` decides DONE or FAILED; ``reason`` is kept either way."""

    ok: bool
    reason: str | None = None


Execute = Callable[[Node], Awaitable[Outcome]]
Admit = Callable[[Node], Awaitable[str | None]]
"""``None``: the node may start now; a string: skip the node with that reason."""
OnChange = Callable[[str, NodeState, str | None], None]
OnSoon = Callable[[Node], None]

_NOTHING_DONE: Mapping[str, bool] = MappingProxyType({})


class Scheduler:
    """Run ``nodes`` through ``execute``, at most ``max_parallel`` at once.

    * Ready nodes start by priority (desc), then ``order`` (asc), then list position.
    * A node whose dependency failed, was skipped or cancelled is SKIPPED with the
      reason ``"dependency <id> failed|skipped|cancelled"``, transitively.
    * ``admit(node)`` is awaited just before a node starts, holding its slot while it
      waits (a rate limiter, a budget check). It must be cancellation-safe: stop()
      cancels nodes still waiting in it.
    * ``done`` (resume): ids already finished in an earlier attempt, ``id -> ok``. They
      are not executed and no ``on_change`` is sent for them.
    * ``on_soon(node)`` is called once per node, before it starts, as soon as every
      dependency has started (roots: when the run begins), so the caller can pre-warm
      whatever the node needs and start it the instant its last dependency completes.
    * A callback that raises is logged and ignored: the scheduler's bookkeeping must
      stay consistent for the nodes still running.

    One scheduler runs once. Plans are validated before they get here; the checks in
    the constructor (unknown dependency, cycle, duplicate id) are a guard and raise
    :class:`ValueError`.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        execute: Execute,
        *,
        max_parallel: int,
        admit: Admit | None = None,
        done: Mapping[str, bool] = _NOTHING_DONE,
        on_change: OnChange | None = None,
        on_soon: OnSoon | None = None,
    ) -> None:
        if max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, not {max_parallel}")
        self._nodes: dict[str, Node] = {}
        for node in nodes:
            if node.id in self._nodes:
                raise ValueError(f"duplicate node id {node.id!r}")
            self._nodes[node.id] = node
        self._deps: dict[str, tuple[str, ...]] = {}
        self._dependents: dict[str, list[str]] = {node_id: [] for node_id in self._nodes}
        for node_id, node in self._nodes.items():
            deps = tuple(dict.fromkeys(node.dependencies))  # a repeated id counts once
            for dep in deps:
                if dep not in self._nodes:
                    raise ValueError(f"node {node_id!r} depends on unknown node {dep!r}")
                self._dependents[dep].append(node_id)
            self._deps[node_id] = deps
        _check_acyclic(self._deps, self._dependents)
        for node_id in done:
            if node_id not in self._nodes:
                raise ValueError(f"done names unknown node {node_id!r}")

        self._execute = execute
        self._admit = admit
        self._max_parallel = max_parallel
        self._on_change = on_change
        self._on_soon = on_soon
        # Heap key: priority desc, then plan order, then list position (ids are unique).
        self._keys = {
            node.id: (-node.priority, node.order, index) for index, node in enumerate(nodes)
        }
        self._states = {
            node_id: (
                NodeState.PENDING
                if node_id not in done
                else NodeState.DONE
                if done[node_id]
                else NodeState.FAILED
            )
            for node_id in self._nodes
        }
        self._reasons: dict[str, str] = {}
        # Dependencies not yet DONE (to become ready) / not yet started (to be "soon").
        ok = {node_id for node_id, state in self._states.items() if state is NodeState.DONE}
        self._waiting = {
            node_id: sum(dep not in ok for dep in deps) for node_id, deps in self._deps.items()
        }
        self._unstarted = dict(self._waiting)
        self._open = sum(not state.finished for state in self._states.values())
        self._ready: list[tuple[int, int, int, str]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelling: set[str] = set()
        self._stop_reason: str | None = None
        self._cancel_reason: str | None = None
        self._ran = False
        self._finished = asyncio.Event()

    # -- public ------------------------------------------------------------------

    @property
    def states(self) -> dict[str, NodeState]:
        return dict(self._states)

    @property
    def reasons(self) -> dict[str, str]:
        """Why each node ended as it did, for the nodes that have a reason."""
        return dict(self._reasons)

    async def run(self) -> dict[str, NodeState]:
        """Run every node to a final state and return the states.

        Cancelling the task awaiting run() cancels the running nodes first (as
        :meth:`cancel` does), then re-raises.
        """
        if self._ran:
            raise RuntimeError("a scheduler runs once; build a new one to run again")
        self._ran = True
        for node_id, state in list(self._states.items()):
            if state is NodeState.FAILED:
                self._skip_dependents(node_id, state)
        for node_id in self._nodes:
            if self._states[node_id] is NodeState.PENDING and self._waiting[node_id] == 0:
                self._make_ready(node_id)
        if self._on_soon is not None:
            for _, _, _, node_id in sorted(self._ready):
                if self._unstarted[node_id] == 0:
                    self._soon(node_id)
        self._dispatch()
        self._check_finished()
        try:
            await self._finished.wait()
        except asyncio.CancelledError:
            await self.cancel("run cancelled")
            raise
        return self.states

    def stop(self, reason: str) -> None:
        """Start nothing more: every node not started yet is SKIPPED with ``reason``.

        Running nodes go on; nodes waiting in ``admit`` are cancelled there. The first
        reason given wins.
        """
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        self._ready.clear()
        for node_id, state in self._states.items():
            if state in _NOT_STARTED:
                self._set(node_id, NodeState.SKIPPED, reason)
                task = self._tasks.get(node_id)
                if task is not None:
                    task.cancel()
        self._check_finished()

    async def cancel(self, reason: str) -> None:
        """:meth:`stop`, then cancel running nodes (-> CANCELLED) and wait for them to end."""
        self.stop(reason)
        if self._cancel_reason is None:
            self._cancel_reason = reason
        for node_id, task in self._tasks.items():
            if self._states[node_id] is NodeState.RUNNING and node_id not in self._cancelling:
                self._cancelling.add(node_id)
                task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    # -- internals ---------------------------------------------------------------

    def _dispatch(self) -> None:
        ready, tasks = self._ready, self._tasks
        while ready and len(tasks) < self._max_parallel:
            node_id = heapq.heappop(ready)[3]
            if self._states[node_id] is not NodeState.READY:
                continue
            task = asyncio.create_task(self._run_node(self._nodes[node_id]))
            tasks[node_id] = task
            # Only needed when a task is cancelled before its first step (stop() right
            # after dispatch): its coroutine then never runs its own cleanup.
            task.add_done_callback(functools.partial(self._task_ended, node_id))

    async def _run_node(self, node: Node) -> None:
        node_id = node.id
        state: NodeState
        reason: str | None
        try:
            state, reason = await self._attempt(node)
        except asyncio.CancelledError as exc:
            # Not from cancel() (that case is handled below): execute() was cancelled
            # by whatever it awaited; the node did not fail, it was cancelled.
            state, reason = NodeState.CANCELLED, str(exc) or "cancelled"
        except Exception as exc:
            state, reason = NodeState.FAILED, str(exc) or type(exc).__name__
        # Free the slot before dispatching, from this task: waiting for the done
        # callback would cost a loop iteration per node on the critical path.
        self._tasks.pop(node_id, None)
        if node_id in self._cancelling:
            state, reason = NodeState.CANCELLED, self._cancel_reason
        self._complete(node_id, state, reason)

    async def _attempt(self, node: Node) -> tuple[NodeState, str | None]:
        node_id = node.id
        if self._admit is not None:
            refusal = await self._admit(node)
            if self._states[node_id] is not NodeState.READY:
                return self._states[node_id], None  # stopped while admit waited
            if refusal is not None:
                return NodeState.SKIPPED, refusal
        self._set(node_id, NodeState.RUNNING, None)
        if self._on_soon is not None:
            for dependent in self._dependents[node_id]:
                self._unstarted[dependent] -= 1
                if self._unstarted[dependent] == 0 and self._states[dependent] is NodeState.PENDING:
                    self._soon(dependent)
        outcome = await self._execute(node)
        return (NodeState.DONE if outcome.ok else NodeState.FAILED), outcome.reason

    def _complete(self, node_id: str, state: NodeState, reason: str | None) -> None:
        if not self._states[node_id].finished:  # stop() may have decided already
            self._set(node_id, state, reason)
            if state is NodeState.DONE:
                for dependent in self._dependents[node_id]:
                    self._waiting[dependent] -= 1
                    if (
                        self._waiting[dependent] == 0
                        and self._states[dependent] is NodeState.PENDING
                    ):
                        self._make_ready(dependent)
            else:
                self._skip_dependents(node_id, state)
        if self._stop_reason is None:
            self._dispatch()
        self._check_finished()

    def _task_ended(self, node_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(node_id) is task:
            del self._tasks[node_id]
            self._check_finished()

    def _make_ready(self, node_id: str) -> None:
        self._set(node_id, NodeState.READY, None)
        heapq.heappush(self._ready, (*self._keys[node_id], node_id))

    def _skip_dependents(self, node_id: str, state: NodeState) -> None:
        queue = deque([(node_id, state)])
        while queue:
            source, source_state = queue.popleft()
            for dependent in self._dependents[source]:
                if self._states[dependent] in _NOT_STARTED:
                    self._set(dependent, NodeState.SKIPPED, f"dependency {source} {source_state}")
                    queue.append((dependent, NodeState.SKIPPED))

    def _set(self, node_id: str, state: NodeState, reason: str | None) -> None:
        self._states[node_id] = state
        if reason is not None:
            self._reasons[node_id] = reason
        if state in _FINISHED:
            self._open -= 1
        if self._on_change is not None:
            try:
                self._on_change(node_id, state, reason)
            except Exception:
                _log.exception("on_change failed for node %s (%s)", node_id, state)

    def _soon(self, node_id: str) -> None:
        assert self._on_soon is not None
        try:
            self._on_soon(self._nodes[node_id])
        except Exception:
            _log.exception("on_soon failed for node %s", node_id)

    def _check_finished(self) -> None:
        if self._open == 0 and not self._tasks:
            self._finished.set()


def _check_acyclic(
    deps: Mapping[str, tuple[str, ...]], dependents: Mapping[str, list[str]]
) -> None:
    """Raise ValueError naming one cycle, ``a -> b`` meaning a depends on b."""
    missing = {node_id: len(node_deps) for node_id, node_deps in deps.items()}
    queue = deque(node_id for node_id, count in missing.items() if count == 0)
    while queue:
        for dependent in dependents[queue.popleft()]:
            missing[dependent] -= 1
            if missing[dependent] == 0:
                queue.append(dependent)
    stuck = [node_id for node_id, count in missing.items() if count > 0]
    if not stuck:
        return
    # Every stuck node has a stuck dependency: walk them until one repeats.
    path: list[str] = []
    seen: dict[str, int] = {}
    node_id = stuck[0]
    while node_id not in seen:
        seen[node_id] = len(path)
        path.append(node_id)
        node_id = next(dep for dep in deps[node_id] if missing[dep] > 0)
    cycle = [*path[seen[node_id] :], node_id]
    raise ValueError("dependency cycle: " + " -> ".join(cycle))
