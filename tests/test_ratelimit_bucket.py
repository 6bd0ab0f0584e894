"""The compiled token bucket: its contract on worked examples, and agreement with the oracle.

``tests/bucket_oracle.py`` states the same contract in plain Python; hypothesis drives both with
the same sequences of operations (times that move forward, and times that jitter backwards) and
every result must agree. The worked examples pin the contract itself, which the oracle alone
cannot: debt for take(), none for take_upto(), refill at the old rate before set_rate(), and a
time going backwards counting as no time passing.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gateway._core
from gateway._core import _bucket
from gateway.ratelimit import bucket as public
from gateway.ratelimit.bucket import TokenBucket
from tests import bucket_oracle as oracle


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# -- what ships -------------------------------------------------------------------------------


def test_the_public_type_is_the_compiled_one():
    assert public.TokenBucket is _bucket.TokenBucket is gateway._core.TokenBucket
    assert _bucket.__file__.endswith((".so", ".pyd")), _bucket.__file__
    assert TokenBucket is not oracle.TokenBucket


def test_rate_and_burst_are_read_only():
    b = TokenBucket(10, 5, 0)
    assert (b.rate, b.burst) == (10.0, 5.0)
    with pytest.raises(AttributeError):
        b.rate = 20  # type: ignore[misc]
    with pytest.raises(AttributeError):
        b.burst = 20  # type: ignore[misc]


# -- take(): reserve, go into debt, exact long-run rate ---------------------------------------


def test_starts_full_then_waits_grow_by_one_interval_per_take():
    b = TokenBucket(10, 5, 0.0)
    assert b.available(0.0) == 5.0
    assert [b.take(0.0) for _ in range(5)] == [0.0] * 5
    waits = [b.take(0.0) for _ in range(3)]
    assert all(close(w, e) for w, e in zip(waits, [0.1, 0.2, 0.3], strict=True)), waits
    assert close(b.available(0.0), -3.0)


def test_take_more_than_burst_and_take_zero_report_the_debt():
    b = TokenBucket(1, 2, 0.0)
    assert close(b.take(0.0, 5.0), 3.0)
    assert close(b.take(1.0, 0.0), 2.0)  # n=0: how long until the debt is paid
    assert close(b.take(3.0, 0.0), 0.0)


@pytest.mark.parametrize(("rate", "burst", "start"), [(100, 10, 0.0), (7.3, 1, 12345.678),
                                                       (5000, 250, 1e6)])
def test_callers_that_sleep_the_wait_then_act_get_exactly_rate(rate, burst, start):
    """Each caller takes, sleeps the returned wait, acts: the k-th action (from 0) happens at
    start + max(0, k + 1 - burst) / rate, which is burst at once and then rate per second."""
    b = TokenBucket(rate, burst, start)
    now = start
    for k in range(3000):
        acted_at = now + b.take(now)
        expected = start + max(0, k + 1 - burst) / rate
        assert math.isclose(acted_at, expected, rel_tol=0, abs_tol=1e-9 * max(1, start)), k
        now = acted_at


# -- take_upto(): what is there now, never debt -----------------------------------------------


def test_take_upto_grants_whole_tokens_up_to_wanted():
    b = TokenBucket(4, 3, 0.0)
    assert b.take_upto(0.0, 2) == (2, 0.0)
    assert b.take_upto(0.0, 5) == (1, 0.0)
    granted, wait = b.take_upto(0.0, 5)
    assert granted == 0 and close(wait, 0.25)
    assert close(b.available(0.0), 0.0)  # the refusal took nothing
    granted, wait = b.take_upto(0.1, 5)  # 0.4 tokens there: still none whole
    assert granted == 0 and close(wait, 0.15)
    assert b.take_upto(0.25, 5) == (1, 0.0)
    assert b.take_upto(1.0, 5) == (3, 0.0)  # 0.75 s = 3 tokens, burst 3


def test_take_upto_waits_out_a_debt_left_by_take():
    b = TokenBucket(2, 1, 0.0)
    b.take(0.0, 4.0)  # tokens: -3
    granted, wait = b.take_upto(0.0, 1)
    assert granted == 0 and close(wait, 2.0)  # from -3 to +1 at 2 per second
    assert b.take_upto(2.0, 1) == (1, 0.0)


@pytest.mark.parametrize("rate", [3.0, 7.3, 999.7, 12345.6, 1e6])
@pytest.mark.parametrize("start", [0.0, 86400.123, 1e7])
def test_sleeping_exactly_the_refusal_wait_is_always_enough(rate, start):
    """Rounding can leave the refill a few ulps short of a whole token; the caller that slept
    the wait it was given must not be refused again (the limiter would spin on tiny waits)."""
    b = TokenBucket(rate, 1, start)
    now = start
    for _ in range(2000):
        granted, wait = b.take_upto(now, 1)
        if granted == 0:
            now += wait
            assert b.take_upto(now, 1)[0] == 1, (now, b)
    # Never more debt than the slack: a millionth of a token plus 4 ulps of now worth of refill.
    assert b.available(now) >= -(1e-6 + 4 * 2.3e-16 * now * rate)


# -- set_rate(), available() ------------------------------------------------------------------


def test_set_rate_accounts_the_past_at_the_old_rate():
    b = TokenBucket(1, 10, 0.0)
    b.take(0.0, 10.0)
    b.set_rate(2.0, 10.0)  # two seconds at 1/s
    assert close(b.available(2.0), 2.0)
    assert close(b.available(2.5), 7.0)  # half a second at 10/s
    assert b.rate == 10.0
    assert b.available(100.0) == 10.0  # capped at burst


def test_available_changes_nothing():
    b = TokenBucket(1, 10, 0.0)
    b.take(0.0, 10.0)
    assert close(b.available(5.0), 5.0)
    assert close(b.available(1.0), 1.0)  # the later look did not move the bucket's time
    assert close(b.take(1.0, 2.0), 1.0)


# -- time going backwards ---------------------------------------------------------------------


def test_time_going_backwards_counts_as_no_time_passing():
    b = TokenBucket(1, 10, 0.0)
    b.take(0.0, 10.0)
    assert b.take_upto(5.0, 10) == (5, 0.0)  # bucket time is now 5, tokens 0
    granted, wait = b.take_upto(3.0, 1)  # two seconds in the past: no refill, none negative
    assert granted == 0 and close(wait, 1.0)
    assert close(b.available(3.0), 0.0)
    assert close(b.take(2.0, 0.0), 0.0)
    # Refill resumes from the latest time seen (5), not from the earlier one (3).
    assert close(b.available(5.5), 0.5)


def test_a_start_time_later_than_the_first_call_gives_no_negative_refill():
    b = TokenBucket(1, 3, 10.0)
    assert b.available(0.0) == 3.0
    assert b.take_upto(0.0, 5) == (3, 0.0)


# -- validation -------------------------------------------------------------------------------

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(("args", "message"), [
    ((0, 1, 0), "rate must be positive"),
    ((-1, 1, 0), "rate must be positive"),
    ((NAN, 1, 0), "rate must be a finite number"),
    ((INF, 1, 0), "rate must be a finite number"),
    ((1, 0.5, 0), "burst must be at least 1"),
    ((1, 0, 0), "burst must be at least 1"),
    ((1, -INF, 0), "burst must be a finite number"),
    ((1, NAN, 0), "burst must be a finite number"),
    ((1, 1, NAN), "now must be a finite number"),
    ((1, 1, INF), "now must be a finite number"),
])
@pytest.mark.parametrize("impl", [TokenBucket, oracle.TokenBucket], ids=["compiled", "oracle"])
def test_constructor_rejects(impl, args, message):
    with pytest.raises(ValueError, match=message):
        impl(*args)


@pytest.mark.parametrize("impl", [TokenBucket, oracle.TokenBucket], ids=["compiled", "oracle"])
def test_methods_reject_bad_arguments_and_leave_the_state_alone(impl):
    b = impl(2, 4, 0.0)
    b.take(0.0, 1.0)
    bad_calls = [
        (lambda: b.take(1.0, -1.0), ValueError, "n must not be negative"),
        (lambda: b.take(1.0, NAN), ValueError, "n must be a finite number"),
        (lambda: b.take(NAN, 1.0), ValueError, "now must be a finite number"),
        (lambda: b.take_upto(1.0, 0), ValueError, "wanted must be at least 1"),
        (lambda: b.take_upto(1.0, -3), ValueError, "wanted must be at least 1"),
        (lambda: b.take_upto(INF, 1), ValueError, "now must be a finite number"),
        (lambda: b.take_upto(1.0, 1.5), TypeError, None),
        (lambda: b.set_rate(1.0, 0.0), ValueError, "rate must be positive"),
        (lambda: b.set_rate(1.0, INF), ValueError, "rate must be a finite number"),
        (lambda: b.set_rate(NAN, 1.0), ValueError, "now must be a finite number"),
        (lambda: b.available(NAN), ValueError, "now must be a finite number"),
        (lambda: b.take("1", 1.0), TypeError, None),
    ]
    for call, error, message in bad_calls:
        with pytest.raises(error, match=message):
            call()
    assert b.rate == 2.0
    assert close(b.available(0.0), 3.0)  # no refill to t=1 happened either
    assert close(b.available(0.5), 4.0)


# -- compiled vs oracle -----------------------------------------------------------------------

#: Arguments include invalid values now and then: both must refuse them the same way.
_rates = st.one_of(st.floats(0.01, 1e5), st.sampled_from([1.0, 1000.0, 0.0, -1.0, math.inf]))
_amounts = st.one_of(st.floats(0, 20), st.sampled_from([0.0, 1.0, 2.5, -1.0, math.nan]))
_wanted = st.one_of(st.integers(1, 30), st.integers(-2, 0))
_ops = st.one_of(
    st.tuples(st.just("take"), _amounts),
    st.tuples(st.just("take_upto"), _wanted),
    st.tuples(st.just("set_rate"), _rates),
    st.tuples(st.just("available"), st.none()),
)


@st.composite
def scenarios(draw: st.DrawFn):
    rate = draw(st.one_of(st.floats(0.01, 1e5), st.sampled_from([1.0, 10.0, 1000.0])))
    burst = draw(st.one_of(st.floats(1, 1000), st.sampled_from([1.0, 2.0, 100.0])))
    start = draw(st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, 86400.5, 1e8])))
    jitter = draw(st.booleans())
    low = -1.0 if jitter else 0.0
    steps = draw(st.lists(st.tuples(st.floats(low, 2.0) | st.sampled_from([0.0, 1e-9]), _ops),
                          max_size=60))
    return rate, burst, start, steps


def _apply(bucket, op: str, now: float, arg):
    if op == "take":
        return bucket.take(now, arg)
    if op == "take_upto":
        return bucket.take_upto(now, arg)
    if op == "set_rate":
        return bucket.set_rate(now, arg)
    return bucket.available(now)


@given(scenarios())
def test_compiled_matches_oracle_on_operation_sequences(scenario):
    rate, burst, start, steps = scenario
    got, ref = TokenBucket(rate, burst, start), oracle.TokenBucket(rate, burst, start)
    now = start
    for i, (dt, (op, arg)) in enumerate(steps):
        now += dt
        try:
            expected = _apply(ref, op, now, arg)
        except ValueError:
            with pytest.raises(ValueError):
                _apply(got, op, now, arg)
            continue
        result = _apply(got, op, now, arg)
        where = f"step {i}: {op}({now!r}, {arg!r})"
        if op == "take_upto":
            assert result[0] == expected[0], where
            assert close(result[1], expected[1]), where
        elif op == "set_rate":
            assert result is None, where
        else:
            assert close(result, expected), where
        assert got.rate == ref.rate, where
        assert close(got.available(now), ref.available(now)), where


@given(scenarios())
def test_invariants_hold_on_operation_sequences(scenario):
    """Independently of the oracle: never more than burst saved, never more granted than
    wanted, take_upto never leaves debt of its own, and a refusal always names a positive wait."""
    rate, burst, start, steps = scenario
    b = TokenBucket(rate, burst, start)
    now = start
    for dt, (op, arg) in steps:
        now += dt
        before = b.available(now)
        try:
            result = _apply(b, op, now, arg)
        except ValueError:
            assert close(b.available(now), before)
            continue
        assert b.available(now) <= b.burst
        if op == "take_upto":
            granted, wait = result
            assert 0 <= granted <= arg
            if granted:
                assert wait == 0.0
                assert b.available(now) >= min(before, 0.0) - 1e-5
            else:
                assert wait > 0.0
                assert before < 1.0
        elif op == "take":
            assert result >= 0.0
            assert (result == 0.0) == (b.available(now) >= 0.0)
