"""The trio side of per-operator pacing: sleep on a token bucket, and slow down when told to.

An operator's SMSC admits so many submit_sm per second per account and answers the rest with
ESME_RTHROTTLED or ESME_RMSGQFUL. ``OperatorLimiter`` keeps the sending rate under the contracted
one with a ``TokenBucket`` and, because the real limit is sometimes lower than the contract (a
busy SMSC, several gateways on one account), it adapts AIMD-style, as TCP does to loss: a
throttle halves the rate, and quiet time brings it back a tenth of the contract at a time.

It implements the ``Pacer`` protocol of ``gateway.smpp.client``: ``await acquire(wanted)``,
``throttled()``, ``ok()``. Time is read only through the injected ``clock`` and waited only with
``trio.sleep``, so under trio's MockClock the tests run hours of traffic in milliseconds.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import trio

from gateway.ratelimit.bucket import TokenBucket

__all__ = ["DEFAULT_BURST_SECONDS", "OperatorLimiter"]

#: Default burst, in seconds of traffic at the configured rate (never less than one part).
#: 100 ms of saved-up parts is enough to refill an SMPP window at once after a pause, and small
#: enough that an SMSC counting per one-second window sees at most 1.1 x the rate in any window.
DEFAULT_BURST_SECONDS = 0.1

#: Default floor of the adaptive rate, as a fraction of the configured rate: however often an
#: operator throttles, parts keep going out at 5% of the contract, so the link never stalls.
DEFAULT_MIN_RATE_FRACTION = 1 / 20

#: How close to the configured rate a recovery step must come to count as having reached it
#: (sums of tenths are not exact in binary).
_RATE_SNAP = 1e-9


def _positive(value: float, what: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{what} must be a positive finite number, not {value!r}")
    return v


class OperatorLimiter:
    """Paces one operator's submits at up to ``rate`` parts per second, ``burst`` saved up.

    ``burst`` defaults to ``max(1, rate * DEFAULT_BURST_SECONDS)`` (100 ms of traffic);
    ``min_rate`` to ``rate / 20``.

    Adaptation (AIMD): ``throttled()`` multiplies the current rate by ``decrease`` (not below
    ``min_rate``) and drops any saved-up burst, but at most once per ``recover_after`` seconds:
    the throttles answering one window of submits were caused by one excess and count once.
    Once ``recover_after`` seconds pass without any throttle, the rate climbs by ``increase *
    rate`` at the end of each further ``recover_after`` seconds until it is back at ``rate``.
    With the defaults, one throttle costs 5 s of reduced rate: 50%, then 60%, ... 100%.

    ``clock`` returns seconds and must advance with trio's clock, since waits are slept with
    ``trio.sleep``; it is not read until the limiter is first used, so the limiter may be built
    outside ``trio.run``.

    For metrics: ``current_rate``, ``configured_rate``, ``waited_seconds_total`` (seconds that
    tasks spent inside ``acquire``, summed over tasks, so its rate of increase is the mean number
    of waiting senders) and ``throttle_events_total`` (every ``throttled()`` call, counted or
    not in the rate).
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        min_rate: float | None = None,
        decrease: float = 0.5,
        recover_after: float = 1.0,
        increase: float = 0.1,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._configured = _positive(rate, "rate")
        if burst is None:
            burst = max(1.0, self._configured * DEFAULT_BURST_SECONDS)
        self._burst = float(burst)
        if not math.isfinite(self._burst) or self._burst < 1.0:
            raise ValueError(f"burst must be a finite number of at least 1 part, not {burst!r}")
        if min_rate is None:
            min_rate = self._configured * DEFAULT_MIN_RATE_FRACTION
        self._min_rate = _positive(min_rate, "min_rate")
        if self._min_rate > self._configured:
            raise ValueError(f"min_rate {min_rate!r} is above the rate {rate!r}")
        self._decrease = float(decrease)
        if not 0.0 < self._decrease < 1.0:
            raise ValueError(f"decrease must be between 0 and 1 (exclusive), not {decrease!r}")
        self._recover_after = _positive(recover_after, "recover_after")
        self._step = _positive(increase, "increase") * self._configured
        self._clock = clock

        self._bucket: TokenBucket | None = None  # made at first use: the clock may need trio
        self._lock = trio.Lock()  # one waiter at a time sleeps on the bucket, the rest queue
        self._last_decrease = -math.inf  # time of the last throttle that lowered the rate
        self._last_throttle: float | None = None  # time of the last throttle of any kind
        self._low = self._configured  # the rate just after that last throttle
        self._steps = 0  # recovery steps applied since then
        self._waited = 0.0
        self._throttles = 0

    # -- metrics ---------------------------------------------------------------------------

    @property
    def configured_rate(self) -> float:
        return self._configured

    @property
    def burst(self) -> float:
        return self._burst

    @property
    def current_rate(self) -> float:
        """The rate in force now, recovery steps due by now included (reads the clock)."""
        if self._last_throttle is None:
            return self._configured
        return self._rate_after(self._due_steps(self._clock()))

    @property
    def waited_seconds_total(self) -> float:
        return self._waited

    @property
    def throttle_events_total(self) -> int:
        return self._throttles

    # -- the Pacer protocol ----------------------------------------------------------------

    async def acquire(self, wanted: int) -> int:
        """Wait until at least one part may go; return how many (1 to ``wanted``) go now.

        The returned parts are granted: their tokens are spent and the caller should send that
        many. Fewer than ``wanted`` come back when the bucket holds fewer whole tokens; the
        caller asks again for the rest. Waiters are served in arrival order. Nothing is
        reserved while waiting, so a cancelled acquire spends nothing; once tokens are taken
        the call returns without another checkpoint, so a grant is never lost to cancellation.
        """
        wanted = operator.index(wanted)
        if wanted < 1:
            raise ValueError(f"wanted must be at least 1, not {wanted}")
        start = self._clock()
        try:
            async with self._lock:
                while True:
                    now = self._clock()
                    bucket = self._update(now)
                    granted, wait = bucket.take_upto(now, wanted)
                    if granted:
                        return granted
                    # The bucket counts a token short by less than the clock can resolve
                    # as whole, so sleeping exactly this wait is enough: no spinning.
                    await trio.sleep(wait)
        finally:
            self._waited += self._clock() - start

    def throttled(self) -> None:
        """The operator refused a submit as too fast (ESME_RTHROTTLED / ESME_RMSGQFUL)."""
        now = self._clock()
        bucket = self._update(now)
        self._throttles += 1
        if now - self._last_decrease >= self._recover_after:
            bucket.set_rate(now, max(self._min_rate, bucket.rate * self._decrease))
            saved = bucket.available(now)
            if saved > 0.0:
                bucket.take(now, saved)  # the operator's window is full: no burst on top
            self._last_decrease = now
        self._last_throttle = now
        self._low = bucket.rate
        self._steps = 0

    def ok(self) -> None:
        """A submit was accepted. Recovery runs on the clock (quiet time since the last
        throttle), not on acceptances, so this only brings the bucket's rate up to date."""
        self._update(self._clock())

    # -- internals -------------------------------------------------------------------------

    def _due_steps(self, now: float) -> int:
        assert self._last_throttle is not None
        if now <= self._last_throttle:
            return 0
        return math.floor((now - self._last_throttle) / self._recover_after)

    def _rate_after(self, steps: int) -> float:
        rate = self._low + steps * self._step
        if rate >= self._configured * (1.0 - _RATE_SNAP):
            return self._configured
        return rate

    def _update(self, now: float) -> TokenBucket:
        """Create the bucket on first use and apply the recovery steps due by ``now``, each at
        its own time, so the bucket refills at the rate that was in force in each interval."""
        bucket = self._bucket
        if bucket is None:
            bucket = self._bucket = TokenBucket(self._configured, self._burst, now)
        if self._last_throttle is not None and bucket.rate < self._configured:
            due = self._due_steps(now)
            while self._steps < due and bucket.rate < self._configured:
                self._steps += 1
                at = min(now, self._last_throttle + self._steps * self._recover_after)
                bucket.set_rate(at, self._rate_after(self._steps))
        return bucket

    def __repr__(self) -> str:
        return (f"OperatorLimiter(configured_rate={self._configured!r}, "
                f"burst={self._burst!r}, bucket={self._bucket!r})")
