from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.testing import FakeAnthropic
from tests.distributed._cluster import LocalCluster


@pytest.fixture
def cluster(tmp_path: Path, fake: FakeAnthropic) -> Iterator[LocalCluster]:
    """redis-server + a coordinator process; tests add the worker processes they need."""
    running = LocalCluster(tmp_path, fake).start()
    try:
        yield running
    finally:
        running.stop()
