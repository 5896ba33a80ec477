"""An agent whose CLI dies in its first turn, before its transcript holds a message.

The real CLI against the fake API; only the model is fake.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from podium.backends.claude_code import transcript_has_message, transcript_path
from podium.runtime import Runtime
from podium.testing import FakeAnthropic, Rule, message_text

pytestmark = pytest.mark.cli


async def _kill_when_transcript_appears(runtime: Runtime, name: str) -> Path:
    """SIGKILL the agent's CLI the moment its first turn creates the transcript:
    the CLI writes the prompt there only a little later."""
    agent = await runtime.get_agent(name)
    assert agent.pid is not None
    # The user's own Claude Code configuration (the default): HOME is the test's.
    user_config = Path(os.environ["HOME"]) / ".claude"
    transcript = transcript_path(user_config, Path(agent.cwd), agent.session_id)
    for _ in range(30_000):
        if transcript.exists():
            break
        await asyncio.sleep(0.001)
    os.killpg(agent.pid, signal.SIGKILL)
    return transcript


async def test_agent_killed_before_its_transcript_holds_a_message_answers_the_next_ask(
    runtime: Runtime, fake: FakeAnthropic, workdir: Path
) -> None:
    fake.add_rule(Rule(content="first question", text="never sent", delay=60, times=1))
    fake.add_rule(Rule(content="second question", text="second answer"))
    await runtime.spawn("early", cwd=workdir)

    first = await runtime.ask("early", "first question")
    transcript = await _kill_when_transcript_appears(runtime, "early")
    died = await runtime.wait(first.id, timeout=60)
    assert died.state.value == "failed"
    assert "exited" in (died.error or "")
    # The state this test is about: a transcript exists, but without a message.
    assert transcript.exists()
    assert not transcript_has_message(transcript)

    again = await runtime.wait((await runtime.ask("early", "second question")).id, timeout=60)

    assert again.state.value == "complete", again.error
    assert again.result == "second answer"
    agent = await runtime.get_agent("early")
    assert agent.has_session
    assert transcript_has_message(transcript)
    # And the session now resumes like any other.
    third = await runtime.wait((await runtime.ask("early", "third question")).id, timeout=60)
    assert third.state.value == "complete", third.error
    [call] = fake.requests_matching("third question")
    assert "second answer" in "\n".join(message_text(m) for m in call.messages)
