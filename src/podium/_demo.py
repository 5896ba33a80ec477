"""``podium demo``: the seed walkthrough and an orchestrated review, offline.

Everything runs with the real Claude Code CLI against the fake API.

An orchestrator (Sonnet) is given a role, a Haiku fetcher is forked from it and
knows the role without being told, returns compact JSON, the JSON is relayed to
the orchestrator, the analysis is polled, and the instances are listed with
their costs and killed. The fake model's rules answer "I don't know my role"
unless the fetcher's request really carries the orchestrator's conversation, so
the demo shows inheritance rather than asserting it. Part two
(:mod:`podium._demo_run`) is the seed's orchestrated review; part three
(:mod:`podium._demo_backends`) the same operations on the API backends.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table

from ._demo_backends import run_backends_demo
from ._demo_run import review_rules, run_review
from ._records import RequestRecord, RequestState
from .runtime import Runtime, RuntimeConfig
from .testing import FakeAnthropic, Rule, Usage, fake_api_env

__all__ = ["run_demo"]

ROLE = (
    "You are a crypto portfolio analyst specializing in the Provenance Blockchain "
    "ecosystem. You will receive data from worker instances and provide analysis. "
    "Respond with READY when understood."
)
HASH_STATS = {
    "maxSupply": {"amount": "100000000000000000000", "denom": "nhash"},
    "currentSupply": {"amount": "99978477857646380000", "denom": "nhash"},
    "circulation": {"amount": "51267390679232227090", "denom": "nhash"},
    "communityPool": {"amount": "20233210917201848", "denom": "nhash"},
    "bonded": {"amount": "15988028779719272091", "denom": "nhash"},
    "burned": {"amount": "21522142353620000", "denom": "nhash"},
    "locked": {"amount": "32702825187777678971", "denom": "nhash"},
}
ANALYSIS = """## HASH Token Supply Analysis

| Metric | Value (HASH) | % of Max Supply |
|---|---|---|
| Max Supply | 100.00B | 100.0% |
| Current Supply | 99.98B | 99.98% |
| Circulation | 51.27B | 51.3% |
| Staked/Bonded | 15.99B | 16.0% |
| Locked | 32.70B | 32.7% |
| Burned | 21.52M | 0.02% |

**Staking ratio:** 31.2% of circulating supply is bonded.

