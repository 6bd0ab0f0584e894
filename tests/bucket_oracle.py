"""A pure-Python reference token bucket for the compiled one (``gateway/_core/_bucket.pyx``).

Same contract, written as plainly as possible: the tests drive both with the same operations and
compare every result, and ``bench/ratelimit.py`` times both. The arithmetic is done in the same
order as in the .pyx so that both produce the same doubles (IEEE-754 in both); only the tests and
the benchmark import this module.
"""

from __future__ import annotations

import math
import operator
import sys

#: As in the .pyx: a grant treats a token as whole when rounding left it this close to whole,
#: plus a few ulps of ``now`` worth of refill.
WHOLE_SLACK = 1e-6
TIME_SLACK = 4.0 * sys.float_info.epsilon


def _finite(value: object, what: str) -> float:
    # Cython converts with __float__ (or __index__) and rejects str, as float() does not.
    if not hasattr(type(value), "__float__") and not hasattr(type(value), "__index__"):
        raise TypeError(f"must be real number, not {type(value).__name__}")
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return v


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved, full at ``now``; see the .pyx."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        r = _finite(rate, "rate")
        b = _finite(burst, "burst")
        t = _finite(now, "now")
        if r <= 0.0:
            raise ValueError(f"rate must be positive (tokens per second), not {rate!r}")
        if b < 1.0:
            raise ValueError(f"burst must be at least 1 token, not {burst!r}")
        self._rate = r
        self._burst = b
        self._tokens = b
        self._last = t

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now

    def take(self, now: float, n: float = 1.0) -> float:
        t = _finite(now, "now")
        k = _finite(n, "n")
        if k < 0.0:
            raise ValueError(f"n must not be negative, not {n!r}")
        self._refill(t)
        self._tokens -= k
        return 0.0 if self._tokens >= 0.0 else -self._tokens / self._rate

    def take_upto(self, now: float, wanted: int) -> tuple[int, float]:
        t = _finite(now, "now")
        wanted = operator.index(wanted)
        if wanted < 1:
            raise ValueError(f"wanted must be at least 1, not {wanted}")
        self._refill(t)
        whole = math.floor(self._tokens + (WHOLE_SLACK + TIME_SLACK * abs(t) * self._rate))
        if whole < 1:
            return 0, (1.0 - self._tokens) / self._rate
        granted = min(wanted, whole)
        self._tokens -= granted
        return granted, 0.0

    def set_rate(self, now: float, rate: float) -> None:
        t = _finite(now, "now")
        r = _finite(rate, "rate")
        if r <= 0.0:
            raise ValueError(f"rate must be positive (tokens per second), not {rate!r}")
        self._refill(t)
        self._rate = r

    def available(self, now: float) -> float:
        t = _finite(now, "now")
        if t > self._last:
            return min(self._burst, self._tokens + (t - self._last) * self._rate)
        return self._tokens
