"""Task plans: the orchestrator's JSON answer, validated into a DAG of tasks.

A model writes the plan, so nothing in it is trusted. Validation collects
*every* problem, each naming its JSON path (``tasks[2].worker: ...``), because
the whole list goes back to the model in one repair prompt and to the user in
one error. A :class:`Plan` that exists is always a DAG of unique task ids.
"""

from __future__ import annotations

import difflib
import heapq
import json
import math
import re
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .._errors import InvalidName, UsageError
from .._names import MAX_NAME_LENGTH, check_name
from ._validation import show

__all__ = [
    "MAX_PLAN_TASKS",
    "PLAN_SCHEMA",
    "Plan",
    "PlanError",
    "PlannedTask",
    "extract_json",
    "load_plan_file",
    "parse_plan",
    "plan_from_data",
]

MAX_PLAN_TASKS = 100
_MAX_DESCRIPTION_BYTES = 64 * 1024
_MAX_PRIORITY = 1000
_MAX_TIMEOUT = 86400
_MAX_PLAN_FILE_BYTES = 1024 * 1024
# A broken plan of 100 tasks can yield hundreds of lines; past this many the
# rest are noise to a user and waste tokens in a repair prompt.
_MAX_REPORTED = 100
# Each candidate start in prose is parsed to its end; a bound keeps an answer
# full of braces from costing quadratic time.
_MAX_JSON_CANDIDATES = 100

# The "description" annotations are for the model: the schema is part of the planning prompt.
_TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task_id": {
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*$",
            "maxLength": MAX_NAME_LENGTH,
        },
        "worker": {"type": "string", "minLength": 1, "description": "the one worker doing it"},
        "description": {"type": "string", "minLength": 1, "description": "complete instructions"},
        "dependencies": {"type": "array", "items": {"type": "string"}, "description": "task ids"},
        "priority": {"type": "integer", "minimum": -_MAX_PRIORITY, "maximum": _MAX_PRIORITY},
        "timeout": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": _MAX_TIMEOUT},
        "urgent": {
            "type": "boolean",
            "description": "false: the result may take hours and costs half (batch processing)",
        },
    },
    "required": ["task_id", "worker", "description"],
    "additionalProperties": False,
}
PLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "tasks": {"type": "array", "minItems": 1, "maxItems": MAX_PLAN_TASKS, "items": _TASK_SCHEMA}
    },
    "required": ["tasks"],
    "additionalProperties": False,
}
_VALIDATOR = Draft202012Validator(PLAN_SCHEMA)
_TYPE_NAMES = {"object": "an object", "array": "a list", "string": "a string"}
_TYPE_NAMES |= {"integer": "an integer", "number": "a number", "null": "null"}
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CYCLE = 1 << 30  # sort key that puts graph-wide problems after per-task ones


class PlanError(UsageError):
    """A plan that cannot be run; ``errors`` holds every problem, one line each."""

    code = "invalid_plan"

    def __init__(
        self,
        errors: Sequence[str] | str = (),
        /,
        *,
        source: str = "plan",
        **context: Any,
    ) -> None:
        given = context.pop("errors", None)
        message: str | None = None
        if isinstance(errors, str):
            # error_from_dict rebuilds as (message, **context): keep the message as sent.
            lines: Iterable[Any] = given if given is not None else (errors,)
            message = errors if given is not None else None
        else:
            lines = errors or given or ()
        self.errors: tuple[str, ...] = tuple(str(line) for line in lines)
        self.source = source
        if message is None:
            header = "plan is invalid:" if source == "plan" else f"{source}: plan is invalid:"
            message = header + "".join(f"\n- {line}" for line in self.errors)
        super().__init__(message, source=source, errors=list(self.errors), **context)


