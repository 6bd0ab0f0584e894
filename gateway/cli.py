"""Command-line interface: ``python -m gateway <command>`` (also the ``gateway`` script).

``run`` starts the daemon; ``send``, ``status``, ``tail`` and ``optout add|remove|check`` talk to
a running one over its socket; ``optout list|import|export`` open the LMDB store directly;
``count`` tells what a text costs before sending it and ``selfcheck`` checks the compiled codec
against known answers. Client commands exit 0 on success, 1 when the gateway answered with an
error (printed as ``code: message``), 3 when it cannot be reached; 2 is a usage error (or a file
that cannot be read or written).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import unicodedata
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

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
    _optout_parser(sub)
    return parser


DEFAULT_DATA_DIR = "var/data"
#: Invalid lines of an import printed (all are counted).
SHOWN_INVALID = 20
OPTOUT_REASONS = ("api", "import", "stop_reply", "failed_number")

OPTOUT_HELP = """\
The opt-out list: numbers that may not be messaged, in a scope ("global", "network:<name>",
"account:<name>").

add, remove and check ask the running daemon over its socket (--socket): the write commits in
the daemon's own transaction, its "optout" event goes to subscribers, and a removal is recorded
with --by in the list's history.

list, import and export open the LMDB store directly (--data-dir), with or without a daemon
running: LMDB is safe for several processes, and every write bumps a generation counter that
the daemon reads with each batch it checks, so a number imported here is refused by the
daemon's very next marketing submit (it reads the list exactly until its in-memory filter is
rebuilt, which it does once the import has been quiet for a couple of seconds). Scope names are
not checked against a configuration here: the store does not know it.

