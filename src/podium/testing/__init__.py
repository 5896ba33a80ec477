"""Scriptable fake model APIs for tests: Anthropic Messages (+ Batches) and OpenAI chat.

There is no real API key in tests, so the real CLI and the API backends are
pointed at these fakes (the CLI via ``ANTHROPIC_BASE_URL``), which answer from
ordered rules and record every request for assertions.
"""

from podium.testing._batches import BatchRecord, BatchRequest
from podium.testing._cli import main as fake_api_main
from podium.testing._env import bundled_cli, cli_env, fake_api_env
from podium.testing._fake_server import FakeServer
from podium.testing._openai import FakeOpenAI
from podium.testing._record import RecordedRequest
from podium.testing._rules import ChatUsage, Rule, ToolCall, Usage, load_rules, rules_from_data
from podium.testing._server import FakeAnthropic
from podium.testing._text import conversation_text, message_text, system_text

__all__ = [
    "BatchRecord",
    "BatchRequest",
    "ChatUsage",
    "FakeAnthropic",
    "FakeOpenAI",
    "FakeServer",
    "RecordedRequest",
    "Rule",
    "ToolCall",
    "Usage",
    "bundled_cli",
    "cli_env",
    "conversation_text",
    "fake_api_env",
    "fake_api_main",
    "load_rules",
    "message_text",
    "rules_from_data",
    "system_text",
]
