"""Part three of ``podium demo``: the same operations on the API backends.

A planner on the Anthropic API answers twice (the second turn reads its system
prompt and the conversation from the prompt cache), is forked onto an
OpenAI-compatible server (a local model: the conversation goes along, the cost
is unknown rather than zero), relays back, a non-urgent agent goes through the
Batch API at half price, and an overloaded model falls back to another backend.
The fakes stand in for both APIs; the operations are podium's own.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._records import RequestRecord, RequestState
from .backends import Backend
from .backends.anthropic_api import AnthropicAPIBackend
from .backends.claude_code import ClaudeCodeBackend
from .backends.openai_compat import OpenAIBackend
from .runtime import Runtime, RuntimeConfig
from .testing import ChatUsage, FakeAnthropic, FakeOpenAI, Rule, fake_api_env

__all__ = ["run_backends_demo"]

# Long enough (over 1024 tokens) for the API to cache it.
POLICY = "You plan capacity for a payments platform. " + " ".join(
    f"Rule {n}: state assumptions, name the bottleneck, give one number per claim."
    for n in range(1, 80)
)


def _anthropic_rules() -> list[Rule]:
    return [
        Rule(model="opus", status=529, error_message="Overloaded"),
        Rule(content="BEGIN OUTPUT FROM AGENT local", text="Agreed with the local summary."),
        Rule(content="peak load", text="Peak is 1,200 payments/s; the ledger DB is the limit."),
        Rule(content="headroom", text="Headroom: 35% before the ledger DB saturates."),
        Rule(content="nightly", text="Nightly report: no anomalies."),
    ]


def _openai_rules() -> list[Rule]:
    return [
        Rule(
            content="Summarise",
            any_content="1,200 payments/s",
            text="Summary (local model): 1,200 payments/s peak, 35% headroom.",
            usage=ChatUsage(prompt_tokens=900, completion_tokens=20),
        ),
        Rule(content="status", text="All systems nominal (gpt-4o-mini)."),
    ]


def _cost(request: RequestRecord) -> str:
    return f"${request.cost_usd:.6f}" if request.cost_known else "unknown"


async def _ask(rt: Runtime, console: Console, agent: str, prompt: str) -> RequestRecord:
    done = await rt.wait((await rt.ask(agent, prompt)).id, timeout=120)
    if done.state is not RequestState.COMPLETE:
        raise RuntimeError(f"{done.id} {done.state.value}: {done.error}")
    usage = done.usage
    console.print(
        f"[bold cyan]{agent}[/] ({done.model}): {done.result}\n"
        f"  [dim]tokens in {usage.input_tokens}, cache write "
        f"{usage.cache_creation_input_tokens}, cache read {usage.cache_read_input_tokens}, "
        f"out {usage.output_tokens}; cost {_cost(done)}[/]"
    )
    return done


async def run_backends_demo(console: Console, root: Path) -> bool:
    workdir = root / "backends"
    workdir.mkdir(parents=True, exist_ok=True)
    with (
        FakeAnthropic(_anthropic_rules(), auto_cache=True) as anthropic,
        FakeOpenAI(_openai_rules()) as openai,
    ):
        env = {
            **fake_api_env(anthropic.base_url),
            "OPENAI_BASE_URL": openai.base_url,
            # A throwaway Claude Code configuration: the demo never touches yours.
            "CLAUDE_CONFIG_DIR": str(root / "claude"),
        }
        backends: dict[str, Backend] = {
            "claude-code": ClaudeCodeBackend(),
            "anthropic-api": AnthropicAPIBackend(batch_window=0.3, batch_poll=0.1),
            "openai": OpenAIBackend(),
        }
        config = RuntimeConfig(home=root / "backends-state", env=env)
        async with Runtime(config, backends=backends) as rt:
            console.rule("Anthropic API: history kept by podium, prompt caching")
            await rt.spawn(
                "planner",
                backend="anthropic-api",
                model="sonnet",
                system_prompt=POLICY,
                cwd=workdir,
            )
            await _ask(rt, console, "planner", "What is our peak load?")
            await _ask(rt, console, "planner", "And the headroom?")

            console.rule("Fork onto an OpenAI-compatible local model (the conversation goes along)")
            await rt.fork("planner", "local", "llama3.2", backend="openai")
            await _ask(rt, console, "local", "Summarise what we found in one line.")

            console.rule("Relay the local model's answer back to the planner")
            relayed = await rt.relay("local", "planner", "Do you agree with the local summary?")
            done = await rt.wait(relayed.id, timeout=120)
            console.print(f"[bold cyan]planner[/]: {done.result}  [dim]cost {_cost(done)}[/]")

            console.rule("Batch API for non-urgent work: half price")
            await rt.spawn(
                "nightly",
                backend="anthropic-api",
                model="haiku",
                options={"batch": True},
                cwd=workdir,
            )
            nightly = await _ask(rt, console, "nightly", "Write the nightly report.")
            console.print(f"  [dim]answered by batch {nightly.meta.get('batch_id')}[/]")

            console.rule("Fallback chain: Opus overloaded (529) -> gpt-4o-mini")
            await rt.spawn(
                "resilient",
                backend="anthropic-api",
                model="opus",
                options={"fallback": ["openai=gpt-4o-mini"], "max_retries": 1},
                cwd=workdir,
            )
            answer = await _ask(rt, console, "resilient", "Quick status check?")
            for step in answer.meta.get("fallbacks", []):
                console.print(
                    f"  [dim]fell back {step['from']} -> {step['to']} ({step['status']})[/]"
                )

            table = Table("name", "backend", "model", "requests", "cost (USD)")
            for agent in await rt.list_agents():
                cost = f"{agent.cost_usd:.6f}"
                if agent.unpriced_requests:
                    cost = f">= {cost} ({agent.unpriced_requests} unpriced)"
                table.add_row(
                    *(
                        Text(str(v))
                        for v in (
                            agent.name,
                            agent.backend,
                            agent.resolved_model or agent.model or "-",
                            agent.request_count,
                            cost,
                        )
                    )
                )
            console.print(table)
            await rt.kill_all()
    return True
