"""What one fixed run costs under three model mixes, with and without prompt caching.

    python benchmarks/bench_costs.py [--json]

One review run, the same in all six cases: a lead (orchestrator, ~3000-token
system prompt) plans it and writes the synthesis; three reviewers (security,
performance, tests; ~2000-token prompts) do one task each; two fetchers
(fetch-deps, fetch-metrics; ~1500-token prompts) do two tasks each, the second
using the first's result, and the performance and tests reviews each wait for
two fetches. Answers have realistic sizes (plan ~400 tokens, fetch ~300, review
~600, synthesis ~900). Every agent is on the anthropic-api backend, so every
token is priced by podium's own table, and the fake API answers from fixed rules
(the plan too), so nothing varies.

Model mixes: A all Opus; B Opus lead, Sonnet reviewers and fetchers; C Opus
lead, Sonnet reviewers, Haiku fetchers. Each runs with prompt caching (the
backend's default: breakpoints on the system prompt and the newest message) and
without (the agents' ``cache: false`` option, so no ``cache_control`` is sent).
The fake reports cache writes and reads the way the API does (prefixes of at
least 1024 tokens, ~4 characters a token) from a cold cache at the start of
each run. A fetcher's two turns are sequential, so the second finds the system
prompt the first wrote, as it would at the real API (whose cache serves a prefix
only once the first response has started: two turns sent together both write).

Costs are summed from the run's recorded requests (model and usage) with
``default_price_table()`` and must equal the run's own ``cost_usd`` (the script
exits non-zero otherwise). Prints one table: total, cost by role, tokens
(uncached input / cache write / cache read / output) and the saving against A
without caching. --json prints the raw numbers on stdout (the table then goes
to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from podium import RequestRecord, RequestState, Usage
from podium.backends import SessionSpec
from podium.backends.anthropic_api import AnthropicAPIBackend
from podium.orchestration import RunEngine, RunState
from podium.pricing import PriceTable, default_price_table
from podium.runtime import Runtime, RuntimeConfig
from podium.testing import FakeAnthropic, Rule, fake_api_env

if TYPE_CHECKING:
    from podium.backends._api_session import APISession

SEED = 1729
CHARS_PER_TOKEN = 4  # the fake API's estimate
OPUS, SONNET, HAIKU = "claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"
ROLES = ("lead", "reviewers", "fetchers")
REQUEST = (
    "Review the payments service before the 2.0 release: security, performance, "
    "and the tests we are missing."
)


@dataclass(frozen=True)
class Mix:
    key: str
    label: str
    lead: str
    reviewers: str
    fetchers: str


MIXES = (
    Mix("A", "all Opus", OPUS, OPUS, OPUS),
    Mix("B", "Opus lead + Sonnet workers", OPUS, SONNET, SONNET),
    Mix("C", "Opus lead + Sonnet reviewers + Haiku fetchers", OPUS, SONNET, HAIKU),
)


@dataclass(frozen=True)
class Agent:
    name: str
    role: str
    focus: str
    prompt_tokens: int


LEAD = Agent("lead", "lead", "planning reviews and writing the final report", 3000)
WORKERS = (
    Agent("security", "reviewers", "security: injection, authentication, secrets", 2000),
    Agent("performance", "reviewers", "performance: hot paths, queries, allocations", 2000),
    Agent("tests", "reviewers", "tests: missing cases, flaky tests, coverage gaps", 2000),
    Agent("fetch-deps", "fetchers", "fetching the dependency tree and changelogs", 1500),
    Agent("fetch-metrics", "fetchers", "fetching latency and coverage metrics", 1500),
)
ANSWER_TOKENS = {"plan": 400, "fetchers": 300, "reviewers": 600, "synthesis": 900}

# task id -> (worker, dependencies, description)
TASKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "deps-tree": (
        "fetch-deps",
        (),
        "Fetch the resolved dependency tree of the payments service (lock file and "
        "transitive versions) and list every package that changed since release 1.9.",
    ),
    "deps-changelog": (
        "fetch-deps",
        ("deps-tree",),
        "Fetch the changelogs of the packages deps-tree found changed since release 1.9 "
        "and extract the entries that mention breaking changes, security or performance.",
    ),
    "metrics-latency": (
        "fetch-metrics",
        (),
        "Fetch p50/p95/p99 latency of the payment endpoints over the last 14 days "
        "from the metrics export and note the slowest five endpoints.",
    ),
    "metrics-coverage": (
        "fetch-metrics",
        ("metrics-latency",),
        "Fetch line and branch coverage of the modules behind the slowest endpoints "
        "metrics-latency found, and list the modules below 70 % branch coverage.",
    ),
    "security": (
        "security",
        (),
        "Audit the payments service for injection, broken authentication, secrets in "
        "code or config, and unsafe deserialisation; rank findings by severity.",
    ),
    "performance": (
        "performance",
        ("metrics-latency", "deps-tree"),
        "Using the latency metrics and the dependency changes, find the hot paths and "
        "regressions in the payment endpoints and propose concrete fixes.",
    ),
    "tests": (
        "tests",
        ("metrics-coverage", "deps-changelog"),
        "Using the coverage report and the changelog entries, list the tests the 2.0 "
        "release is missing, most important first, with what each should assert.",
    ),
}

_SUBJECTS = (
    "Every finding",
    "A reviewer",
    "Each report",
    "Any change to the payment flow",
    "A dependency upgrade",
    "Code that handles card data",
    "A slow endpoint",
    "A missing test",
    "Configuration that reaches production",
    "A result another task relies on",
)
_VERBS = (
    "must cite",
    "should state",
    "is ranked by",
    "needs a reproducible note on",
    "is checked against",
    "is reported together with",
    "must never hide",
    "is reviewed for",
)
_OBJECTS = (
    "the file and line it concerns",
    "the severity and the likely impact on customers",
    "the exact version range that is affected",
    "the measurement it is based on and its time window",
    "the remediation and who should own it",
    "the assumption it rests on",
    "the test that would have caught it",
    "the rollback plan if the fix misbehaves",
)
_CONDITIONS = (
    "before the release is approved",
    "even when the fix looks obvious",
    "unless the lead has waived it in writing",
    "so that the next reviewer can verify it alone",
    "when it touches money movement",
    "if the data comes from an external service",
    "whenever the evidence is older than a week",
    "in plain language a product owner can follow",
)


def filler(rng: random.Random, tokens: int, prefix: str) -> str:
    """Deterministic policy-like prose of about ``tokens`` tokens."""
    parts = [prefix]
    size, n = len(prefix), 0
    while size < tokens * CHARS_PER_TOKEN:
        n += 1
        line = (
            f"{n}. {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_CONDITIONS)}."
        )
        if n % 8 == 0:
            line = f"\n## Section {n // 8 + 1}\n{line}"
        parts.append(line)
        size += len(line) + 1
    return "\n".join(parts)


def system_prompt(agent: Agent) -> str:
    rng = random.Random(f"{SEED}-prompt-{agent.name}")
    intro = (
        f"You are {agent.name}, responsible for {agent.focus}. Follow the review policy "
        "below exactly; it is the team's shared standard.\n\n# Review policy\n"
    )
    return filler(rng, agent.prompt_tokens, intro)


def answer(kind: str, name: str) -> str:
    rng = random.Random(f"{SEED}-answer-{name}")
    return filler(rng, ANSWER_TOKENS[kind], f"# {name}: findings\n")


def plan_text() -> str:
    tasks = [
        {"task_id": tid, "worker": worker, "description": text, "dependencies": list(deps)}
        for tid, (worker, deps, text) in TASKS.items()
    ]
    return json.dumps({"tasks": tasks})


def model_for(mix: Mix, role: str) -> str:
    return {"lead": mix.lead, "reviewers": mix.reviewers, "fetchers": mix.fetchers}[role]


def write_team(root: Path, mix: Mix) -> Path:
    root.mkdir(parents=True)
    for agent in (LEAD, *WORKERS):
        (root / f"{agent.name}.md").write_text(
            f"---\nname: {agent.name}\ndescription: {json.dumps(agent.focus)}\n"
            f"backend: anthropic-api\nmodel: {model_for(mix, agent.role)}\n---\n\n"
            f"{system_prompt(agent)}\n"
        )
    workers = "\n".join(f'{w.name} = "{w.name}.md"' for w in WORKERS)
    team = root / "podium.toml"
    team.write_text(
        f'[team]\nname = "cost-bench"\norchestrator = "lead.md"\n\n[workers]\n{workers}\n\n'
        f"[defaults]\nretries = 0\n\n[limits]\nmax_parallel = 8\ntask_timeout = 120\n"
    )
    return team


def rules() -> list[Rule]:
    # No usage in the rules: the fake counts input and cache tokens from the real
    # request, and output tokens from the answer's length.
    found = [
        Rule(content=r"^PODIUM PLAN REQUEST", text=plan_text()),
        Rule(content=r"^PODIUM SYNTHESIS", text=answer("synthesis", "report")),
    ]
    for tid, (worker, _, _) in TASKS.items():
        role = next(w.role for w in WORKERS if w.name == worker)
        found.append(Rule(content=rf"(?m)^PODIUM TASK {tid}$", text=answer(role, tid)))
    return found


class NoCacheBackend(AnthropicAPIBackend):
    """anthropic-api with every agent's ``cache`` option off, as ``cache: false`` sets it.

    Profiles have no ``cache`` key, so the option is set here rather than per agent.
    """

    def session(self, spec: SessionSpec) -> APISession:
        return super().session(dataclasses.replace(spec, options={**spec.options, "cache": False}))


def role_of(record: RequestRecord) -> str:
    task_id = record.meta.get("task_id")
    if task_id is None:
        return "lead"  # planning and synthesis
    worker = TASKS[str(task_id)][0]
    return next(w.role for w in WORKERS if w.name == worker)


async def one_run(
    fake: FakeAnthropic, root: Path, mix: Mix, cache: bool, prices: PriceTable
) -> dict[str, Any]:
    label = f"{mix.key}-{'cache' if cache else 'nocache'}"
    fake.reset()
    fake.clear_cache()  # every run starts cold
    team = write_team(root / f"team-{label}", mix)
    backend_type = AnthropicAPIBackend if cache else NoCacheBackend
    backend = backend_type(prices=prices, env={})
    config = RuntimeConfig(
        home=root / f"home-{label}", env=fake_api_env(fake.base_url, config_dir=root / "claude")
    )
    async with Runtime(config, backends={"anthropic-api": backend}) as rt:
        engine = RunEngine(rt)
        await engine.start()
        try:
            run = await engine.submit(REQUEST, team=team)
            run = await engine.wait(run.id, timeout=120)
        finally:
            await engine.close()
        records = [r for r in await rt.list_requests(limit=None) if r.meta.get("run_id") == run.id]
    if run.state is not RunState.COMPLETE:
        raise SystemExit(f"run {label} ended {run.state.value}: {run.error}")
    expected = 2 + len(TASKS)  # plan, tasks, synthesis
    bad = [r.id for r in records if r.state is not RequestState.COMPLETE]
    if len(records) != expected or bad:
        raise SystemExit(f"run {label}: {len(records)} requests (want {expected}), failed {bad}")
    cost = dict.fromkeys(ROLES, 0.0)
    usage = Usage()
    for record in records:
        price = prices.cost(record.model, record.usage)
        if price is None:
            raise SystemExit(f"run {label}: model {record.model!r} has no price")
        cost[role_of(record)] += price
        usage = usage + record.usage
    total = sum(cost.values())
    if not math.isclose(total, run.cost_usd, rel_tol=1e-9, abs_tol=1e-12):
        raise SystemExit(
            f"run {label}: requests priced at ${total:.6f} but the run says ${run.cost_usd:.6f}"
        )
    if not cache and (usage.cache_creation_input_tokens or usage.cache_read_input_tokens):
        raise SystemExit(f"run {label}: cache tokens reported with caching off")
    if cache and not usage.cache_read_input_tokens:
        raise SystemExit(f"run {label}: caching on but nothing was read from the cache")
    return {
        "mix": mix.key,
        "models": {role: model_for(mix, role) for role in ROLES},
        "cache": cache,
        "run_id": run.id,
        "requests": len(records),
        "cost_usd": total,
        "cost_by_role_usd": cost,
        "usage": dataclasses.asdict(usage),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="raw numbers as JSON on stdout")
    args = parser.parse_args()
    console = Console(stderr=args.json)
    console.width = max(console.width, 132)  # eleven columns; piped output defaults to 80
    prices = default_price_table()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch, FakeAnthropic(auto_cache=True) as fake:
        for rule in rules():
            fake.add_rule(rule)
        fake.default_text = "UNSCRIPTED"
        for mix in MIXES:
            for cache in (False, True):
                results.append(await one_run(fake, Path(scratch), mix, cache, prices))

    base = results[0]["cost_usd"]  # A without caching
    for r in results:
        r["saving_vs_A_nocache_pct"] = (1 - r["cost_usd"] / base) * 100
    table = Table(
        "mix",
        "caching",
        "total $",
        "lead $",
        "reviewers $",
        "fetchers $",
        "input",
        "cache write",
        "cache read",
        "output",
        "saving vs A off",
        title="One fixed review run (plan + 7 tasks + synthesis), anthropic-api, fake API",
    )
    for r in results:
        u, c = r["usage"], r["cost_by_role_usd"]
        table.add_row(
            r["mix"],
            "on" if r["cache"] else "off",
            f"{r['cost_usd']:.4f}",
            f"{c['lead']:.4f}",
            f"{c['reviewers']:.4f}",
            f"{c['fetchers']:.4f}",
            f"{u['input_tokens']:,}",
            f"{u['cache_creation_input_tokens']:,}",
            f"{u['cache_read_input_tokens']:,}",
            f"{u['output_tokens']:,}",
            "—" if r is results[0] else f"{r['saving_vs_A_nocache_pct']:.1f} %",
        )
    console.print(table)
    for mix in MIXES:
        console.print(
            f"{mix.key}: {mix.label} (lead {mix.lead}, reviewers {mix.reviewers}, "
            f"fetchers {mix.fetchers})"
        )
    console.print(f"prices: {prices.source} table; every run's total equals its cost_usd")
    if args.json:
        json.dump({"seed": SEED, "runs": results}, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    asyncio.run(main())
