"""Token bucket benchmark: what one pacing decision costs, compiled core vs pure-Python oracle.

Every part the gateway sends costs one ``take_upto`` (the limiter's grant) or ``take``, under the
limiter's lock, so the bucket must be cheap next to building and writing a PDU. This script
times, in one run and on the same operations, the compiled ``gateway._core._bucket.TokenBucket``
(what ships) and ``tests/bucket_oracle.TokenBucket`` (the same contract in plain Python):

* ``take(now)``, granted: a bucket that never runs dry;
* ``take(now)``, in debt: a bucket run ever deeper into debt (a positive wait each time);
* ``take_upto(now, 5)``, granted, and refused (an empty bucket, same ``now``);
* ``take_upto(t, 1)`` with ``t`` advancing by 1/rate each call, so every call refills; the
  ``t += d`` statement is included in both columns, and its cost alone is the last row.

Each figure is nanoseconds per call including the Python call itself: the best of several
``timeit.repeat`` runs, each calibrated to last about ``--seconds``; best-of because noise only
ever adds time. Before timing, both implementations must agree on a short sequence.

Run with ``.venv/bin/python bench/ratelimit.py`` (after ``make build``); ``--quick`` for a smoke
run. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.machine import machine  # noqa: E402
from gateway._core._bucket import TokenBucket as Compiled  # noqa: E402
from tests.bucket_oracle import TokenBucket as Oracle  # noqa: E402

#: (label, setup, statement); ``B`` is the implementation under test.
CASES = [
    ("`take(now)`, granted", "b = B(1e6, 1e15, 0.0)", "b.take(1.0)"),
    ("`take(now)`, in debt", "b = B(1e6, 1.0, 0.0)", "b.take(1.0)"),
    ("`take_upto(now, 5)`, granted", "b = B(1e6, 1e15, 0.0)", "b.take_upto(1.0, 5)"),
    ("`take_upto(now, 5)`, refused", "b = B(1e6, 1.0, 0.0); b.take(0.0)",
     "b.take_upto(0.0, 5)"),
    ("`take_upto(t, 1)`, refilling", "b = B(1e6, 1.0, 0.0); t = 0.0; d = 1e-6",
     "t += d; b.take_upto(t, 1)"),
]
BASELINE = ("`t += d` alone (included above)", "t = 0.0; d = 1e-6", "t += d")


def check_agreement() -> None:
    ops = [("take", 0.0, 1.0), ("take_upto", 0.0, 3), ("take", 0.1, 5.0), ("take_upto", 0.2, 2),
           ("take_upto", 2.0, 9), ("take", 1.0, 0.0), ("take_upto", 2.7, 4)]
    c, o = Compiled(10.0, 4.0, 0.0), Oracle(10.0, 4.0, 0.0)
    for name, now, arg in ops:
        got, want = getattr(c, name)(now, arg), getattr(o, name)(now, arg)
        if got != want:
            raise SystemExit(f"compiled and oracle disagree on {name}({now}, {arg}): "
                             f"{got!r} != {want!r}")


def best_ns(impl: type, setup: str, stmt: str, seconds: float, repeat: int) -> float:
    timer = timeit.Timer(stmt, setup=setup, globals={"B": impl})
    number = 1
    while (elapsed := timer.timeit(number)) < seconds / 10:
        number *= 2
    number = max(1, round(number * seconds / elapsed))
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (best is kept)")
    parser.add_argument("--seconds", type=float, default=0.1, help="length of one repeat")
    args = parser.parse_args(argv)
    seconds, repeat = (0.01, 3) if args.quick else (args.seconds, args.repeat)

    check_agreement()
    print(f"Machine: {machine()}  ")
    print(f"Best of {repeat} `timeit` repeats of ~{seconds:g} s each, ns per call.\n")
    print("| operation | compiled (ns) | oracle (ns) | oracle / compiled |")
    print("|---|---:|---:|---:|")
    for label, setup, stmt in CASES:
        fast = best_ns(Compiled, setup, stmt, seconds, repeat)
        slow = best_ns(Oracle, setup, stmt, seconds, repeat)
        print(f"| {label} | {fast:.0f} | {slow:.0f} | {slow / fast:.1f}x |")
    label, setup, stmt = BASELINE
    base = best_ns(Compiled, setup, stmt, seconds, repeat)
    print(f"| {label} | {base:.0f} | {base:.0f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
