"""Forks between backends: the child starts from the parent's visible conversation.

Forks between the two API backends need no process. Those to or from
claude-code run the real bundled CLI against the fake Anthropic API (marked
``cli``); the visible conversation is all that can cross, and it is checked
on the requests each model received.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from podium import _errors as errors
from podium._records import RequestState
from podium.backends import ChatMessage
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, FakeOpenAI, Rule
from tests.backends.conftest import (
    ANTHROPIC,
    HAIKU_ID,
    OPENAI,
    Flavor,
    ask_done,
    dialogue,
    served_by,
)

CARRIED_MARK = "carried over from another agent"


async def _history_file(rt: Runtime, name: str) -> Path:
    return Path((await rt.info(name))["state_dir"]) / "conversation.jsonl"


@pytest.mark.parametrize(
    ("parent", "child"),
    [(ANTHROPIC, OPENAI), (OPENAI, ANTHROPIC)],
    ids=["anthropic-to-openai", "openai-to-anthropic"],
)
async def test_fork_between_api_backends_carries_the_conversation(
    rt: Runtime,
    fake: FakeAnthropic,
    fake_openai: FakeOpenAI,
    workdir: Path,
    parent: Flavor,
    child: Flavor,
) -> None:
    served_by(parent, fake, fake_openai).add_rule(Rule(text="PARENT-ANSWER: 17 open items"))
    served_by(child, fake, fake_openai).add_rule(Rule(text="CHILD-ANSWER"))
    await rt.spawn(
        "p", backend=parent.backend, model=parent.model, system_prompt="AUDITOR-SYS", cwd=workdir
    )
    first = await ask_done(rt, "p", "How many items are open?")
    assert first.state is RequestState.COMPLETE, first.error
    parent_file = await _history_file(rt, "p")
    before = parent_file.read_bytes()

    # The parent's model means nothing to the other backend: a model is required.
    with pytest.raises(errors.UsageError, match="needs a model"):
        await rt.fork("p", "c", backend=child.backend)
    assert [a.name for a in await rt.list_agents()] == ["p"]

    forked = await rt.fork("p", "c", child.model, backend=child.backend)
    assert forked.backend == child.backend
    assert forked.forked_from == "p"
    done = await ask_done(rt, "c", "Which is the oldest?")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "CHILD-ANSWER"
    assert done.model == child.model_id

    [sent] = served_by(child, fake, fake_openai).message_requests()
    assert sent.model == child.model_id
    assert "AUDITOR-SYS" in sent.system_text
    assert dialogue(sent) == [
        ("user", "How many items are open?"),
        ("assistant", "PARENT-ANSWER: 17 open items"),
        ("user", "Which is the oldest?"),
    ]
    # The parent's history is its own: the child's turn is not in it.
    assert parent_file.read_bytes() == before
    assert await rt.visible_conversation("c") == [
        ChatMessage("user", "How many items are open?"),
        ChatMessage("assistant", "PARENT-ANSWER: 17 open items"),
        ChatMessage("user", "Which is the oldest?"),
        ChatMessage("assistant", "CHILD-ANSWER"),
    ]


async def test_same_backend_fork_under_another_model_leaves_the_parent_untouched(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="role", text="I audit ledgers."))
    parent = await rt.spawn(
        "lead", backend="anthropic-api", model="sonnet", system_prompt="LEAD-SYS", cwd=workdir
    )
    assert (await ask_done(rt, "lead", "What is your role?")).state is RequestState.COMPLETE
    parent_file = await _history_file(rt, "lead")
    digest = hashlib.sha256(parent_file.read_bytes()).hexdigest()

    child = await rt.fork("lead", "helper", "haiku")
    assert child.backend == "anthropic-api"
    assert child.forked_from_session == parent.session_id
    done = await ask_done(rt, "helper", "Audit March.")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.model == HAIKU_ID

    child_call = fake.message_requests()[-1]
    assert child_call.model == HAIKU_ID
    assert "LEAD-SYS" in child_call.system_text
    assert dialogue(child_call) == [
        ("user", "What is your role?"),
        ("assistant", "I audit ledgers."),
        ("user", "Audit March."),
    ]
    assert hashlib.sha256(parent_file.read_bytes()).hexdigest() == digest

    # The parent's next turn knows nothing of the child's.
    assert (await ask_done(rt, "lead", "Status?")).state is RequestState.COMPLETE
    parent_call = fake.message_requests()[-1]
    assert parent_call.model == ANTHROPIC.model_id
    assert dialogue(parent_call) == [
        ("user", "What is your role?"),
        ("assistant", "I audit ledgers."),
        ("user", "Status?"),
    ]


# ---------------------------------------------------------------- with the real CLI


@pytest.mark.cli
async def test_fork_claude_code_to_anthropic_api_carries_the_visible_conversation(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="secret word", text="The secret word is PAPAYA."))
    fake.add_rule(Rule(content="Spell it backwards", text="AYAPAP"))
    await rt.spawn("cc", model="sonnet", cwd=workdir, system_prompt="CC-SYS")
    first = await ask_done(rt, "cc", "Tell me the secret word.", timeout=60)
    assert first.state is RequestState.COMPLETE, first.error

    await rt.fork("cc", "api", "sonnet", backend="anthropic-api")
    done = await ask_done(rt, "api", "Spell it backwards.")
    assert done.state is RequestState.COMPLETE, done.error
    assert done.result == "AYAPAP"

    [sent] = fake.requests_matching("Spell it backwards")
    assert sent.model == ANTHROPIC.model_id
    assert sent.tool_names == ()  # the API backend, not the CLI
    assert "CC-SYS" in sent.system_text
    assert dialogue(sent) == [
        ("user", "Tell me the secret word."),
        ("assistant", "The secret word is PAPAYA."),
        ("user", "Spell it backwards."),
    ]


@pytest.mark.cli
async def test_fork_anthropic_api_to_claude_code_opens_with_the_carried_conversation(
    rt: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="favourite colour", text="Noted: TEAL-7."))
    await rt.spawn("api", backend="anthropic-api", model="sonnet", cwd=workdir)
    first = await ask_done(rt, "api", "My favourite colour is TEAL-7.")
    assert first.state is RequestState.COMPLETE, first.error

    await rt.fork("api", "cc", "sonnet", backend="claude-code")
    second = await ask_done(rt, "cc", "What colour did I name? (q2)", timeout=60)
    assert second.state is RequestState.COMPLETE, second.error
    [call] = fake.requests_matching("q2")
    prompt = call.user_prompt
    assert CARRIED_MARK in prompt
    assert "My favourite colour is TEAL-7." in prompt
    assert "Noted: TEAL-7." in prompt
    assert prompt.rstrip().endswith("What colour did I name? (q2)")

    third = await ask_done(rt, "cc", "And now? (q3)", timeout=60)
    assert third.state is RequestState.COMPLETE, third.error
    [later] = fake.requests_matching("q3")
    # The CLI keeps the carried block in its own transcript; it is not sent again.
    assert CARRIED_MARK not in later.user_prompt
    history = "\n".join(text for _, text in dialogue(later))
    assert history.count(CARRIED_MARK) == 1
