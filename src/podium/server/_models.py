"""Request bodies of the HTTP API, validated at the edge, and the answers' documented shapes.

Only shape is checked here (types, unknown fields, positive timeouts); names,
models and prompts are checked by the runtime so every front gives the same
messages.

The ``*Out`` models document what the routes answer (they feed ``/openapi.json``;
the contract tests check every answer against them). Handlers return the
records' JSON directly, so these models never re-encode a response: they must
match ``podium._wire`` and ``RunRecord.to_dict``, which stay the source of truth.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from .._backend_info import BackendName
from .._names import unencodable
from .._records import AgentStatus, EventKind, RequestSource, RequestState
from ..orchestration._run_records import RunState, TaskState

__all__ = [
    "AgentInfoOut",
    "AgentOut",
    "AppliedOut",
    "ApproveBody",
    "AskBody",
    "BroadcastBody",
    "ErrorOut",
    "EventOut",
    "ForkBody",
    "HealthOut",
    "KilledOut",
    "RejectBody",
    "RelayBody",
    "ReportOut",
    "RequestOut",
    "RequestSummaryOut",
    "RunBody",
    "RunDetailOut",
    "RunOut",
    "RunWaitOut",
    "SpawnBody",
    "StatusOut",
    "TellBody",
    "TellOut",
    "unstorable",
]


class _Body(BaseModel):
    # A misspelt field is an error, not a silently ignored option.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = unstorable(data)
        if problem is not None:
            raise ValueError(problem)
        return data


def unstorable(data: Any, where: str = "") -> str | None:
    """What in a parsed JSON body could not be stored or answered, or None.

    Python's JSON reader accepts ``NaN``/``Infinity`` and ``"\\ud800"``; once in a
    record, either makes every later answer holding it fail. Checked for the
    whole body (nested options and plans too), so no field can let one through.
    """
    todo: list[tuple[str, Any]] = [(where, data)]
    while todo:
        at, value = todo.pop()
        if isinstance(value, str):
            problem = unencodable(value)
            if problem is not None:
                return f"{at or 'body'}: text {problem}"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{at or 'body'}: {value} is not a finite number"
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{at}.{key}" if at else str(key)
                if isinstance(key, str) and unencodable(key) is not None:
                    return f"{at or 'body'}: a key {unencodable(key)}"
                todo.append((path, item))
        elif isinstance(value, list):
            todo.extend((f"{at}[{i}]", item) for i, item in enumerate(value))
    return None


def _path_text(value: str | None) -> str | None:
    # The OS cannot take a NUL in a path; say so instead of failing deep inside.
    if value is not None and "\x00" in value:
        raise ValueError("a path cannot hold a NUL character")
    return value


PathText = Annotated[str | None, AfterValidator(_path_text)]


class SpawnBody(_Body):
    name: str
    model: str | None = None
    system_prompt: str | None = None
    cwd: PathText = None
    backend: str = BackendName.CLAUDE_CODE.value
    options: dict[str, Any] = Field(default_factory=dict)


class ForkBody(_Body):
    new: str
    model: str | None = None
    backend: str | None = Field(
        default=None,
        description=(
            "the fork's backend (default: the source's); another backend inherits the "
            "visible conversation only: prompts and answers, not tool calls"
        ),
    )
    base_url: str | None = Field(
        default=None, description="the fork's API endpoint (anthropic-api and openai only)"
    )


class _Submit(_Body):
    # strict: true and "5" are not numbers of seconds.
    timeout: float | None = Field(
        default=None, gt=0, strict=True, description="turn limit in seconds"
    )
    wait: bool = Field(default=False, description="answer with the finished request")
    wait_timeout: float | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="with wait: give up waiting (not the request) after this",
    )


class AskBody(_Submit):
    prompt: str


class TellBody(_Body):
    text: str = Field(description="the message for the agent's running turn")


class RelayBody(_Submit):
    source: str = Field(alias="from")
    to: str
    prompt: str


class BroadcastBody(_Body):
    prompt: str
    exclude: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0, strict=True)


class RunBody(_Body):
    # Budget and plan are checked by the run engine, like prompts by the runtime.
    request: str
    team: Annotated[str, AfterValidator(_path_text)] = Field(
        description="team file (podium.toml) or its directory, absolute"
    )
    cwd: PathText = None
    plan: dict[str, Any] | list[Any] | None = Field(
        default=None, description="a plan to run instead of asking the orchestrator"
    )
    plan_file: PathText = None
    budget_usd: float | None = Field(default=None, strict=True)
    review: bool | None = Field(
        default=None,
        strict=True,
        description="stop after planning until the plan is approved (default: the team's)",
    )
    mode: Literal["planned", "agentic"] = Field(
        default="planned",
        description=(
            "planned: the orchestrator writes a task graph up front, then workers run it; "
            "agentic: the orchestrator drives the workers itself, turn by turn"
        ),
    )
    user_env: dict[str, str] | None = Field(
        default=None,
        description="the submitter's PATH (and VIRTUAL_ENV): the run's checks run with them",
    )


class ApproveBody(_Body):
    plan: dict[str, Any] | list[Any] | None = Field(
        default=None, description="an edited plan to run instead of the proposed one"
    )
    plan_file: PathText = None


class RejectBody(_Body):
    reason: str | None = Field(default=None, description="why the plan was rejected")


# --- answers -------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="a PodiumError code, e.g. agent_not_found, usage_error")
    message: str
    context: dict[str, Any] = Field(description="what the error is about (ids, reason)")


class ErrorOut(BaseModel):
    """Every error the daemon answers, whatever the route and status."""

    error: ErrorDetail


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    pid: int
    started_at: float
    uptime_s: float
    mode: Literal["embedded", "distributed"] = Field(
        description="distributed: turns run on `podium worker` hosts (see /v1/workers)"
    )


class PoolOut(BaseModel):
    warm: int = Field(description="live agent processes")
    max_warm: int | None = Field(description="the limit; null: unlimited")
    hibernated: int = Field(description="agents whose process is stopped (session on disk)")
    waiting: int = Field(description="agents waiting for a warm slot")
    busy: int
    hibernations: int = Field(description="processes stopped to make room so far")
    min_free_mb: int = Field(description="no process starts below this available memory")
    mem_available_mb: int | None


class StatusOut(BaseModel):
    status: str


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class AgentOut(BaseModel):
    name: str
    backend: str
    model: str | None = Field(description="the model in use: the resolved id once known")
    requested_model: str | None = Field(description="what was asked for (None: default)")
    resolved_model: str | None
    system_prompt: str | None
    cwd: str
    session_id: str
    has_session: bool
    forked_from: str | None
    forked_from_session: str | None
    status: AgentStatus
    created_at: float
    updated_at: float
    request_count: int
    cost_usd: float = Field(
        description="USD of the priced requests; a floor when unpriced_requests > 0"
    )
    unpriced_requests: int = Field(
        default=0, description="requests whose model has no price (their cost is unknown)"
    )
    usage: UsageOut
    pid: int | None
    last_request_id: str | None
    options: dict[str, Any]
    billing: str | None = Field(
        default=None,
        description="the pool its turns draw from: api-key, subscription ... (Agent SDK "
        "credit), cloud provider (...); null if unknown",
    )


class RequestSummaryOut(BaseModel):
    """A request as ``poll`` / ``wait`` have always shaped it."""

    id: str
    agent: str
    status: RequestState
    result: str | None
    error: str | None
    usage: UsageOut
    cost_usd: float | None = Field(
        description="USD; null when the model that answered has no price (unknown, not free)"
    )
    submitted_at: float
    started_at: float | None
    completed_at: float | None
    source: RequestSource
    relay_from: str | None
    model: str | None
    api_retries: int


class RequestOut(RequestSummaryOut):
    seq: int
    prompt: str
    timeout: float | None
    meta: dict[str, Any]


class TellOut(BaseModel):
    mode: str = Field(description="steered (into the running turn) or asked (a new request)")
    reason: str | None = Field(description="why a busy agent's message was asked, not steered")
    request: RequestOut = Field(description="the request the message joined, or became")


class AgentInfoOut(AgentOut):
    lineage: list[str] = Field(description="ancestors, nearest first")
    children: list[str] = Field(description="live agents forked from this one")
    recent_requests: list[RequestSummaryOut] = Field(description="the newest ten, oldest first")
    current_request: str | None
    state_dir: str


class KilledOut(BaseModel):
    killed: list[str]


class EventOut(BaseModel):
    id: int = Field(description="increasing; the SSE id and the ``after`` / Last-Event-ID cursor")
    ts: float
    kind: EventKind
    agent: str | None
    request_id: str | None
    data: dict[str, Any]


class TaskOut(BaseModel):
    task_id: str
    worker: str
    description: str
    dependencies: list[str]
    priority: int
    state: TaskState
    model: str | None
    agent: str | None
    attempts: int
    cost_usd: float
    usage: UsageOut
    started_at: float | None
    finished_at: float | None
    waited_s: float
    reason: str | None
    summary: str | None
    result_path: str | None


class RunOut(BaseModel):
    id: str
    request: str
    team_path: str
    team_name: str
    cwd: str
    state: RunState
    created_at: float
    updated_at: float
    finished_at: float | None
    budget_usd: float | None
    cost_usd: float
    planning_cost_usd: float
    synthesis_cost_usd: float
    plan_attempts: int
    plan_source: str
    orchestrator_agent: str | None
    tasks: list[TaskOut]
    error: str | None
    report_path: str | None
    resumed: int
    cost_by_worker: dict[str, float]
    cost_by_model: dict[str, float]
    base_commit: str | None = Field(
        default=None, description="the project's HEAD when the run started (worktree runs)"
    )
    integration: dict[str, Any] | None = Field(
        default=None,
        description=(
            "the integration branch podium/run/RUN_ID: branch, base, head, merged "
            "(task ids), task_heads, conflicts, check, worktree"
        ),
    )
    user_env: dict[str, str] = Field(
        default_factory=dict, description="PATH and VIRTUAL_ENV the run's checks run with"
    )
    concurrency: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="per model: the adaptive width of task turns after 429/529s (width, "
        "min_width, ceiling, decreases, increases, overloads, in_flight)",
    )
    review: bool = False
    approved_at: float | None = None
    rejection: str | None = None
    dir: str = Field(description="the run directory: plan, task results, report")


class RunWaitOut(RunOut):
    done: bool = Field(description="whether the run has ended (false: the wait ran out)")


class AppliedOut(BaseModel):
    """One ``podium apply`` of a run that changed the branch (from the run's applied.json)."""

    into: str = Field(description="the branch the run was applied to")
    mode: str = Field(description="fast-forward, merge or squash")
    from_: str = Field(alias="from", description="the branch's commit before")
    to: str = Field(description="the branch's commit after")
    head: str = Field(description="the integration branch's commit applied")
    at: float = Field(description="when (Unix time)")


class RunDetailOut(RunOut):
    applied: list[AppliedOut] = Field(
        description="each podium apply of the run that changed a branch, oldest first"
    )


class ReportOut(BaseModel):
    run_id: str
    report: str | None = Field(description="report.md once written, else null")
