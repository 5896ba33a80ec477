"""A run that mixes backends: a Claude Code orchestrator (the real CLI), a fetcher on an
OpenAI-compatible server and an analyst on the Anthropic API whose non-urgent task
goes through the Message Batches API. Only the models are fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from podium.backends.anthropic_api import AnthropicAPIBackend
from podium.backends.claude_code import ClaudeCodeBackend
from podium.backends.openai_compat import OpenAIBackend
from podium.orchestration import RunEngine, RunState, TaskState
from podium.pricing import default_price_table
from podium.runtime import Runtime
from podium.testing import ChatUsage, FakeAnthropic, FakeOpenAI, Rule, Usage

from ..conftest import make_config

pytestmark = pytest.mark.cli

TEAM = """\
[team]
name = "mixed"
orchestrator = "lead.md"

[workers]
fetcher = "fetcher.md"
analyst = "analyst.md"
"""


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def engine(
    home: Path, fake: FakeAnthropic, openai_fake: FakeOpenAI
) -> AsyncIterator[RunEngine]:
    backends = {
        "claude-code": ClaudeCodeBackend(),
        "anthropic-api": AnthropicAPIBackend(batch_window=0.2, batch_poll=0.05),
        "openai": OpenAIBackend(),
    }
    runtime = Runtime(make_config(home, fake), backends=backends)
    await runtime.start()
    runs = RunEngine(runtime)
    await runs.start()
    try:
        yield runs
    finally:
        await runs.close()
        await runtime.close()


def write_team(root: Path, openai_url: str) -> Path:
    (root / "lead.md").write_text("You lead the mixed team.\n")
    (root / "fetcher.md").write_text(
        f"---\nbackend: openai\nmodel: gpt-4o-mini\nbase_url: {openai_url}\n---\nYou fetch facts.\n"
    )
    (root / "analyst.md").write_text(
        "---\nbackend: anthropic-api\nmodel: sonnet\n---\nYou analyse facts.\n"
    )
    team = root / "podium.toml"
    team.write_text(TEAM)
    return team


async def test_claude_code_lead_with_openai_fetcher_and_batched_api_analyst(
    engine: RunEngine, fake: FakeAnthropic, openai_fake: FakeOpenAI, workdir: Path
) -> None:
    team = write_team(workdir, openai_fake.base_url)
    openai_fake.add_rule(
        Rule(
            content="PODIUM TASK fetch",
            text="FACT: the cache hit rate is 93%.",
            usage=ChatUsage(prompt_tokens=400, completion_tokens=20),
        )
    )
    fake.add_rule(
        Rule(
            content="PODIUM TASK analyse",
            text="ANALYSIS: 93% is healthy.",
            usage=Usage(input_tokens=600, output_tokens=50),
        )
    )
    fake.add_rule(Rule(content="PODIUM SYNTHESIS", text="# Report\n\nAll good."))
    plan = {
        "tasks": [
            {"task_id": "fetch", "worker": "fetcher", "description": "Fetch the hit rate."},
            {
                "task_id": "analyse",
                "worker": "analyst",
                "description": "Judge the hit rate.",
                "dependencies": ["fetch"],
                "urgent": False,
            },
        ]
    }

    run = await engine.submit("How is the cache doing?", team=team, plan=plan)
    run = await engine.wait(run.id, timeout=120)

    assert run.state is RunState.COMPLETE, run.error
    assert [t.state for t in run.tasks] == [TaskState.COMPLETE, TaskState.COMPLETE]

    # The fetcher's turn went to the OpenAI-compatible server, with its system prompt.
    (fetch,) = openai_fake.requests_matching(content="PODIUM TASK fetch")
    assert fetch.model == "gpt-4o-mini"
    assert "You fetch facts." in fetch.system_text

    # The non-urgent analysis went out as a batch, carrying the fetcher's answer.
    batches = fake.batches()
    assert len(batches) == 1
    (entry,) = batches[0].requests
    body_text = str(entry.params)
    assert "PODIUM TASK analyse" in body_text
    assert "93%" in body_text

    # The Claude Code lead synthesised from both results.
    (synthesis,) = fake.requests_matching(content="PODIUM SYNTHESIS")
    assert "results/fetcher/fetch.json" in synthesis.user_prompt
    assert "results/analyst/analyse.json" in synthesis.user_prompt

    # Every cent adds up, each priced by its own backend's rules.
    requests = [
        r
        for r in await engine.runtime.list_requests(limit=1000)
        if (r.meta or {}).get("run_id") == run.id
    ]
    by_task = {r.meta.get("task_id"): r for r in requests if r.meta.get("task_id")}
    prices = default_price_table()
    analyse = by_task["analyse"]
    assert analyse.meta["batch_id"] == batches[0].id
    assert analyse.cost_usd == pytest.approx(
        prices.cost(prices.resolve("sonnet"), analyse.usage, batch=True)
    )
    fetch_request = by_task["fetch"]
    assert fetch_request.meta["backend"] == "openai"
    assert fetch_request.cost_usd == pytest.approx(prices.cost("gpt-4o-mini", fetch_request.usage))
    assert run.cost_usd == pytest.approx(sum(r.cost_usd for r in requests))
