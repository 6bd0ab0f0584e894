"""The token bucket every operator's pacing is built on, as the rest of the gateway imports it.

The type is the compiled ``gateway._core._bucket.TokenBucket``; there is no pure-Python fallback
(a missing build fails at import, as for the codec), and the pure-Python twin in
``tests/bucket_oracle.py`` exists only to check and time this one.

How to use it: the bucket holds no clock, so every call passes ``now`` (seconds on whatever
monotonic clock the caller sleeps on; trio's in the limiter).

* ``TokenBucket(rate, burst, now)``: ``rate`` tokens per second, at most ``burst`` saved up,
  full at ``now``. ``rate > 0``, ``burst >= 1``, all finite, or ``ValueError``.
* ``take(now, n=1.0) -> wait``: reserve ``n`` now and act after sleeping ``wait`` seconds. The
  bucket goes into debt for a positive wait, which is what makes "sleep the wait, then act"
  deliver exactly ``rate`` per second in the long run; an abandoned wait still spends its tokens.
* ``take_upto(now, wanted) -> (granted, wait)``: grant up to ``wanted`` whole tokens that exist
  now, with ``wait == 0.0``; or ``(0, wait)`` when not one does, ``wait`` being the time until
  one will. Never goes into debt, so a waiter that is cancelled costs nothing.
* ``set_rate(now, rate)``: time up to ``now`` refills at the old rate, later time at the new.
* ``available(now)``: the tokens there are at ``now`` (negative in debt); read-only.
* ``rate`` and ``burst`` are read-only attributes.

A ``now`` earlier than the latest one seen counts as no time passing.
"""

from __future__ import annotations

from gateway._core._bucket import TokenBucket

__all__ = ["TokenBucket"]