@dataclass(frozen=True, kw_only=True)
class PlannedTask:
    task_id: str
    worker: str
    description: str
    dependencies: tuple[str, ...] = ()
    priority: int = 0
    """Higher starts first among ready tasks."""
    timeout: float | None = None
    """Seconds; ``None`` = the worker's own timeout."""
    urgent: bool = True
    """False: the task may go through a batch API (half price, answers later)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "worker": self.worker,
            "description": self.description,
            "dependencies": list(self.dependencies),
            "priority": self.priority,
            "timeout": self.timeout,
            "urgent": self.urgent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedTask:
        """Rebuild from :meth:`to_dict` (a plan podium validated and wrote itself)."""
        timeout = data.get("timeout")
        return cls(
            task_id=str(data["task_id"]),
            worker=str(data["worker"]),
            description=str(data["description"]),
            dependencies=tuple(str(d) for d in data.get("dependencies") or ()),
            priority=int(data.get("priority") or 0),
            timeout=None if timeout is None else float(timeout),
            urgent=data.get("urgent", True) is not False,
        )


@dataclass(frozen=True, kw_only=True)
class Plan:
    tasks: tuple[PlannedTask, ...]
    _by_id: dict[str, PlannedTask] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        # Plans are validated before they get here; this guard keeps every
        # method below free to assume unique ids and an acyclic graph.
        entries = [(i, t.task_id, t.dependencies) for i, t in enumerate(self.tasks)]
        problems = _graph_problems(entries)
        if problems:
            raise PlanError([line for _, line in problems])
        object.__setattr__(self, "_by_id", {t.task_id: t for t in self.tasks})

    def task(self, task_id: str) -> PlannedTask:
        try:
            return self._by_id[task_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none"
            raise PlanError(
                [f"no task {show(task_id)} in this plan (tasks: {known})"], task_id=task_id
            ) from None

    def dependents(self, task_id: str) -> tuple[str, ...]:
        """Tasks that list ``task_id`` as a dependency, in plan order."""
        self.task(task_id)
        return tuple(t.task_id for t in self.tasks if task_id in t.dependencies)

    def topological_order(self) -> tuple[str, ...]:
        """Dependencies first; among tasks free at the same time, plan order."""
        position = {t.task_id: i for i, t in enumerate(self.tasks)}
        waiting = {t.task_id: len(set(t.dependencies)) for t in self.tasks}
        dependents: dict[str, list[str]] = {t.task_id: [] for t in self.tasks}
        for t in self.tasks:
            for dep in dict.fromkeys(t.dependencies):
                dependents[dep].append(t.task_id)
        ready = [position[tid] for tid, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            tid = self.tasks[heapq.heappop(ready)].task_id
            order.append(tid)
            for nxt in dependents[tid]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    heapq.heappush(ready, position[nxt])
        return tuple(order)

    def critical_path(self, durations: Mapping[str, float]) -> tuple[float, tuple[str, ...]]:
        """The longest chain by total duration and its tasks, first to last.

        A task missing from ``durations`` (not run yet, skipped) counts as 0 s.
        Ties go to the task earlier in the plan.
        """
        position = {t.task_id: i for i, t in enumerate(self.tasks)}
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for tid in self.topological_order():
            # max() keeps the first of equals, so sorting by position breaks ties by plan order.
            deps = sorted(self._by_id[tid].dependencies, key=position.__getitem__)
            before = max(deps, key=finish.__getitem__, default=None)
            via[tid] = before
            start = 0.0 if before is None else finish[before]
            finish[tid] = start + float(durations.get(tid, 0.0))
        end = max((t.task_id for t in self.tasks), key=lambda tid: finish[tid], default=None)
        if end is None:
            return 0.0, ()
        path: list[str] = []
        node: str | None = end
        while node is not None:
            path.append(node)
            node = via[node]
        return finish[end], tuple(reversed(path))

    def depth(self) -> dict[str, int]:
        """Level of each task in plan order: 0 for roots, else 1 + its deepest dependency."""
        level: dict[str, int] = {}
        for tid in self.topological_order():
            deps = self._by_id[tid].dependencies
            level[tid] = 1 + max(level[d] for d in deps) if deps else 0
        return {t.task_id: level[t.task_id] for t in self.tasks}

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": [t.to_dict() for t in self.tasks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(tasks=tuple(PlannedTask.from_dict(t) for t in data["tasks"]))


def extract_json(text: str) -> Any:
    """The JSON in a model's answer: bare, in a fenced block, or the first object in prose."""
    if not isinstance(text, str) or not text.strip():
        raise PlanError(["answer is not JSON: the answer is empty"])
    text = text.removeprefix("\ufeff")
    failures: list[tuple[json.JSONDecodeError, int]] = []
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        whole = (exc, 0)
    except RecursionError:
        raise PlanError(["answer is not JSON: it is nested too deeply"]) from None
    fences = [m for m in _FENCE.finditer(text) if m[1].lower() in ("json", "")]
    fences.sort(key=lambda m: m[1] == "")  # ```json blocks before unlabelled ones
    for fence in fences:
        try:
            return json.loads(fence[2])
        except json.JSONDecodeError as exc:
            failures.append((exc, fence.start(2)))
        except RecursionError:
            continue
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[{\[]", text)][:_MAX_JSON_CANDIDATES]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            # raw_decode reports positions in the whole text already.
            if text[start] == "{":
                failures.append((exc, 0))
            continue
        except RecursionError:
            continue
        # "[1]" in prose is a citation, not a plan: only a list of objects counts.
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            return value
    # The most telling error: inside the fence, else in the first object, else the start.
    error, offset = failures[0] if failures else whole
    line, column = _line_column(text, offset + error.pos)
    raise PlanError([f"answer is not JSON: {error.msg} at line {line} column {column}"])


def plan_from_data(data: Any, workers: Collection[str], *, source: str = "plan") -> Plan:
    """Validate parsed JSON into a :class:`Plan`, or raise :class:`PlanError` with every problem."""
    if isinstance(data, list):
        data = {"tasks": data}
    if not isinstance(data, dict):
        raise PlanError(
            [f'top level: must be a JSON object {{"tasks": [...]}}, got {show(data)}'],
            source=source,
        )
    tasks = data.get("tasks")
    if isinstance(tasks, list) and len(tasks) > MAX_PLAN_TASKS:
        # Refused before any per-task or graph check: those would only cost time
        # (a daemon validating 10,000 tasks answers nothing else meanwhile).
        raise PlanError(
            [f"tasks: has {len(tasks)} tasks; the limit is {MAX_PLAN_TASKS}"], source=source
        )
    problems: list[tuple[int, str]] = []
    bad: set[str] = set()
    for err in _VALIDATOR.iter_errors(data):
        where = _path(err.absolute_path)
        bad.add(where)
        problems.extend((_task_of(err.absolute_path), f"{where}: {m}") for m in _describe(err))
    if isinstance(tasks, list):
        problems.extend(_task_problems(tasks, workers, bad))
    problems.sort(key=lambda p: p[0])
    lines = list(dict.fromkeys(line for _, line in problems))
    if len(lines) > _MAX_REPORTED:
        lines[_MAX_REPORTED - 1 :] = [f"... and {len(lines) - _MAX_REPORTED + 1} more problems"]
    if lines:
        raise PlanError(lines, source=source)
    assert isinstance(tasks, list)
    return Plan(
        tasks=tuple(
            PlannedTask(
                task_id=t["task_id"],
                worker=t["worker"],
                description=t["description"],
                dependencies=tuple(dict.fromkeys(t.get("dependencies") or ())),
                priority=int(t.get("priority", 0)),
                timeout=None if t.get("timeout") is None else float(t["timeout"]),
                urgent=t.get("urgent", True),
            )
            for t in tasks
        )
    )


def parse_plan(text: str, workers: Collection[str], *, source: str = "plan") -> Plan:
    """A model's answer to a planning prompt -> a validated :class:`Plan`."""
    try:
        data = extract_json(text)
    except PlanError as exc:
        raise PlanError(exc.errors, source=source) from None
    return plan_from_data(data, workers, source=source)


def load_plan_file(path: str | Path, workers: Collection[str]) -> Plan:
    """A plan the user wrote (strict JSON); every error names the file."""
    source = str(path)

    def fail(problem: str) -> PlanError:
        return PlanError([problem], source=source, path=source)

    file = Path(path)
    try:
        if not file.is_file():
            raise fail("is not a file" if file.exists() else "file does not exist")
        with file.open("rb") as stream:
            raw = stream.read(_MAX_PLAN_FILE_BYTES + 1)
        if len(raw) > _MAX_PLAN_FILE_BYTES:
            raise fail(f"file is larger than {_MAX_PLAN_FILE_BYTES} bytes (1 MiB)")
        text = raw.decode("utf-8-sig")
        data = json.loads(text)
    except OSError as exc:
        raise fail(f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"file is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise fail(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise fail("not JSON: it is nested too deeply") from None
    return plan_from_data(data, workers, source=source)


def _task_problems(
    tasks: list[Any], workers: Collection[str], bad: set[str]
) -> list[tuple[int, str]]:
    """What the schema cannot say: team membership, sizes, ids across tasks, the graph."""
    out: list[tuple[int, str]] = []
    team = ", ".join(sorted(workers)) or "none"
    entries: list[tuple[int, str | None, Sequence[str] | None]] = []
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        at = f"tasks[{i}]"
        worker = task.get("worker")
        if isinstance(worker, str) and f"{at}.worker" not in bad and worker not in workers:
            out.append(
                (i, f"{at}.worker: {show(worker)} is not a worker of this team (workers: {team})")
            )
        text = task.get("description")
        if isinstance(text, str) and f"{at}.description" not in bad:
            size = len(text.encode("utf-8", "surrogatepass"))
            if not text.strip():
                out.append((i, f"{at}.description: must not be empty"))
            elif size > _MAX_DESCRIPTION_BYTES:
                out.append((i, f"{at}.description: is {size} bytes; the limit is 65536 (64 KiB)"))
        timeout = task.get("timeout")
        if isinstance(timeout, float) and not math.isfinite(timeout) and f"{at}.timeout" not in bad:
            out.append((i, f"{at}.timeout: must be a finite number of seconds"))
        tid = task.get("task_id")
        if isinstance(tid, str) and f"{at}.task_id" not in bad:
            # The schema's pattern is searched with "$", which lets a final newline through.
            try:
                check_name(tid, what="task id")
            except InvalidName as exc:
                out.append((i, f"{at}.task_id: {exc.message}"))
        deps = task.get("dependencies")
        if isinstance(deps, list) and f"{at}.dependencies" not in bad:
            deps = list(dict.fromkeys(d for d in deps if isinstance(d, str)))
        else:
            deps = None
        entries.append((i, tid if isinstance(tid, str) else None, deps))
    return out + _graph_problems(entries)


def _graph_problems(
    entries: Sequence[tuple[int, str | None, Sequence[str] | None]],
) -> list[tuple[int, str]]:
    """Duplicate ids, unknown or self dependencies, and one cycle per tangle."""
    out: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    for i, tid, _ in entries:
        if tid is None:
            continue
        if tid in first:
            out.append(
                (i, f"tasks[{i}].task_id: duplicate id {show(tid)} (also tasks[{first[tid]}])")
            )
        else:
            first[tid] = i
    edges: dict[str, list[str]] = {tid: [] for tid in first}
    for i, tid, deps in entries:
        for dep in deps or ():
            if dep == tid:
                out.append((i, f"tasks[{i}].dependencies: a task cannot depend on itself"))
            elif dep not in first:
                out.append((i, f"tasks[{i}].dependencies: {show(dep)} is not a task in this plan"))
            elif tid is not None and first[tid] == i and dep not in edges[tid]:
                edges[tid].append(dep)
    for cycle in _cycles(edges):
        out.append((_CYCLE, f"cycle: {' -> '.join(cycle)} (each task depends on the next)"))
    return out


def _cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One closed loop (first == last) per tangle of mutually dependent tasks.

    Each loop is the shortest one through the tangle's earliest task, so the
    message shows a real chain the user can break, not the whole tangle.
    Linear in tasks plus dependencies: a tangle is a strongly connected
    component, and each loop is searched for inside its own component only.
    """
    component = _components(edges)
    size: dict[int, int] = {}
    for c in component.values():
        size[c] = size.get(c, 0) + 1
    done: set[int] = set()
    cycles: list[list[str]] = []
    for start in edges:
        tangle = component[start]
        # Self-dependencies never reach ``edges``: a tangle needs two tasks or more.
        if tangle in done or size[tangle] < 2:
            continue
        done.add(tangle)
        came_from = _reachable(edges, start, stop=start, within=(component, tangle))
        chain = [start, came_from[start]]
        while chain[-1] != start:
            chain.append(came_from[chain[-1]])
        cycles.append(chain[::-1])
    return cycles


def _components(edges: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each task -> its strongly connected component (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    component: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    count = 0
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            nexts = edges[node]
            if i < len(nexts):
                work.append((node, i + 1))
                nxt = nexts[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = count
                    if member == node:
                        break
                count += 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return component


def _reachable(
    edges: Mapping[str, Sequence[str]],
    start: str,
    stop: str = "",
    within: tuple[Mapping[str, int], int] | None = None,
) -> dict[str, str]:
    """Breadth first: every task reachable in one step or more -> the task it was reached from.

    ``within`` (component map, component) keeps the search inside one component.
    """
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue and stop not in came_from:
        node = queue.popleft()
        for nxt in edges[node]:
            if within is not None and within[0][nxt] != within[1]:
                continue
            if nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return came_from


def _describe(err: ValidationError) -> list[str]:
    """jsonschema's messages embed the whole offending value; say what is wrong instead."""
    keyword, instance = err.validator, err.instance
    value: Any = err.validator_value
    if keyword == "type":
        names = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [f"must be {wanted}, got {show(instance)}"]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = list(err.schema.get("properties", {})) if isinstance(err.schema, dict) else []
        out = []
        for key in instance:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                known = ", ".join(allowed)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys: {known}"
                out.append(f"unknown key {show(key)}; {hint}")
        return out
    path = list(err.absolute_path)
    if path and path[-1] == "task_id" and isinstance(instance, str):
        try:
            check_name(instance, what="task id")
        except InvalidName as exc:
            return [exc.message]
    if keyword == "minLength":
        return ["must not be empty"]
    if keyword == "minItems":
        return ["a plan needs at least one task"]
    if keyword == "maxItems" and isinstance(instance, list):
        return [f"has {len(instance)} tasks; the limit is {value}"]
    if keyword == "minimum":
        return [f"must be at least {value}, got {show(instance)}"]
    if keyword == "maximum":
        return [f"must be at most {value}, got {show(instance)}"]
    if keyword == "exclusiveMinimum":
        return [f"must be greater than {value}, got {show(instance)}"]
    message = err.message  # e.g. "'description' is a required property"
    return [message if len(message) <= 200 else message[:197] + "..."]


def _path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "top level"


def _task_of(parts: Sequence[str | int]) -> int:
    """The task index a path points into (-1 for the plan itself), for ordering."""
    return parts[1] if len(parts) > 1 and isinstance(parts[1], int) else -1


def _line_column(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - text.rfind("\n", 0, pos)
