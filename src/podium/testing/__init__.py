"""A scriptable fake Anthropic Messages API for running the real Claude Code CLI in tests.

There is no real API key in tests, so the real CLI is pointed (via
``ANTHROPIC_BASE_URL``) at this fake, which answers from ordered rules and
records every request for assertions.
"""

from podium.testing._cli import main as fake_api_main
from podium.testing._env import bundled_cli, cli_env, fake_api_env
from podium.testing._record import RecordedRequest
from podium.testing._rules import Rule, ToolCall, Usage, load_rules, rules_from_data
from podium.testing._server import FakeAnthropic
from podium.testing._text import conversation_text, message_text, system_text

__all__ = [
    "FakeAnthropic",
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