Mind the daemon's [gateway] map_size_mb: an import that makes the store outgrow the map of a
daemon running beside it leaves that daemon unable to open a transaction until it restarts
(LMDB's MDB_MAP_RESIZED). Keep map_size_mb well above the store's size (each number costs
roughly 50 to 100 bytes per number and scope).
"""


def _optout_parser(sub: Any) -> None:
    p = sub.add_parser(
        "optout", help="the opt-out list: add, remove, check, list, import, export",
        description=OPTOUT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    osub = p.add_subparsers(dest="optout_command", required=True)
    p_add = osub.add_parser("add", help="exclude a number (through the daemon)")
    _socket_arg(p_add)
    p_add.add_argument("number", help="E.164 or national format (the daemon's region)")
    p_add.add_argument("--scope", required=True, help="global, network:<name> or account:<name>")
    p_add.add_argument("--reason", choices=OPTOUT_REASONS, default="api")
    p_add.add_argument("--source", help="where it comes from (default: cli:<user>)")
    p_add.add_argument("--until", type=float, help="unix time the exclusion lapses (default never)")
    p_remove = osub.add_parser(
        "remove", help="re-subscribe a number, recorded (through the daemon)"
    )
    _socket_arg(p_remove)
    p_remove.add_argument("number")
    p_remove.add_argument("--scope", required=True)
    p_remove.add_argument("--by", help="who asks, kept in the history (default: cli:<user>)")
    p_check = osub.add_parser("check", help="is a number excluded (through the daemon)")
    _socket_arg(p_check)
    p_check.add_argument("number")
    p_check.add_argument("--account", help="only the scopes that apply to this account's messages")
    p_list = osub.add_parser("list", help="entries of the list (the store directly)")
    _data_dir_arg(p_list)
    p_list.add_argument("--scope", help="only this scope")
    p_list.add_argument("--limit", type=int, default=100, help="most entries shown (0 = all)")
    p_import = osub.add_parser("import", help="load a CSV file of numbers (the store directly)")
    _data_dir_arg(p_import)
    p_import.add_argument("file", help="CSV or plain list; the number is the first field")
    p_import.add_argument("--scope", required=True)
    p_import.add_argument("--reason", choices=OPTOUT_REASONS, default="import")
    p_import.add_argument("--source", help="recorded with each number (default: the file name)")
    p_import.add_argument("--region", default="FR", help="for national numbers (default FR)")
    p_import.add_argument(
        "--allow-non-mobile", action="store_true", help="accept fixed lines and the like too"
    )
    p_import.add_argument(
        "--batch", type=int, default=None, help="numbers per transaction (default 1,000,000)"
    )
    p_import.add_argument("--quiet", action="store_true", help="no progress bar")
    p_export = osub.add_parser("export", help="write the list as CSV (the store directly)")
    _data_dir_arg(p_export)
    p_export.add_argument("file", help="output file, or - for stdout")
    p_export.add_argument("--scope", help="only this scope")


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help=f"the daemon's LMDB directory ({DEFAULT_DATA_DIR})",
    )


def _socket_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", default=DEFAULT_SOCKET, help=f"daemon socket ({DEFAULT_SOCKET})")


def _client_command(args: argparse.Namespace, out: TextIO) -> int:
    from gateway.client import Client, GatewayConnectionError, GatewayError  # noqa: PLC0415 (count and run need no client)

    try:
        with Client(args.socket, timeout=max(10.0, getattr(args, "wait", 10.0) + 5)) as client:
            if args.command == "send":
                return _send(client, args, out)
            if args.command == "optout":
                return _optout_client(client, args, out)
            if args.command == "status":
                out.write(json.dumps(client.status(args.id), ensure_ascii=False, indent=2) + "\n")
                return 0
            return _tail(client, args, out)
    except GatewayError as exc:
        sys.stderr.write(f"gateway {_name(args)}: {exc.code}: {exc.message}\n")
        return 1
    except (OSError, GatewayConnectionError) as exc:
        sys.stderr.write(
            f"gateway {_name(args)}: cannot reach the gateway at {args.socket}: {exc}\n"
        )
        return 3
    except KeyboardInterrupt:
        return 130


def _name(args: argparse.Namespace) -> str:
    sub = getattr(args, "optout_command", None)
    return f"{args.command} {sub}" if sub else args.command


def _user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"cli:uid {os.getuid()}"


def _when(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _optout_client(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    from gateway.client import GatewayError  # noqa: PLC0415 (as in _client_command)

    command = args.optout_command
    fields: dict[str, Any] = {"number": args.number}
    if command == "add":
        fields.update(scope=args.scope, reason=args.reason, source=args.source or _user())
        if args.until is not None:
            fields["until"] = args.until
    elif command == "remove":
        fields.update(scope=args.scope, by=args.by or _user())
    elif args.account:
        fields["account"] = args.account
    reply = client.request(f"optout.{command}", fields)
    body = reply.body
    if not reply.ok:
        raise GatewayError(reply.code or "", reply.message or "", body["error"].get("field"))
    number = body.get("number", args.number)
    if command == "add":
        if body["added"]:
            out.write(f"{number} excluded in {body['scope']}\n")
        else:
            out.write(f"{number} was already excluded in {body['scope']} (entry kept as it was)\n")
    elif command == "remove":
        if body["removed"]:
            out.write(f"{number} removed from {body['scope']} (recorded, by {fields['by']})\n")
        else:
            out.write(f"{number} was not excluded in {body['scope']}: nothing removed\n")
    else:
        whose = f" for account {args.account}" if args.account else ""
        if not body["excluded"]:
            out.write(f"{number} is not excluded{whose}\n")
        for i, e in enumerate(body["entries"]):
            lead = f"{number} is excluded{whose} in" if i == 0 else "  and in"
            until = f", until {_when(e['until'])}" if e["until"] is not None else ""
            out.write(
                f"{lead} {e['scope']}: {e['reason']} since {_when(e['at'])}{until} "
                f"(source: {e['source']})\n"
            )
    return 0


class _Refused(Exception):
    """A direct store command cannot go on: ``code`` is the exit code (1 or 2)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _open_store(data_dir: str, *, create: bool) -> Any:
    """The opt-out store of the LMDB environment in ``data_dir``, opened as the daemon opens it
    (same ``max_dbs``, synchronous commits)."""
    from gateway.optout.store import OptoutStore  # noqa: PLC0415 (lmdb only for these commands)
    from gateway.storage import StoreError, open_env  # noqa: PLC0415

    if not create and not (Path(data_dir) / "data.mdb").is_file():
        raise _Refused(2, f"no store in {data_dir} (wrong --data-dir?)")
    try:
        return OptoutStore(open_env(data_dir))
    except StoreError as exc:
        raise _Refused(1, str(exc)) from None


def _check_scope(scope: str | None) -> None:
    from gateway.optout.store import parse_scope  # noqa: PLC0415

    if scope is not None:
        try:
            parse_scope(scope)
        except ValueError as exc:
            raise _Refused(2, str(exc)) from None


def _optout_local(args: argparse.Namespace, out: TextIO) -> int:
    from gateway.optout.store import StoreFull as ListFull  # noqa: PLC0415
    from gateway.storage import StoreFull  # noqa: PLC0415

    command = args.optout_command
    try:
        _check_scope(args.scope)
        if command == "import":
            return _import(args, out)
        if command == "export":
            return _export(args, out)
        return _list(args, out)
    except _Refused as exc:
        sys.stderr.write(f"gateway optout {command}: {exc}\n")
        return exc.code
    except (StoreFull, ListFull) as exc:
        sys.stderr.write(f"gateway optout {command}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


class _Progress:
    """The import's progress bar on stderr: one line rewritten with a carriage return."""

    def __init__(self, stream: TextIO, total_bytes: int, enabled: bool) -> None:
        self.stream = stream
        self.total = total_bytes
        self.enabled = enabled
        self.started = time.monotonic()
        self.width = 0

    def __call__(self, report: Any) -> None:
        if not self.enabled:
            return
        done = report.imported + report.duplicates
        rate = done / max(time.monotonic() - self.started, 1e-6)
        line = f"{done:,} numbers  {rate:,.0f}/s"
        if self.total:
            line += f"  {min(100.0, 100.0 * report.bytes_read / self.total):5.1f}%"
        line += f"  line {report.lines:,}"
        if report.invalid_count:
            line += f"  {report.invalid_count:,} invalid"
        self.width = max(self.width, len(line))
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()

    def end(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\n")
            self.stream.flush()


def _import(args: argparse.Namespace, out: TextIO) -> int:
    try:
        with open(args.file, "rb") as f:
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        raise _Refused(2, f"cannot read {args.file}: {exc.strerror or exc}") from None
    if args.batch is not None and args.batch < 1:
        raise _Refused(2, "--batch must be at least 1")
    store = _open_store(args.data_dir, create=True)
    progress = _Progress(sys.stderr, size, not args.quiet)
    options: dict[str, Any] = {} if args.batch is None else {"batch": args.batch}
    started = time.monotonic()
    try:
        report = store.import_csv(
            args.file, args.scope, args.reason, args.source, region=args.region,
            require_mobile=not args.allow_non_mobile, progress=progress, **options,
        )
    except KeyboardInterrupt:
        progress.end()
        sys.stderr.write(
            "gateway optout import: interrupted; the batches committed so far stay. Run the "
            "same import again to finish it (numbers already there count as duplicates)\n"
        )
        return 130
    except OSError as exc:
        progress.end()
        raise _Refused(2, f"cannot read {args.file}: {exc.strerror or exc}") from None
    progress.end()
    took = time.monotonic() - started
    for line_no, text, reason in report.invalid[:SHOWN_INVALID]:
        out.write(f"line {line_no}: {text!r}: {reason}\n")
    if report.invalid_count > SHOWN_INVALID:
        out.write(f"... and {report.invalid_count - SHOWN_INVALID:,} more invalid lines\n")
    extras = [f"{report.duplicates:,} already there", f"{report.invalid_count:,} invalid"]
    if report.blank:
        extras.append(f"{report.blank:,} blank or comment")
    if report.header:
        extras.append("header skipped")
    out.write(
        f"imported {report.imported:,} new numbers into {args.scope} ({', '.join(extras)}); "
        f"{report.lines:,} lines, {report.bytes_read:,} bytes in {took:.1f} s\n"
    )
    return 0


def _export(args: argparse.Namespace, out: TextIO) -> int:
    store = _open_store(args.data_dir, create=False)
    if args.file == "-":
        rows = store.export_csv(out, args.scope)
        out.flush()
    else:
        try:
            rows = store.export_csv(args.file, args.scope)
        except OSError as exc:
            raise _Refused(2, f"cannot write {args.file}: {exc.strerror or exc}") from None
    where = "stdout" if args.file == "-" else args.file
    sys.stderr.write(f"exported {rows:,} entries to {where}\n")
    return 0


def _list(args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 0:
        raise _Refused(2, "--limit must be 0 (all) or more")
    store = _open_store(args.data_dir, create=False)
    counts = store.count_by_scope()
    total = counts.get(args.scope, 0) if args.scope else sum(counts.values())
    entries = store.iter_entries(args.scope)
    shown = 0
    for e in islice(entries, args.limit or None):
        until = f"  until {_when(e.until)}" if e.until is not None else ""
        out.write(
            f"{e.number:<16} {e.scope:<20} {e.reason:<13} {_when(e.at)}  {e.source}{until}\n"
        )
        shown += 1
    by_scope = ", ".join(f"{scope}: {n:,}" for scope, n in sorted(counts.items()))
    summary = f"{total:,} entries" + (f" in {args.scope}" if args.scope else "")
    if shown < total:
        summary += f", {shown:,} shown (--limit)"
    out.write(summary + (f" [{by_scope}]" if by_scope and not args.scope else "") + "\n")
    return 0


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
    if args.command == "optout" and args.optout_command in ("list", "import", "export"):
        return _optout_local(args, out)
    if args.command in ("send", "status", "tail", "optout"):
        return _client_command(args, out)
    return 2  # pragma: no cover - argparse rejects unknown commands
