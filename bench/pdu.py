"""SMPP PDU codec benchmark: the compiled path (gateway/_core/_pdu.pyx) next to the generated
Python codec it replaced (kept as its oracle), on what the daemon does once per message.

Per message the daemon builds and encodes one submit_sm, cuts two frames from the stream (its
submit_sm_resp and the receipt), decodes a submit_sm_resp and a deliver_sm receipt, and builds
and encodes the deliver_sm_resp that acknowledges the receipt (``Session.respond``). Each row
times one of those, both ways, in the same run on the same values:

* ``python``    ``codec.builder_python`` / ``codec.encode_python`` / ``codec.decode_python`` and
                the framer's Python loop (``Framer._cut_python``);
* ``compiled``  ``codec.builder`` / ``codec.encode`` / ``codec.decode`` and ``codec.Framer``, the
                path that ships.

Figures are microseconds per operation, the best of several ``timeit`` repeats (noise only ever
adds time), Python call included. Before timing, both paths must give equal objects and octets
(exit status 3 otherwise).

Run: ``.venv/bin/python bench/pdu.py`` (about 10 s; ``--quick`` for a smoke run). On a shared
machine, under ``flock /tmp/bench.lock``.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gateway import codec as text_codec  # noqa: E402
from gateway.smpp import codec  # noqa: E402
from gateway.smpp.pdu import DeliverSm, DeliverSmResp, SubmitSm, SubmitSmResp  # noqa: E402

EXIT_CHECK_FAILED = 3

#: Frames in the stream the framer rows cut (alternating submit_sm_resp and receipt).
STREAM_FRAMES = 64


class PythonFramer(codec.Framer):
    """The framer with its Python cutting loop."""

    __slots__ = ()
    _cut = codec.Framer._cut_python


def sample() -> dict[str, object]:
    """What dispatch, the SMSC and the session handle for one message."""
    plan = text_codec.plan(
        "Bonjour Marie, votre commande 48213 est prete et vous attend en magasin jusqu'a "
        "samedi. Merci de votre confiance ! STOP au 36184"
    )
    submit_kw = dict(
        source_addr_ton=5,
        source_addr_npi=0,
        source_addr="BOUTIQUE",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        esm_class=plan.esm_class,
        validity_period="000002000000000R",
        registered_delivery=1,
        data_coding=plan.data_coding,
        short_message=plan.parts[0],
    )
    resp = codec.encode(SubmitSmResp(sequence_number=7, message_id="1234567890"))
    receipt = codec.encode(
        DeliverSm(
            sequence_number=9,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="33612345678",
            dest_addr_ton=5,
            destination_addr="BOUTIQUE",
            esm_class=0x04,
            short_message=b"id:1234567890 sub:001 dlvrd:001 submit date:2611220830 "
            b"done date:2611220830 stat:DELIVRD err:000 text:Bonjour Marie, vot",
            receipted_message_id="1234567890",
            message_state=2,
        )
    )
    return {
        "submit_kw": submit_kw,
        "submit": SubmitSm(**submit_kw),
        "resp": resp,
        "receipt": receipt,
        "ack": DeliverSmResp(sequence_number=9),
        "stream": (resp + receipt) * (STREAM_FRAMES // 2),
    }


def operations(s: dict) -> list[tuple[str, int, Callable[[], object], Callable[[], object]]]:
    """(name, operations per call, python, compiled)."""
    kw, submit, resp, receipt, ack, stream = (
        s["submit_kw"], s["submit"], s["resp"], s["receipt"], s["ack"], s["stream"]
    )
    py_build, c_build = codec.builder_python(SubmitSm), codec.builder(SubmitSm)
    py_ack, c_ack = codec.builder_python(DeliverSmResp), codec.builder(DeliverSmResp)
    py_enc, c_enc = codec.encode_python, codec.encode
    py_dec, c_dec = codec.decode_python, codec.decode
    return [
        ("build submit_sm (11 keywords)", 1, lambda: py_build(**kw), lambda: c_build(**kw)),
        ("encode submit_sm", 1, lambda: py_enc(submit, sequence_number=5),
         lambda: c_enc(submit, sequence_number=5)),
        ("decode submit_sm_resp", 1, lambda: py_dec(resp), lambda: c_dec(resp)),
        ("decode deliver_sm receipt", 1, lambda: py_dec(receipt), lambda: c_dec(receipt)),
        ("build deliver_sm_resp (3 keywords)", 1,
         lambda: py_ack(sequence_number=9, command_status=0, message_id=""),
         lambda: c_ack(sequence_number=9, command_status=0, message_id="")),
        ("encode deliver_sm_resp", 1, lambda: py_enc(ack), lambda: c_enc(ack)),
        (f"framer, per frame ({STREAM_FRAMES} in one read)", STREAM_FRAMES,
         lambda: PythonFramer().feed(stream), lambda: codec.Framer().feed(stream)),
    ]


def check(s: dict) -> list[str]:
    problems = []
    for name, _, py, compiled in operations(s):
        a, b = py(), compiled()
        if a != b or type(a) is not type(b):
            problems.append(f"{name}: the compiled result differs from Python's")
    if codec.encode(codec.decode(s["receipt"])) != s["receipt"]:
        problems.append("the receipt does not survive decode + encode")
    return problems


def best_us(ops, number: int, repeat: int, rounds: int) -> list[tuple[float, float]]:
    """Best µs per operation of each (python, compiled) pair. Each round times every pair once,
    both ways back to back, so a slow phase of a shared machine hits both alike; the best over
    all rounds is kept."""
    best = [[math.inf, math.inf] for _ in ops]
    for _ in range(rounds):
        for k, (_, per_call, py, compiled) in enumerate(ops):
            calls = number if per_call == 1 else max(1, 4 * number // per_call)
            for side, fn in enumerate((py, compiled)):
                t = min(timeit.repeat(fn, number=calls, repeat=repeat)) / calls / per_call
                best[k][side] = min(best[k][side], t * 1e6)
    return [(a, b) for a, b in best]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args(argv)
    number, repeat, rounds = (2000, 3, 1) if args.quick else (10000, 3, 5)

    s = sample()
    problems = check(s)
    if problems:
        print("error: " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_CHECK_FAILED

    print("SMPP PDU codec: generated Python vs compiled (gateway/_core/_pdu.pyx)")
    print(f"Machine: {platform.platform()}, CPython {platform.python_version()}")
    print(f"Timing: µs per operation, best of {repeat * rounds} timeit repeats "
          f"({rounds} rounds x {repeat})\n")
    print("| operation | python µs | compiled µs | python/compiled |")
    print("|---|---:|---:|---:|")
    per_message = {"python": 0.0, "compiled": 0.0}
    ops = operations(s)
    for (name, per_call, _, _), (t_py, t_c) in zip(ops, best_us(ops, number, repeat, rounds),
                                                   strict=True):
        weight = 2 if per_call > 1 else 1  # two frames per message
        per_message["python"] += weight * t_py
        per_message["compiled"] += weight * t_c
        print(f"| {name} | {t_py:.3f} | {t_c:.3f} | {t_py / t_c:.1f}x |")
    py_total, c_total = per_message["python"], per_message["compiled"]
    print(f"| **one message** (all of the above, 2 frames) | **{py_total:.2f}** | "
          f"**{c_total:.2f}** | **{py_total / c_total:.1f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
