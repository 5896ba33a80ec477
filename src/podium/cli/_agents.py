"""Agent commands: spawn, fork, list, info, kill, kill-all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .._backend_info import BackendName
from .._errors import UsageError
from .._records import AgentRecord
from .._wire import agent_to_json
from ._app import JsonFlag, app, connect, print_json, read_text_file
from ._claude_flags import (
    AllowedToolsFlag,
    AppendSystemPromptFlag,
    DisallowedToolsFlag,
    MaxTurnsFlag,
    McpConfigFlag,
    PermissionModeFlag,
    SettingFlag,
    ToolsFlag,
    claude_options,
)
from ._fast import LIST_FIELDS, list_entry, list_json
from ._isolation import isolation_option

__all__ = ["BACKEND_HELP", "LIST_FIELDS", "agent_cost", "list_entry", "request_cost"]

BACKEND_HELP = (
    "claude-code (default: the Claude Code CLI, with tools and files), anthropic-api "
    "(the Messages API: prompt caching, Batch API) or openai (any OpenAI-compatible "
    "server: OpenAI, Ollama, vLLM, llama.cpp)."
)


def _model(agent: AgentRecord) -> str:
    return agent.resolved_model or agent.model or "default"


def _short_billing(billing: str | None) -> str:
    """A table cell's worth: ``key`` or ``sub`` (a subscription's Agent SDK credit)."""
    if billing is None:
        return "-"
    if billing == "api-key":
        return "key"
    return "sub" if billing.startswith("subscription") else billing.split(" ", 1)[0]


def _usd(value: Any) -> str:
    return f"${float(value or 0):.4f}"


def agent_cost(cost_usd: Any, unpriced: Any, requests: Any) -> str:
    """An agent's cost, honest about requests no price covers: their cost is
    unknown, so the sum is a floor, and a sum of nothing known is no sum at all."""
    unpriced = int(unpriced or 0)
    if not unpriced:
        return _usd(cost_usd)
    if not float(cost_usd or 0) and unpriced >= int(requests or 0):
        return "unpriced"
    return f"≥{_usd(cost_usd)} ({unpriced} unpriced)"


def request_cost(cost_usd: Any) -> str:
    """A request's cost; None means its model has no price, which is not $0."""
    return "unknown" if cost_usd is None else _usd(cost_usd)


def _api_options(
    *,
    base_url: str | None,
    fallback: list[str] | None,
    batch: bool,
    no_cache: bool,
    max_tokens: int | None,
    api_key_env: str | None,
) -> dict[str, Any]:
    """Only the options given: the daemon's defaults stand for the rest."""
    options: dict[str, Any] = {}
    if base_url is not None:
        options["base_url"] = base_url
    if fallback:
        options["fallback"] = list(fallback)
    if batch:
        options["batch"] = True
    if no_cache:
        options["cache"] = False
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if api_key_env is not None:
        options["api_key_env"] = api_key_env
    return options


