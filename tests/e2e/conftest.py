"""The environment end-to-end tests run ``podium`` in (helpers: :mod:`._helpers`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podium.testing import FakeAnthropic, fake_api_env


@pytest.fixture
def env(home: Path, fake: FakeAnthropic) -> dict[str, str]:
    """The fake API, this test's state dir, autostart on, and a wide terminal, so rich
    never wraps the tables the assertions read."""
    values = {
        **os.environ,
        **fake_api_env(fake.base_url),
        "PODIUM_HOME": str(home),
        "COLUMNS": "200",
    }
    values.pop("PODIUM_NO_AUTOSTART", None)
    return values
