"""Intake throughput with the opt-out check on vs off, in one run (issue 5, item 11).

The last section of ``bench/optout.py`` (so ``make bench`` runs it); it also runs alone:

    .venv/bin/python bench/intake.py                      # a list of 1,000,000 numbers
    .venv/bin/python bench/intake.py --intake-list 1e7    # 10 million

A list of N numbers (``--intake-list``, default 1,000,000) is imported into a data dir in the
``global`` scope, with the daemon's own ``open_env``. ``bench/optout.py`` hands over the data dir
of its lookup sections instead when their list has the same size (``--count`` equal to
``--intake-list``), so the 10-million list is not built twice.

Then the real daemon (``python -m gateway run``, LMDB sync on) and the bundled simulator
(receipts on, delay 0.2 s, as in ``bench/e2e.py``) are started as subprocesses, on loopback, for
each run, on a fresh copy of that data dir (the same state every time), and client processes
(default 2) submit the SAME workload with ``Client.submit_many_pipelined``: ``--intake-messages``
transactional messages (default 100,000) in batches of 500, four batches in flight per client;
about 1% of the destinations are on the list, the others are not.

- run A, check off: ``[optout] applies_to = ["marketing"]`` (transactional is not checked);
- run B, check on: ``applies_to = ["marketing", "transactional"]``.

Runs are interleaved A B A B A B (``--intake-repeats``, default 3) and the medians compared.
The rate is the workload (every message answered, accepted or rejected) over the time from the
clients' common start to the last reply; accepted messages/s are shown too (B accepts 1% fewer by
design: that is the check's effect, not its cost). The verdict: the check costs less than 5% of
the intake rate (median B / median A > 0.95). Asserted on every run: A rejects nothing; B rejects,
as ``opted_out``, exactly the messages whose destination is on the list (per number, and in the
daemon's ``gateway_messages_rejected_total``); nothing else is refused.

Exit status 1 if the cost is 5% or more. Temporary files live under /tmp and are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.e2e import free_port, scrape  # noqa: E402
from gateway.client import Client  # noqa: E402
from gateway.numbers import normalize  # noqa: E402

MAX_COST = 0.05
ACCOUNT = "bench"
SCOPE = "global"
RECEIPT_DELAY = 0.2
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- numbers --------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def valid_prefixes() -> list[str]:
    """The 3-digit French mobile prefixes ("+33" + 6xx/7xx) that phonenumbers accepts: in the
    FR plan validity depends on those digits only (e.g. 639 and 690 are not mobile)."""
    out = []
    for p in range(600, 800):
        try:
            normalize(f"+33{p}000000")
            out.append(str(p))
        except ValueError:
            pass
    return out


def next_prime(n: int) -> int:
    def is_prime(m: int) -> bool:
        return m > 1 and all(m % d for d in range(2, int(m**0.5) + 1))
    while not is_prime(n):
        n += 1
    return n


def distinct_numbers(rng: random.Random) -> Iterator[str]:
    """Valid French mobile numbers, each once, in a random order: an affine map mod a prime is
    a bijection, so stepping x = 0, 1, 2... visits the number space without a set of seen ones
    (values past the space are skipped)."""
    prefixes = valid_prefixes()
    space = len(prefixes) * 1_000_000
    prime = next_prime(space)
    a, b = rng.randrange(1, prime), rng.randrange(prime)
    for x in range(prime):
        v = (a * x + b) % prime
        if v < space:
            yield f"+33{prefixes[v // 1_000_000]}{v % 1_000_000:06d}"


def build_list(
    data_dir: Path, csv_path: Path, count: int, off_count: int, rng: random.Random, *,
    pool: int = 5000,
) -> tuple[list[str], list[str], float]:
    """Import ``count`` numbers into ``data_dir`` (scope global); return a pool of numbers on
    the list, ``off_count`` numbers not on it, and the import's seconds."""
    from gateway.optout.store import OptoutStore
    from gateway.storage import open_env

    numbers = distinct_numbers(rng)
    step = max(1, count // pool)
    on: list[str] = []
    with open(csv_path, "w", encoding="ascii") as f:
        lines: list[str] = []
        for i in range(count):
            n = next(numbers)
            lines.append(n)
            if i % step == 0:
                on.append(n)
            if len(lines) == 100_000:
                f.write("\n".join(lines) + "\n")
                lines.clear()
        f.write("\n".join(lines) + "\n")
    off = [next(numbers) for _ in range(off_count)]  # past the list: never on it
    env = open_env(data_dir, map_size=1 << 34)
    try:
        t0 = time.perf_counter()
        report = OptoutStore(env).import_csv(csv_path, SCOPE, "import", "bench",
                                             at=1_750_000_000)
        took = time.perf_counter() - t0
        assert report.imported == count and report.invalid_count == 0, report
    finally:
        env.close()
    csv_path.unlink()
    return on, off, took


# --- one daemon run -------------------------------------------------------------------------


def wait_for(predicate, timeout: float, what: str, procs: Sequence[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"intake bench: {' '.join(p.args[1:4])} exited "
                                   f"{p.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"intake bench: timed out waiting for {what}")
        time.sleep(0.02)


def client_process(
    sock: str, chunks: list[list[str]], batch: int, window: int, conn
) -> None:
    """One client of one daemon: builds its messages, connects, then submits chunk ``k`` each
    time it is sent ``k`` (None: done) and sends back what the daemon answered."""
    work = []
    n = 0
    for dests in chunks:
        msgs = []
        for to in dests:
            msgs.append({"account": ACCOUNT, "to": to, "from": "BOUTIQUE",
                         "class": "transactional",
                         "text": f"Votre code de connexion est {n % 1_000_000:06d}"})
            n += 1
        work.append((msgs, [msgs[i:i + batch] for i in range(0, len(msgs), batch)]))
    with Client(sock, timeout=300) as client:
        conn.send("ready")
        while (k := conn.recv()) is not None:
            msgs, batches = work[k]
            started = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
            results = client.submit_many_pipelined(batches, window=window)
            ended = time.perf_counter()
            ok = 0
            refused: Counter[str] = Counter()
            opted_out: list[str] = []
            for msg, r in zip(msgs, (r for rs in results for r in rs), strict=True):
                if r["ok"]:
                    ok += 1
                else:
                    refused[r["error"]["code"]] += 1
                    if r["error"]["code"] == "opted_out":
                        opted_out.append(msg["to"])
            conn.send({"ok": ok, "refused": dict(refused), "opted_out": opted_out,
                       "started": started, "ended": ended})


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def config_text(work: Path, sock: str, metrics_port: int, sim_port: int, check: bool) -> str:
    applies = '["marketing", "transactional"]' if check else '["marketing"]'
    return f"""
[gateway]
socket = "{sock}"
data_dir = "{work / "data"}"
max_batch = 10000
[logging]
format = "json"
level = "warning"
[metrics]
listen = "127.0.0.1:{metrics_port}"
[optout]
applies_to = {applies}
[[operators]]
name = "sim"
host = "127.0.0.1"
port = {sim_port}
system_id = "gateway"
password = "secret"
binds = 2
window = 100
tps = 1000000
queue_size = 10000
[[accounts]]
name = "{ACCOUNT}"
"""


@dataclass
class Totals:
    messages: int = 0
    accepted: int = 0
    seconds: float = 0.0
    daemon_cpu: float = 0.0
    refused: Counter[str] = dataclasses.field(default_factory=Counter)
    opted_out: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def accepted_rate(self) -> float:
        return self.accepted / self.seconds


class Side:
    """One daemon (check on or off) with its own simulator, data dir copy and clients."""

    def __init__(self, template: Path, work: Path, check: bool) -> None:
        self.check = check
        self.work = work
        self.sim: subprocess.Popen | None = None
        self.daemon: subprocess.Popen | None = None
        self.clients: list = []
        self.conns: list = []
        self.totals = Totals()
        work.mkdir()
        (work / "data").mkdir()
        shutil.copyfile(template / "data.mdb", work / "data" / "data.mdb")  # lock.mdb: on open
        self.sock = str(work / "gw.sock")
        self.metrics_port = free_port()
        self.template = template

    def start(self, per_client: list[list[list[str]]], batch: int, window: int) -> None:
        sim_port = free_port()
        config = self.work / "bench.toml"
        config.write_text(config_text(self.work, self.sock, self.metrics_port, sim_port,
                                      self.check))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.sim = subprocess.Popen(
            [sys.executable, "-m", "gateway.smpp.simulator", "--port", str(sim_port),
             "--receipt-delay", str(RECEIPT_DELAY), "--receipt-style", "tlv"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        line = self.sim.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"intake bench: the simulator did not start: {line}")
        self.log = self.work / "daemon.log"
        with open(self.log, "w") as log:
            self.daemon = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=self.work,
            )
        try:
            wait_for(lambda: Path(self.sock).exists(), 120, "the daemon's socket",
                     [self.daemon])
            wait_for(lambda: self.metric('gateway_sessions_bound{operator="sim"}') >= 2, 60,
                     "the binds", [self.daemon])
        except RuntimeError:
            print(self.log.read_text()[-3000:], file=sys.stderr)
            raise
        ctx = mp.get_context("fork")
        for chunks in per_client:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_process, args=(self.sock, chunks, batch, window, child))
            p.start()
            self.clients.append(p)
            self.conns.append(parent)
        for conn in self.conns:
            if not conn.poll(120) or conn.recv() != "ready":
                raise RuntimeError("intake bench: a client did not connect")

    def metric(self, name: str) -> float:
        return scrape(self.metrics_port).get(name, 0.0)

    def receipts(self) -> float:
        m = scrape(self.metrics_port)
        return sum(v for k, v in m.items() if k.startswith("gateway_receipts_total"))

    def submit(self, k: int) -> None:
        """Submit chunk ``k`` from every client at once; add it to the totals; then wait until
        the daemon has every receipt of it, so none of its work spills into the next chunk."""
        cpu0 = cpu_seconds(self.daemon.pid)
        for conn in self.conns:
            conn.send(k)
        reports = []
        for conn in self.conns:
            if not conn.poll(600):
                raise RuntimeError("intake bench: a client did not answer")
            reports.append(conn.recv())
        cpu1 = cpu_seconds(self.daemon.pid)
        t = self.totals
        t.seconds += max(r["ended"] for r in reports) - min(r["started"] for r in reports)
        t.daemon_cpu += cpu1 - cpu0
        for r in reports:
            t.accepted += r["ok"]
            t.messages += r["ok"] + sum(r["refused"].values())
            t.refused.update(r["refused"])
            t.opted_out.update(r["opted_out"])
        wait_for(lambda: self.receipts() >= t.accepted, 60,
                 "the receipts", [self.daemon])

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for p in self.clients:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
        stop(self.daemon)
        stop(self.sim)
        d = self.daemon
        if d is not None and d.returncode not in (0, -signal.SIGTERM):
            print(f"intake bench: daemon exited {d.returncode}: {self.log.read_text()[-2000:]}",
                  file=sys.stderr)
        shutil.rmtree(self.work, ignore_errors=True)


def one_repeat(  # noqa: PLR0917
    template: Path, work: Path, per_client: list[list[list[str]]], batch: int, window: int,
    on_list: set[str],
) -> tuple[Totals, Totals]:
    """Both daemons up, the workload's chunks submitted to A and B in turn (A B, B A, ...);
    returns the totals of A (check off) and B (check on)."""
    work.mkdir()
    a = b = None
    try:
        a = Side(template, work / "A", check=False)
        b = Side(template, work / "B", check=True)
        a.start(per_client, batch, window)
        b.start(per_client, batch, window)
        for k in range(len(per_client[0])):
            for side in ((a, b) if k % 2 == 0 else (b, a)):
                side.submit(k)
        expected = Counter(n for c in per_client for chunk in c for n in chunk if n in on_list)
        for side, want in ((a, Counter()), (b, expected)):
            t = side.totals
            label = "B (check on)" if side.check else "A (check off)"
            assert set(t.refused) <= {"opted_out"}, f"{label}: refused for other reasons: {t}"
            assert t.opted_out == want, (
                f"{label}: rejected {t.opted_out.total():,} as opted_out, expected the "
                f"{want.total():,} messages to numbers on the list")
            counted = side.metric(
                f'gateway_messages_rejected_total{{account="{ACCOUNT}",reason="opted_out"}}')
            assert counted == want.total(), (label, counted, want.total())
        return a.totals, b.totals
    finally:
        for side in (b, a):
            if side is not None:
                side.close()
        shutil.rmtree(work, ignore_errors=True)


# --- the section ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intake-list", type=float, default=1_000_000,
                        help="numbers on the list for the intake runs (default 1,000,000)")
    parser.add_argument("--intake-messages", type=int, default=100_000)
    parser.add_argument("--intake-clients", type=int, default=2)
    parser.add_argument("--intake-batch", type=int, default=500)
    parser.add_argument("--intake-window", type=int, default=4,
                        help="submit_many in flight per client")
    parser.add_argument("--intake-hits", type=float, default=0.01,
                        help="share of destinations on the list")
    parser.add_argument("--intake-chunks", type=int, default=10,
                        help="the workload is submitted to A and B in turn, in this many chunks")
    parser.add_argument("--intake-repeats", type=int, default=3,
                        help="repeats, each with fresh daemons; medians reported")


def workload(on_pool: Sequence[str], off: Sequence[str], args: argparse.Namespace,
             rng: random.Random) -> list[list[list[str]]]:
    """The destinations, per client and per chunk: ~hits share on the list, the rest off it."""
    n = args.intake_messages
    hits = round(n * args.intake_hits)
    if hits > len(on_pool):
        on = [rng.choice(on_pool) for _ in range(hits)]
    else:
        on = rng.sample(list(on_pool), hits)
    assert len(off) >= n - hits, (len(off), n - hits)
    dests = on + list(off[: n - hits])
    rng.shuffle(dests)
    c, k = args.intake_clients, args.intake_chunks
    return [[dests[i::c][j::k] for j in range(k)] for i in range(c)]


def run_section(
    data_dir: Path, on_pool: Sequence[str], off: Sequence[str], args: argparse.Namespace,
    *, list_size: int, tmp: Path, note: str = "",
) -> tuple[list[str], bool]:
    """The A/B runs on copies of ``data_dir`` (closed: no process has it open); returns the
    Markdown lines and whether the cost is under the target."""
    rng = random.Random(11)
    per_client = workload(on_pool, off, args, rng)
    on_set = set(on_pool)
    hits = sum(1 for c in per_client for chunk in c for n in chunk if n in on_set)
    pairs: list[tuple[Totals, Totals]] = []
    for r in range(args.intake_repeats):
        a, b = one_repeat(data_dir, tmp / f"repeat-{r + 1}", per_client, args.intake_batch,
                          args.intake_window, on_set)
        pairs.append((a, b))
        print(f"  intake repeat {r + 1}: A {a.rate:,.0f} messages/s ({a.seconds:.2f} s), "
              f"B {b.rate:,.0f} messages/s ({b.seconds:.2f} s), B/A {b.rate / a.rate:.3f}",
              file=sys.stderr)
    med_a = statistics.median(a.rate for a, _ in pairs)
    med_b = statistics.median(b.rate for _, b in pairs)
    ratio = statistics.median(b.rate / a.rate for a, b in pairs)
    cost = 1 - ratio
    ok = cost < MAX_COST
    cpu = {name: statistics.median(t.daemon_cpu / t.messages * 1e6 for t in ts)
           for name, ts in (("A", [a for a, _ in pairs]), ("B", [b for _, b in pairs]))}
    per_chunk = args.intake_messages // args.intake_chunks
    out = [
        f"\n### Intake throughput, opt-out check off vs on, list of {list_size:,} numbers\n",
        f"Machine: {machine()}. Workload: {args.intake_messages:,} transactional messages "
        f"({hits:,} to numbers on the list), {args.intake_clients} client processes, "
        f"submit_many x{args.intake_batch}, {args.intake_window} in flight per client. "
        f"Per repeat, two daemons (LMDB sync on), each with its simulator (receipts on, "
        f"{RECEIPT_DELAY} s) and a fresh copy of the same data dir{note}, take the workload "
        f"in {args.intake_chunks} chunks of {per_chunk:,}, in turn (A B, B A, ...), each "
        "chunk timed from the clients' common start to the last reply, then drained (every "
        f"receipt stored) before the other daemon's; {args.intake_repeats} repeats, medians.\n",
        "| run | `[optout] applies_to` | messages/s (median) | accepted/s (median) "
        "| rejected (opted_out) per repeat | daemon CPU µs/message | each repeat, messages/s |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for i, name, applies in ((0, "A, check off", '["marketing"]'),
                             (1, "B, check on", '["marketing", "transactional"]')):
        ts = [p[i] for p in pairs]
        out.append(
            f"| {name} | `{applies}` | {statistics.median(t.rate for t in ts):,.0f} | "
            f"{statistics.median(t.accepted_rate for t in ts):,.0f} | "
            f"{ts[0].opted_out.total():,} | {cpu[name[0]]:.1f} | "
            f"{', '.join(f'{t.rate:,.0f}' for t in ts)} |")
    out += [
        "",
        f"B/A per repeat: {', '.join(f'{b.rate / a.rate:.3f}' for a, b in pairs)}; median "
        f"{ratio:.3f} (ratio of the medians {med_b / med_a:.3f}; accepted/s "
        f"{statistics.median(b.accepted_rate / a.accepted_rate for a, b in pairs):.3f}, B "
        f"accepting {hits / args.intake_messages:.0%} fewer by design). Every repeat: B "
        f"rejected exactly the {hits:,} messages to numbers on the list, A none.",
        "",
        f"- [{'PASS' if ok else 'FAIL'}] the opt-out check costs less than "
        f"{MAX_COST:.0%} of intake throughput: {cost:.1%} (median B/A {ratio:.3f})",
    ]
    return out, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="intake-bench-", dir="/tmp"))
    try:
        count = int(args.intake_list)
        t0 = time.perf_counter()
        on, off, took = build_list(tmp / "lmdb", tmp / "numbers.csv", count,
                                   args.intake_messages, random.Random(args.seed))
        print(f"  intake list: {count:,} numbers built in {time.perf_counter() - t0:.1f} s "
              f"(import {took:.1f} s)", file=sys.stderr)
        lines, ok = run_section(tmp / "lmdb", on, off, args, list_size=count, tmp=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
