"""A pure-Python reference oracle for the message codec.

Written from ``shared/reference/sms-encoding-and-smpp.md`` (sections 1-5), independently of the
compiled core and of its C tables (``gateway/_core/gsm7.h``): the tables below are transcribed
from the markdown, column by column, and every function is the plainest code that states the rule.
Speed does not matter here; being obviously right does. The tests compare the core with this
module, and the benchmark imports it as the "naive" baseline (``from tests import oracle``).

There is no transliteration here: the oracle encodes exactly the text it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# Section 1: the GSM 7-bit default alphabet. One string per column of the table (high nibble
# 0x00, 0x10, ... 0x70), the 16 rows (low nibble 0-F) top to bottom. ESC (0x1B) is not a
# character, so column 0x10 holds a placeholder there that is skipped below.

_ESC_PLACEHOLDER = "\x1b"

_COLUMNS = (
    # 0x00: @ £ $ ¥ è é ù ì ò Ç LF Ø ø CR Å å
    "@£$¥èéùìòÇ\nØø\rÅå",
    # 0x10: Δ _ Φ Γ Λ Ω Π Ψ Σ Θ Ξ ESC Æ æ ß É
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e" + _ESC_PLACEHOLDER + "ÆæßÉ",
    # 0x20: SP ! " # ¤ % & ' ( ) * + , - . /
    " !\"#¤%&'()*+,-./",
    # 0x30
    "0123456789:;<=>?",
    # 0x40
    "¡ABCDEFGHIJKLMNO",
    # 0x50
    "PQRSTUVWXYZÄÖÑÜ§",
    # 0x60
    "¿abcdefghijklmno",
    # 0x70
    "pqrstuvwxyzäöñüà",
)

GSM7_BASIC: dict[str, int] = {}
for _column, _chars in enumerate(_COLUMNS):
    assert len(_chars) == 16, _chars
    for _row, _char in enumerate(_chars):
        _code = _column * 16 + _row
        if _code == 0x1B:
            continue  # ESC
        GSM7_BASIC[_char] = _code
assert len(GSM7_BASIC) == 127

# Section 2: the default extension table, reached with ESC (0x1B) + code; 2 septets each.
ESC = 0x1B
GSM7_EXT: dict[str, int] = {
    "\x0c": 0x0A,  # FORM FEED
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC_BY_CODE: dict[int, str] = {code: char for char, code in GSM7_BASIC.items()}
_EXT_BY_CODE: dict[int, str] = {code: char for char, code in GSM7_EXT.items()}

# Section 5: capacities.
MAX_PARTS = 255
SINGLE = {"gsm7": 160, "ucs2": 70}
PER_PART = {("gsm7", False): 153, ("gsm7", True): 152, ("ucs2", False): 67, ("ucs2", True): 66}
DATA_CODING = {"gsm7": 0, "ucs2": 8}
UDHI = 0x40


# ---------------------------------------------------------------------------------------------
# GSM-7


def is_gsm7(text: str) -> bool:
    """Every character is in the default alphabet or the extension table."""
    return all(c in GSM7_BASIC or c in GSM7_EXT for c in text)


def _septets_of(char: str) -> int:
    if char in GSM7_BASIC:
        return 1
    if char in GSM7_EXT:
        return 2
    raise ValueError(f"{char!r} is not GSM-7")


def septets(text: str) -> int | None:
    """Septets the text costs in GSM-7, or None when it is not GSM-7."""
    if not is_gsm7(text):
        return None
    return sum(_septets_of(c) for c in text)


def encode_septets(text: str) -> bytes:
    """Unpacked septets, one per octet; an extension character is ESC + its code."""
    out = []
    for char in text:
        if char in GSM7_BASIC:
            out.append(GSM7_BASIC[char])
        elif char in GSM7_EXT:
            out.append(ESC)
            out.append(GSM7_EXT[char])
        else:
            raise ValueError(f"{char!r} is not GSM-7")
    return bytes(out)


def _basic_char(code: int) -> str:
    """What a receiver shows for a default-table code; ESC alone shows as a space."""
    if code == ESC:
        return " "
    return _BASIC_BY_CODE[code]


def decode_septets(data: bytes) -> str:
    """Unpacked septets to text.

    ESC + an extension code gives the extension character; ESC + an unassigned code shows the
    default-table character for that code (section 2); ESC at the very end, or ESC ESC, shows a
    space (a receiver without the further table); an octet above 0x7F is no septet: U+FFFD.
    """
    out = []
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code > 0x7F:
            out.append("\ufffd")
        elif code != ESC:
            out.append(_basic_char(code))
        elif i == len(data):
            out.append(" ")
        else:
            code = data[i]
            i += 1
            if code > 0x7F:
                out.append("\ufffd")
            elif code in _EXT_BY_CODE:
                out.append(_EXT_BY_CODE[code])
            else:
                out.append(_basic_char(code))
    return "".join(out)


# Section 3: packing, LSB first. Done bit by bit, the way the standard describes it.


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """``fill_bits`` zero bits, then each septet's 7 bits LSB first, grouped into octets LSB
    first; the last octet is padded with zero bits."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0 to 6, not {fill_bits}")
    bits = [0] * fill_bits
    for septet in septets:
        if septet > 0x7F:
            raise ValueError(f"{septet:#x} is not a septet")
        for k in range(7):
            bits.append((septet >> k) & 1)
    while len(bits) % 8:
        bits.append(0)
    out = []
    for start in range(0, len(bits), 8):
        out.append(sum(bit << k for k, bit in enumerate(bits[start:start + 8])))
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The ``count`` septets that follow ``fill_bits`` bits of packed data."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0 to 6, not {fill_bits}")
    bits = []
    for octet in data:
        for k in range(8):
            bits.append((octet >> k) & 1)
    bits = bits[fill_bits:]
    if count < 0 or 7 * count > len(bits):
        raise ValueError(f"{len(data)} octets do not hold {count} septets")
    out = []
    for n in range(count):
        out.append(sum(bit << k for k, bit in enumerate(bits[7 * n:7 * n + 7])))
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Section 4: UCS-2 / UTF-16


