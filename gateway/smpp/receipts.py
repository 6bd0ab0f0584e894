"""Delivery receipts (SMPP 3.4 Appendix B): turn a receipt ``deliver_sm`` into a :class:`Receipt`,
and match its message id to the one ``submit_sm_resp`` returned.

Why a module of its own: the receipt text is vendor specific, and the same SMSC may print the id
in a different base from the one it returned at submission (``../shared/reference`` §10). All of
that tolerance lives here, in pure functions over the values the PDU codec has already parsed
(octets, ints, str), so the parser can be tested exhaustively and the PDU codec stays strict.

Sans-IO: no clock, no logging, no I/O. The one exception :func:`parse_receipt` raises is
:class:`ReceiptParseError` (a ``ValueError``), for a receipt that yields neither a message id nor a
state; the caller logs it and still acknowledges the PDU (a redelivery would not parse any better).

Parsing rules (reference §10, "Parsing rules"):

* The TLVs ``receipted_message_id``, ``message_state`` and ``network_error_code`` win over the
  text when present, because they are typed and fixed by the specification while the text is not.
* The text comes from ``short_message``, or from ``message_payload`` when ``short_message`` is
  empty. The scanner finds known keys case-insensitively (``id``, ``sub``, ``dlvrd``,
  ``submit date`` / ``submit_date`` / ``submitdate``, ``done date`` (same variants), ``stat`` /
  ``status`` / ``state``, ``err`` / ``error``, ``text``), in any order, with unknown vendor fields
  in between. The first occurrence of a key wins, so a ``text:`` field that quotes ``id:...``
  cannot override the real id. The ``text`` value runs to the end of the receipt unless a key not
  seen before it follows (for vendors that put ``text:`` first), so unknown vendor fields *after*
  ``text:`` end up in the text.
* Structural fields are read octet for octet (Latin-1), so an id such as ``ab_12`` survives even
  with ``data_coding`` 0; only the ``text`` value is decoded with :func:`gateway.codec.decode`
  (GSM-7 for data_coding 0, where ``@`` is 0x00), falling back to Latin-1 when the codec cannot
  decode it. UCS-2 receipts (data_coding 8) are decoded as a whole first, then scanned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal

from gateway.codec import CodecError, decode

__all__ = [
    "ESM_CLASS_TYPE_MASK",
    "IdFormat",
    "Receipt",
    "ReceiptParseError",
    "ReceiptSource",
    "ReceiptStat",
    "ids_match",
    "is_receipt",
    "normalize_id",
    "parse_receipt",
    "receipt_outcome",
    "stat_from_word",
]

#: esm_class bits 5-2: the message type. Test with this mask, never with equality: a receipt can
#: arrive as 0x04 | 0x40 (UDHI) or with mode bits set (reference §8).
ESM_CLASS_TYPE_MASK = 0x3C
#: deliver_sm types whose body is an SMSC receipt: 0x04 delivery receipt, 0x20 intermediate
#: delivery notification (ENROUTE and the like, same text format).
_RECEIPT_TYPES = frozenset({0x04, 0x20})

#: Where the id and state of a receipt came from.
ReceiptSource = Literal["tlv", "text", "mixed"]


def is_receipt(esm_class: int) -> bool:
    """True when a deliver_sm's esm_class marks an SMSC delivery receipt (type 0x04) or an
    intermediate delivery notification (type 0x20), whatever the UDHI and mode bits say."""
    return (esm_class & ESM_CLASS_TYPE_MASK) in _RECEIPT_TYPES


class ReceiptParseError(ValueError):
    """A receipt that yields neither a message id nor a state: nothing can be matched or stored.

    ``raw`` holds the octets that were scanned (short_message or message_payload) for the log line.
    The caller still acknowledges the PDU: asking the SMSC to redeliver would not help.
    """

    def __init__(self, message: str, *, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class ReceiptStat(IntEnum):
    """A message's state: the receipt's ``stat`` word by name, the ``message_state`` TLV value
    (SMPP 3.4 §5.2.28; 0 and 9 are SMPP 5.0) by value."""

    #: [5.0] scheduled for later delivery; not final.
    SCHEDULED = 0
    #: in transit (intermediate notifications); not final.
    ENROUTE = 1
    #: delivered to the handset.
    DELIVRD = 2
    #: the validity period passed before delivery.
    EXPIRED = 3
    #: cancelled or deleted.
    DELETED = 4
    #: undeliverable.
    UNDELIV = 5
    #: accepted by an operator on the subscriber's behalf.
    ACCEPTD = 6
    #: the state is unknown (still final: no further receipt will come).
    UNKNOWN = 7
    #: rejected.
    REJECTD = 8
    #: [5.0] skipped (e.g. a recipient of a distribution list).
    SKIPPED = 9

    @property
    def final(self) -> bool:
        """True when no further receipt will follow; ENROUTE and SCHEDULED are intermediate."""
        return self not in (ReceiptStat.ENROUTE, ReceiptStat.SCHEDULED)


#: Stat words as SMSCs print them, upper-cased with everything but letters removed, so that
#: "Delivered", "EN_ROUTE" and "undeliverable" all land on the right state.
_STAT_WORDS: dict[str, ReceiptStat] = {
    "SCHEDULED": ReceiptStat.SCHEDULED,
    "SCHEDULD": ReceiptStat.SCHEDULED,
    "ENROUTE": ReceiptStat.ENROUTE,
    "DELIVRD": ReceiptStat.DELIVRD,
    "DELIVERED": ReceiptStat.DELIVRD,
    "DELIVRED": ReceiptStat.DELIVRD,
    "EXPIRED": ReceiptStat.EXPIRED,
    "EXPIRD": ReceiptStat.EXPIRED,
    "DELETED": ReceiptStat.DELETED,
    "DELETD": ReceiptStat.DELETED,
    "UNDELIV": ReceiptStat.UNDELIV,
    "UNDELIVRD": ReceiptStat.UNDELIV,
    "UNDELIVERED": ReceiptStat.UNDELIV,
    "UNDELIVERABLE": ReceiptStat.UNDELIV,
    "ACCEPTD": ReceiptStat.ACCEPTD,
    "ACCEPTED": ReceiptStat.ACCEPTD,
    "UNKNOWN": ReceiptStat.UNKNOWN,
    "UNKNOWNN": ReceiptStat.UNKNOWN,
    "REJECTD": ReceiptStat.REJECTD,
    "REJECTED": ReceiptStat.REJECTD,
    "SKIPPED": ReceiptStat.SKIPPED,
    "SKIPPD": ReceiptStat.SKIPPED,
}

_STATE_VALUES = frozenset(s.value for s in ReceiptStat)
_NOT_LETTERS = re.compile(r"[^A-Z]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ASCII_HEX = re.compile(r"(?:0[xX])?([0-9A-Fa-f]+)")


def stat_from_word(word: str) -> ReceiptStat | None:
    """The state a receipt's ``stat`` word names, or None when the word is not one we know.

    Case and punctuation are ignored and common long forms are accepted (DELIVERED, UNDELIVERABLE,
    REJECTED, ACCEPTED, the SMPP 5.0 SCHEDULED and SKIPPED); a number is read as a message_state
    value (some SMSCs print ``stat:2``).
    """
    token = word.strip()
    if _ASCII_DIGITS.fullmatch(token) and len(token) <= 3:
        value = int(token)
        return ReceiptStat(value) if value in _STATE_VALUES else None
    return _STAT_WORDS.get(_NOT_LETTERS.sub("", token.upper()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What a delivery receipt says about one submitted message.

    Don't subclass this: it is a value, compared and stored as is.
    """

    #: The id the receipt is about, exactly as received (TLV ``receipted_message_id`` when present,
    #: else the text's ``id:``); look it up with :func:`normalize_id`. None when only a state came.
    message_id: str | None
    #: The id printed in the text, when there is one. It can differ in base from a TLV id (hex in
    #: the TLV, decimal in the text is common), which is why both are kept.
    text_id: str | None = None
    #: The state (TLV ``message_state`` when present and valid, else the text's ``stat``), None
    #: when neither is there or the word is unknown.
    state: ReceiptStat | None
    #: The canonical stat word of ``state`` (e.g. "DELIVRD" for "delivered"); the word as received
    #: when it is not one we know; None without either.
    stat: str | None
    #: No further receipt will follow. False when ``state`` is None: the caller decides.
    final: bool
    #: The message reached the handset (``state`` is DELIVRD).
    delivered: bool
    #: The text's ``err:`` value as printed (e.g. "000"), None when absent.
    error: str | None = None
    #: (network type, error code) from the 3-octet ``network_error_code`` TLV: type 1 ANSI-136,
    #: 2 IS-95, 3 GSM (5.0 adds 4-8). None when absent or not 3 octets long.
    network_error: tuple[int, int] | None = None
    #: ``submit date`` / ``done date`` as naive datetimes in the SMSC's clock: the receipt carries
    #: no offset, so the zone is the operator's (usually its local time, sometimes UTC); the caller
    #: that knows the operator applies it. None when absent or not a valid 10/12/14-digit date.
    submitted: datetime | None = None
    done: datetime | None = None
    #: ``sub`` / ``dlvrd`` counts (parts submitted / delivered), None when absent or not a number.
    sub: int | None = None
    dlvrd: int | None = None
    #: The ``text:`` field (first characters of the message), "" when present but empty.
    text: str | None = None
    #: "tlv": id/state from TLVs and nothing read from the text; "text": no id/state TLV;
    #: "mixed": TLVs and text both contributed (the TLVs won where they overlap).
    source: ReceiptSource


