"""Sender IDs (SMPP ``source_addr`` with its TON/NPI) and the STOP mention of marketing texts.

A wrong sender is the most common reason French carriers block or rewrite traffic, so the API
refuses it up front and says why, instead of letting the SMSC answer ``ESME_RINVSRCADR`` later.

Rules (:func:`classify_sender`), tried in this order:

* ``+`` then 8 to 15 digits: an international number (TON 1, NPI 1), sent without the ``+``.
* Digits only, 3 to 8: a short code such as 36184 (TON 3 / NPI 0 by default; some operators
  want TON 0 or NPI 1, hence the parameters, from operator config).
* Digits only, 9 to 15: an international number without the ``+`` (TON 1, NPI 1), unless it
  starts with 0: "0612345678" is a national spelling, ambiguous as a sender, and refused.
* Anything else is alphanumeric (TON 5, NPI 0): 1 to 11 characters among A-Z, a-z, 0-9, space,
  '-' and '.', with at least one letter, no leading or trailing space. Decision: that set is the
  one all French carriers display identically; accents, '&', '_' and the like are rewritten or
  refused by some of them, so they are refused here, where the error can say so.

Pure: no I/O.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "MAX_ALPHANUMERIC",
    "InvalidSender",
    "Sender",
    "SenderKind",
    "append_stop_mention",
    "classify_sender",
    "has_stop_mention",
]

#: GSM 03.38 / 3GPP TS 23.040: an alphanumeric originating address holds 11 GSM-7 characters.
MAX_ALPHANUMERIC = 11
#: E.164: at most 15 digits. Below 8 digits no country has a full international number.
MIN_INTERNATIONAL, MAX_INTERNATIONAL = 8, 15
MIN_SHORT_CODE, MAX_SHORT_CODE = 3, 8

_ALNUM_ALLOWED = re.compile(r"[A-Za-z0-9 .\-]")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_WHITESPACE = re.compile(r"\s+")


class SenderKind(enum.StrEnum):
    """What kind of originating address a sender is."""

    #: A name such as "MaBoutique" (TON 5 alphanumeric).
    ALPHANUMERIC = "alphanumeric"
    #: A full international number (TON 1, NPI 1 ISDN/E.164).
    INTERNATIONAL = "international"
    #: A national short code such as 36184 (TON 3 network specific by default).
    SHORT_CODE = "short_code"


class InvalidSender(ValueError):
    """A sender the gateway refuses; the message says which rule it breaks (API: invalid_sender)."""

    def __init__(self, sender: str, detail: str) -> None:
        self.sender = sender
        super().__init__(f"{sender!r} {detail}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """A classified sender, ready for ``submit_sm``'s source_addr_ton/npi/source_addr."""

    #: Which rule matched.
    kind: SenderKind
    #: SMPP type of number.
    ton: int
    #: SMPP numbering plan indicator.
    npi: int
    #: The address as sent (no '+' for international numbers).
    address: str


def classify_sender(sender: str, *, short_code_ton: int = 3, short_code_npi: int = 0) -> Sender:
    """Classify ``sender`` (see the module doc for the rules) or raise :class:`InvalidSender`."""
    if not sender:
        raise InvalidSender(sender, "is empty")
    if sender.startswith("+"):
        digits = sender[1:]
        if not digits.isascii() or not digits.isdigit():
            raise InvalidSender(sender, "starts with '+' but is not followed by digits only")
        if not MIN_INTERNATIONAL <= len(digits) <= MAX_INTERNATIONAL:
            raise InvalidSender(
                sender, f"has {len(digits)} digits; an international number has "
                f"{MIN_INTERNATIONAL} to {MAX_INTERNATIONAL}")
        if digits[0] == "0":
            raise InvalidSender(sender, "has a country code starting with 0")
        return Sender(kind=SenderKind.INTERNATIONAL, ton=1, npi=1, address=digits)
    if sender.isascii() and sender.isdigit():
        n = len(sender)
        if MIN_SHORT_CODE <= n <= MAX_SHORT_CODE:
            return Sender(kind=SenderKind.SHORT_CODE, ton=short_code_ton, npi=short_code_npi,
                          address=sender)
        if n < MIN_SHORT_CODE:
            raise InvalidSender(sender, f"has {n} digits; a short code has at least "
                                f"{MIN_SHORT_CODE}")
        if n > MAX_INTERNATIONAL:
            raise InvalidSender(sender, f"has {n} digits; a number has at most "
                                f"{MAX_INTERNATIONAL}")
        if sender[0] == "0":
            raise InvalidSender(sender, "is a national number; write it in international form "
                                f"(+33{sender[1:]} for France)")
        return Sender(kind=SenderKind.INTERNATIONAL, ton=1, npi=1, address=sender)
    if len(sender) > MAX_ALPHANUMERIC:
        raise InvalidSender(sender, f"is {len(sender)} characters; an alphanumeric sender has "
                            f"at most {MAX_ALPHANUMERIC}")
    bad = sorted({ch for ch in sender if not _ALNUM_ALLOWED.fullmatch(ch)})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise InvalidSender(sender, f"contains {shown}; an alphanumeric sender may use only "
                            "letters A-Z, digits, space, '-' and '.'")
    if sender != sender.strip(" "):
        raise InvalidSender(sender, "has a leading or trailing space")
    if not _HAS_LETTER.search(sender):
        raise InvalidSender(sender, "has no letter; an alphanumeric sender needs at least one")
    return Sender(kind=SenderKind.ALPHANUMERIC, ton=5, npi=0, address=sender)


def _squash(text: str) -> str:
    return _WHITESPACE.sub("", text).casefold()


def has_stop_mention(text: str, mention: str) -> bool:
    """Whether ``text`` already carries ``mention`` ("STOP au 36184"), ignoring case and all
    whitespace, so "stop au 36184", "STOP  au\\n36184" and "STOPau36184" all count: what the
    law asks is that the reader sees how to opt out, not one exact spelling."""
    needle = _squash(mention)
    if not needle:
        raise ValueError("the STOP mention is empty")
    return needle in _squash(text)


def append_stop_mention(text: str, mention: str) -> str:
    """``text`` with ``mention`` at its end, unless it already has it.

    Separator: a newline if the text already has several lines (the mention then reads as a
    footer), else one space. Trailing whitespace of ``text`` is dropped first, since it would
    only cost characters. Both separators are one GSM-7 character, so the choice never changes
    the part count.
    """
    if has_stop_mention(text, mention):
        return text
    body = text.rstrip()
    if not body:
        return mention
    return f"{body}{chr(10) if chr(10) in body else ' '}{mention}"
