"""Command-line interface: ``python -m gateway <command>`` (also the ``gateway`` script).

``run`` starts the daemon; ``send``, ``status`` and ``tail`` talk to a running one over its
socket; ``count`` tells what a text costs before sending it and ``selfcheck`` checks the compiled
codec against known answers. Client commands exit 0 on success, 1 when the gateway answered with
an error (printed as ``code: message``), 3 when it cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import TextIO

from gateway import codec
from gateway._core import _split

ENCODING_NAMES = {"gsm7": "GSM-7", "ucs2": "UCS-2"}


def describe(c: codec.Count) -> str:
    """One line a person reads: "57/160 characters - 1 SMS (GSM-7)"."""
    capacity = c.per_part * c.parts
    line = f"{c.units}/{capacity} characters - {c.parts} SMS ({ENCODING_NAMES[c.encoding]}"
    if c.parts > 1:
        line += f", {c.per_part} per part"
    line += ")"
    if not c.sendable:
        line += f": too long, at most {codec.MAX_PARTS} parts"
    return line


def _char_name(ch: str) -> str:
    return f"{ch!r} U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}"


def count_report(text: str, out: TextIO) -> int:
    """Print the count, why a text is UCS-2, and what transliteration would change."""
    plain = codec.count(text)
    out.write(describe(plain) + "\n")
    if plain.encoding == "gsm7":
        extension = sorted({ch for ch in text if ch in "\x0c^{}\\[~]|€"})
        if extension:
            out.write("Counted twice (GSM-7 extension table): " + " ".join(extension) + "\n")
        return 0 if plain.sendable else 1
    forcing = [ch for ch in dict.fromkeys(text) if not codec.is_gsm7(ch)]
    out.write("UCS-2 because of: " + ", ".join(_char_name(ch) for ch in forcing) + "\n")
    changes = codec.transliteration_changes(text)
    if changes:
        listed = ", ".join(f"{src!r}->{dst!r}" for src, dst in changes)
        smart = codec.count(text, transliterate=True)
        if smart.transliterated:
            out.write(f"With transliteration ({listed}): {describe(smart)}\n")
        else:
            left = [ch for ch in forcing if ch not in dict(changes)]
            out.write(
                f"Transliteration ({listed}) would not avoid UCS-2: no GSM-7 form for "
                + ", ".join(_char_name(ch) for ch in left)
                + "\n"
            )
    return 0 if plain.sendable else 1


#: Known answers the compiled core must give (TS 23.038 / 23.040 examples and the splitting rule).
SELF_CHECKS: tuple[tuple[str, object, object], ...] = (
    ("'@' is septet 0x00", lambda: codec.plan("@").parts[0], b"\x00"),
    ("'€' is ESC 0x65", lambda: codec.plan("€").parts[0], b"\x1b\x65"),
    ("'ç' forces UCS-2", lambda: codec.plan("ç").encoding, "ucs2"),
    ("160 septets fit one SMS", lambda: len(codec.plan("a" * 160).parts), 1),
    ("161 septets need 2 parts", lambda: len(codec.plan("a" * 161).parts), 2),
    ("'€' straddling 153 adds a part", lambda: codec.count("a" * 152 + "€" + "a" * 152).parts, 3),
    ("70 UCS-2 units fit one SMS", lambda: codec.count("é" * 35 + "ç" * 35).parts, 1),
    (
        "8-bit concatenation UDH",
        lambda: codec.plan("a" * 200, ref=0xCC).parts[1][:6],
        bytes.fromhex("050003CC0202"),
    ),
    (
        "emoji is one surrogate pair",
        lambda: codec.plan("😀").parts[0],
        bytes.fromhex("D83DDE00"),
    ),
    (
        "decode finds the concatenation IE",
        lambda: codec.decode(bytes.fromhex("050003CC0201") + b"Hi", 0, udhi=True).seq,
        1,
    ),
)


def selfcheck(out: TextIO) -> int:
    failures = 0
    for name, compute, expected in SELF_CHECKS:
        got = compute()
        ok = got == expected
        failures += not ok
        out.write(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {got!r}") + "\n")
    out.write(
        f"codec self-check: {len(SELF_CHECKS) - failures}/{len(SELF_CHECKS)} passed "
        f"(compiled core {_split.__file__})\n"
    )
    return 1 if failures else 0


DEFAULT_SOCKET = "var/gateway.sock"
FINAL = frozenset({"delivered", "failed", "expired", "rejected"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the daemon")
    p_run.add_argument("--config", default="config/gateway.toml", help="TOML configuration")
    p_count = sub.add_parser("count", help="what a text costs: encoding, characters, parts")
    p_count.add_argument("text", nargs="?", help="the text (read from stdin when absent)")
    sub.add_parser("selfcheck", help="check the compiled codec against known answers")
    p_send = sub.add_parser("send", help="submit one message and follow it to its outcome")
    _socket_arg(p_send)
    p_send.add_argument("--account", default="demo")
    p_send.add_argument("--to", required=True, help="recipient, E.164 or national format")
    p_send.add_argument("--from", dest="sender", required=True, help="sender ID or number")
    p_send.add_argument("--text", required=True)
    p_send.add_argument(
        "--class", dest="klass", choices=("transactional", "marketing"), default="transactional"
    )
    p_send.add_argument("--ref", help="idempotency key (per account)")
    p_send.add_argument("--transliterate", action="store_true")
    p_send.add_argument("--no-wait", action="store_true", help="print the id and return")
    p_send.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the final state (default 30)"
    )
    p_status = sub.add_parser("status", help="a message's state, parts and receipts")
    _socket_arg(p_status)
    p_status.add_argument("id")
    p_tail = sub.add_parser("tail", help="follow events (status, receipt, reply) as JSON lines")
    _socket_arg(p_tail)
    p_tail.add_argument(
        "--events", default="status,receipt,reply", help="comma-separated kinds (default all)"
    )
    p_tail.add_argument(
        "--since",
        default=None,
        help="print the kept events after this cursor first ('' = all kept)",
    )
    return parser


def _socket_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", default=DEFAULT_SOCKET, help=f"daemon socket ({DEFAULT_SOCKET})")


def _client_command(args: argparse.Namespace, out: TextIO) -> int:
    from gateway.client import Client, GatewayConnectionError, GatewayError  # noqa: PLC0415 (count and run need no client)

    try:
        with Client(args.socket, timeout=max(10.0, getattr(args, "wait", 10.0) + 5)) as client:
            if args.command == "send":
                return _send(client, args, out)
            if args.command == "status":
                out.write(json.dumps(client.status(args.id), ensure_ascii=False, indent=2) + "\n")
                return 0
            return _tail(client, args, out)
    except GatewayError as exc:
        sys.stderr.write(f"gateway {args.command}: {exc.code}: {exc.message}\n")
        return 1
    except (OSError, GatewayConnectionError) as exc:
        sys.stderr.write(
            f"gateway {args.command}: cannot reach the gateway at {args.socket}: {exc}\n"
        )
        return 3
    except KeyboardInterrupt:
        return 130


def _send(client: object, args: argparse.Namespace, out: TextIO) -> int:
    fields = {
        "account": args.account,
        "to": args.to,
        "from": args.sender,
        "text": args.text,
        "class": args.klass,
        "transliterate": args.transliterate,
    }
    if args.ref:
        fields["ref"] = args.ref
    reply = client.submit(fields)  # type: ignore[attr-defined]
    line = f"{reply['id']} {reply['state']} ({reply['parts']} SMS, {reply['encoding']})"
    if reply.get("duplicate"):
        line += " - already submitted with this ref"
    out.write(line + "\n")
    out.flush()
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.wait
    state = reply["state"]
    while True:
        status = client.status(reply["id"])  # type: ignore[attr-defined]
        if status["state"] != state:
            state = status["state"]
            out.write(
                f"{reply['id']} {state}"
                + (f": {status['error']}" if status["error"] else "")
                + "\n"
            )
            out.flush()
        if state in FINAL:
            return 0 if state == "delivered" else 1
        if time.monotonic() > deadline:
            out.write(f"{reply['id']} still {state} after {args.wait:g} s\n")
            return 1
        time.sleep(0.1)


def _tail(client: object, args: argparse.Namespace, out: TextIO) -> int:
    kinds = [k for k in args.events.split(",") if k]
    events = client.subscribe(kinds)  # type: ignore[attr-defined]
    if args.since is not None:
        cursor = args.since
        while True:
            page = client.events_since(cursor, events=kinds)  # type: ignore[attr-defined]
            for event in page["events"]:
                out.write(json.dumps(event, ensure_ascii=False) + "\n")
            out.flush()  # the backlog shows at once, also through a pipe
            cursor = page["cursor"]
            if not page["more"]:
                break
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        out.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = sys.stdout
    if args.command == "count":
        text = args.text if args.text is not None else sys.stdin.read().rstrip("\n")
        try:
            return count_report(text, out)
        except codec.CodecError as exc:
            sys.stderr.write(f"gateway count: {exc}\n")
            return 2
    if args.command == "selfcheck":
        return selfcheck(out)
    if args.command == "run":
        from gateway.daemon import run  # noqa: PLC0415 (trio only for the daemon)

        return run(args.config)
    if args.command in ("send", "status", "tail"):
        return _client_command(args, out)
    return 2  # pragma: no cover - argparse rejects unknown commands
