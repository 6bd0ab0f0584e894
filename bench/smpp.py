"""SMPP benchmark: PDU codec cost, and submit_sm round trips per second over one bind.

Part 1 times the hot PDU paths of ``gateway.smpp.codec`` against smpplib 2.2.4 in the same run:
encoding a submit_sm (what every part costs on the way out), decoding a submit_sm_resp (every part
on the way back) and a deliver_sm receipt (every receipt).

Part 2 starts the bundled simulator in its own process (``python -m gateway.smpp.simulator``, as
an operator would be) and drives one transceiver bind from this process through the real
``Operator``/``Link``/``Session`` stack at window 1, 10 and 100: round trips per second (submit_sm
sent until its submit_sm_resp is handled and its outcome reported), receipts off, over loopback.
Both processes share the machine's cores, as they would in production on a small box.

Target (exit status 1 when missed): at least 15,000 round trips/s at window 100.

Run with ``make bench`` or ``.venv/bin/python bench/smpp.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
import timeit
from pathlib import Path

import smpplib.command
import smpplib.smpp
import trio

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gateway import codec as text_codec  # noqa: E402
from gateway.smpp import codec  # noqa: E402
from gateway.smpp.client import LinkSettings, Operator, Outcome, SubmitJob  # noqa: E402
from gateway.smpp.pdu import DeliverSm, SubmitSm, SubmitSmResp  # noqa: E402

TARGET_WINDOW_100 = 15_000.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def best_ns(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


def sample_pdus() -> tuple[SubmitSm, bytes, bytes]:
    plan = text_codec.plan("Bonjour Marie, votre commande 48213 est prete. STOP au 36184")
    submit = SubmitSm(
        source_addr_ton=5,
        source_addr="BOUTIQUE",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        registered_delivery=1,
        data_coding=plan.data_coding,
        short_message=plan.parts[0],
    )
    resp = codec.encode(SubmitSmResp(sequence_number=7, message_id="1234567890"))
    receipt = codec.encode(
        DeliverSm(
            sequence_number=9,
            source_addr="33612345678",
            destination_addr="BOUTIQUE",
            esm_class=0x04,
            short_message=b"id:1234567890 sub:001 dlvrd:001 submit date:2611220830 "
            b"done date:2611220830 stat:DELIVRD err:000 text:Bonjour Marie",
            receipted_message_id="1234567890",
            message_state=2,
        )
    )
    return submit, resp, receipt


class _Client:
    """smpplib needs a client object for sequence numbers; parsing does not touch it."""

    sequence = 1

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def codec_table(quick: bool) -> list[tuple[str, float, float]]:
    number, repeat = (2000, 3) if quick else (20000, 7)
    submit, resp, receipt = sample_pdus()
    client = _Client()
    fields = {
        "source_addr_ton": 5,
        "source_addr": "BOUTIQUE",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": "33612345678",
        "registered_delivery": 1,
        "data_coding": 0,
        "short_message": submit.short_message,
    }

    def smpplib_encode() -> bytes:
        pdu = smpplib.smpp.make_pdu("submit_sm", client=client, **fields)
        return pdu.generate()

    def smpplib_decode(data: bytes):
        return smpplib.smpp.parse_pdu(data, client=client, allow_unknown_opt_params=True)

    rows = [
        (
            "encode submit_sm",
            best_ns(lambda: codec.encode(submit, sequence_number=5), number, repeat),
            best_ns(smpplib_encode, number, repeat),
        ),
        (
            "decode submit_sm_resp",
            best_ns(lambda: codec.decode(resp), number, repeat),
            best_ns(lambda: smpplib_decode(resp), number, repeat),
        ),
        (
            "decode deliver_sm receipt",
            best_ns(lambda: codec.decode(receipt), number, repeat),
            best_ns(lambda: smpplib_decode(receipt), number, repeat),
        ),
    ]
    return rows


def start_simulator() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.smpp.simulator", "--port", "0", "--seed", "1"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on [\d.]+:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, int(match.group(1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_trips(port: int, window: int, count: int) -> tuple[float, int]:
    """Submit ``count`` parts through one bind; returns (round trips per second, accepted)."""
    send, receive = trio.open_memory_channel(count)

    async def inbound(operator: str, pdus):
        return [0] * len(pdus)

    settings = LinkSettings(
        name="bench",
        host="127.0.0.1",
        port=port,
        system_id="gateway",
        password="secret",
        window=window,
        response_timeout=30.0,
    )
    operator = Operator(settings, outcomes=send, inbound=inbound, queue_size=max(1000, window * 4))
    plan = text_codec.plan("Votre code de connexion est 482913. Il expire dans 10 minutes.")
    accepted = 0
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            await nursery.start(operator.run)
            while operator.bound_links == 0:
                await trio.sleep(0.01)

            async def feed() -> None:
                for i in range(count):
                    await operator.submit(
                        SubmitJob(
                            pdu=SubmitSm(
                                source_addr="BOUTIQUE",
                                source_addr_ton=5,
                                destination_addr=f"336{i % 100_000_000:08d}",
                                dest_addr_ton=1,
                                dest_addr_npi=1,
                                data_coding=plan.data_coding,
                                short_message=plan.parts[0],
                            ),
                            tag=i,
                        )
                    )

            start = time.perf_counter()
            nursery.start_soon(feed)
            for _ in range(count):
                outcome = await receive.receive()
                accepted += outcome.outcome is Outcome.ACCEPTED
            elapsed = time.perf_counter() - start
            nursery.cancel_scope.cancel()
    return count / elapsed, accepted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args(argv)

    print("SMPP benchmark")
    print(f"Machine: {platform.platform()}; {cpu_model()}, {os.cpu_count()} cores")
    print(f"Software: CPython {platform.python_version()}, trio {trio.__version__}, smpplib 2.2.4")
    print(f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")

    rows = codec_table(args.quick)
    print("| PDU path | gateway ns | smpplib ns | smpplib/gateway |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:,.0f} | {theirs:,.0f} | {theirs / ours:.1f}x |")
    print()

    sizes = {1: 2000, 10: 10000, 100: 40000}
    if args.quick:
        sizes = {1: 500, 10: 2000, 100: 5000}
    proc, port = start_simulator()
    results = []
    try:
        for window, count in sizes.items():
            sim_cpu = cpu_seconds(proc.pid)
            own_cpu = time.process_time()
            rate, accepted = trio.run(round_trips, port, window, count)
            sim_used = cpu_seconds(proc.pid) - sim_cpu
            own_used = time.process_time() - own_cpu
            results.append((window, count, rate, accepted, own_used, sim_used))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("| window | submit_sm | round trips/s | accepted | gateway CPU s | simulator CPU s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for window, count, rate, accepted, own_used, sim_used in results:
        print(
            f"| {window} | {count:,} | {rate:,.0f} | {accepted:,} | {own_used:.2f} | "
            f"{sim_used:.2f} |"
        )
    rate_100 = next(rate for window, _, rate, *_ in results if window == 100)
    ok = rate_100 >= TARGET_WINDOW_100 and all(r[3] == r[1] for r in results)
    print(
        f"\nTarget: [{'PASS' if ok else 'FAIL'}] window 100 sustains at least "
        f"{TARGET_WINDOW_100:,.0f} round trips/s: {rate_100:,.0f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