# ---------------------------------------------------------------------------------------------
# Text scanner

#: A known key followed by a colon. The look-behind keeps "smsc_id:" or "paid:" from reading as
#: "id:"; 0x11 is '_' in GSM-7, for SMSCs that encode "submit_date" in the default alphabet.
_KEY_RE = re.compile(
    r"(?<![0-9A-Za-z_\-.\x11])"
    r"(id|sub|dlvrd|submit[\s_\-\x11]{0,3}date|done[\s_\-\x11]{0,3}date"
    r"|stat|status|state|err|error|text)"
    r"[ \t]*:",
    re.IGNORECASE,
)
_FIELDS: dict[str, str] = {
    "id": "id",
    "sub": "sub",
    "dlvrd": "dlvrd",
    "submitdate": "submit",
    "donedate": "done",
    "stat": "stat",
    "status": "stat",
    "state": "stat",
    "err": "err",
    "error": "err",
    "text": "text",
}
_KEY_LETTERS = re.compile(r"[^a-z]+")
#: UCS-2 data_coding values (8, and the TS 23.038 message-waiting group 0xE0-0xEF).
_UCS2 = frozenset({0x08, *range(0xE0, 0xF0)})
#: The first octets of a receipt shown in a ReceiptParseError.
_PREVIEW_OCTETS = 80


