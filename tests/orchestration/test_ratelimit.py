"""Rate limits: the limit holds over any window, waiters are served in order, nothing spins.

Time is fake: the limiter reads a clock the test moves and naps through a
sleep that only ends when the test moves that clock past its deadline.
"""

from __future__ import annotations

import asyncio
import bisect
import time

import pytest

from podium import UsageError
from podium.orchestration._ratelimit import ModelLimits, RateLimiter

KEY = "sonnet"


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.naps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + seconds, wake)
        self._sleepers.append(entry)
        try:
            await wake
        finally:
            self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move time forward, stopping at every nap deadline on the way, as real time would."""
        end = self.now + seconds
        await drain()
        while True:
            due = [when for when, fut in self._sleepers if not fut.done() and when <= end]
            if not due:
                break
            self.now = max(self.now, min(due))
            for when, fut in self._sleepers:
                if when <= self.now and not fut.done():
                    fut.set_result(None)
            await drain()
        self.now = end
        await drain()


async def drain() -> None:
    """Let every runnable task run until the loop is idle again."""
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def limiter(fake: FakeTime, **limits: int) -> RateLimiter:
    rl = RateLimiter(period=60.0, clock=fake.clock, sleep=fake.sleep)
    rl.configure(KEY, ModelLimits(**limits))
    return rl


def start(
    rl: RateLimiter, fake: FakeTime, log: list[tuple[str, float]], name: str, tokens: int = 0
) -> asyncio.Task[float]:
    async def go() -> float:
        waited = await rl.acquire(KEY, input_tokens=tokens)
        log.append((name, fake.now))
        return waited

    return asyncio.create_task(go(), name=name)


def most_in_any_window(times: list[float], period: float) -> int:
    """The largest number of admissions inside any half-open window [t, t + period)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + period) - i for i, t in enumerate(times))


async def test_unconfigured_key_is_admitted_at_once_and_tracks_nothing(fake: FakeTime) -> None:
    rl = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    for _ in range(100):
        assert await rl.acquire("opus", input_tokens=10**6) == 0.0
    assert rl.limits("opus") is None
    assert rl.snapshot() == {}
    assert fake.naps == []


async def test_requests_per_window_never_exceed_the_limit(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=3)
    log: list[tuple[str, float]] = []
    tasks = [start(rl, fake, log, f"t{i}") for i in range(10)]
    for _ in range(20):
        await fake.advance(15.0)
    waited = await asyncio.gather(*tasks)

    times = [t for _, t in log]
    assert times == [0, 0, 0, 60, 60, 60, 120, 120, 120, 180]
    assert most_in_any_window(times, 60.0) == 3
    assert waited == times  # each one started at 0 and says how long it waited


async def test_a_unit_returns_exactly_one_period_after_it_was_taken(fake: FakeTime) -> None:
    # A continuously refilled bucket would let 3 more through at t=60 (6 in [30, 90)).
    rl = limiter(fake, requests_per_minute=3)
    log: list[tuple[str, float]] = []
    await rl.acquire(KEY)
    await fake.advance(30.0)
    await rl.acquire(KEY)
    await rl.acquire(KEY)
    tasks = [start(rl, fake, log, f"t{i}") for i in range(3)]
    for _ in range(8):
        await fake.advance(10.0)
    await asyncio.gather(*tasks)
    assert [t for _, t in log] == [60, 90, 90]
    assert most_in_any_window([0, 30, 30, 60, 90, 90], 60.0) == 3


async def test_input_tokens_wait_for_room_in_the_window(fake: FakeTime) -> None:
    rl = limiter(fake, input_tokens_per_minute=1000)
    assert await rl.acquire(KEY, input_tokens=600) == 0.0
    log: list[tuple[str, float]] = []
    task = start(rl, fake, log, "second", tokens=600)
    await fake.advance(59.0)
    assert log == []
    await fake.advance(1.0)
    assert log == [("second", 60.0)]
    assert await task == 60.0
    assert rl.snapshot()[KEY]["input_tokens_used"] == 600


