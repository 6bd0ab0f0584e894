"""Command-line interface: ``python -m gateway <command>``.

For now: ``count`` (what a text costs before sending it) and ``selfcheck`` (the compiled codec
answers known vectors). The daemon's commands (run, send, status, tail) join as they land.
"""

from __future__ import annotations

import argparse
import sys
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_count = sub.add_parser("count", help="what a text costs: encoding, characters, parts")
    p_count.add_argument("text", nargs="?", help="the text (read from stdin when absent)")
    sub.add_parser("selfcheck", help="check the compiled codec against known answers")
    return parser


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
    return 2  # pragma: no cover - argparse rejects unknown commands