def _scan(s: str) -> dict[str, tuple[int, int]]:
    """Field name -> (start, end) of its value in ``s``, by the rules in the module docstring."""
    matches = list(_KEY_RE.finditer(s))
    found: dict[str, tuple[int, int]] = {}
    text_open = False
    for i, m in enumerate(matches):
        field = _FIELDS.get(_KEY_LETTERS.sub("", m.group(1).lower()))
        if field is None or field in found:
            continue
        if text_open:
            # A key we have not seen follows the text: this vendor puts text: first.
            found["text"] = (found["text"][0], m.start())
            text_open = False
        if field == "text":
            found["text"] = (m.end(), len(s))
            text_open = True
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(s)
        found[field] = (m.end(), end)
    return found


def _token(s: str, span: tuple[int, int] | None) -> str | None:
    """The first whitespace-separated token of a value, NULs dropped; None when empty."""
    if span is None:
        return None
    words = s[span[0] : span[1]].replace("\x00", " ").split()
    return words[0] if words else None


def _count(token: str | None) -> int | None:
    """A zero-padded count such as ``sub:001``; None unless it is plain ASCII digits."""
    if token is None or not _ASCII_DIGITS.fullmatch(token) or len(token) > 9:
        return None
    return int(token)


def _date(token: str | None) -> datetime | None:
    """YYMMDDhhmm, YYMMDDhhmmss (20YY) or YYYYMMDDhhmmss; None when absent or impossible."""
    if token is None or not _ASCII_DIGITS.fullmatch(token):
        return None
    n = len(token)
    if n in (10, 12):
        year, rest = 2000 + int(token[:2]), token[2:]
    elif n == 14:
        year, rest = int(token[:4]), token[4:]
    else:
        return None
    try:
        return datetime(
            year,
            int(rest[0:2]),
            int(rest[2:4]),
            int(rest[4:6]),
            int(rest[6:8]),
            int(rest[8:10]) if len(rest) == 10 else 0,
        )
    except ValueError:
        return None


