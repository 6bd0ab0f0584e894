"""End-to-end benchmark: client processes -> the daemon -> the simulator, receipts on.

Three processes kinds, as in production on one small box: the bundled simulator (its own
process, sending a receipt for every message), the daemon (``python -m gateway run``, LMDB with
``sync=True``: every accepted message is on disk before its reply), and N client processes
submitting with pipelined ``submit_many`` over the Unix socket.

Phase 1 (throughput): the clients submit ``--messages`` as fast as the daemon takes them. We
report messages per second accepted (until the last reply), submitted (until the operator
answered every part) and receipted (until every receipt is stored), read from the daemon's
Prometheus endpoint.

Phase 2 (latency): one client offers ``--latency-rate`` messages/s (default: half the measured
accept rate) in batches of ``--latency-batch`` and records each batch's accept latency (request
written to reply read); p50 / p99 / max over the batches, every message of a batch counted with
its batch's latency.

CPU seconds and peak memory of each process come from /proc. Exit status 1 when the targets are
missed: 10,000 messages/s end to end (receipted), p99 accept latency under 50 ms at half rate.

Run: ``.venv/bin/python bench/e2e.py`` (``--quick`` for a smoke run of 10,000 messages).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.machine import cpu_times, machine, steal_share  # noqa: E402
from gateway.client import Client  # noqa: E402

TARGET_RATE = 10_000
TARGET_P99 = 0.050
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class Tracer(threading.Thread):
    """Samples the daemon's counters and the processes' CPU every 0.25 s during phase 1."""

    def __init__(self, port: int, pids: dict[str, int], started: float) -> None:
        super().__init__(daemon=True)
        self.port, self.pids, self.started = port, pids, started
        self.rows: list[tuple[float, float, float, float, dict[str, float]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.25):
            try:
                m = scrape(self.port)
                cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
            except OSError:
                continue
            self.rows.append((
                time.perf_counter() - self.started,
                total(m, "gateway_messages_accepted_total"),
                total(m, "gateway_parts_submitted_total"),
                total(m, "gateway_receipts_total"),
                cpu,
            ))

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def table(self) -> str:
        lines = ["    t  accepted/s submitted/s receipted/s  daemon%  simulator%"]
        for before, row in zip(self.rows, self.rows[1:], strict=False):
            dt_ = row[0] - before[0]
            rates = [(row[i] - before[i]) / dt_ for i in (1, 2, 3)]
            cpu = [100 * (row[4][k] - before[4][k]) / dt_ for k in ("daemon", "simulator")]
            lines.append(
                f"{row[0]:5.2f} {rates[0]:11,.0f} {rates[1]:11,.0f} {rates[2]:11,.0f}"
                f" {cpu[0]:8.0f} {cpu[1]:10.0f}"
            )
        return "\n".join(lines)


def total(metrics: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


def messages(client_no: int, count: int, batch: int) -> list[list[dict]]:
    out = []
    for start in range(0, count, batch):
        out.append(
            [
                {
                    "account": "bench",
                    "to": f"+336{(client_no * 10_000_000 + i) % 100_000_000:08d}",
                    "from": "BOUTIQUE",
                    "text": f"Bonjour ! Votre commande n°{i} est prête. STOP au 36184",
                }
                for i in range(start, min(start + batch, count))
            ]
        )
    return out


def client_process(sock: str, client_no: int, count: int, batch: int, window: int, queue) -> None:  # noqa: PLR0917
    batches = messages(client_no, count, batch)
    with Client(sock, timeout=120) as client:
        started = time.perf_counter()
        results = client.submit_many_pipelined(batches, window=window)
        elapsed = time.perf_counter() - started
    ok = sum(1 for batch_results in results for r in batch_results if r["ok"])
    queue.put(
        {
            "client": client_no,
            "ok": ok,
            "seconds": elapsed,
            "cpu": time.process_time(),
            "rss_mb": peak_rss_mb(os.getpid()),
        }
    )


def latency_run(sock: str, rate: float, seconds: float, batch: int) -> list[float]:
    """Offer ``rate`` messages/s in batches; return one latency per message."""
    interval = batch / rate
    latencies: list[float] = []
    with Client(sock, timeout=30) as client:
        next_at = time.perf_counter()
        end = next_at + seconds
        n = 0
        while next_at < end:
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            msgs = [
                {
                    "account": "bench",
                    "to": f"+3369{(n * batch + i) % 10_000_000:07d}",
                    "from": "BOUTIQUE",
                    "text": "Votre code de connexion est 482913",
                }
                for i in range(batch)
            ]
            t0 = time.perf_counter()
            client.submit_many(msgs)
            latencies.extend([time.perf_counter() - t0] * batch)
            n += 1
            next_at += interval
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--window", type=int, default=4, help="submit_many in flight per client")
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--receipt-delay", type=float, default=0.2)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-batch", type=int, default=50)
    parser.add_argument("--latency-rate", type=float, default=None)
    parser.add_argument("--commit-interval-ms", type=float, default=8.0,
                        help="the daemon's [gateway] commit_interval_ms (group commit window)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--trace", action="store_true",
        help="print a timeline of phase 1 (counts and CPU every 0.25 s) to see which stage lags",
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.messages = 10_000
        args.latency_seconds = 3.0

    work = Path(tempfile.mkdtemp(prefix="gwbench", dir="/tmp"))
    sim_port, metrics_port = free_port(), free_port()
    sock = str(work / "gw.sock")
    config = work / "bench.toml"
    config.write_text(
        f"""
