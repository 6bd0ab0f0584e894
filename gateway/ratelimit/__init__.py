"""Per-operator pacing: token buckets (compiled in gateway._core) fed by the clock the caller
passes in, and the trio limiter that sleeps on them and adapts to operator throttling.

``OperatorLimiter`` is loaded on first use so that importing the sans-IO parts of this package
(``bucket``, a future ``policy``) does not import trio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.ratelimit.bucket import TokenBucket

if TYPE_CHECKING:
    from gateway.ratelimit.limiter import OperatorLimiter

__all__ = ["OperatorLimiter", "TokenBucket"]


def __getattr__(name: str) -> Any:
    if name == "OperatorLimiter":
        from gateway.ratelimit.limiter import OperatorLimiter  # noqa: PLC0415

        return OperatorLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