def _decode_text(octets: bytes, data_coding: int) -> str:
    """Text in the receipt's data_coding; Latin-1 (which cannot fail) when the codec cannot."""
    if 0 <= data_coding <= 0xFF:
        try:
            return decode(octets, data_coding).text
        except CodecError:
            pass
    return octets.decode("latin-1")


def _scan_octets(
    raw: bytes, data_coding: int
) -> tuple[str, dict[str, tuple[int, int]], str | None]:
    """(scanned string, field spans, decoded text value). UCS-2 is decoded before scanning; every
    other data_coding is scanned as Latin-1 (one char per octet) so spans are octet offsets, and
    only the text value is decoded, which keeps ids byte-exact under GSM-7."""
    if data_coding in _UCS2 and len(raw) % 2 == 0:
        s = decode(raw, data_coding).text  # even length: cannot raise
        spans = _scan(s)
        if "id" in spans or "stat" in spans:
            text = spans.get("text")
            return s, spans, (s[text[0] : text[1]].strip() if text else None)
        # Not UCS-2 after all (an SMSC that labels ASCII as dc 8): scan the octets instead.
    s = raw.decode("latin-1")
    spans = _scan(s)
    text_span = spans.get("text")
    text = None
    if text_span is not None:
        text = _decode_text(raw[text_span[0] : text_span[1]], data_coding).strip()
    return s, spans, text


def parse_receipt(
    short_message: bytes,
    *,
    data_coding: int = 0,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
    message_payload: bytes | None = None,
) -> Receipt:
    """Parse a receipt deliver_sm (or data_sm) from its short_message and optional TLVs.

    TLVs win over the text (module docstring). Raises :class:`ReceiptParseError` when neither a
    message id nor a state can be found, and nothing else on any octets: a receipt is untrusted
    input, and one malformed receipt must not take down the link that carried it.
    """
    raw = bytes(short_message) if short_message else bytes(message_payload or b"")

    tlv_id = receipted_message_id.strip("\x00 \t\r\n") if receipted_message_id else ""
    tlv_state = (
        ReceiptStat(message_state)
        if isinstance(message_state, int) and message_state in _STATE_VALUES
        else None
    )
    network_error = None
    if network_error_code is not None and len(network_error_code) == 3:
        nec = bytes(network_error_code)
        network_error = (nec[0], int.from_bytes(nec[1:3], "big"))

    s, spans, text = _scan_octets(raw, data_coding) if raw else ("", {}, None)
    text_id = _token(s, spans.get("id"))
    stat_word = _token(s, spans.get("stat"))
    text_state = stat_from_word(stat_word) if stat_word is not None else None

    message_id = tlv_id or text_id
    state = tlv_state if tlv_state is not None else text_state
    if message_id is None and state is None:
        preview = raw[:_PREVIEW_OCTETS]
        more = "..." if len(raw) > _PREVIEW_OCTETS else ""
        raise ReceiptParseError(
            "not a usable delivery receipt: no message id (receipted_message_id TLV or 'id:') and "
            f"no state (message_state TLV or a known 'stat:' word) in {len(raw)} octets: "
            f"{preview!r}{more}",
            raw=raw,
        )

    source: ReceiptSource
    if not tlv_id and tlv_state is None:
        source = "text"
    elif spans:
        source = "mixed"
    else:
        source = "tlv"

    return Receipt(
        message_id=message_id,
        text_id=text_id,
        state=state,
        stat=state.name if state is not None else stat_word,
        final=state.final if state is not None else False,
        delivered=state is ReceiptStat.DELIVRD,
        error=_token(s, spans.get("err")),
        network_error=network_error,
        submitted=_date(_token(s, spans.get("submit"))),
        done=_date(_token(s, spans.get("done"))),
        sub=_count(_token(s, spans.get("sub"))),
        dlvrd=_count(_token(s, spans.get("dlvrd"))),
        text=text,
        source=source,
    )


