"""Opt-out list benchmark: import 10 million numbers, then look them up (issue 5's targets).

Not part of ``make test``. Builds a CSV of random French mobile numbers ("+336" or "+337" and 8
digits, canonical E.164) in a temporary directory under /tmp, imports it into a fresh LMDB store,
and measures: import time (and its rate), size on disk, random lookups per second with one
``check`` per number and with ``check_many`` batches of 1000, for hits and for misses (scopes as
intake asks them: global, a network and an account), the time to open the store (which loads its
in-memory membership filter and the filter's tags from the entries; the keys-only load the filter
had before tags is timed next to it) and the filter's bytes per number, and the cost of
``normalize`` on the fast E.164 path and on national spellings (phonenumbers). The temporary
directory is deleted at the end.

Final section, in ``bench/intake.py`` (see its docstring; it also runs alone): intake throughput
of the real daemon and simulator with the opt-out check off (``[optout] applies_to =
["marketing"]``) vs on (``["marketing", "transactional"]``) on the same transactional workload,
in the same run, against a list of ``--intake-list`` numbers (default 1,000,000; when it equals
``--count`` the lookup sections' data dir is reused instead of importing a second list).
``--intake-only`` skips the lookup sections; ``--no-intake`` skips this one.

    .venv/bin/python bench/optout.py              # 10 million numbers
    .venv/bin/python bench/optout.py --count 1e6  # quicker

Targets: import under 60 s, batched lookups over 1 million/s, the opt-out check costing less than
5% of intake throughput. Exit status 1 if one is missed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake

from gateway._core import NumberSet
from gateway.numbers import normalize
from gateway.optout.store import OptoutStore, open_env

SCOPES = ["global", "network:chain", "account:shop-1"]


machine, valid_prefixes, next_prime = intake.machine, intake.valid_prefixes, intake.next_prime


def write_csv(path: Path, count: int, rng: random.Random) -> list[str]:
    """Write ``count`` distinct valid numbers; return a sample of them for hit lookups."""
    # Distinct values without materialising a set of 10M: an affine map mod a prime is a
    # bijection, so stepping x = 0, 1, 2... visits the number space in a random order.
    prefixes = valid_prefixes()
    space = len(prefixes) * 1_000_000
    prime = next_prime(space)  # values >= space are skipped
    a, b = rng.randrange(1, prime), rng.randrange(prime)
    sample: list[str] = []
    with open(path, "w", encoding="ascii") as f:
        written, x = 0, 0
        lines: list[str] = []
        while written < count:
            v = (a * x + b) % prime
            x += 1
            if v >= space:
                continue
            num = f"+33{prefixes[v // 1_000_000]}{v % 1_000_000:06d}"
            lines.append(num)
            written += 1
            if len(lines) == 100_000:
                f.write("\n".join(lines) + "\n")
                sample.extend(rng.sample(lines, 20))
                lines.clear()
        if lines:
            f.write("\n".join(lines) + "\n")
            sample.extend(lines[:20])
    return sample


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=float, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--intake-only", action="store_true", help="only the intake section")
    parser.add_argument("--no-intake", action="store_true", help="skip the intake section")
    intake.add_arguments(parser)
    args = parser.parse_args(argv)
    count = int(args.count)
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="optout-bench-", dir="/tmp"))
    rows: list[tuple[str, str]] = []
    ok = True
    intake_lines: list[str] = []
    intake_count = int(args.intake_list)
    try:
        if not args.intake_only:
            reuse = lookups(args, count, rng, tmp, rows)
            ok &= reuse.ok
        if not args.no_intake:
            if not args.intake_only and intake_count == count:
                data, on, off, note = tmp / "lmdb", reuse.hits, reuse.off, (
                    ", the lookup sections' list")
            else:
                data, note = tmp / "intake-lmdb", ""
                t0 = time.perf_counter()
                on, off, took = intake.build_list(data, tmp / "intake.csv", intake_count,
                                                  args.intake_messages, rng)
                print(f"  intake list: {intake_count:,} numbers built in "
                      f"{time.perf_counter() - t0:.1f} s (import {took:.1f} s)", file=sys.stderr)
            intake_lines, intake_ok = intake.run_section(
                data, on, off, args, list_size=intake_count, tmp=tmp, note=note)
            ok &= intake_ok
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if rows:
        print(f"\n### Opt-out list, {count:,} numbers\n\nMachine: {machine()}\n")
        print("| measure | result |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
    if intake_lines:
        print("\n".join(intake_lines))
    return 0 if ok else 1


@dataclass
class Lookups:
    ok: bool
    #: Numbers on the list (global scope) and numbers on none, for the intake section.
    hits: list[str]
    off: list[str]


def lookups(
    args: argparse.Namespace, count: int, rng: random.Random, tmp: Path,
    rows: list[tuple[str, str]],
) -> Lookups:
    """The import and lookup sections; the store is closed on return."""
    ok = True
    csv_path = tmp / "numbers.csv"
    t0 = time.perf_counter()
    hits = write_csv(csv_path, count, rng)
    prefixes = valid_prefixes()
    rows.append(("CSV generation", f"{time.perf_counter() - t0:.1f} s "
                 f"({csv_path.stat().st_size / 1e6:.0f} MB)"))

    # normalize() alone: the fast E.164 path and the phonenumbers path.
    sample = hits[:20_000] or ["+33612345678"]
    normalize(sample[0])  # builds the fast-path table once (~0.1 s): not per-number cost
    t0 = time.perf_counter()
    for s in sample:
        normalize(s)
    fast = rate(len(sample), time.perf_counter() - t0)
    national = [f"0{s[3]} {s[4:6]} {s[6:8]} {s[8:10]} {s[10:12]}" for s in sample[:5000]]
    t0 = time.perf_counter()
    for s in national:
        normalize(s)
    slow = rate(len(national), time.perf_counter() - t0)
    rows.append(("normalize, E.164 fast path", f"{fast:,.0f} /s"))
    rows.append(("normalize, national spelling (phonenumbers)", f"{slow:,.0f} /s"))

    env = open_env(tmp / "lmdb", map_size=1 << 36)
    store = OptoutStore(env)
    t0 = time.perf_counter()
    report = store.import_csv(csv_path, "global", "import", "bench", at=1_750_000_000)
    took = time.perf_counter() - t0
    assert report.imported == count and report.invalid_count == 0, report
    ok &= took < 60
    rows.append((f"import {count:,} numbers", f"{took:.1f} s ({rate(count, took):,.0f} /s)"
                 f" {'ok' if took < 60 else 'MISSED'} (target < 60 s)"))
    size = sum(p.stat().st_size for p in (tmp / "lmdb").iterdir())
    used = env.info()["last_pgno"] * env.stat()["psize"]
    rows.append(("size on disk", f"{size / 1e6:,.0f} MB file, {used / 1e6:,.0f} MB used "
                 f"({used / count:.0f} B/number)"))

    # What the daemon pays at start: loading the membership filter and its tags from the
    # entries; and, for comparison, a filter from the keys alone (no tags: every hit read LMDB).
    del store
    t0 = time.perf_counter()
    store = OptoutStore(env)
    took = time.perf_counter() - t0
    nbytes = store._filter.nbytes
    rows.append(("open (load the membership filter and its tags)",
                 f"{took:.1f} s, {nbytes / 2**20:,.0f} MiB ({nbytes / count:.1f} B/number), "
                 f"{len(store._tags.entries) - 1} tag set(s)"))
    t0 = time.perf_counter()
    keys_only = NumberSet(count)
    with env.begin(db=store._entries) as txn:
        keys_only.add_keys(txn.cursor().iternext(values=False))
    rows.append(("filter from the keys alone (no tags), for comparison",
                 f"{time.perf_counter() - t0:.1f} s"))
    del keys_only

    # A few hits in the narrower scopes too, so the checks exercise precedence.
    store.add_many([(n, "account:shop-1", "stop_reply", "shop-1", 1_750_000_000)
                    for n in hits[:1000]])
    hit_q = [rng.choice(hits) for _ in range(args.lookups)]
    miss_q = []
    while len(miss_q) < args.lookups:  # random valid numbers, minus the few imported ones
        n = f"+33{rng.choice(prefixes)}{rng.randrange(10**6):06d}"
        if store.check(n, ["global"], 0) is None:
            miss_q.append(n)
    now = 1_760_000_000
    for label, q in (("hits", hit_q), ("misses", miss_q)):
        single = q[: max(1, len(q) // 10)]
        t0 = time.perf_counter()
        for n in single:
            store.check(n, SCOPES, now)
        rows.append((f"check, single, {label}",
                     f"{rate(len(single), time.perf_counter() - t0):,.0f} /s"))
        t0 = time.perf_counter()
        found = 0
        for i in range(0, len(q), 1000):
            found += sum(h is not None for h in store.check_many(q[i:i + 1000], SCOPES, now))
        batched = rate(len(q), time.perf_counter() - t0)
        expected = len(q) if label == "hits" else 0
        assert found == expected, (label, found, expected)
        ok &= batched > 1_000_000
        rows.append((f"check_many x1000, {label}", f"{batched:,.0f} /s "
                     f"{'ok' if batched > 1e6 else 'MISSED'} (target > 1,000,000 /s)"))
        t0 = time.perf_counter()
        for i in range(0, len(q), 1000):
            store.check_many(q[i:i + 1000], ["global"], now)
        rows.append((f"check_many x1000, {label}, global scope only",
                     f"{rate(len(q), time.perf_counter() - t0):,.0f} /s"))
    off: list[str] = []
    if not args.no_intake and int(args.intake_list) == count:
        # Destinations on no list for the intake section (the lookup misses, and more).
        off = list(dict.fromkeys(miss_q))
        while len(off) < args.intake_messages:
            n = f"+33{rng.choice(prefixes)}{rng.randrange(10**6):06d}"
            if store.check(n, ["global", f"account:{intake.ACCOUNT}"], 0) is None:
                off.append(n)
        off = list(dict.fromkeys(off))
    env.close()
    # Not the 1000 added to account:shop-1 above: all of them are in global anyway.
    return Lookups(ok, list(dict.fromkeys(hits)), off)


if __name__ == "__main__":
    sys.exit(main())
