"""Moving an API session between hosts, as distributed workers do: the history file
is the whole session, so export on one host and import on another continues it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.backends import ChatMessage, SessionSpec, StartMode
from podium.backends.anthropic_api import AnthropicAPIBackend
from podium.backends.openai_compat import OpenAIBackend
from podium.testing import FakeAnthropic, FakeOpenAI, Rule, fake_api_env
from tests.backends.conftest import dialogue

SESSION = "7f9c2d4e-0000-4000-8000-000000000001"


def _spec(
    state_dir: Path, env: dict[str, str], *, mode: StartMode = StartMode.NEW, **extra: Any
) -> SessionSpec:
    return SessionSpec(
        agent="porter",
        session_id=SESSION,
        mode=mode,
        cwd=state_dir.parent,
        state_dir=state_dir,
        model=extra.pop("model", "sonnet"),
        system_prompt="PORTER-SYS",
        env=env,
        **extra,
    )


async def _turn(
    backend: AnthropicAPIBackend | OpenAIBackend, spec: SessionSpec, prompt: str
) -> str:
    events: list[tuple[str, dict[str, Any]]] = []

    async def sink(kind: str, data: dict[str, Any]) -> None:
        events.append((kind, data))

    session = backend.session(spec)
    await session.start()
    try:
        result = await session.run_turn(prompt, sink)
    finally:
        await session.close()
    assert not result.is_error, result.error
    return result.text


@pytest.fixture
async def anthropic_backend() -> Any:
    backend = AnthropicAPIBackend(env={})
    yield backend
    await backend.aclose()


async def test_export_on_one_host_import_on_another_continues_the_conversation(
    tmp_path: Path, fake: FakeAnthropic, anthropic_backend: AnthropicAPIBackend
) -> None:
    fake.add_rule(Rule(content="ship", text="The ship sails at dawn."))
    env = fake_api_env(fake.base_url)
    here = _spec(tmp_path / "host-a" / "state", env)
    assert anthropic_backend.export_session(here) is None  # nothing to move yet
    assert await _turn(anthropic_backend, here, "When does the ship sail?") == (
        "The ship sails at dawn."
    )

    data = anthropic_backend.export_session(here)
    assert data is not None
    assert data.count(b"\n") == 2  # one exchange, whole lines

    other_host = AnthropicAPIBackend(env={})
    try:
        there = _spec(tmp_path / "host-b" / "state", env, mode=StartMode.RESUME)
        assert not other_host.session_exists(there)
        other_host.import_session(there, data, session_id=there.session_id)
        assert other_host.session_exists(there)
        assert other_host.export_conversation(there) == [
            ChatMessage("user", "When does the ship sail?"),
            ChatMessage("assistant", "The ship sails at dawn."),
        ]
        await _turn(other_host, there, "And where to?")
    finally:
        await other_host.aclose()

    sent = fake.message_requests()[-1]
    assert "PORTER-SYS" in sent.system_text
    assert dialogue(sent) == [
        ("user", "When does the ship sail?"),
        ("assistant", "The ship sails at dawn."),
        ("user", "And where to?"),
    ]
    # The first host's copy is as it was exported; the second host's has grown.
    assert anthropic_backend.export_session(here) == data
    exported = other_host.export_session(there)
    assert exported is not None
    assert exported.startswith(data)
    assert exported.count(b"\n") == 4


async def test_import_of_nothing_removes_a_leftover_history(
    tmp_path: Path, anthropic_backend: AnthropicAPIBackend
) -> None:
    spec = _spec(tmp_path / "state", {})
    anthropic_backend.import_conversation(
        spec, [ChatMessage("user", "stale"), ChatMessage("assistant", "x")]
    )
    assert anthropic_backend.session_exists(spec)
    # What is stored centrally is newer than any local leftover: None means "no session".
    anthropic_backend.import_session(spec, None, session_id=spec.session_id)
    assert not anthropic_backend.session_exists(spec)
    assert anthropic_backend.export_session(spec) is None


async def test_export_takes_whole_lines_only_while_a_write_is_in_progress(
    tmp_path: Path, anthropic_backend: AnthropicAPIBackend
) -> None:
    spec = _spec(tmp_path / "state", {})
    anthropic_backend.import_conversation(
        spec, [ChatMessage("user", "q"), ChatMessage("assistant", "a")]
    )
    whole = anthropic_backend.export_session(spec)
    assert whole is not None
    with (spec.state_dir / "conversation.jsonl").open("ab") as file:
        file.write(b'{"role": "user", "cont')  # another writer, mid-append
    assert anthropic_backend.export_session(spec) == whole


async def test_a_fork_snapshot_imported_under_the_parents_session_is_the_childs_history(
    tmp_path: Path, fake: FakeAnthropic, anthropic_backend: AnthropicAPIBackend
) -> None:
    fake.add_rule(Rule(content="parent question", text="parent answer"))
    env = fake_api_env(fake.base_url)
    parent = _spec(tmp_path / "parent" / "state", env)
    await _turn(anthropic_backend, parent, "parent question")
    snapshot = anthropic_backend.export_session(parent)

    child = _spec(
        tmp_path / "child" / "state",
        env,
        mode=StartMode.FORK,
        model="haiku",
        parent_session_id=parent.session_id,
    )
    # A worker places the parent's snapshot under the parent's session id.
    anthropic_backend.import_session(child, snapshot, session_id=parent.session_id)
    await _turn(anthropic_backend, child, "child question")
    sent = fake.message_requests()[-1]
    assert dialogue(sent) == [
        ("user", "parent question"),
        ("assistant", "parent answer"),
        ("user", "child question"),
    ]
    assert anthropic_backend.export_session(parent) == snapshot


async def test_a_conversation_moves_from_anthropic_api_to_openai(
    tmp_path: Path,
    fake: FakeAnthropic,
    fake_openai: FakeOpenAI,
    anthropic_backend: AnthropicAPIBackend,
) -> None:
    fake.add_rule(Rule(text="anthropic says hi"))
    source = _spec(tmp_path / "a" / "state", fake_api_env(fake.base_url))
    await _turn(anthropic_backend, source, "hello")
    messages = anthropic_backend.export_conversation(source)
    assert messages is not None

    openai_backend = OpenAIBackend(env={})
    try:
        target = _spec(
            tmp_path / "o" / "state",
            {"OPENAI_BASE_URL": fake_openai.base_url},
            mode=StartMode.RESUME,
            model="gpt-4o-mini",
        )
        openai_backend.import_conversation(target, messages)
        await _turn(openai_backend, target, "continue")
    finally:
        await openai_backend.aclose()
    [sent] = fake_openai.message_requests()
    assert dialogue(sent) == [
        ("user", "hello"),
        ("assistant", "anthropic says hi"),
        ("user", "continue"),
    ]