[gateway]
socket = "{sock}"
data_dir = "{work / "data"}"
max_batch = 10000
commit_interval_ms = {args.commit_interval_ms}
[logging]
format = "json"
level = "warning"
[metrics]
listen = "127.0.0.1:{metrics_port}"
[[operators]]
name = "sim"
host = "127.0.0.1"
port = {sim_port}
system_id = "gateway"
password = "secret"
binds = {args.binds}
window = 100
tps = 1000000
queue_size = 10000
[[accounts]]
name = "bench"
"""
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    sim_cmd = [
        "-m",
        "gateway.smpp.simulator",
        "--port",
        str(sim_port),
        "--receipt-delay",
        str(args.receipt_delay),
        "--receipt-style",
        "tlv",
    ]
    if os.environ.get("GATEWAY_BENCH_SIM"):  # a script run instead, given the port (profiling)
        sim_cmd = [os.environ["GATEWAY_BENCH_SIM"], str(sim_port)]
    sim = subprocess.Popen(
        [sys.executable, *sim_cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    daemon = None
    try:
        line = sim.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"bench: the simulator did not start: {line}")
        profile = os.environ.get("GATEWAY_BENCH_PROFILE")  # a path: profile the daemon there
        prefix = ["-m", "cProfile", "-o", profile] if profile else []
        daemon = subprocess.Popen(
            [sys.executable, *prefix, "-m", "gateway", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=work,
        )
        wait_for(lambda: Path(sock).exists(), 30, "the daemon's socket")
        wait_for(
            lambda: (
                scrape(metrics_port).get('gateway_sessions_bound{operator="sim"}', 0) >= args.binds
            ),
            30,
            "the binds",
        )

        # Phase 1: throughput
        per_client = args.messages // args.clients
        queue: mp.Queue = mp.Queue()
        cpu0 = {"daemon": cpu_seconds(daemon.pid), "simulator": cpu_seconds(sim.pid)}
        machine0 = cpu_times()
        started = time.perf_counter()
        tracer = Tracer(metrics_port, {"daemon": daemon.pid, "simulator": sim.pid}, started)
        if args.trace:
            tracer.start()
        procs = [
            mp.Process(
                target=client_process, args=(sock, n, per_client, args.batch, args.window, queue)
            )
            for n in range(args.clients)
        ]
        for p in procs:
            p.start()
        reports = [queue.get(timeout=600) for _ in procs]
        accepted_at = time.perf_counter() - started
        for p in procs:
            p.join()
        accepted = sum(r["ok"] for r in reports)
        submitted_at = receipted_at = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            m = scrape(metrics_port)
            now = time.perf_counter() - started
            if submitted_at is None and total(m, "gateway_parts_submitted_total") >= accepted:
                submitted_at = now
            if total(m, "gateway_receipts_total") >= accepted:
                receipted_at = now
                break
            time.sleep(0.25)
        if receipted_at is None:
            raise SystemExit("bench: not every receipt arrived within 600 s")
        cpu1 = {"daemon": cpu_seconds(daemon.pid), "simulator": cpu_seconds(sim.pid)}
        stolen = steal_share(machine0, cpu_times())
        if args.trace:
            tracer.stop()
            print(tracer.table(), file=sys.stderr)
        m = scrape(metrics_port)

        # Phase 2: latency at half rate
        accept_rate = accepted / accepted_at
        rate = args.latency_rate or min(accept_rate, accepted / receipted_at) / 2
        latencies = latency_run(sock, rate, args.latency_seconds, args.latency_batch)
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)

        rows = {
            "accepted": (accepted, accepted_at),
            "submitted": (accepted, submitted_at),
            "receipted": (accepted, receipted_at),
        }
        daemon_rss = peak_rss_mb(daemon.pid)
        sim_rss = peak_rss_mb(sim.pid)
        e2e_rate = accepted / receipted_at
        where = machine()
        now_utc = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        out = [
            f"Measured {now_utc} on {where}: `bench/e2e.py --messages {args.messages} "
            f"--clients {args.clients} --batch {args.batch}`, {args.binds} binds, window 100, "
            f"commit_interval_ms {args.commit_interval_ms:g}, "
            f"receipts on (delay {args.receipt_delay} s), LMDB sync on. CPU stolen by the "
            f"hypervisor during phase 1: {stolen:.0%} of the time the CPUs wanted.",
            "",
            "| stage | messages | seconds | messages/s |",
            "|---|---:|---:|---:|",
        ]
        for name, (count, seconds) in rows.items():
            out.append(f"| {name} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} |")
        out += [
            "",
            "| process | CPU s (phase 1) | peak RSS MB |",
            "|---|---:|---:|",
            f"| daemon | {cpu1['daemon'] - cpu0['daemon']:.1f} | {daemon_rss:.0f} |",
            f"| simulator | {cpu1['simulator'] - cpu0['simulator']:.1f} | {sim_rss:.0f} |",
        ]
        for r in sorted(reports, key=lambda r: r["client"]):
            out.append(f"| client {r['client']} | {r['cpu']:.1f} | {r['rss_mb']:.0f} |")
        commits = m.get("gateway_store_commits_total", 0)
        commit_avg = m.get("gateway_store_commit_seconds_sum", 0) / max(1, m.get(
            "gateway_store_commit_seconds_count", 0))
        out += [
            "",
            f"Write transactions: {commits:,.0f} for {accepted:,} messages and their outcomes "
            f"and receipts ({3 * accepted / max(commits, 1):,.0f} operations per commit, "
            f"{commit_avg * 1000:.1f} ms each on average).",
            f"Accept latency at {rate:,.0f} messages/s offered (batches of {args.latency_batch}, "
            f"{args.latency_seconds:g} s): p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms.",
            "",
            f"- [{'PASS' if e2e_rate >= TARGET_RATE else 'FAIL'}] at least {TARGET_RATE:,} "
            f"messages/s end to end (receipted): {e2e_rate:,.0f}",
            f"- [{'PASS' if p99 < TARGET_P99 else 'FAIL'}] p99 accept latency under "
            f"{TARGET_P99 * 1000:.0f} ms at half rate: {p99 * 1000:.1f} ms",
        ]
        print("\n".join(out))
        return 0 if e2e_rate >= TARGET_RATE and p99 < TARGET_P99 else 1
    finally:
        for proc in (daemon, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if daemon is not None and daemon.returncode not in (0, None):
            print(
                f"bench: daemon exited {daemon.returncode}: {daemon.stderr.read()[-2000:]}",
                file=sys.stderr,
            )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