def _check_no_lone_surrogate(text: str) -> None:
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{ord(char):04X} at index {index}")


def _units_of(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def utf16_units(text: str) -> int:
    """UTF-16 code units: 2 for a character beyond the BMP, 1 otherwise."""
    _check_no_lone_surrogate(text)
    return sum(_units_of(c) for c in text)


def encode_ucs2(text: str) -> bytes:
    _check_no_lone_surrogate(text)
    return text.encode("utf-16-be")


# ---------------------------------------------------------------------------------------------
# Section 5: choosing the encoding and splitting


def _encoding_of(text: str) -> str:
    return "gsm7" if is_gsm7(text) else "ucs2"


def _cost(encoding: str, char: str) -> int:
    return _septets_of(char) if encoding == "gsm7" else _units_of(char)


def _units(encoding: str, text: str) -> int:
    return septets(text) if encoding == "gsm7" else utf16_units(text)


def split(text: str, *, udh16: bool = False) -> tuple[str, list[str]]:
    """(encoding, texts of the parts): one part up to 160 septets / 70 units, else greedy parts
    of 153/67 (152/66 with 16-bit references) of whole characters. A Python str holds a
    character beyond the BMP as one item, so its surrogate pair (like an ESC pair) can never be
    cut by splitting between items."""
    encoding = _encoding_of(text)
    if _units(encoding, text) <= SINGLE[encoding]:
        return encoding, [text]
    capacity = PER_PART[(encoding, udh16)]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        cost = _cost(encoding, char)
        if used + cost > capacity:
            parts.append("".join(current))
            current = []
            used = 0
        current.append(char)
        used += cost
    parts.append("".join(current))
    return encoding, parts


def udh(ref: int, total: int, seq: int, *, udh16: bool = False) -> bytes:
    """The concatenation UDH: ``05 00 03 ref total seq`` or ``06 08 04 refhi reflo total seq``."""
    if udh16:
        return bytes([6, 0x08, 4, ref // 256, ref % 256, total, seq])
    return bytes([5, 0x00, 3, ref, total, seq])


def _encode(encoding: str, text: str) -> bytes:
    return encode_septets(text) if encoding == "gsm7" else encode_ucs2(text)


@dataclass(frozen=True)
class OraclePlan:
    encoding: str
    data_coding: int
    esm_class: int
    units: int
    parts: tuple[bytes, ...]
    texts: tuple[str, ...]


def plan(text: str, *, ref: int = 0, udh16: bool = False) -> OraclePlan:
    """Complete short_message payloads of the text (UDH included when it has several parts)."""
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    top = 0xFFFF if udh16 else 0xFF
    if not 0 <= ref <= top:
        raise ValueError(f"ref {ref} is not in 0..{top}")
    _check_no_lone_surrogate(text)
    encoding, texts = split(text, udh16=udh16)
    if len(texts) > MAX_PARTS:
        raise ValueError(f"{len(texts)} parts needed, at most {MAX_PARTS} allowed")
    if len(texts) == 1:
        parts = [_encode(encoding, text)]
        esm_class = 0
    else:
        total = len(texts)
        parts = [udh(ref, total, seq, udh16=udh16) + _encode(encoding, part)
                 for seq, part in enumerate(texts, start=1)]
        esm_class = UDHI
    return OraclePlan(
        encoding=encoding,
        data_coding=DATA_CODING[encoding],
        esm_class=esm_class,
        units=_units(encoding, text),
        parts=tuple(parts),
        texts=tuple(texts),
    )


@dataclass(frozen=True)
class OracleCount:
    encoding: str
    units: int
    parts: int
    per_part: int

    @property
    def sendable(self) -> bool:
        return self.parts <= MAX_PARTS


def count(text: str, *, udh16: bool = False) -> OracleCount:
    """Encoding, units and the exact number of parts (may exceed 255, unlike plan)."""
    _check_no_lone_surrogate(text)
    encoding, texts = split(text, udh16=udh16)
    per_part = SINGLE[encoding] if len(texts) == 1 else PER_PART[(encoding, udh16)]
    return OracleCount(encoding=encoding, units=_units(encoding, text), parts=len(texts),
                       per_part=per_part)


# ---------------------------------------------------------------------------------------------
# Receiving


@dataclass(frozen=True)
class OracleDecoded:
    text: str
    ref: int | None
    total: int | None
    seq: int | None
    udh: bytes


def _parse_udh(payload: bytes) -> tuple[int, int | None, int | None, int | None]:
    """(header length including UDHL, ref, total, seq) from the IEs of the UDH."""
    if not payload:
        raise ValueError("UDHI set but the payload is empty")
    udhl = payload[0]
    end = 1 + udhl
    if end > len(payload):
        raise ValueError("UDH runs past the payload")
    ref = total = seq = None
    i = 1
    while i < end:
        if i + 2 > end:
            raise ValueError("truncated information element")
        iei, iedl = payload[i], payload[i + 1]
        value = payload[i + 2:i + 2 + iedl]
        if i + 2 + iedl > end:
            raise ValueError("information element runs past the UDH")
        found = None
        if iei == 0x00 and iedl == 3:
            found = (value[0], value[1], value[2])
        elif iei == 0x08 and iedl == 4:
            found = (value[0] * 256 + value[1], value[2], value[3])
        if found is not None:
            r, t, s = found
            if t != 0 and s != 0 and s <= t:
                ref, total, seq = r, t, s
        i += 2 + iedl
    return end, ref, total, seq


def _text_kind(data_coding: int) -> str:
    if data_coding == 0 or 0xC0 <= data_coding <= 0xDF or 0xF0 <= data_coding <= 0xF3:
        return "gsm7"
    if data_coding == 1:
        return "ascii"
    if data_coding == 3:
        return "latin1"
    if data_coding == 8 or 0xE0 <= data_coding <= 0xEF:
        return "ucs2"
    raise ValueError(f"data_coding {data_coding:#x} carries no text")


def decode(payload: bytes, data_coding: int, *, udhi: bool = False) -> OracleDecoded:
    """Text of an unpacked short_message and its concatenation IE (8- or 16-bit reference)."""
    kind = _text_kind(data_coding)
    payload = bytes(payload)
    start, ref, total, seq = _parse_udh(payload) if udhi else (0, None, None, None)
    body = payload[start:]
    if kind == "gsm7":
        text = decode_septets(body)
    elif kind == "ascii":
        text = "".join(chr(b) if b < 0x80 else "\ufffd" for b in body)
    elif kind == "latin1":
        text = "".join(chr(b) for b in body)
    else:
        if len(body) % 2:
            raise ValueError("odd number of octets in UCS-2")
        text = body.decode("utf-16-be", "replace")
    return OracleDecoded(text=text, ref=ref, total=total, seq=seq, udh=payload[:start])