@app.command()
def spawn(
    name: Annotated[str, typer.Argument(help="Agent name: lowercase letters, digits, - and _.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="haiku, sonnet, opus or a claude-... id; for --backend openai the "
            "server's model name (gpt-4o-mini, llama3.2).",
        ),
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="System prompt text.")
    ] = None,
    system_prompt_file: Annotated[
        Path | None, typer.Option("--system-prompt-file", help="Read the system prompt from F.")
    ] = None,
    cwd: Annotated[
        Path | None, typer.Option("--cwd", help="Working directory (default: here).")
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help=BACKEND_HELP)
    ] = BackendName.CLAUDE_CODE.value,
    tools: ToolsFlag = None,
    allowed_tools: AllowedToolsFlag = None,
    disallowed_tools: DisallowedToolsFlag = None,
    permission_mode: PermissionModeFlag = None,
    approval_timeout: Annotated[
        float | None,
        typer.Option(
            "--approval-timeout",
            metavar="S",
            help="--permission-mode ask: deny a tool use nobody decided within S seconds "
            "(default 600).",
        ),
    ] = None,
    max_turns: MaxTurnsFlag = None,
    append_system_prompt: AppendSystemPromptFlag = None,
    mcp_config: McpConfigFlag = None,
    setting: SettingFlag = None,
    isolation: Annotated[
        str | None,
        typer.Option(
            "--isolation",
            help="shared (default), worktree (own git worktree and branch), sandbox "
            "(bubblewrap) or container. The options below refine it.",
        ),
    ] = None,
    iso_base: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="REF",
            help="worktree: branch, tag or commit the agent's branch starts from (default HEAD).",
        ),
    ] = None,
    copy_files: Annotated[
        list[str] | None,
        typer.Option(
            "--copy-file",
            metavar="PATH",
            help="worktree: untracked file copied in from the project (default .env); "
            "repeat for more. Replaces the default.",
        ),
    ] = None,
    allow_hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="HOST:PORT",
            help="sandbox/container: reachable besides the model API; repeat for more.",
        ),
    ] = None,
    memory_mb: Annotated[
        int | None,
        typer.Option(
            "--memory-mb",
            metavar="N",
            help="sandbox/container: memory limit in MiB (default 4096: the seed's 4g).",
        ),
    ] = None,
    cpus: Annotated[
        float | None,
        typer.Option("--cpus", metavar="X", help="container: CPUs (default 2.0)."),
    ] = None,
    pids: Annotated[
        int | None,
        typer.Option("--pids", metavar="N", help="sandbox/container: process limit (default 512)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image", metavar="IMG", help="container: image (default podium-worker:latest)."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            metavar="docker|podman",
            help="container: engine (default: the first on PATH).",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="URL",
            help="API endpoint for anthropic-api / openai, e.g. http://127.0.0.1:11434/v1 "
            "(Ollama). Keys come from the daemon's environment, never from here.",
        ),
    ] = None,
    fallback: Annotated[
        list[str] | None,
        typer.Option(
            "--fallback",
            metavar="SPEC",
            help="Model to fall back to when the API is overloaded or unreachable: MODEL "
            "(same backend) or BACKEND=MODEL. Repeat for a chain, tried in order.",
        ),
    ] = None,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="anthropic-api only: send every turn through the Batch API (half price, "
            "answers within the batch window).",
        ),
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="API backends: no prompt-caching marks.")
    ] = False,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", metavar="N", help="API backends: longest answer, in tokens."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            metavar="NAME",
            help="API backends: read the key from the daemon's environment variable NAME.",
        ),
    ] = None,
    config_dir: Annotated[
        str | None,
        typer.Option(
            "--config-dir",
            metavar="user|isolated|PATH",
            help="claude-code: which Claude Code configuration the agent runs with: user "
            "(default: your login, settings, CLAUDE.md, agents, plugins, MCP servers), "
            "isolated (its own; needs ANTHROPIC_API_KEY, --api-key-env or "
            "CLAUDE_CODE_OAUTH_TOKEN in the daemon's environment) or a directory you "
            "prepared (e.g. a second account's).",
        ),
    ] = None,
    stall_timeout: Annotated[
        float | None,
        typer.Option(
            "--stall-timeout",
            metavar="S",
            help="claude-code: seconds a turn may show no progress before it is stalled "
            "(0: never; default PODIUM_STALL_TIMEOUT).",
        ),
    ] = None,
    stall_policy: Annotated[
        str | None,
        typer.Option(
            "--stall-policy",
            metavar="retry|fail",
            help="a stalled turn is retried once or failed (default PODIUM_STALL_POLICY).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Create an agent and start its process."""
    if system_prompt is not None and system_prompt_file is not None:
        raise UsageError("use --system-prompt or --system-prompt-file, not both")
    if system_prompt_file is not None:
        system_prompt = read_text_file(system_prompt_file, what="system prompt file")
    options = claude_options(
        backend=backend,
        tools=tools,
        allowed_tools=allowed_tools,
        disallowed_tools=disallowed_tools,
        permission_mode=permission_mode,
        max_turns=max_turns,
        append_system_prompt=append_system_prompt,
        mcp_config=mcp_config,
        setting=setting,
    )
    if approval_timeout is not None:
        options["approval_timeout"] = approval_timeout
    options |= _api_options(
        base_url=base_url,
        fallback=fallback,
        batch=batch,
        no_cache=no_cache,
        max_tokens=max_tokens,
        api_key_env=api_key_env,
    )
    chosen = isolation_option(
        isolation or None,
        base=iso_base,
        copy_files=copy_files,
        allow_hosts=allow_hosts,
        memory_mb=memory_mb,
        cpus=cpus,
        pids=pids,
        image=image,
        engine=engine,
    )
    if chosen is not None:
        options["isolation"] = chosen
    if stall_timeout is not None:
        options["stall_timeout"] = stall_timeout
    if stall_policy is not None:
        options["stall_policy"] = stall_policy
    if config_dir is not None:
        # A path is the caller's, relative to here; the daemon checks it exists.
        keep = config_dir in ("user", "isolated")
        options["config_dir"] = (
            config_dir if keep else str(Path(config_dir).expanduser().absolute())
        )
    with connect() as client:
        agent = client.spawn(
            name,
            model=model,
            system_prompt=system_prompt,
            cwd=cwd,
            backend=backend,
            options=options or None,
        )
    if json_out:
        print_json(agent_to_json(agent))
        return
    on = "" if agent.backend == BackendName.CLAUDE_CODE else f"backend {agent.backend}, "
    billing = f", billed to {agent.options.billing}" if agent.options.billing else ""
    typer.echo(
        f"spawned {agent.name} ({on}model {_model(agent)}, status {agent.status.value}, "
        f"cwd {agent.cwd}{billing})"
    )


@app.command()
def fork(
    source: Annotated[str, typer.Argument(help="Agent to fork.")],
    new: Annotated[str, typer.Argument(help="Name of the new agent.")],
    model: Annotated[str | None, typer.Argument(help="Model for the fork (default: same).")] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="Backend of the fork (default: SOURCE's). Across backends the fork "
            "carries the visible conversation only: prompts and answers, not tool calls.",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="API endpoint of the fork."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Fork SOURCE into NEW: a new session carrying SOURCE's history."""
    with connect() as client:
        agent = client.fork(source, new, model, backend=backend, base_url=base_url)
    if json_out:
        print_json(agent_to_json(agent))
        return
    typer.echo(
        f"forked {agent.name} from {source} (model {_model(agent)}, backend {agent.backend})"
    )


@app.command("list")
def list_(json_out: JsonFlag = False) -> None:
    """List the live agents."""
    if json_out:
        list_json()
        return
    with connect() as client:
        agents = client.list_agents()
    if not agents:
        typer.echo("no agents")
        return
    # Imported here: scripts read --json, and rich is slow to import.
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # "billed": key (an API key) or sub (a subscription's Agent SDK credit), when known.
    billed = any(agent.billing for agent in agents)
    headings = ["name", "status", "model", "requests", "cost", "pid", "forked from"]
    if billed:
        headings.insert(5, "billed")
    table = Table(*headings)
    for agent in agents:
        values: list[object] = [
            agent.name,
            agent.status.value,
            _model(agent),
            agent.request_count,
            agent_cost(agent.cost_usd, agent.unpriced_requests, agent.request_count),
            agent.pid or "-",
            agent.forked_from or "-",
        ]
        if billed:
            values.insert(5, _short_billing(agent.billing))
        # Text, not str: names and models are not rich markup.
        table.add_row(*(Text(str(value)) for value in values))
    Console().print(table)


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    json_out: JsonFlag = False,
) -> None:
    """Show one agent: settings, lineage, children and recent requests."""
    with connect() as client:
        data = client.info(name)
    if json_out:
        print_json(data)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    lineage = [*reversed(data.get("lineage") or []), data["name"]]
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, Any]] = [
        ("name", data["name"]),
        ("status", data["status"]),
        ("model", data.get("model") or "default"),
        ("requested model", data.get("requested_model") or "default"),
        ("backend", data.get("backend")),
        ("session", data.get("session_id")),
        ("pid", data.get("pid") or "-"),
        ("cwd", data.get("cwd")),
        ("lineage", " → ".join(lineage)),
        ("children", ", ".join(data.get("children") or []) or "-"),
        ("requests", data.get("request_count", 0)),
        (
            "cost",
            agent_cost(
                data.get("cost_usd"), data.get("unpriced_requests"), data.get("request_count")
            ),
        ),
        ("billed to", data.get("billing") or "-"),
        ("config", (data.get("options") or {}).get("config_dir") or "default"),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data["created_at"]))),
        ("current request", data.get("current_request") or "-"),
        ("state dir", data.get("state_dir")),
    ]
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    console = Console()
    console.print(table)
    recent = data.get("recent_requests") or []
    if recent:
        requests = Table("request", "status", "cost", "error")
        for request in recent:
            requests.add_row(
                Text(request["id"]),
                Text(request["status"]),
                request_cost(request.get("cost_usd")),
                Text((request.get("error") or "")[:60]),
            )
        console.print(requests)


@app.command()
def kill(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    json_out: JsonFlag = False,
) -> None:
    """Stop an agent for good (its queued requests are cancelled)."""
    with connect() as client:
        agent = client.kill(name)
    if json_out:
        print_json(agent_to_json(agent))
        return
    typer.echo(f"killed {agent.name}")


@app.command("kill-all")
def kill_all(json_out: JsonFlag = False) -> None:
    """Kill every agent."""
    with connect() as client:
        names = client.kill_all()
    if json_out:
        print_json({"killed": names})
        return
    typer.echo(f"killed {', '.join(names)}" if names else "no agents")