async def test_an_oversized_ask_is_admitted_once_the_window_is_empty(fake: FakeTime) -> None:
    rl = limiter(fake, input_tokens_per_minute=1000)
    # Empty window: a single ask above the limit goes through rather than deadlocking.
    assert await rl.acquire(KEY, input_tokens=5000) == 0.0
    log: list[tuple[str, float]] = []
    small = start(rl, fake, log, "small", tokens=10)
    await fake.advance(30.0)
    big = start(rl, fake, log, "big", tokens=5000)
    for _ in range(20):
        await fake.advance(10.0)
    await asyncio.gather(small, big)
    # small waits until the oversized use expires; big waits until small's does.
    assert log == [("small", 60.0), ("big", 120.0)]


async def test_settle_pushes_the_window_over_the_limit(fake: FakeTime) -> None:
    rl = limiter(fake, output_tokens_per_minute=100, requests_per_minute=10)
    await rl.acquire(KEY)
    rl.settle(KEY, output_tokens=150)
    snap = rl.snapshot()[KEY]
    assert snap["output_tokens_used"] == 150
    assert snap["output_tokens_limit"] == 100
    log: list[tuple[str, float]] = []
    task = start(rl, fake, log, "next")
    await fake.advance(59.0)
    assert log == []
    await fake.advance(1.0)
    await task
    assert log == [("next", 60.0)]


async def test_settle_counts_extra_requests_and_extra_input(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=3, input_tokens_per_minute=1000)
    await rl.acquire(KEY, input_tokens=100)
    rl.settle(KEY, input_tokens=400, extra_requests=2, output_tokens=-5)
    snap = rl.snapshot()[KEY]
    assert (snap["requests_used"], snap["input_tokens_used"], snap["output_tokens_used"]) == (
        3,
        500,
        0,
    )
    log: list[tuple[str, float]] = []
    task = start(rl, fake, log, "fourth")
    await fake.advance(60.0)
    await task
    assert log == [("fourth", 60.0)]


async def test_backoff_blocks_the_key_until_it_ends(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=100)
    rl.backoff(KEY, 30.0)
    assert rl.snapshot()[KEY]["blocked_for"] == 30.0
    log: list[tuple[str, float]] = []
    tasks = [start(rl, fake, log, f"t{i}") for i in range(2)]
    await fake.advance(10.0)
    rl.backoff(KEY, 40.0)  # a later 429 with a longer retry-after extends the block
    await fake.advance(39.0)
    assert log == []
    rl.backoff(KEY, 0.5)  # one ending sooner never shortens it
    await fake.advance(1.0)
    assert await asyncio.gather(*tasks) == [50.0, 50.0]
    assert log == [("t0", 50.0), ("t1", 50.0)]
    assert rl.snapshot()[KEY]["blocked_for"] == 0.0


async def test_backoff_applies_to_a_key_without_limits(fake: FakeTime) -> None:
    rl = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    rl.backoff("haiku", 10.0)
    task = asyncio.create_task(rl.acquire("haiku"))
    await fake.advance(9.0)
    assert not task.done()
    await fake.advance(1.0)
    assert await task == 10.0


async def test_waiters_are_served_first_come_first_served(fake: FakeTime) -> None:
    rl = limiter(fake, input_tokens_per_minute=1000)
    await rl.acquire(KEY, input_tokens=900)
    log: list[tuple[str, float]] = []
    # "big" cannot fit until t=60; the small asks behind it would fit now but must not overtake.
    tasks = [start(rl, fake, log, "big", tokens=800)]
    await drain()
    tasks += [start(rl, fake, log, f"small{i}", tokens=50) for i in range(3)]
    await drain()
    assert log == []
    assert rl.snapshot()[KEY]["waiting"] == 4
    await fake.advance(60.0)
    await asyncio.gather(*tasks)
    assert [name for name, _ in log] == ["big", "small0", "small1", "small2"]
    assert [t for _, t in log] == [60.0, 60.0, 60.0, 60.0]


async def test_a_cancelled_waiter_takes_nothing_and_lets_the_next_through(
    fake: FakeTime,
) -> None:
    rl = limiter(fake, requests_per_minute=2)
    await rl.acquire(KEY)
    await rl.acquire(KEY)
    log: list[tuple[str, float]] = []
    head = start(rl, fake, log, "head")
    middle = start(rl, fake, log, "middle")
    tail = start(rl, fake, log, "tail")
    await drain()
    head.cancel()
    middle.cancel()
    await drain()
    assert head.cancelled()
    assert middle.cancelled()
    snap = rl.snapshot()[KEY]
    assert snap["requests_used"] == 2
    assert snap["waiting"] == 1
    await fake.advance(60.0)
    await tail
    assert log == [("tail", 60.0)]
    assert rl.snapshot()[KEY]["requests_used"] == 1


