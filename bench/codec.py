"""Codec benchmark: what encoding and splitting one SMS costs, three implementations side by side.

Every message the gateway accepts goes through ``gateway.codec.plan()`` (encoding choice, GSM-7 or
UCS-2 payload, split into concatenated parts with their UDH), and the socket API calls
``gateway.codec.count()`` to quote a cost before sending. This script measures, in one run and on
the same corpus of French notification and marketing texts (``bench/corpus.py``):

* ``plan(text)``   the compiled core, the path that ships (``gateway/_core``, Cython);
* ``count(text)``  the compiled cost quote (no payloads built);
* ``smpplib``      ``smpplib.gsm.make_parts(text)`` (smpplib 2.2.4), the codec most Python SMPP
                   clients use, as the "what we would get otherwise" baseline;
* ``oracle``       ``tests/oracle.py``'s ``plan(text)``, the pure-Python reference the tests check
                   the core against: the same rules written as plainly as possible.

Each figure is nanoseconds per message: for every text, the best of several ``timeit.repeat``
runs (each long enough for the clock to be precise), then averaged over the texts of a category
and over the whole corpus. Best-of rather than mean because noise (other processes, frequency
changes) only ever adds time. The Python call itself is included: it is what a caller pays.

Before timing, the corpus is checked against its own description (encoding, septets/units, part
count of each category; the 160-septet text is exactly 160 septets) and ``plan()`` must give the
oracle's answer (same payload octets, texts, encoding, units) on every text, so the benchmark never
times a wrong answer. smpplib's agreement is reported but not required: it cuts parts at fixed
octet counts and can split an escape or surrogate pair (reference section 14).

Targets (exit status 1 when missed): ``plan()`` at least 50x faster than smpplib over the whole
corpus (ratio of total times), and under 1000 ns for one 160-septet GSM-7 text. Exit status 3 means
a corpus or correctness check failed and nothing was timed.

Run with ``make bench`` (or ``.venv/bin/python bench/codec.py``); ``--quick`` for a smoke run,
``--markdown`` for the Markdown report only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import math
import os
import platform
import sys
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent

#: plan() must beat smpplib.gsm.make_parts by this factor over the whole corpus.
TARGET_SPEEDUP = 50.0
#: plan() must take less than this on the 160-septet GSM-7 text.
TARGET_160_NS = 1000.0

#: Exit statuses (argparse uses 2 for usage errors).
EXIT_TARGET_MISSED = 1
EXIT_CHECK_FAILED = 3


@dataclass(frozen=True)
class Settings:
    """How long to time each (implementation, text) pair."""

    #: Wall time of one timeit repeat, in seconds; the number of calls is calibrated to it.
    repeat_seconds: float
    #: Repeats per pair in each round.
    repeats: int
    #: Passes over the whole corpus. A shared machine has slow phases lasting seconds; spreading
    #: each pair's repeats over the run lets every pair see the machine at its best.
    rounds: int

    @property
    def samples(self) -> int:
        return self.repeats * self.rounds


FULL = Settings(repeat_seconds=0.006, repeats=3, rounds=4)
QUICK = Settings(repeat_seconds=0.002, repeats=3, rounds=1)


@dataclass(frozen=True)
class Impl:
    key: str
    label: str
    func: Callable[[str], object]


@dataclass(frozen=True)
class Modules:
    codec: ModuleType
    oracle: ModuleType
    smpplib_gsm: ModuleType
    corpus: ModuleType


class CheckFailed(Exception):
    """The corpus or an implementation's answer is not what the benchmark assumes."""


# ---------------------------------------------------------------------------------------------
# Set-up


