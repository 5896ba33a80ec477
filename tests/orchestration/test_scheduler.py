"""The DAG scheduler: order, parallelism, propagation, stop/cancel, resume, pre-warm hooks.

Every test controls when a node finishes with an asyncio.Event gate and asserts the
order of events, never how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

import pytest

from podium.orchestration._scheduler import Node, NodeState, Outcome, Scheduler

DONE = NodeState.DONE
FAILED = NodeState.FAILED
SKIPPED = NodeState.SKIPPED
CANCELLED = NodeState.CANCELLED


def node(node_id: str, *deps: str, priority: int = 0, order: int = 0) -> Node:
    return Node(id=node_id, dependencies=deps, priority=priority, order=order)


async def until(predicate: Callable[[], bool], *, spins: int = 200) -> None:
    """Let the event loop run until ``predicate`` holds (bounded by loop turns, not time)."""
    for _ in range(spins):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def settle(spins: int = 50) -> None:
    """Give the scheduler every chance to start something it should not."""
    for _ in range(spins):
        await asyncio.sleep(0)


class Work:
    """A fake ``execute``: records events, blocks gated nodes until released."""

    def __init__(
        self,
        *,
        gated: Iterable[str] = (),
        fail: Mapping[str, str] = {},
        raise_in: Mapping[str, Exception] = {},
    ) -> None:
        self.gates = {node_id: asyncio.Event() for node_id in gated}
        self.fail = dict(fail)
        self.raise_in = dict(raise_in)
        self.events: list[str] = []
        self.running: set[str] = set()
        self.most_at_once = 0
        self.executed: list[str] = []

    def release(self, node_id: str) -> None:
        self.gates[node_id].set()

    async def __call__(self, n: Node) -> Outcome:
        self.events.append(f"start {n.id}")
        self.executed.append(n.id)
        self.running.add(n.id)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            if n.id in self.gates:
                await self.gates[n.id].wait()
            else:
                await asyncio.sleep(0)
            if n.id in self.raise_in:
                raise self.raise_in[n.id]
        except asyncio.CancelledError:
            self.events.append(f"cancelled {n.id}")
            raise
        finally:
            self.running.discard(n.id)
        self.events.append(f"end {n.id}")
        if n.id in self.fail:
            return Outcome(ok=False, reason=self.fail[n.id])
        return Outcome(ok=True)


async def test_runs_every_node_and_reports_done() -> None:
    work = Work()
    nodes = [node("a"), node("b", "a"), node("c", "a"), node("d", "b", "c")]
    states = await Scheduler(nodes, work, max_parallel=4).run()
    assert states == {"a": DONE, "b": DONE, "c": DONE, "d": DONE}
    assert sorted(work.executed) == ["a", "b", "c", "d"]
    assert work.executed[0] == "a"
    assert work.executed[-1] == "d"


async def test_never_more_than_max_parallel_at_once() -> None:
    ids = ["a", "b", "c", "d", "e"]
    work = Work(gated=ids)
    task = asyncio.create_task(Scheduler([node(i) for i in ids], work, max_parallel=2).run())
    await until(lambda: len(work.running) == 2)
    await settle()
    assert work.running == {"a", "b"}
    for finished, started in (("a", "c"), ("b", "d"), ("c", "e")):
        work.release(finished)
        await until(lambda: started in work.running)  # noqa: B023 - awaited in this iteration
        await settle()
        assert len(work.running) == 2
    work.release("d")
    work.release("e")
    states = await task
    assert set(states.values()) == {DONE}
    assert work.most_at_once == 2


async def test_ready_nodes_start_by_priority_then_plan_order() -> None:
    work = Work()
    nodes = [
        node("low", priority=-5, order=0),
        node("second", priority=1, order=2),
        node("first", priority=1, order=1),
        node("urgent", priority=10, order=9),
        node("plain", order=3),
    ]
    await Scheduler(nodes, work, max_parallel=1).run()
    assert work.executed == ["urgent", "first", "second", "plain", "low"]


async def test_list_position_breaks_ties_when_priority_and_order_are_equal() -> None:
    work = Work()
    await Scheduler([node("x"), node("y"), node("z")], work, max_parallel=1).run()
    assert work.executed == ["x", "y", "z"]


async def test_priority_decides_among_dependents_freed_by_the_same_node() -> None:
    work = Work()
    nodes = [node("root"), node("minor", "root", priority=0), node("major", "root", priority=3)]
    await Scheduler(nodes, work, max_parallel=1).run()
    assert work.executed == ["root", "major", "minor"]


async def test_dependent_starts_when_its_last_dependency_ends_not_when_a_level_ends() -> None:
    # c needs a and b; slow is unrelated and still running when c becomes ready.
    work = Work(gated=["a", "b", "c", "slow"])
    nodes = [node("a"), node("b"), node("slow"), node("c", "a", "b")]
    task = asyncio.create_task(Scheduler(nodes, work, max_parallel=4).run())
    await until(lambda: work.running == {"a", "b", "slow"})
    work.release("a")
    await until(lambda: "end a" in work.events)
    await settle()
    assert "start c" not in work.events
    work.release("b")
    await until(lambda: "start c" in work.events)
    assert work.events[-2:] == ["end b", "start c"]
    assert "slow" in work.running
    work.release("c")
    work.release("slow")
    assert set((await task).values()) == {DONE}


async def test_dependent_waits_for_a_free_slot() -> None:
    work = Work(gated=["a", "other", "b"])
    nodes = [node("a"), node("other"), node("b", "a")]
    task = asyncio.create_task(Scheduler(nodes, work, max_parallel=2).run())
    await until(lambda: work.running == {"a", "other"})
    work.release("a")
    await until(lambda: "start b" in work.events)
    assert work.running == {"other", "b"}
    work.release("other")
    work.release("b")
    await task
    assert work.most_at_once == 2


async def test_failure_skips_dependents_transitively_with_reasons() -> None:
    work = Work(fail={"build": "compiler error"})
    nodes = [
        node("build"),
        node("test", "build"),
        node("report", "test"),
        node("lint"),
        node("publish", "lint", "report"),
    ]
    scheduler = Scheduler(nodes, work, max_parallel=2)
    states = await scheduler.run()
    assert states == {
        "build": FAILED,
        "test": SKIPPED,
        "report": SKIPPED,
        "lint": DONE,
        "publish": SKIPPED,
    }
    assert scheduler.reasons == {
        "build": "compiler error",
        "test": "dependency build failed",
        "report": "dependency test skipped",
        "publish": "dependency report skipped",
    }
    assert sorted(work.executed) == ["build", "lint"]


async def test_execute_exception_fails_the_node_without_crashing_the_run() -> None:
    work = Work(raise_in={"a": RuntimeError("disk full"), "b": KeyError("k")})
    nodes = [node("a"), node("after_a", "a"), node("b"), node("c")]
    scheduler = Scheduler(nodes, work, max_parallel=1)
    states = await scheduler.run()
    assert states == {"a": FAILED, "after_a": SKIPPED, "b": FAILED, "c": DONE}
    assert scheduler.reasons["a"] == "disk full"
    assert scheduler.reasons["b"] == "'k'"
    assert scheduler.reasons["after_a"] == "dependency a failed"


async def test_stop_skips_everything_not_started_and_lets_running_nodes_finish() -> None:
    work = Work(gated=["a", "b"])
    nodes = [node("a"), node("b"), node("c"), node("after_a", "a")]
    scheduler = Scheduler(nodes, work, max_parallel=2)
    task = asyncio.create_task(scheduler.run())
    await until(lambda: work.running == {"a", "b"})
    scheduler.stop("budget exhausted")
    assert scheduler.states["c"] is SKIPPED
    assert scheduler.states["after_a"] is SKIPPED
    work.release("a")
    work.release("b")
    states = await task
    assert states == {"a": DONE, "b": DONE, "c": SKIPPED, "after_a": SKIPPED}
    assert scheduler.reasons == {"c": "budget exhausted", "after_a": "budget exhausted"}
    assert sorted(work.executed) == ["a", "b"]


async def test_stop_cancels_a_node_waiting_in_admit() -> None:
    admit_gate = asyncio.Event()
    admit_cancelled: list[str] = []

    async def admit(n: Node) -> str | None:
        try:
            await admit_gate.wait()
        except asyncio.CancelledError:
            admit_cancelled.append(n.id)
            raise
        return None

    work = Work()
    scheduler = Scheduler([node("a")], work, max_parallel=1, admit=admit)
    task = asyncio.create_task(scheduler.run())
    await settle()
    scheduler.stop("shutting down")
    states = await task
    assert states == {"a": SKIPPED}
    assert scheduler.reasons == {"a": "shutting down"}
    assert admit_cancelled == ["a"]
    assert work.executed == []


async def test_cancel_cancels_running_nodes_and_waits_for_them() -> None:
    work = Work(gated=["a", "b"])
    nodes = [node("a"), node("b"), node("c"), node("after_a", "a")]
    scheduler = Scheduler(nodes, work, max_parallel=2)
    task = asyncio.create_task(scheduler.run())
    await until(lambda: work.running == {"a", "b"})
    await scheduler.cancel("user cancelled")
    # cancel() returned only after each running execute() saw its cancellation.
    assert sorted(e for e in work.events if e.startswith("cancelled")) == [
        "cancelled a",
        "cancelled b",
    ]
    assert work.running == set()
    states = await task
    assert states == {"a": CANCELLED, "b": CANCELLED, "c": SKIPPED, "after_a": SKIPPED}
    assert set(scheduler.reasons.values()) == {"user cancelled"}


async def test_cancelling_the_run_cancels_its_nodes() -> None:
    work = Work(gated=["a"])
    scheduler = Scheduler([node("a"), node("b", "a")], work, max_parallel=1)
    task = asyncio.create_task(scheduler.run())
    await until(lambda: work.running == {"a"})
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "cancelled a" in work.events
    assert scheduler.states == {"a": CANCELLED, "b": SKIPPED}


async def test_execute_cancelled_from_inside_is_cancelled_not_failed() -> None:
    async def execute(n: Node) -> Outcome:
        raise asyncio.CancelledError

    scheduler = Scheduler([node("a"), node("b", "a")], execute, max_parallel=1)
    states = await scheduler.run()
    assert states == {"a": CANCELLED, "b": SKIPPED}
    assert scheduler.reasons["b"] == "dependency a cancelled"


async def test_resume_runs_only_what_is_not_done() -> None:
    work = Work()
    nodes = [
        node("scan"),
        node("broken"),
        node("fix", "scan"),
        node("retest", "broken"),
        node("report", "fix", "retest"),
    ]
    scheduler = Scheduler(nodes, work, max_parallel=2, done={"scan": True, "broken": False})
    states = await scheduler.run()
    assert work.executed == ["fix"]
    assert states == {
        "scan": DONE,
        "broken": FAILED,
        "fix": DONE,
        "retest": SKIPPED,
        "report": SKIPPED,
    }
    assert scheduler.reasons["retest"] == "dependency broken failed"


async def test_resume_with_everything_done_returns_at_once() -> None:
    work = Work()
    scheduler = Scheduler(
        [node("a"), node("b", "a")], work, max_parallel=1, done={"a": True, "b": True}
    )
    assert await scheduler.run() == {"a": DONE, "b": DONE}
    assert work.executed == []


async def test_on_soon_fires_once_when_every_dependency_has_started() -> None:
    work = Work(gated=["a", "b", "c"])
    soon: list[str] = []

    def on_soon(n: Node) -> None:
        soon.append(n.id)
        work.events.append(f"soon {n.id}")

    # c needs a and b; with one slot, b starts only after a ends.
    nodes = [node("a"), node("b"), node("c", "a", "b")]
    task = asyncio.create_task(Scheduler(nodes, work, max_parallel=1, on_soon=on_soon).run())
    await until(lambda: work.running == {"a"})
    await settle()
    assert "c" not in soon  # b has not started yet
    work.release("a")
    await until(lambda: work.running == {"b"})
    # c is announced as b starts, long before b (its last dependency) ends.
    assert work.events == ["soon a", "soon b", "start a", "end a", "soon c", "start b"]
    work.release("b")
    await until(lambda: work.running == {"c"})
    work.release("c")
    await task
    assert sorted(soon) == ["a", "b", "c"]
    assert work.events.index("soon c") < work.events.index("start c")


async def test_on_soon_skips_nodes_whose_dependency_already_failed() -> None:
    soon: list[str] = []
    work = Work(fail={"a": "no"})
    nodes = [node("a"), node("b", "a"), node("c", "b")]
    await Scheduler(nodes, work, max_parallel=1, on_soon=lambda n: soon.append(n.id)).run()
    # b was announced when a started; c never was, since b never started.
    assert soon == ["a", "b"]


async def test_admit_refusal_skips_the_node_and_its_dependents() -> None:
    async def admit(n: Node) -> str | None:
        return "rate limit: model busy" if n.id == "b" else None

    work = Work()
    nodes = [node("a"), node("b"), node("c", "b"), node("d", "a")]
    scheduler = Scheduler(nodes, work, max_parallel=1, admit=admit)
    states = await scheduler.run()
    assert states == {"a": DONE, "b": SKIPPED, "c": SKIPPED, "d": DONE}
    assert scheduler.reasons == {"b": "rate limit: model busy", "c": "dependency b skipped"}
    assert work.executed == ["a", "d"]


async def test_a_node_waiting_in_admit_holds_its_slot() -> None:
    gate = asyncio.Event()
    admitted: list[str] = []

    async def admit(n: Node) -> str | None:
        admitted.append(n.id)
        if n.id == "a":
            await gate.wait()
        return None

    work = Work()
    scheduler = Scheduler([node("a"), node("b")], work, max_parallel=1, admit=admit)
    task = asyncio.create_task(scheduler.run())
    await until(lambda: admitted == ["a"])
    await settle()
    assert admitted == ["a"]
    assert work.executed == []
    assert scheduler.states["a"] is NodeState.READY
    gate.set()
    await task
    assert work.executed == ["a", "b"]


async def test_on_change_reports_each_transition_in_order() -> None:
    changes: list[tuple[str, NodeState, str | None]] = []
    work = Work(fail={"a": "bad"})
    nodes = [node("a"), node("b", "a")]
    await Scheduler(nodes, work, max_parallel=1, on_change=lambda *c: changes.append(c)).run()
    assert changes == [
        ("a", NodeState.READY, None),
        ("a", NodeState.RUNNING, None),
        ("a", FAILED, "bad"),
        ("b", SKIPPED, "dependency a failed"),
    ]


async def test_a_raising_callback_does_not_stall_the_run() -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("callback bug")

    work = Work()
    scheduler = Scheduler(
        [node("a"), node("b", "a")], work, max_parallel=1, on_change=broken, on_soon=broken
    )
    assert await scheduler.run() == {"a": DONE, "b": DONE}


async def test_a_scheduler_runs_once() -> None:
    scheduler = Scheduler([node("a")], Work(), max_parallel=1)
    await scheduler.run()
    with pytest.raises(RuntimeError, match="once"):
        await scheduler.run()


@pytest.mark.parametrize(
    ("nodes", "kwargs", "message"),
    [
        ([node("a", "ghost")], {}, "unknown node 'ghost'"),
        ([node("a"), node("a")], {}, "duplicate node id 'a'"),
        ([node("a", "a")], {}, "dependency cycle: a -> a"),
        (
            [node("a", "c"), node("b", "a"), node("c", "b")],
            {},
            "dependency cycle: a -> c -> b -> a",
        ),
        ([node("a")], {"max_parallel": 0}, "max_parallel"),
        ([node("a")], {"done": {"zzz": True}}, "unknown node 'zzz'"),
    ],
)
def test_invalid_graphs_are_refused(
    nodes: list[Node], kwargs: dict[str, object], message: str
) -> None:
    options: dict[str, object] = {"max_parallel": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        Scheduler(nodes, Work(), **options)  # type: ignore[arg-type]
