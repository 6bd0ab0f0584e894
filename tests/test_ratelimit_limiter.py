"""OperatorLimiter over trio: rate accuracy, adaptation to throttling, cancellation, validation.

Everything timed runs on trio's MockClock (``autojump_clock``): the clock jumps to the next
deadline whenever every task is blocked, so ten seconds of traffic at 1000 parts per second
take well under a second of real time, and times are exact (virtual time only moves when all
tasks sleep).
"""

from __future__ import annotations

import inspect
import math

import pytest
import trio
import trio.testing

from gateway.ratelimit import OperatorLimiter, TokenBucket
from gateway.ratelimit.limiter import DEFAULT_BURST_SECONDS


async def consume(limiter: OperatorLimiter, wanted: int, grants: list[tuple[float, int]]) -> None:
    """Acquire as fast as the limiter allows, recording (time, granted) of each grant."""
    while True:
        granted = await limiter.acquire(wanted)
        assert 1 <= granted <= wanted
        grants.append((trio.current_time(), granted))


def total(grants: list[tuple[float, int]], start: float = -math.inf, end: float = math.inf) -> int:
    return sum(n for t, n in grants if start <= t < end)


# -- accuracy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("wanted", [1, 7])
async def test_one_consumer_gets_rate_times_duration_plus_the_burst(autojump_clock, wanted):
    """At 1000/s with the default burst (100), a consumer acquiring flat out for 10 virtual
    seconds gets the burst at t=0 and then 1000 per second: 10,100 parts, asserted to within
    1% of the 10,000 paced ones (100) and never more than the bucket can hold plus one."""
    limiter = OperatorLimiter(1000)
    assert limiter.burst == 100
    grants: list[tuple[float, int]] = []
    start = trio.current_time()
    with trio.move_on_after(10):
        await consume(limiter, wanted, grants)
    got = total(grants)
    assert abs(got - 10_100) <= 100, got
    assert got <= 10_100 + 1
    assert total(grants, end=start + 1e-9) == 100  # the burst, at once
    # It waited all the time it was not being served: 10 s (within 1%).
    assert limiter.waited_seconds_total == pytest.approx(10, rel=0.01)


async def test_concurrent_consumers_share_the_rate(autojump_clock):
    """Five consumers wanting 1, 2, 3, 5 and 10 parts at a time share one 1000/s limiter for 10
    virtual seconds: together they get 10,100 parts, within 1% of 10,000 (fairness is not
    asserted, only that each got served); the waiting time adds up over the five (50 s)."""
    limiter = OperatorLimiter(1000)
    per_consumer: list[list[tuple[float, int]]] = [[] for _ in range(5)]
    with trio.move_on_after(10):
        async with trio.open_nursery() as nursery:
            for wanted, grants in zip([1, 2, 3, 5, 10], per_consumer, strict=True):
                nursery.start_soon(consume, limiter, wanted, grants)
    got = sum(total(g) for g in per_consumer)
    assert abs(got - 10_100) <= 100, got
    assert got <= 10_100 + 1
    assert all(total(g) > 0 for g in per_consumer)
    assert limiter.waited_seconds_total == pytest.approx(50, rel=0.01)


async def test_grants_are_capped_by_what_is_there(autojump_clock):
    limiter = OperatorLimiter(10, burst=4)
    t0 = trio.current_time()
    assert await limiter.acquire(25) == 4
    assert await limiter.acquire(25) == 1
    assert trio.current_time() - t0 == pytest.approx(0.1)
    await trio.sleep(0.35)
    assert await limiter.acquire(25) == 3


@pytest.mark.parametrize(("rate", "burst"), [(1000, 100), (5, 1), (25, 2.5)])
def test_default_burst_is_a_tenth_of_a_second_and_at_least_one(rate, burst):
    assert DEFAULT_BURST_SECONDS == 0.1
    assert OperatorLimiter(rate).burst == burst


# -- cancellation -------------------------------------------------------------------------------