#: message_state TLV value -> (canonical stat word, final, delivered), for receipt_outcome.
_TLV_OUTCOMES: dict[int, tuple[str, bool, bool]] = {
    s.value: (s.name, s.final, s is ReceiptStat.DELIVRD) for s in ReceiptStat
}
_ID_SPACE = "\x00 \t\r\n"


def receipt_outcome(
    short_message: bytes,
    *,
    data_coding: int = 0,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
    message_payload: bytes | None = None,
) -> tuple[str | None, str | None, str | None, bool, bool]:
    """``(message_id, stat, error, final, delivered)`` of :func:`parse_receipt` on the same
    arguments (and the same ReceiptParseError), for the daemon, which stores only those.

    A receipt that carries its id and a known state in TLVs and no text (what most SMSCs send
    with ``receipted_message_id``) is read without building a :class:`Receipt`; any other goes
    through :func:`parse_receipt`.
    """
    if (
        not short_message
        and not message_payload
        and receipted_message_id
        and type(message_state) is int
    ):
        known = _TLV_OUTCOMES.get(message_state)
        message_id = receipted_message_id.strip(_ID_SPACE)
        if known is not None and message_id:
            return message_id, known[0], None, known[1], known[2]
    r = parse_receipt(
        short_message,
        data_coding=data_coding,
        receipted_message_id=receipted_message_id,
        message_state=message_state,
        network_error_code=network_error_code,
        message_payload=message_payload,
    )
    return r.message_id, r.stat, r.error, r.final, r.delivered


# ---------------------------------------------------------------------------------------------
# Message-id matching


class IdFormat(StrEnum):
    """How an SMSC writes a message id in one place (submit_sm_resp, or the receipt): configured
    per operator, like Kannel's ``msg-id-type``, because the same SMSC often returns hex at
    submission and prints decimal in the receipt (reference §10, "Id mismatch pitfall")."""

    #: An opaque string: compared exactly, never altered.
    AS_IS = "as-is"
    #: A hexadecimal number (any case, leading zeros and an optional 0x prefix ignored).
    HEX = "hex"
    #: A decimal number (leading zeros ignored).
    DECIMAL = "decimal"


def normalize_id(raw: str, fmt: IdFormat | str) -> str:
    """The index key of a message id: the same key for the same message whichever base an SMSC
    printed it in.

    HEX and DECIMAL ids are parsed as integers in that base (ASCII digits only; surrounding
    whitespace and NULs ignored) and returned as a decimal string without leading zeros, so
    submit_sm_resp ``2A0F3C7B`` (hex) and receipt ``id:0705641595`` (decimal) both give
    ``"705641595"``. An id that does not parse in its declared base is returned unchanged: the
    configuration is wrong for that id, and an exact comparison is the best that is left (such a
    key holds a non-digit, so it can never collide with a numeric key). AS_IS returns ``raw``
    unchanged: alphanumeric ids are never stripped or case-folded.
    """
    fmt = IdFormat(fmt)
    if fmt is IdFormat.AS_IS:
        return raw
    token = raw.strip("\x00 \t\r\n")
    try:
        if fmt is IdFormat.HEX:
            m = _ASCII_HEX.fullmatch(token)
            return str(int(m.group(1), 16)) if m else raw
        return str(int(token, 10)) if _ASCII_DIGITS.fullmatch(token) else raw
    except ValueError:  # more digits than int/str conversion allows (sys.int_info limit)
        return raw


def ids_match(
    resp_id: str, resp_fmt: IdFormat | str, receipt_id: str, receipt_fmt: IdFormat | str
) -> bool:
    """True when a submit_sm_resp id and a receipt id name the same message: the exact strings
    first, then their :func:`normalize_id` keys under the operator's configured formats."""
    if resp_id == receipt_id:
        return True
    return normalize_id(resp_id, resp_fmt) == normalize_id(receipt_id, receipt_fmt)
