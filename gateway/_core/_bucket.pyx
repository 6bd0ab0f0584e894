# cython: language_level=3
"""A token bucket with no clock inside: every method takes ``now``, the caller's time in seconds.

Keeping the clock out is what lets the trio limiter pass ``trio.current_time()`` and then sleep
the returned wait, so that tests run on trio's MockClock in virtual time, and what lets the same
object be checked against the pure-Python oracle (tests/bucket_oracle.py) step by step. The
arithmetic here and in the oracle is written in the same order so that both give the same
doubles; keep them in step.
"""

from libc.float cimport DBL_EPSILON
from libc.math cimport fabs, floor, isfinite

#: A grant counts a token as whole when it is within this many tokens of whole, plus what the
#: resolution of ``now`` cannot express (``TIME_SLACK * |now| * rate``: a few ulps of ``now``
#: worth of refill). A caller that sleeps exactly the wait take_upto() returned reads a refill
#: that rounding leaves a little short of 1.0 (more so at a large ``now`` and a high rate);
#: without the slack it would be refused and told to wait less than ``now`` can resolve, and
#: would never get its token. One part per million of a token is invisible in any measurement.
cdef double WHOLE_SLACK = 1e-6
cdef double TIME_SLACK = 4.0 * DBL_EPSILON


cdef inline double _finite(object value, str what) except? -1.0:
    cdef double v = value
    if not isfinite(v):
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return v


cdef class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full at time ``now``.

    ``take()`` reserves and may run the bucket into debt, which gives callers that sleep the
    returned wait and then act exactly ``rate`` actions per second in the long run (the wait is
    when their reservation is paid off). ``take_upto()`` only grants what is there now and never
    runs into debt, which is what a caller needs when it may be cancelled while waiting: nothing
    is reserved for a waiter, so nothing is lost when it goes away.

    A ``now`` earlier than one already seen counts as no time passing: the bucket never refills
    negatively and never counts the same interval twice.
    """

    def __init__(self, rate, burst, now):
        cdef double r = _finite(rate, "rate")
        cdef double b = _finite(burst, "burst")
        cdef double t = _finite(now, "now")
        if r <= 0.0:
            raise ValueError(f"rate must be positive (tokens per second), not {rate!r}")
        if b < 1.0:
            raise ValueError(f"burst must be at least 1 token, not {burst!r}")
        self.rate = r
        self.burst = b
        self._tokens = b
        self._last = t

    cdef inline void _refill(self, double now) noexcept:
        cdef double tokens
        if now > self._last:
            tokens = self._tokens + (now - self._last) * self.rate
            self._tokens = tokens if tokens < self.burst else self.burst
            self._last = now

    cdef double _take(self, double now, double n) noexcept:
        self._refill(now)
        self._tokens -= n
        if self._tokens >= 0.0:
            return 0.0
        return -self._tokens / self.rate

    def take(self, now, n=1.0) -> float:
        """Reserve ``n`` tokens; return the seconds to wait before acting (0.0: act now).

        The tokens are taken even when the wait is positive: the bucket goes into debt and the
        next caller's wait includes this one's. A caller that abandons the wait therefore
        still uses up its tokens; use take_upto() when that matters.
        """
        cdef double t = _finite(now, "now")
        cdef double k = _finite(n, "n")
        if k < 0.0:
            raise ValueError(f"n must not be negative, not {n!r}")
        return self._take(t, k)

    def take_upto(self, now, Py_ssize_t wanted) -> tuple:
        """Grant as many whole tokens as there are now, at most ``wanted``: ``(granted, 0.0)``.

        When not one whole token is there (the bucket may also be in debt from take()), grant
        nothing and return ``(0, wait)``, the seconds until one will be; sleeping exactly that
        is enough. A token short of whole by less than the slack (see WHOLE_SLACK) counts as
        whole, so a grant can leave the bucket that little below zero, and no further.
        """
        cdef double t = _finite(now, "now")
        if wanted < 1:
            raise ValueError(f"wanted must be at least 1, not {wanted}")
        self._refill(t)
        cdef double slack = WHOLE_SLACK + TIME_SLACK * fabs(t) * self.rate
        cdef double whole = floor(self._tokens + slack)
        if whole < 1.0:
            return 0, (1.0 - self._tokens) / self.rate
        cdef Py_ssize_t granted = wanted if <double>wanted <= whole else <Py_ssize_t>whole
        self._tokens -= <double>granted
        return granted, 0.0

    def set_rate(self, now, rate) -> None:
        """Change the rate from ``now`` on; the time before ``now`` refills at the old rate."""
        cdef double t = _finite(now, "now")
        cdef double r = _finite(rate, "rate")
        if r <= 0.0:
            raise ValueError(f"rate must be positive (tokens per second), not {rate!r}")
        self._refill(t)
        self.rate = r

    def available(self, now) -> float:
        """Tokens there would be at ``now`` (negative while in debt); changes nothing."""
        cdef double t = _finite(now, "now")
        cdef double tokens
        if t > self._last:
            tokens = self._tokens + (t - self._last) * self.rate
            return tokens if tokens < self.burst else self.burst
        return self._tokens

    def __repr__(self) -> str:
        return (f"TokenBucket(rate={self.rate!r}, burst={self.burst!r}, "
                f"tokens={self._tokens!r}, last={self._last!r})")
