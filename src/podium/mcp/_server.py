"""The MCP server: podium's tools on the ``mcp`` SDK's :class:`MCPServer`.

Every result is JSON text (also sent as structured content). A refused call
is an MCP tool error (``isError``) whose text is
``{"error": {"code", "message", "context"}}``: podium's own error codes, plus
``invalid_arguments`` for arguments that do not fit a tool's schema (checked
by the SDK's pydantic model before the tool runs, so nothing happens).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent
from pydantic import Field, ValidationError

from .._errors import PodiumError
from .._version import __version__
from ._attach import SERVER_NAME
from ._settings import McpSettings
from ._spawn_options import McpPermissionMode
from ._tools import PodiumTools

__all__ = ["TOOL_NAMES", "create_server", "error_result", "ok_result"]

TOOL_NAMES = (
    "list_agents",
    "spawn_agent",
    "ask_agent",
    "assign_task",
    "tell_agent",
    "wait_for",
    "get_result",
    "relay",
    "kill_agent",
    "run_plan",
)

INSTRUCTIONS = """\
Podium runs Claude Code agents as named, persistent workers. Spawn workers
(spawn_agent), give them work (assign_task returns a request id at once;
ask_agent waits for the answer), collect answers (wait_for one or many ids,
get_result), pass one worker's answer to another (relay), and kill workers you
no longer need. Every result is JSON; a refused call returns
{"error": {"code", "message", "context"}} and has changed nothing. Budgets: a
request that cost more than its per-call cap comes back with over_budget true,
and its agent takes no more work; kill it and spawn another."""

_Name = Annotated[str, Field(description="Agent name: lowercase letters, digits, '-' and '_'.")]
_Prompt = Annotated[str, Field(description="The complete instruction for the agent.")]
_Tools = Annotated[
    list[str] | str | None,
    Field(description="Tool names (or rules such as 'Bash(git diff:*)'), a list or a "
                      "comma-separated string."),
]  # fmt: skip
_Seconds = Annotated[float, Field(gt=0, le=86_400, description="How long to wait, in seconds.")]
_CallBudget = Annotated[
    float | None,
    Field(
        gt=0,
        description=(
            "The most this one request may spend, in USD: at most the server's per-call cap "
            "and what is left of the budget (more is refused). Checked when it ends: a request "
            "that cost more is reported over_budget, and its agent gets no more work here."
        ),
    ),
]


def ok_result(data: dict[str, Any]) -> CallToolResult:
    text = json.dumps(data, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def error_result(code: str, message: str, context: dict[str, Any] | None = None) -> CallToolResult:
    body = {"error": {"code": code, "message": message, "context": context or {}}}
    text = json.dumps(body, ensure_ascii=False, default=str)
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _podium_error(exc: PodiumError) -> CallToolResult:
    return error_result(exc.code, exc.message, exc.context)


def _invalid_arguments(tool: str, exc: ValidationError) -> CallToolResult:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        got = type(error.get("input")).__name__ if error["type"] != "missing" else None
        problems.append({"argument": where, "problem": error["msg"], "got": got})
    parts = [
        f"{p['argument']!r}: {p['problem']}" + (f" (got {p['got']})" if p["got"] else "")
        for p in problems
    ]
    return error_result(
        "invalid_arguments",
        f"{tool}: wrong arguments, nothing was done: " + "; ".join(parts),
        {"tool": tool, "errors": problems},
    )


class _Server(MCPServer[Any]):
    """MCPServer whose argument errors are JSON like every other podium error."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                return _invalid_arguments(name, exc.__cause__)
            raise


async def _run(fn: Callable[..., dict[str, Any]], /, **kwargs: Any) -> CallToolResult:
    try:
        return ok_result(await anyio.to_thread.run_sync(functools.partial(fn, **kwargs)))
    except PodiumError as exc:
        return _podium_error(exc)