async def test_a_cancelled_waiter_spends_nothing(autojump_clock):
    """Rate 1/s, burst 1: the first part goes at t=0, a second waiter is cancelled at t=0.5;
    at t=1 the token it did not get is still there and goes out without waiting."""
    limiter = OperatorLimiter(1, burst=1)
    t0 = trio.current_time()
    assert await limiter.acquire(1) == 1
    with trio.move_on_after(0.5) as scope:
        await limiter.acquire(1)
    assert scope.cancelled_caught
    await trio.sleep_until(t0 + 1)
    assert await limiter.acquire(3) == 1
    assert trio.current_time() == t0 + 1


async def test_an_acquire_in_a_cancelled_scope_takes_nothing(autojump_clock):
    limiter = OperatorLimiter(10, burst=2)
    t0 = trio.current_time()
    with trio.CancelScope() as scope:
        scope.cancel()
        await limiter.acquire(2)
    assert scope.cancelled_caught
    assert await limiter.acquire(2) == 2
    assert trio.current_time() == t0


async def test_waiters_are_served_in_arrival_order_and_a_cancelled_one_is_skipped(autojump_clock):
    limiter = OperatorLimiter(10, burst=1)
    await limiter.acquire(1)
    order: list[str] = []

    async def waiter(name: str, task_status=trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await limiter.acquire(1)
            order.append(name)

    async with trio.open_nursery() as nursery:
        await nursery.start(waiter, "a")
        scope_b = await nursery.start(waiter, "b")
        await nursery.start(waiter, "c")
        await trio.testing.wait_all_tasks_blocked()
        scope_b.cancel()
    assert order == ["a", "c"]


# -- adaptation ---------------------------------------------------------------------------------


async def test_throttled_halves_the_rate_and_drops_the_saved_burst(autojump_clock):
    limiter = OperatorLimiter(100, burst=10)
    t0 = trio.current_time()
    limiter.throttled()
    assert limiter.current_rate == 50
    assert limiter.configured_rate == 100
    assert limiter.throttle_events_total == 1
    # The full bucket (10 parts) was emptied: the first part waits 1/50 s.
    assert await limiter.acquire(10) == 1
    assert trio.current_time() - t0 == pytest.approx(0.02)


async def test_throttles_within_one_window_count_once(autojump_clock):
    limiter = OperatorLimiter(100)
    t0 = trio.current_time()
    for i in range(10):  # one window's worth of ESME_RTHROTTLED over 0.9 s
        await trio.sleep_until(t0 + i * 0.1)
        limiter.throttled()
    assert limiter.current_rate == 50
    assert limiter.throttle_events_total == 10
    await trio.sleep_until(t0 + 1.0)  # a second after the one that counted: counts again
    limiter.throttled()
    assert limiter.current_rate == 25
    assert limiter.throttle_events_total == 11


async def test_the_rate_never_drops_below_min_rate(autojump_clock):
    """Throttles every 0.25 s for 12 s: one counts per second (never a quiet second, so no
    recovery), halving 100 -> 50 -> 25 -> 12.5 -> 6.25 -> the floor."""
    default = OperatorLimiter(100)
    custom = OperatorLimiter(100, min_rate=30, decrease=0.8)
    for _ in range(48):
        default.throttled()
        custom.throttled()
        await trio.sleep(0.25)
    assert default.current_rate == 5  # rate / 20
    assert custom.current_rate == 30
    assert default.throttle_events_total == 48


async def test_recovery_climbs_a_tenth_per_quiet_second_from_the_last_throttle(autojump_clock):
    """Throttles at t=0 (counted: 50/s) and t=0.75 (same window, not counted) are followed by
    quiet: recovery starts one second after the last of them, at 1.75 s (60/s), and reaches
    the configured 100/s at 5.75 s, after which it stays. (Times are binary fractions so that
    the step boundaries are exact.)"""
    limiter = OperatorLimiter(100)
    t0 = trio.current_time()
    limiter.throttled()
    await trio.sleep_until(t0 + 0.75)
    limiter.throttled()
    expected = [(1.0, 50), (1.625, 50), (1.75, 60), (2.75, 70), (3.75, 80), (4.75, 90),
                (5.5, 90), (5.75, 100), (20.0, 100)]
    for at, rate in expected:
        await trio.sleep_until(t0 + at)
        limiter.ok()  # accepted submits change nothing in the schedule
        assert limiter.current_rate == pytest.approx(rate), at
    assert limiter.throttle_events_total == 2


async def test_the_bucket_follows_the_adaptive_rate(autojump_clock):
    """A consumer acquires flat out at 100/s; a throttle at t=1 drops it to 50/s, then it climbs
    back: the parts granted in each following second are 50, 60, 70, 80, 90, 100, 100 (each
    within one part: a second's boundary can fall either side of a grant)."""
    limiter = OperatorLimiter(100, burst=10)
    grants: list[tuple[float, int]] = []
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume, limiter, 3, grants)
        await trio.sleep_until(t0 + 1)
        limiter.throttled()
        await trio.sleep_until(t0 + 9)
        nursery.cancel_scope.cancel()
    assert abs(total(grants, t0, t0 + 1) - 110) <= 1  # burst + 100/s before the throttle
    for second, rate in enumerate([50, 60, 70, 80, 90, 100, 100, 100], start=1):
        got = total(grants, t0 + second, t0 + second + 1)
        assert abs(got - rate) <= 1, (second, got)