def import_modules() -> Modules:
    """gateway, tests/oracle.py and bench/corpus.py live in the repository, which is not installed
    in the venv: put its root on sys.path (as tests/conftest.py does) and import them."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import smpplib.gsm

    from bench import corpus
    from gateway import codec

    if not (REPO_ROOT / "tests" / "oracle.py").is_file():
        raise CheckFailed("tests/oracle.py is missing: the benchmark needs the pure-Python oracle")
    from tests import oracle

    return Modules(codec=codec, oracle=oracle, smpplib_gsm=smpplib.gsm, corpus=corpus)


def implementations(m: Modules) -> list[Impl]:
    return [
        Impl("plan", "plan()", m.codec.plan),
        Impl("count", "count()", m.codec.count),
        Impl("smpplib", "smpplib", m.smpplib_gsm.make_parts),
        Impl("oracle", "oracle", m.oracle.plan),
    ]


# ---------------------------------------------------------------------------------------------
# Checks before timing


#: What each corpus category promises (bench/corpus.py), as (description, predicate on Count).
CATEGORY_RULES: dict[str, tuple[str, Callable[[object], bool]]] = {
    "short": ("GSM-7, 1 part, at most 120 septets",
              lambda c: c.encoding == "gsm7" and c.parts == 1 and c.units <= 120),
    "~160": ("GSM-7, 1 part, 135 to 160 septets",
             lambda c: c.encoding == "gsm7" and c.parts == 1 and 135 <= c.units <= 160),
    "2-5 parts": ("GSM-7, 2 to 5 parts",
                  lambda c: c.encoding == "gsm7" and 2 <= c.parts <= 5),
    "ucs2+emoji": ("UCS-2", lambda c: c.encoding == "ucs2"),
}


def check_corpus(m: Modules) -> None:
    problems = []
    if list(m.corpus.CATEGORIES) != list(CATEGORY_RULES):
        problems.append(f"categories {list(m.corpus.CATEGORIES)} != {list(CATEGORY_RULES)}")
    for name, texts in m.corpus.CATEGORIES.items():
        rule, ok = CATEGORY_RULES.get(name, ("a known category", lambda c: False))
        for i, text in enumerate(texts):
            c = m.codec.count(text)
            if not ok(c):
                problems.append(f"{name}[{i}] should be {rule}, is {c!r}: {text[:40]!r}")
    text = m.corpus.TEXT_160
    c = m.codec.count(text)
    if not (c.encoding == "gsm7" and c.units == 160 and c.parts == 1 and len(text) == 160):
        problems.append(f"TEXT_160 must be 160 GSM-7 septets in 160 characters, is {len(text)} "
                        f"characters, {c!r}")
    if problems:
        raise CheckFailed("corpus does not match its description:\n  " + "\n  ".join(problems))


def check_against_oracle(m: Modules, texts: Sequence[str]) -> None:
    """plan() and count() must give the oracle's answer on every text, octet for octet."""
    problems = []
    for i, text in enumerate(texts):
        ours, ref = m.codec.plan(text), m.oracle.plan(text)
        for field in ("parts", "texts", "encoding", "data_coding", "esm_class", "units"):
            if getattr(ours, field) != getattr(ref, field):
                problems.append(f"text {i} {text[:40]!r}: plan().{field} differs from the oracle")
        c, rc = m.codec.count(text), m.oracle.count(text)
        if (c.encoding, c.units, c.parts) != (rc.encoding, rc.units, rc.parts):
            problems.append(f"text {i} {text[:40]!r}: count() {c!r} differs from the oracle {rc}")
    if problems:
        raise CheckFailed("plan() is not the oracle's answer:\n  " + "\n  ".join(problems))


def smpplib_agreement(m: Modules, texts: Sequence[str]) -> list[int]:
    """Indexes of texts on which smpplib's payloads differ from plan()'s (octet 3 of a
    concatenation UDH excluded: smpplib draws its reference at random)."""
    differ = []
    for i, text in enumerate(texts):
        ours = m.codec.plan(text)
        parts, data_coding, esm_class = m.smpplib_gsm.make_parts(text)
        same = (data_coding, esm_class) == (ours.data_coding, ours.esm_class)
        same = same and len(parts) == len(ours.parts)
        if same and len(parts) > 1:
            parts = [p[:3] + p[4:] for p in parts]
            same = parts == [p[:3] + p[4:] for p in ours.parts]
        elif same:
            same = parts[0] == ours.parts[0]
        if not same:
            differ.append(i)
    return differ


# ---------------------------------------------------------------------------------------------
# Timing