def create_server(settings: McpSettings, tools: PodiumTools | None = None) -> MCPServer[Any]:
    """The MCP server for ``settings`` (``tools`` given: use that one, e.g. with a test client)."""
    impl = tools or PodiumTools(settings)
    server = _Server(
        SERVER_NAME, instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @server.tool()
    async def list_agents() -> CallToolResult:
        """The agents you spawned (name, status, model, depth, cost, last request), the
        limits, what has been spent, and the team's workers you can spawn by name."""
        return await _run(impl.list_agents)

    @server.tool()
    async def spawn_agent(
        name: _Name,
        system_prompt: Annotated[
            str | None, Field(description="The worker's role and instructions.")
        ] = None,
        model: Annotated[str | None, Field(description="haiku, sonnet, opus or an id.")] = None,
        worker: Annotated[
            str | None, Field(description="A worker of the team: its profile sets prompt/tools.")
        ] = None,
        fork: Annotated[
            bool, Field(description="Fork yourself: the new agent inherits your whole context.")
        ] = False,
        allow_spawn: Annotated[
            bool, Field(description="Give the new agent leave to spawn agents of its own.")
        ] = False,
        max_budget_usd: Annotated[
            float | None,
            Field(
                gt=0,
                description=(
                    "The most the agent may spend in all, in USD (its CLI's --max-budget-usd): "
                    "at most the per-call cap and what is left of the budget (more is refused)."
                ),
            ),
        ] = None,
        tools: Annotated[
            _Tools, Field(description="The only built-in tools it has (e.g. Read,Grep); [] none.")
        ] = None,
        allowed_tools: Annotated[
            _Tools,
            Field(
                description="Tools it may use without asking (e.g. Write); others "
                "needing permission are refused."
            ),
        ] = None,
        disallowed_tools: Annotated[_Tools, Field(description="Tools it may never use.")] = None,
        permission_mode: Annotated[
            McpPermissionMode | None,
            Field(
                description="acceptEdits: it may edit and write files in its directory; ask: "
                "each tool use needing permission waits in podium's approval inbox."
            ),
        ] = None,
        max_turns: Annotated[
            int | None, Field(ge=1, description="At most this many model calls per request.")
        ] = None,
        append_system_prompt: Annotated[
            str | None, Field(description="Text added after its system prompt.")
        ] = None,
    ) -> CallToolResult:
        """Start a new agent: fresh (system_prompt or a team worker) or a fork of you.
        Limits: max agents, max spawn depth, per-call and per-run budget. The agent's
        process is capped at max_budget_usd (default: the per-call cap, or what is left).
        tools, allowed_tools, disallowed_tools, permission_mode, max_turns and
        append_system_prompt shape a fresh agent (not a worker, whose profile sets them,
        nor a fork). A fresh agent with neither acceptEdits nor allowed_tools cannot write."""
        return await _run(
            impl.spawn_agent,
            name=name,
            system_prompt=system_prompt,
            model=model,
            worker=worker,
            fork=fork,
            allow_spawn=allow_spawn,
            max_budget_usd=max_budget_usd,
            options={
                "tools": tools,
                "allowed_tools": allowed_tools,
                "disallowed_tools": disallowed_tools,
                "permission_mode": permission_mode,
                "max_turns": max_turns,
                "append_system_prompt": append_system_prompt,
            },
        )

    @server.tool()
    async def ask_agent(
        agent: _Name,
        prompt: _Prompt,
        timeout: _Seconds = 600.0,
        max_budget_usd: _CallBudget = None,
    ) -> CallToolResult:
        """Send a prompt and wait for the answer (up to timeout seconds; the request goes on
        after that, and the error names its id). Per-call budget: see max_budget_usd; the
        answer says call_cap_usd and over_budget (true: it cost more than its cap)."""
        return await _run(
            impl.ask_agent,
            agent=agent,
            prompt=prompt,
            timeout=timeout,
            max_budget_usd=max_budget_usd,
        )

    @server.tool()
    async def assign_task(
        agent: _Name, prompt: _Prompt, max_budget_usd: _CallBudget = None
    ) -> CallToolResult:
        """Queue a prompt for an agent and return its request id at once; collect the answer
        with wait_for or get_result. Give several agents tasks first, then wait for all.
        Per-call budget: see max_budget_usd; the finished request says over_budget."""
        return await _run(
            impl.assign_task, agent=agent, prompt=prompt, max_budget_usd=max_budget_usd
        )

    @server.tool()
    async def tell_agent(
        agent: _Name,
        text: Annotated[str, Field(description="What the agent should also take into account.")],
    ) -> CallToolResult:
        """Tell a busy agent something while it works: the text joins its running request
        and reaches the model at its next step (mode "steered"); the request still ends
        with one answer. An idle agent (or one whose backend cannot be told mid-turn)
        gets it as an ordinary request instead (mode "asked"): collect it with wait_for."""
        return await _run(impl.tell_agent, agent=agent, text=text)

    @server.tool()
    async def wait_for(
        request_ids: Annotated[
            list[str] | str,
            Field(description="One request id or a list of them (from assign_task or relay)."),
        ],
        timeout: _Seconds = 600.0,
        mode: Annotated[
            Literal["all", "any"], Field(description="Wait for all of them, or the first.")
        ] = "all",
    ) -> CallToolResult:
        """Wait for several requests at once (fan-in). Returns the finished ones with their
        answers, the ids still pending, and timed_out; nothing is cancelled."""
        ids = [request_ids] if isinstance(request_ids, str) else list(request_ids)
        if not ids:
            return error_result(
                "invalid_arguments",
                "wait_for: wrong arguments, nothing was done: 'request_ids': give at least one id",
                {"tool": "wait_for"},
            )
        try:
            return ok_result(await impl.wait_for(ids, timeout=timeout, mode=mode))
        except PodiumError as exc:
            return _podium_error(exc)

    @server.tool()
    async def get_result(
        request_id: Annotated[str, Field(description="A request id.")],
    ) -> CallToolResult:
        """A request's state and, once done, its answer or error and cost, and over_budget
        (true: it cost more than its per-call cap, call_cap_usd). Does not wait."""
        return await _run(impl.get_result, request_id=request_id)

    @server.tool()
    async def relay(
        source: Annotated[str, Field(description="Agent whose last answer is passed on.")],
        target: Annotated[str, Field(description="Agent that receives it.")],
        prompt: Annotated[str, Field(description="What the target should do with it.")],
    ) -> CallToolResult:
        """Send target the prompt plus source's last complete answer, verbatim. Returns the
        target's request id at once. Its per-call cap is the server's (or what is left)."""
        return await _run(impl.relay, source=source, target=target, prompt=prompt)

    @server.tool()
    async def kill_agent(agent: _Name) -> CallToolResult:
        """Stop an agent you spawned; its queued requests are cancelled."""
        return await _run(impl.kill_agent, agent=agent)

    @server.tool()
    async def run_plan(
        request: Annotated[str, Field(description="What the planned run should achieve.")],
        plan: Annotated[
            dict[str, Any] | None,
            Field(description='A task graph {"tasks": [...]}; none: the team plans it.'),
        ] = None,
        team: Annotated[str | None, Field(description="Team file (podium.toml).")] = None,
        budget_usd: Annotated[float | None, Field(gt=0, description="The run's budget.")] = None,
        wait: Annotated[bool, Field(description="Wait for the run and return its report.")] = False,
        timeout: _Seconds = 1800.0,
    ) -> CallToolResult:
        """Hand a whole job to podium's planner and scheduler (a planned run of the team)."""
        return await _run(
            impl.run_plan,
            request=request,
            plan=plan,
            team=team,
            budget_usd=budget_usd,
            wait=wait,
            timeout=timeout,
        )

    return server