**Implications:** strong staking participation and a 32.7% vesting lock-up reduce
near-term sell pressure; the main risk is vesting unlocks entering circulation.
"""


def demo_rules() -> list[Rule]:
    compact = json.dumps(HASH_STATS, separators=(",", ":"))
    return [
        Rule(
            content="crypto portfolio analyst",
            text="READY",
            usage=Usage(input_tokens=2400, output_tokens=4),
        ),
        # Answers with the role only when the orchestrator's conversation came along.
        Rule(
            content="What is your role",
            any_content="Provenance Blockchain",
            text="I am a crypto portfolio analyst for the Provenance Blockchain ecosystem, "
            "processing blockchain data and market statistics for portfolio insights.",
            usage=Usage(input_tokens=2500, output_tokens=40),
        ),
        Rule(
            content="What is your role",
            text="I don't know my role.",
            usage=Usage(input_tokens=800, output_tokens=8),
        ),
        Rule(
            content="fetch_current_hash_statistics",
            text=compact,
            usage=Usage(input_tokens=2600, output_tokens=180),
        ),
        Rule(
            content="(?s)Analyze this HASH supply data.*maxSupply",
            text=ANALYSIS,
            usage=Usage(input_tokens=3100, output_tokens=520),
        ),
    ]


async def _answer(rt: Runtime, console: Console, agent: str, prompt: str) -> RequestRecord:
    console.print(f"[bold cyan]$ podium ask {agent}[/] {prompt!r}")
    done = await rt.wait((await rt.ask(agent, prompt)).id, timeout=120)
    if done.state is not RequestState.COMPLETE:
        raise RuntimeError(f"{done.id} {done.state.value}: {done.error}")
    console.print(Panel(done.result or "", title=f"{done.id}  ${done.cost_usd:.6f}", expand=False))
    return done


async def _walkthrough(rt: Runtime, console: Console, workdir: Path) -> None:
    console.rule("Step 1: spawn the orchestrator (Sonnet)")
    orch = await rt.spawn("orchestrator", model="sonnet", cwd=workdir)
    console.print(f"spawned [bold]orchestrator[/] pid={orch.pid} session={orch.session_id}")

    console.rule("Step 2: give it its role")
    await _answer(rt, console, "orchestrator", ROLE)

    console.rule("Step 3: fork a Haiku fetcher (new session, parent's context)")
    fetcher = await rt.fork("orchestrator", "fetcher", "haiku")
    console.print(
        f"forked [bold]fetcher[/] from orchestrator: session {fetcher.session_id} "
        f"(parent {fetcher.forked_from_session}), pid={fetcher.pid}"
    )

    console.rule("Step 4: the fetcher knows its role without being told")
    await _answer(rt, console, "fetcher", "What is your role? Answer in one sentence.")

    console.rule("Step 5: the fetcher returns compact JSON")
    await _answer(
        rt,
        console,
        "fetcher",
        "Use fetch_current_hash_statistics to get HASH token stats. "
        "Return compact JSON only, no explanation.",
    )

    console.rule("Step 6: relay the fetcher's answer to the orchestrator")
    relayed = await rt.relay(
        "fetcher",
        "orchestrator",
        "Analyze this HASH supply data. Provide key metrics and investment implications.",
    )
    console.print(
        f"relay fetcher -> orchestrator: [bold]{relayed.id}[/] (from {relayed.relay_from})"
    )

    console.rule("Step 7: poll the analysis")
    while True:
        polled = await rt.poll(relayed.id)
        console.print(f"poll {polled.id}: {polled.state.value}")
        if polled.done:
            break
        await asyncio.sleep(0.3)
    console.print(Markdown(polled.result or polled.error or ""))

    console.rule("Final state")
    table = Table("name", "model", "requests", "cost (USD)", "pid", "forked from")
    total = 0.0
    for agent in await rt.list_agents():
        total += agent.cost_usd
        table.add_row(
            agent.name,
            agent.resolved_model or agent.model or "-",
            str(agent.request_count),
            f"{agent.cost_usd:.6f}",
            str(agent.pid or "-"),
            agent.forked_from or "-",
        )
    console.print(table)
    console.print(f"total cost: [bold]${total:.6f}[/]")

    console.rule("Clean up")
    console.print(f"killed: {', '.join(await rt.kill_all())}")


async def run_demo(console: Console | None = None, home: Path | None = None) -> int:
    """Run the walkthrough; returns a process exit code."""
    console = console or Console()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="podium-demo-") as scratch:
        root = Path(scratch)
        workdir = root / "project"
        workdir.mkdir()
        with FakeAnthropic([*demo_rules(), *review_rules()], default_text="OK") as fake:
            console.print(
                f"[dim]fake Anthropic API at {fake.base_url} (no key, nothing leaves "
                "this machine); real Claude Code CLI[/]"
            )
            # A throwaway Claude Code configuration: the demo never touches yours.
            env = fake_api_env(fake.base_url, config_dir=root / "claude")
            config = RuntimeConfig(home=home or root / "state", env=env)
            async with Runtime(config) as rt:
                await _walkthrough(rt, console, workdir)
                console.rule("Part 2: an orchestrated review (plan, parallel workers, report)")
                review = root / "review"
                review.mkdir()
                ok = await run_review(rt, console, review)
            console.rule("Part 3: the Anthropic API and an OpenAI-compatible server")
            ok = await run_backends_demo(console, root) and ok
            calls = len(fake.message_requests())
    console.print(
        f"[green]demo finished in {time.monotonic() - started:.1f} s, {calls} model calls[/]"
    )
    return 0 if ok else 1