async def test_configure_wakes_waiters_without_time_passing(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=1)
    await rl.acquire(KEY)
    log: list[tuple[str, float]] = []
    tasks = [start(rl, fake, log, f"t{i}") for i in range(3)]
    await drain()
    assert log == []
    rl.configure(KEY, ModelLimits(requests_per_minute=3))
    await drain()
    assert log == [("t0", 0.0), ("t1", 0.0)]
    assert rl.limits(KEY) == ModelLimits(requests_per_minute=3)
    await fake.advance(60.0)
    await asyncio.gather(*tasks)
    assert log[-1] == ("t2", 60.0)


async def test_waiting_does_not_spin(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=1)
    await rl.acquire(KEY)
    log: list[tuple[str, float]] = []
    tasks = [start(rl, fake, log, f"t{i}") for i in range(3)]
    await drain()
    # Only the head of the queue naps, once, for exactly as long as it must.
    assert fake.naps == [60.0]
    for _ in range(3):
        await fake.advance(60.0)
    await asyncio.gather(*tasks)
    assert fake.naps == [60.0, 60.0, 60.0]
    assert [t for _, t in log] == [60.0, 120.0, 180.0]


async def test_snapshot_reports_usage_limits_and_waiters(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=5, input_tokens_per_minute=1000)
    await rl.acquire(KEY, input_tokens=250)
    assert rl.snapshot() == {
        KEY: {
            "requests_used": 1.0,
            "requests_limit": 5.0,
            "input_tokens_used": 250.0,
            "input_tokens_limit": 1000.0,
            "output_tokens_used": 0.0,
            "blocked_for": 0.0,
            "waiting": 0.0,
        }
    }
    await fake.advance(60.0)
    assert rl.snapshot()[KEY]["requests_used"] == 0.0


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(bad: object) -> None:
    with pytest.raises(UsageError, match="requests_per_minute"):
        ModelLimits(requests_per_minute=bad)  # type: ignore[arg-type]


async def test_bad_arguments_are_refused(fake: FakeTime) -> None:
    rl = limiter(fake, requests_per_minute=1)
    with pytest.raises(UsageError, match="input_tokens"):
        await rl.acquire(KEY, input_tokens=-1)
    with pytest.raises(UsageError, match="backoff"):
        rl.backoff(KEY, float("nan"))
    with pytest.raises(UsageError, match="period"):
        RateLimiter(period=0)
    assert rl.snapshot()[KEY]["requests_used"] == 0


async def test_real_clock_keeps_the_limit_per_window() -> None:
    # The default sleep against the real clock: check counts per window, not durations.
    readings: list[float] = []

    def clock() -> float:
        readings.append(time.monotonic())
        return readings[-1]

    rl = RateLimiter(period=0.2, clock=clock)
    rl.configure(KEY, ModelLimits(requests_per_minute=2))
    admitted: list[float] = []

    async def one() -> None:
        await rl.acquire(KEY)
        # No await since the limiter stamped the use: the last reading is that stamp.
        admitted.append(readings[-1])

    await asyncio.gather(*(one() for _ in range(5)))
    assert len(admitted) == 5
    assert most_in_any_window(admitted, 0.2) == 2


async def test_a_lease_counts_from_its_release_not_from_admission() -> None:
    """A held call keeps its unit until it ends; the period starts then."""
    import asyncio as _asyncio

    from podium.orchestration._ratelimit import ModelLimits as _Limits
    from podium.orchestration._ratelimit import RateLimiter as _Limiter

    now = [0.0]
    naps: list[float] = []

    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        await _asyncio.Event().wait()  # only a wake-up (release) ends it

    limiter = _Limiter(period=10.0, clock=lambda: now[0], sleep=sleep)
    limiter.configure("m", _Limits(requests_per_minute=1))
    lease = await limiter.lease("m")
    waiter = _asyncio.create_task(limiter.acquire("m"))
    await _asyncio.sleep(0)
    assert not waiter.done()  # held: no expiry yet, so it waits for the release
    now[0] = 25.0
    lease.release()
    for _ in range(5):
        await _asyncio.sleep(0)
    assert not waiter.done()  # the unit now expires at 35, one period after the release
    assert naps
    assert naps[-1] == 10.0
    waiter.cancel()
    lease.release()  # a second release is harmless