def test_sync_methods_read_only_the_injected_clock():
    """No trio run is needed for throttled()/ok()/current_rate with a clock passed in, and the
    constructor reads no clock at all (the limiter can be built before trio.run)."""
    now = [1000.0]
    limiter = OperatorLimiter(200, clock=lambda: now[0])
    OperatorLimiter(200)  # the default clock, trio.current_time, would fail here if read
    limiter.throttled()
    assert limiter.current_rate == 100
    now[0] += 2.5
    limiter.ok()
    assert limiter.current_rate == pytest.approx(140)
    now[0] += 100
    assert limiter.current_rate == 200


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((0,), {}, "rate must be a positive finite number"),
    ((-5,), {}, "rate must be a positive finite number"),
    ((math.inf,), {}, "rate must be a positive finite number"),
    ((math.nan,), {}, "rate must be a positive finite number"),
    ((10, 0.5), {}, "burst must be a finite number of at least 1"),
    ((10, math.inf), {}, "burst must be a finite number of at least 1"),
    ((10,), {"min_rate": 0}, "min_rate must be a positive finite number"),
    ((10,), {"min_rate": 11}, "min_rate 11 is above the rate 10"),
    ((10,), {"decrease": 1.0}, "decrease must be between 0 and 1"),
    ((10,), {"decrease": 0.0}, "decrease must be between 0 and 1"),
    ((10,), {"decrease": math.nan}, "decrease must be between 0 and 1"),
    ((10,), {"recover_after": 0}, "recover_after must be a positive finite number"),
    ((10,), {"increase": -0.1}, "increase must be a positive finite number"),
])
def test_constructor_rejects(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        OperatorLimiter(*args, **kwargs)


@pytest.mark.parametrize("wanted", [0, -1])
async def test_acquire_rejects_wanting_nothing(wanted):
    with pytest.raises(ValueError, match="wanted must be at least 1"):
        await OperatorLimiter(10).acquire(wanted)


async def test_acquire_rejects_a_non_integer():
    with pytest.raises(TypeError):
        await OperatorLimiter(10).acquire(1.5)  # type: ignore[arg-type]


# -- the client's protocol ----------------------------------------------------------------------


def test_matches_the_pacer_protocol_of_the_smpp_client():
    client = pytest.importorskip("gateway.smpp.client")
    pacer = getattr(client, "Pacer", None)
    if pacer is None:
        pytest.skip("gateway.smpp.client has no Pacer yet")
    for name in ("acquire", "throttled", "ok"):
        ours, theirs = getattr(OperatorLimiter, name), getattr(pacer, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), name


def test_the_limiter_uses_the_compiled_bucket():
    limiter = OperatorLimiter(10, clock=lambda: 0.0)
    limiter.ok()
    assert type(limiter._bucket) is TokenBucket