def calibrate(timer: timeit.Timer, seconds: float) -> int:
    """Number of calls that makes one repeat last about ``seconds`` (this also warms up)."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= seconds / 10:
            return max(1, math.ceil(number * seconds / elapsed))
        number *= 10


def time_corpus(impls: Sequence[Impl], texts: Sequence[str],
                settings: Settings) -> dict[str, list[float]]:
    """Best ns per call for each implementation and text.

    Each round times every implementation on one text before moving to the next text, so a slow
    drift of the machine affects them alike; the best over all rounds and repeats is kept, because
    noise (other processes, frequency changes, a neighbour on the host) only ever adds time.
    """
    timers: dict[tuple[str, int], tuple[timeit.Timer, int]] = {}
    best = {impl.key: [math.inf] * len(texts) for impl in impls}
    for _ in range(settings.rounds):
        for i, text in enumerate(texts):
            for impl in impls:
                if (impl.key, i) not in timers:
                    # Names bound in setup are locals of timeit's inner function: no global
                    # look-ups are timed, only the call.
                    timer = timeit.Timer("f(t)", setup="f = _f; t = _t",
                                         globals={"_f": impl.func, "_t": text})
                    timers[impl.key, i] = timer, calibrate(timer, settings.repeat_seconds)
                timer, number = timers[impl.key, i]
                runs = timer.repeat(repeat=settings.repeats, number=number)
                best[impl.key][i] = min(best[impl.key][i], min(runs) / number * 1e9)
    return best


# ---------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class Row:
    name: str
    texts: int
    mean_units: float
    parts: int
    ns: dict[str, float]  # mean ns per message, by implementation key

    def ratio(self, key: str) -> float:
        return self.ns[key] / self.ns["plan"]


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = str(os.cpu_count())
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
        if str(usable) != cores:
            cores += f" ({usable} usable)"

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": cores,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cython": version("Cython"),
        "smpplib": version("smpplib"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt_ns(ns: float) -> str:
    return f"{ns:,.0f}"


def fmt_ratio(r: float) -> str:
    return f"{r:,.1f}x"


COLUMNS = ("category", "texts", "units", "parts", "plan() ns", "count() ns", "smpplib ns",
           "oracle ns", "smpplib/plan", "oracle/plan")


def row_cells(row: Row) -> list[str]:
    return [row.name, str(row.texts), f"{row.mean_units:.0f}", str(row.parts),
            fmt_ns(row.ns["plan"]), fmt_ns(row.ns["count"]), fmt_ns(row.ns["smpplib"]),
            fmt_ns(row.ns["oracle"]), fmt_ratio(row.ratio("smpplib")),
            fmt_ratio(row.ratio("oracle"))]


def plain_table(rows: Sequence[Row]) -> str:
    cells = [list(COLUMNS), *(row_cells(r) for r in rows)]
    widths = [max(len(line[k]) for line in cells) for k in range(len(COLUMNS))]
    lines = []
    for n, line in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                               for k, (c, w) in enumerate(zip(line, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
        if n == len(cells) - 2:  # before the overall row
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|"]
    for row in rows:
        cells = row_cells(row)
        if row.name == "overall":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    rows: list[Row]
    ns_160: dict[str, float]
    speedup: float
    smpplib_differs: list[int]
    total_texts: int

    @property
    def speedup_ok(self) -> bool:
        return self.speedup >= TARGET_SPEEDUP

    @property
    def under_1us(self) -> bool:
        return self.ns_160["plan"] < TARGET_160_NS

    def target_lines(self) -> list[str]:
        def mark(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        return [
            f"[{mark(self.speedup_ok)}] plan() at least {TARGET_SPEEDUP:.0f}x faster than "
            f"smpplib.gsm.make_parts over the whole corpus (total time): "
            f"{fmt_ratio(self.speedup)}",
            f"[{mark(self.under_1us)}] plan() under {TARGET_160_NS:.0f} ns on the 160-septet "
            f"GSM-7 text: {fmt_ns(self.ns_160['plan'])} ns",
        ]


def build_rows(m: Modules, times: dict[str, list[float]]) -> list[Row]:
    rows = []
    start = 0
    all_units = all_parts = 0
    for name, texts in m.corpus.CATEGORIES.items():
        end = start + len(texts)
        counts = [m.codec.count(t) for t in texts]
        units = sum(c.units for c in counts)
        parts = sum(c.parts for c in counts)
        all_units += units
        all_parts += parts
        ns = {key: sum(v[start:end]) / len(texts) for key, v in times.items()}
        rows.append(Row(name, len(texts), units / len(texts), parts, ns))
        start = end
    ns = {key: sum(v) / start for key, v in times.items()}
    rows.append(Row("overall", start, all_units / start, all_parts, ns))
    return rows


def report_plain(info: dict[str, str], settings: Settings, outcome: Outcome) -> str:
    categories = ", ".join(f"{r.texts} {r.name}" for r in outcome.rows[:-1])
    differ = outcome.smpplib_differs
    n = outcome.total_texts
    ns160 = outcome.ns_160
    lines = [
        "Codec benchmark: gateway.codec.plan() vs smpplib.gsm.make_parts() vs tests/oracle.plan()",
        f"Machine: {info['platform']}; {info['cpu']}, {info['cores']} cores",
        f"Software: {info['python']}, Cython {info['cython']}, smpplib {info['smpplib']}",
        f"Date: {info['date']}",
        f"Corpus: {n} French texts ({categories})",
        f"Checks: plan() == oracle on all {n} texts (payload octets, texts, encoding, units); "
        f"count() agrees",
        f"smpplib payloads equal plan()'s on {n - len(differ)}/{n} texts"
        + (f" (differ: text {', '.join(map(str, differ))}; fixed-size cuts, reference section 14)"
           if differ else ""),
        f"Timing: ns per message; per text and implementation the best of {settings.samples} "
        f"repeats of ~{settings.repeat_seconds * 1000:.0f} ms ({settings.rounds} round(s) over the "
        f"corpus x {settings.repeats}), averaged over the texts of each category",
        "units = mean septets (GSM-7) or UTF-16 units (UCS-2) per text; parts = total parts",
        "",
        plain_table(outcome.rows),
        "",
        "160-septet GSM-7 text: plan() "
        f"{fmt_ns(ns160['plan'])} ns, count() {fmt_ns(ns160['count'])} ns, smpplib "
        f"{fmt_ns(ns160['smpplib'])} ns, oracle {fmt_ns(ns160['oracle'])} ns; plan() under 1 µs: "
        f"{'yes' if outcome.under_1us else 'NO'}",
        "",
        "Targets:",
        *("  " + line for line in outcome.target_lines()),
    ]
    return "\n".join(lines)


def report_markdown(info: dict[str, str], settings: Settings, outcome: Outcome) -> str:
    ns160 = outcome.ns_160
    lines = [
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores, {info['platform']}), "
        f"{info['python']}, Cython {info['cython']}, smpplib {info['smpplib']}: "
        f"`bench/codec.py{' --quick' if settings is QUICK else ''}`, ns per message (best of "
        f"{settings.samples} `timeit` repeats per text, averaged over each category's texts).",
        "",
        markdown_table(outcome.rows),
        "",
        f"One 160-septet GSM-7 text: `plan()` **{fmt_ns(ns160['plan'])} ns** "
        f"(`count()` {fmt_ns(ns160['count'])} ns, smpplib {fmt_ns(ns160['smpplib'])} ns, oracle "
        f"{fmt_ns(ns160['oracle'])} ns).",
        "",
        *("- " + line for line in outcome.target_lines()),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time gateway.codec.plan()/count() against smpplib.gsm.make_parts and the "
                    "pure-Python oracle on a corpus of French SMS; exit 1 if a target is missed, "
                    "3 if a correctness check fails.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: shorter and fewer repeats (figures are rougher)")
    parser.add_argument("--markdown", action="store_true",
                        help="print only the Markdown report (for bench/README.md)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = QUICK if args.quick else FULL
    try:
        m = import_modules()
        check_corpus(m)
        texts = [t for texts in m.corpus.CATEGORIES.values() for t in texts]
        check_against_oracle(m, [*texts, m.corpus.TEXT_160])
    except CheckFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    differ = smpplib_agreement(m, texts)

    impls = implementations(m)
    print(f"timing {len(texts)} texts + the 160-septet text x {len(impls)} implementations, "
          f"{settings.rounds} round(s)...", file=sys.stderr)
    times = time_corpus(impls, [*texts, m.corpus.TEXT_160], settings)
    ns_160 = {key: v.pop() for key, v in times.items()}

    outcome = Outcome(
        rows=build_rows(m, times),
        ns_160=ns_160,
        speedup=sum(times["smpplib"]) / sum(times["plan"]),
        smpplib_differs=differ,
        total_texts=len(texts),
    )
    info = machine_info()
    if not args.markdown:
        print(report_plain(info, settings, outcome))
        print("\nMarkdown (for bench/README.md):\n")
    print(report_markdown(info, settings, outcome))
    return 0 if outcome.speedup_ok and outcome.under_1us else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
