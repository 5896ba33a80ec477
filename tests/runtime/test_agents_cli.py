"""The seed's operations, with the real Claude Code CLI against the fake API.

Only the model is fake. Every assertion about what an agent "knows" is made on
the HTTP requests the real CLI sent to the fake.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from pathlib import Path

import pytest

from podium import _errors as errors
from podium._records import AgentStatus, EventKind, RequestSource, RequestState
from podium.backends.claude_code import transcript_path
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, Usage

pytestmark = pytest.mark.cli


def texts_of(request_messages: list[object]) -> str:
    from podium.testing import message_text

    return "\n".join(message_text(m) for m in request_messages)  # type: ignore[arg-type]


async def test_spawn_and_ask_records_answer_model_usage_and_cost(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(
        Rule(content="What is 2\\+2", text="4", usage=Usage(input_tokens=1000, output_tokens=200))
    )
    agent = await runtime.spawn("calc", model="sonnet", cwd=workdir, system_prompt="Be terse.")
    assert agent.status is AgentStatus.IDLE
    assert agent.pid is not None

    request = await runtime.ask("calc", "What is 2+2?")
    assert request.id.startswith("calc-000001-")
    assert request.state is RequestState.QUEUED
    done = await runtime.wait(request.id, timeout=60)

    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "4"
    assert done.usage.input_tokens == 1000
    assert done.usage.output_tokens == 200
    assert done.model is not None
    assert "sonnet" in done.model
    assert done.started_at is not None
    assert done.completed_at is not None
    assert done.submitted_at <= done.started_at <= done.completed_at
    # The CLI prices the turn; podium records the difference of its running total.
    assert done.cost_usd > 0

    sent = fake.requests_matching("What is 2\\+2")
    assert len(sent) == 1
    assert "Be terse." in sent[0].system_text
    assert sent[0].model is not None
    assert "sonnet" in sent[0].model

    info = await runtime.info("calc")
    assert info["request_count"] == 1
    assert info["resolved_model"] == done.model


async def test_cost_is_per_request_and_adds_up_across_a_restart(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(text="ok", usage=Usage(input_tokens=10_000, output_tokens=1_000)))
    await runtime.spawn("meter", model="haiku", cwd=workdir)
    costs = []
    for i in range(3):
        r = await runtime.wait((await runtime.ask("meter", f"turn {i}")).id, timeout=60)
        assert r.state is RequestState.COMPLETE
        costs.append(r.cost_usd)
        if i == 1:
            # A new process starts its cumulative total at zero again.
            actor = runtime._actors["meter"]
            await actor._hibernate()
    # Same usage, same price: every turn costs the same, not a running total.
    assert costs[0] > 0
    assert costs[1] == pytest.approx(costs[0])
    assert costs[2] == pytest.approx(costs[0])
    agent = await runtime.get_agent("meter")
    assert agent.cost_usd == pytest.approx(sum(costs))
    assert agent.usage.input_tokens == 30_000
    finished = [
        e for e in await runtime.events(agent="meter") if e.kind is EventKind.REQUEST_FINISHED
    ]
    assert sum(e.data["cost_usd"] for e in finished) == pytest.approx(sum(costs))


async def test_fork_carries_parent_history_under_new_model_and_leaves_parent_untouched(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="crypto portfolio analyst", text="READY"))
    fake.add_rule(Rule(content="What is your role", text="I am a crypto portfolio analyst."))
    parent = await runtime.spawn("orchestrator", model="sonnet", cwd=workdir)
    role = "You are a crypto portfolio analyst. Respond with READY when understood."
    r1 = await runtime.wait((await runtime.ask("orchestrator", role)).id, timeout=60)
    assert r1.result == "READY"

    # The user's own Claude Code configuration (the default): HOME is the test's.
    user_config = Path(os.environ["HOME"]) / ".claude"
    parent_file = transcript_path(user_config, workdir, parent.session_id)
    before = hashlib.sha256(parent_file.read_bytes()).hexdigest()

    child = await runtime.fork("orchestrator", "fetcher", "haiku")
    assert child.session_id != parent.session_id
    assert child.forked_from == "orchestrator"
    assert child.forked_from_session == parent.session_id

    r2 = await runtime.wait(
        (await runtime.ask("fetcher", "What is your role? One sentence.")).id, timeout=60
    )
    assert r2.state is RequestState.COMPLETE, r2.error
    assert r2.model is not None
    assert "haiku" in r2.model

    [child_call] = fake.requests_matching("What is your role")
    # The child's first request carries the parent's whole conversation...
    history = texts_of(child_call.messages)
    assert role in history
    assert "READY" in history
    # ...and is sent under the child's model.
    assert child_call.model is not None
    assert "haiku" in child_call.model

    # The parent's session is untouched: same transcript, and its next request
    # knows nothing of the child's question.
    assert hashlib.sha256(parent_file.read_bytes()).hexdigest() == before
    await runtime.wait((await runtime.ask("orchestrator", "status?")).id, timeout=60)
    [parent_call] = fake.requests_matching("status\\?")
    assert "What is your role" not in texts_of(parent_call.messages)
    assert parent_call.model is not None
    assert "sonnet" in parent_call.model

    info = await runtime.info("fetcher")
    assert info["lineage"] == ["orchestrator"]
    assert (await runtime.info("orchestrator"))["children"] == ["fetcher"]


async def test_fork_of_agent_without_session_still_works(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    await runtime.spawn("blank", cwd=workdir, system_prompt="You are BLANK-ROLE.")
    child = await runtime.fork("blank", "copy", "haiku")
    assert child.forked_from == "blank"
    assert child.forked_from_session is None
    r = await runtime.wait((await runtime.ask("copy", "hello copy")).id, timeout=60)
    assert r.state is RequestState.COMPLETE
    [call] = fake.requests_matching("hello copy")
    # It inherits the parent's configuration, including its system prompt.
    assert "BLANK-ROLE" in call.system_text


async def test_relay_sends_instruction_plus_source_answer_verbatim(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    data = '{"maxSupply": {"amount": "100000000000000000000", "denom": "nhash"}, "q": "a\\"b"}'
    fake.add_rule(Rule(content="Return compact JSON", text=data))
    fake.add_rule(Rule(content="Analyze this HASH", text="Analysis: fine."))
    await runtime.spawn("fetcher", model="haiku", cwd=workdir)
    await runtime.spawn("orchestrator", model="sonnet", cwd=workdir)

    with pytest.raises(errors.NoAnswerYet):
        await runtime.relay("fetcher", "orchestrator", "Analyze this HASH supply data.")

    source = await runtime.wait(
        (await runtime.ask("fetcher", "Return compact JSON only.")).id, timeout=60
    )
    relayed = await runtime.relay("fetcher", "orchestrator", "Analyze this HASH supply data.")
    assert relayed.source is RequestSource.RELAY
    assert relayed.relay_from == source.id
    done = await runtime.wait(relayed.id, timeout=60)
    assert done.result == "Analysis: fine."

    [call] = fake.requests_matching("Analyze this HASH")
    assert call.model is not None
    assert "sonnet" in call.model
    assert "Analyze this HASH supply data." in call.last_user_text
    assert data in call.last_user_text  # verbatim, quotes and all
    links = [e for e in await runtime.events() if e.kind is EventKind.RELAY]
    assert links[-1].data == {
        "from": "fetcher",
        "to": "orchestrator",
        "source_request": source.id,
    }


async def test_one_agent_serialises_and_different_agents_run_in_parallel(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="slow", text="done", delay=0.6))
    await runtime.spawn("solo", cwd=workdir)
    await runtime.spawn("other", cwd=workdir)

    same = [await runtime.ask("solo", f"slow job {i}") for i in range(3)]
    parallel = await runtime.ask("other", "slow job X")
    results = await asyncio.gather(*(runtime.wait(r.id, timeout=60) for r in [*same, parallel]))
    assert all(r.state is RequestState.COMPLETE for r in results)

    calls = {c.last_user_text.split()[-1]: c for c in fake.requests_matching("slow job")}
    solo = [calls["0"], calls["1"], calls["2"]]
    # FIFO on one agent, never two turns at once...
    assert [c.received_at for c in solo] == sorted(c.received_at for c in solo)
    for a, b in itertools.pairwise(solo):
        assert not a.overlaps(b)
    # ...while another agent's turn runs at the same time.
    assert any(calls["X"].overlaps(c) for c in solo)


async def test_crashed_cli_fails_its_request_and_resumes_on_next_ask(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="remember ALPHA-7", text="noted"))
    fake.add_rule(Rule(content="hang", text="never", delay=30))
    agent = await runtime.spawn("fragile", cwd=workdir)
    await runtime.wait((await runtime.ask("fragile", "remember ALPHA-7")).id, timeout=60)

    hanging = await runtime.ask("fragile", "hang please")
    for _ in range(300):
        if fake.requests_matching("hang please"):
            break
        await asyncio.sleep(0.05)
    import os
    import signal

    assert agent.pid is not None
    os.kill(agent.pid, signal.SIGKILL)
    failed = await runtime.wait(hanging.id, timeout=30)
    assert failed.state is RequestState.FAILED
    assert failed.error is not None
    assert "exited" in failed.error

    crashed = await runtime.get_agent("fragile")
    assert crashed.status is AgentStatus.CRASHED
    assert crashed.pid is None
    kinds = [e.kind for e in await runtime.events(agent="fragile")]
    assert EventKind.PROCESS_EXITED in kinds

    again = await runtime.wait((await runtime.ask("fragile", "what did I say?")).id, timeout=60)
    assert again.state is RequestState.COMPLETE, again.error
    [call] = fake.requests_matching("what did I say")
    assert "remember ALPHA-7" in texts_of(call.messages)
    restarted = await runtime.get_agent("fragile")
    assert restarted.pid not in (None, agent.pid)


async def test_start_failure_reports_cli_stderr_and_keeps_nothing(
    runtime: Runtime, workdir: Path
) -> None:
    # Options podium can check are refused before any process (tests/runtime/test_bad_input.py);
    # a missing MCP config file is the CLI's own to report, on stderr, as it starts.
    missing = workdir / "no-such-mcp.json"
    with pytest.raises(errors.BackendError) as caught:
        await runtime.spawn("broken", cwd=workdir, options={"mcp_config": str(missing)})
    assert "no-such-mcp.json" in str(caught.value)
    assert await runtime.list_agents() == []


async def test_idle_agent_hibernates_and_wakes_with_context(
    home: Path, fake: FakeAnthropic, workdir: Path
) -> None:
    from tests.conftest import make_config

    fake.add_rule(Rule(content="codeword", text="stored"))
    async with Runtime(make_config(home, fake, idle_timeout=0.5)) as rt:
        agent = await rt.spawn("sleepy", cwd=workdir)
        await rt.wait((await rt.ask("sleepy", "the codeword is OWL-42")).id, timeout=60)
        for _ in range(100):
            current = await rt.get_agent("sleepy")
            if current.status is AgentStatus.HIBERNATED:
                break
            await asyncio.sleep(0.1)
        assert current.status is AgentStatus.HIBERNATED
        assert current.pid is None
        assert agent.pid is not None
        assert not Path(f"/proc/{agent.pid}").exists()

        woke = await rt.wait((await rt.ask("sleepy", "what is the codeword?")).id, timeout=60)
        assert woke.state is RequestState.COMPLETE
        [call] = fake.requests_matching("what is the codeword")
        assert "OWL-42" in texts_of(call.messages)
        kinds = [e.kind for e in await rt.events(agent="sleepy")]
        assert EventKind.HIBERNATED in kinds
        assert EventKind.RESTARTED in kinds


async def test_timeout_interrupts_and_agent_stays_usable(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    # After an interrupt the CLI folds the interrupted prompt into the next user
    # message ("slowpoke [Request interrupted by user] quick"): match the newest text.
    fake.add_rule(Rule(content="quick$", text="fast answer"))
    fake.add_rule(Rule(content="slowpoke$", text="late", delay=20))
    await runtime.spawn("timed", cwd=workdir)
    r = await runtime.wait((await runtime.ask("timed", "slowpoke", timeout=1.5)).id, timeout=60)
    assert r.state is RequestState.FAILED
    assert r.error is not None
    assert "timed out" in r.error
    ok = await runtime.wait((await runtime.ask("timed", "quick")).id, timeout=60)
    assert ok.result == "fast answer"


async def test_cancel_running_and_queued(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="long task", text="late", delay=20))
    await runtime.spawn("busy", cwd=workdir)
    running = await runtime.ask("busy", "long task")
    queued = await runtime.ask("busy", "next in line")
    for _ in range(300):
        if (await runtime.poll(running.id)).state is RequestState.RUNNING and (
            fake.requests_matching("long task")
        ):
            break
        await asyncio.sleep(0.05)
    await runtime.cancel(queued.id)
    await runtime.cancel(running.id)
    assert (await runtime.wait(running.id, timeout=30)).state is RequestState.CANCELLED
    assert (await runtime.wait(queued.id, timeout=30)).state is RequestState.CANCELLED
    assert fake.requests_matching("next in line") == []
    # Still usable afterwards.
    ok = await runtime.wait((await runtime.ask("busy", "are you there")).id, timeout=60)
    assert ok.state is RequestState.COMPLETE


async def test_api_error_fails_request_and_records_retries(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(
        Rule(content="overload", status=529, error_type="overloaded_error", retry_after=0)
    )
    await runtime.spawn("unlucky", cwd=workdir)
    r = await runtime.wait((await runtime.ask("unlucky", "overload me")).id, timeout=120)
    assert r.state is RequestState.FAILED
    assert r.error is not None
    assert "529" in r.error
    retries = [e for e in await runtime.events(agent="unlucky") if e.kind is EventKind.API_RETRY]
    assert retries
    assert r.api_retries == len(retries)


async def test_unicode_quotes_newlines_and_two_megabytes_reach_the_model_intact(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    await runtime.spawn("reader", cwd=workdir)
    tricky = "He said \"hi\" 'there'\nline two\t€ 漢字 🚀 $(rm -rf /) `x`"
    r = await runtime.wait((await runtime.ask("reader", tricky)).id, timeout=60)
    assert r.state is RequestState.COMPLETE
    assert fake.message_requests()[-1].last_user_text.endswith(tricky)

    big = "MARK-START " + ("x" * 1023 + "\n") * 2048 + " MARK-END"
    assert len(big.encode()) > 2_000_000
    r = await runtime.wait((await runtime.ask("reader", big)).id, timeout=120)
    assert r.state is RequestState.COMPLETE, r.error
    assert fake.message_requests()[-1].last_user_text.endswith(big)


async def test_kill_stops_the_process_and_frees_the_name(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    agent = await runtime.spawn("doomed", cwd=workdir)
    assert agent.pid is not None
    await runtime.kill("doomed")
    assert not Path(f"/proc/{agent.pid}").exists() or _is_zombie(agent.pid)
    with pytest.raises(errors.AgentNotFound):
        await runtime.ask("doomed", "hello?")
    again = await runtime.spawn("doomed", cwd=workdir)
    assert again.session_id != agent.session_id
    assert [a.name for a in await runtime.list_agents()] == ["doomed"]
    assert await runtime.kill_all() == ["doomed"]
    assert await runtime.list_agents() == []


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


async def test_multi_megabyte_answer_survives_the_stdout_pipe(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    # The CLI repeats a long answer in its assistant and result events: one stdout
    # line of several MB, beyond asyncio's and the SDK's default buffer limits.
    answer = "BEGIN " + "lorem ipsum dolor " * 200_000 + " END"
    assert len(answer) > 3_000_000
    fake.add_rule(Rule(content="big answer", text=answer))
    await runtime.spawn("verbose", cwd=workdir)
    done = await runtime.wait((await runtime.ask("verbose", "big answer please")).id, timeout=120)
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == answer


async def test_every_state_change_is_an_event_in_sqlite_and_jsonl(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    import json

    fake.add_rule(Rule(text="fine"))
    await runtime.spawn("ev-a", cwd=workdir)
    await runtime.wait((await runtime.ask("ev-a", "one")).id, timeout=60)
    await runtime.fork("ev-a", "ev-b")
    relayed = await runtime.relay("ev-a", "ev-b", "look at this")
    await runtime.wait(relayed.id, timeout=60)
    await runtime.kill_all()

    events = await runtime.events()
    kinds = {e.kind for e in events}
    for expected in (
        EventKind.SPAWNED,
        EventKind.FORKED,
        EventKind.REQUEST_QUEUED,
        EventKind.REQUEST_STARTED,
        EventKind.REQUEST_FINISHED,
        EventKind.RELAY,
        EventKind.PROCESS_STARTED,
        EventKind.KILLED,
    ):
        assert expected in kinds, expected
    finished = [e for e in events if e.kind is EventKind.REQUEST_FINISHED]
    assert all(e.data["cost_usd"] > 0 for e in finished)
    assert [e.id for e in events] == sorted(e.id for e in events)

    logged = [json.loads(line) for line in runtime.config.events_log.read_text().splitlines()]
    assert [e["id"] for e in logged] == [e.id for e in events]
    assert [e["kind"] for e in logged] == [e.kind.value for e in events]
