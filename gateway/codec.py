"""The message codec: what a text costs and the exact payloads that carry it.

This module is the public contract (tests, the daemon, the socket API and the CLI call these
names); the work is done by the compiled core in ``gateway._core``, re-exported here without a
Python wrapper so that a call costs what the C loop costs.

Rules (3GPP TS 23.038 / 23.040, SMPP 3.4; see docs and ``../shared/reference``):

* Encoding: GSM-7 (``data_coding`` 0, unpacked septets, one per octet, extension characters as
  ESC + code and costing 2 septets) when every character is in the default alphabet or its
  extension table; otherwise UCS-2 (UTF-16BE, ``data_coding`` 8) for the whole text, where a
  character beyond the BMP (an emoji) costs 2 units. Nothing is ever replaced by '?'.
* One part holds 160 septets / 70 units. Longer texts are split greedily into parts of 153 / 67
  (8-bit reference, UDH ``05 00 03 ref total seq``) or 152 / 66 (16-bit reference, UDH
  ``06 08 04 ref_hi ref_lo total seq``), never cutting an ESC pair or a surrogate pair, so a part
  can hold one unit less and the part count can exceed ``ceil(units / 153)``.
* At most 255 parts; more raises :class:`TooManyParts` (a ``ValueError``) naming the limit and size.
* Transliteration (``transliterate=True``) replaces characters outside GSM-7 that have a close form
  (typographic quotes, dashes, ellipsis, no-break spaces, œ, ê â î ô û ë ï ç ...). It is applied
  only when it makes the whole text GSM-7; otherwise the text goes unchanged in UCS-2, which loses
  nothing. ``Plan.transliterated`` / ``Count.transliterated`` say whether it was applied.

API:

``plan(text, *, ref=0, udh16=False, transliterate=False) -> Plan``
    ``encoding`` ("gsm7" | "ucs2"), ``data_coding`` (0 | 8), ``esm_class`` (0x40 when the parts
    carry a UDH, else 0), ``units``, ``parts`` (tuple of complete ``short_message`` payloads, UDH
    included), ``texts`` (tuple of the text in each part; ``"".join(texts)`` is the encoded text),
    ``transliterated``. ``ref`` is the concatenation reference (0-255, or 0-65535 with ``udh16``).

``count(text, *, transliterate=False, udh16=False) -> Count``
    ``encoding``, ``units``, ``parts`` (exact, as ``plan`` would split; may exceed 255, then
    ``sendable`` is false), ``per_part`` (capacity of one part for this text), ``transliterated``.

``decode(payload, data_coding, *, udhi=False, packed=False) -> Decoded``
    ``text``, and ``ref``/``total``/``seq`` from an 8- or 16-bit concatenation IE when the UDH has
    a valid one (else None), ``udh`` (the raw header). data_coding 0 (and GSM-7 DCS groups) is
    GSM-7, unpacked unless ``packed``; 1 IA5; 3 Latin-1; 8 UCS-2. Structural faults (UDH past the
    payload, odd UCS-2 length, a data_coding without text) raise :class:`DecodeError`; a character
    that cannot be shown becomes U+FFFD.
"""

from __future__ import annotations

from typing import Literal

from gateway._core import (
    CodecError,
    Count,
    Decoded,
    DecodeError,
    InvalidText,
    Plan,
    TooManyParts,
    count,
    decode,
    is_gsm7,
    plan,
    transliterate,
    transliteration_changes,
)

Encoding = Literal["gsm7", "ucs2"]

#: Most parts a concatenated SMS can have (one-octet counters in the UDH).
MAX_PARTS = 255

#: Capacity of a single SMS and of each part of a concatenated one, by encoding and UDH size.
SINGLE = {"gsm7": 160, "ucs2": 70}
PER_PART = {("gsm7", False): 153, ("gsm7", True): 152, ("ucs2", False): 67, ("ucs2", True): 66}

__all__ = [
    "MAX_PARTS",
    "PER_PART",
    "SINGLE",
    "CodecError",
    "Count",
    "DecodeError",
    "Decoded",
    "Encoding",
    "InvalidText",
    "Plan",
    "TooManyParts",
    "count",
    "decode",
    "is_gsm7",
    "plan",
    "transliterate",
    "transliteration_changes",
]
