# cython: language_level=3
"""Encoding choice, splitting with concatenation UDH, and the inverse for received payloads.

The inner loops read the str in place (PEP 393 storage) and write each part's octets straight into
a bytes object: no per-character Python objects. The splitting rule is the codec's contract (see
gateway.codec): GSM-7 when every character has a septet, else UCS-2 for the whole text; one part
up to 160 septets / 70 units; otherwise greedy parts of 153 / 67 (152 / 66 with 16-bit references)
in which an ESC pair or a surrogate pair is never cut.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t

from gateway._core._text cimport (
    GW_GSM7_NONE, GW_GSM7_EXT, GW_GSM7_ESC, gw_gsm7_init, gw_gsm7_lookup, is_surrogate,
    write_utf16be, PyUnicode_KIND, PyUnicode_DATA, PyUnicode_READ, PyUnicode_GET_LENGTH,
    PyUnicode_Substring, PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyUnicode_1BYTE_KIND,
    PyUnicode_2BYTE_KIND,
)
from gateway._core._translit cimport transliterate as _transliterate

from gateway._core._gsm7 import decode_septets, unpack_septets
from gateway._core.errors import DecodeError, InvalidText, TooManyParts

gw_gsm7_init()

cdef enum:
    MAX_PARTS = 255
    GSM7_SINGLE = 160
    GSM7_CONCAT8 = 153    # floor((140 - 6) * 8 / 7)
    GSM7_CONCAT16 = 152   # floor((140 - 7) * 8 / 7)
    UCS2_SINGLE = 70
    UCS2_CONCAT8 = 67     # floor((140 - 6) / 2)
    UCS2_CONCAT16 = 66    # floor((140 - 7) / 2)
    UDH8_LEN = 6          # 05 00 03 ref total seq
    UDH16_LEN = 7         # 06 08 04 ref_hi ref_lo total seq
    ESM_UDHI = 0x40

cdef str GSM7 = "gsm7"
cdef str UCS2 = "ucs2"


cdef class Plan:
    """How a text goes out: its encoding and the complete ``short_message`` payload of each part.

    ``parts[i]`` carries ``texts[i]``; ``"".join(texts)`` is the text that was encoded (the
    transliterated one when ``transliterated`` is true). ``units`` counts septets (GSM-7, an
    extension character is 2) or UTF-16 code units (UCS-2, an emoji is 2) of the whole text, UDH
    excluded.
    """

    cdef readonly str encoding
    cdef readonly int data_coding
    cdef readonly int esm_class
    cdef readonly Py_ssize_t units
    cdef readonly tuple parts
    cdef readonly tuple texts
    cdef readonly bint transliterated

    def __init__(self, *args, **kwargs):
        raise TypeError("Plan objects are made by gateway.codec.plan()")

    def __repr__(self):
        return (
            f"Plan(encoding={self.encoding!r}, data_coding={self.data_coding}, "
            f"esm_class=0x{self.esm_class:02X}, units={self.units}, parts={len(self.parts)}, "
            f"transliterated={self.transliterated})"
        )


cdef class Count:
    """What a text costs, without building payloads: ``parts`` is the exact count the splitter
    gives (an ESC or surrogate pair straddling a boundary can add a part), ``per_part`` the
    capacity of one part for this text (160/153/152 septets or 70/67/66 units). ``parts`` may
    exceed 255, the most a concatenated SMS can have; ``sendable`` says whether it does not."""

    cdef readonly str encoding
    cdef readonly Py_ssize_t units
    cdef readonly Py_ssize_t parts
    cdef readonly Py_ssize_t per_part
    cdef readonly bint transliterated

    def __init__(self, *args, **kwargs):
        raise TypeError("Count objects are made by gateway.codec.count()")

    @property
    def sendable(self) -> bool:
        return self.parts <= MAX_PARTS

    def __repr__(self):
        return (
            f"Count(encoding={self.encoding!r}, units={self.units}, parts={self.parts}, "
            f"per_part={self.per_part}, transliterated={self.transliterated})"
        )


cdef class Decoded:
    """A received payload as text, with its concatenation header when it has one.

    ``ref``, ``total`` and ``seq`` come from IEI 0x00 (8-bit reference) or 0x08 (16-bit); they are
    None without a valid one (a receiver ignores total 0, part 0 or part > total). ``udh`` is the
    whole raw user data header (empty without UDHI), for the other information elements.
    """

    cdef readonly str text
    cdef readonly object ref
    cdef readonly object total
    cdef readonly object seq
    cdef readonly bytes udh

    def __init__(self, *args, **kwargs):
        raise TypeError("Decoded objects are made by gateway.codec.decode()")

    def __repr__(self):
        return f"Decoded(text={self.text!r}, ref={self.ref}, total={self.total}, seq={self.seq})"


# ---------------------------------------------------------------------------------------------
# Scanning and splitting


cdef Py_ssize_t _gsm7_units(str text) except -2:
    """Septets of the text, or -1 when a character is not GSM-7."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text), total = 0
    cdef uint16_t v
    for i in range(n):
        v = gw_gsm7_lookup(PyUnicode_READ(kind, data, i))
        if v == GW_GSM7_NONE:
            return -1
        total += 1 + ((v >> 8) & 1)
    return total


cdef Py_ssize_t _utf16_units(str text) except -1:
    """UTF-16 code units of the text; a lone surrogate cannot be sent and raises InvalidText."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text), total = n
    cdef uint32_t cp
    if kind == PyUnicode_1BYTE_KIND:
        return n
    for i in range(n):
        cp = PyUnicode_READ(kind, data, i)
        if cp >= 0x10000:
            total += 1
        elif is_surrogate(cp):
            raise InvalidText(
                f"lone surrogate U+{cp:04X} at index {i}: the text is not valid Unicode"
            )
    return total


cdef Py_ssize_t _split(str text, bint gsm, Py_ssize_t cap, Py_ssize_t* starts,
                       Py_ssize_t* sizes) noexcept:
    """Greedy split into parts of at most ``cap`` units with atomic ESC and surrogate pairs.

    Fills ``starts`` (character index where part k begins, plus the end index after the last part)
    and ``sizes`` (units of part k) for the first MAX_PARTS parts, and returns the number of parts
    the text needs, which may be larger than MAX_PARTS (then the arrays hold only a prefix).
    """
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text), used = 0, nparts = 1, c
    cdef uint32_t cp
    starts[0] = 0
    for i in range(n):
        cp = PyUnicode_READ(kind, data, i)
        if gsm:
            c = 1 + ((gw_gsm7_lookup(cp) >> 8) & 1)
        else:
            c = 1 + (cp >= 0x10000)
        if used + c > cap:
            if nparts <= MAX_PARTS:
                sizes[nparts - 1] = used
                if nparts < MAX_PARTS:
                    starts[nparts] = i
            nparts += 1
            used = 0
        used += c
    if nparts <= MAX_PARTS:
        sizes[nparts - 1] = used
        starts[nparts] = n
    return nparts


cdef Py_ssize_t _parts_needed(str text, bint gsm, Py_ssize_t units, bint udh16):
    cdef Py_ssize_t starts[MAX_PARTS + 1]
    cdef Py_ssize_t sizes[MAX_PARTS]
    if units <= (GSM7_SINGLE if gsm else UCS2_SINGLE):
        return 1
    return _split(text, gsm, _concat_cap(gsm, udh16), starts, sizes)


cdef inline Py_ssize_t _concat_cap(bint gsm, bint udh16) noexcept:
    if gsm:
        return GSM7_CONCAT16 if udh16 else GSM7_CONCAT8
    return UCS2_CONCAT16 if udh16 else UCS2_CONCAT8


cdef inline uint8_t* _write_udh(uint8_t* p, bint udh16, int ref, int total, int seq) noexcept:
    if udh16:
        p[0] = 6; p[1] = 0x08; p[2] = 4
        p[3] = <uint8_t>(ref >> 8); p[4] = <uint8_t>(ref & 0xFF)
        p[5] = <uint8_t>total; p[6] = <uint8_t>seq
        return p + 7
    p[0] = 5; p[1] = 0x00; p[2] = 3
    p[3] = <uint8_t>ref; p[4] = <uint8_t>total; p[5] = <uint8_t>seq
    return p + 6


cdef bytes _payload(str text, Py_ssize_t start, Py_ssize_t end, Py_ssize_t units, bint gsm,
                    Py_ssize_t udh_len, bint udh16, int ref, int total, int seq):
    """One part's short_message: the UDH (when udh_len > 0) then the characters [start, end)."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t size = udh_len + (units if gsm else 2 * units), i
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    cdef uint16_t v
    if udh_len:
        p = _write_udh(p, udh16, ref, total, seq)
    if gsm:
        for i in range(start, end):
            v = gw_gsm7_lookup(PyUnicode_READ(kind, data, i))
            if v & GW_GSM7_EXT:
                p[0] = GW_GSM7_ESC
                p += 1
            p[0] = <uint8_t>(v & 0x7F)
            p += 1
    else:
        for i in range(start, end):
            p += write_utf16be(p, PyUnicode_READ(kind, data, i))
    return out


cdef object _too_many(bint gsm, Py_ssize_t units, Py_ssize_t needed, bint udh16):
    name = "septets" if gsm else "UTF-16 units"
    cap = _concat_cap(gsm, udh16)
    return TooManyParts(
        f"text of {units} {name} needs {needed} parts; an SMS can be split into at most "
        f"{MAX_PARTS} parts of {cap} {name} ({MAX_PARTS * cap} {name}, "
        f"{'16' if udh16 else '8'}-bit references)",
        units=units, encoding=GSM7 if gsm else UCS2, parts_needed=needed,
    )


cdef inline str _choose(str text, bint transliterate, bint udh16, Py_ssize_t* gsm_units,
                        bint* changed):
    """The text to send. The transliterated one is chosen only when it makes the text GSM-7
    without costing more parts ('…' is 1 UCS-2 unit but 3 septets); otherwise the message goes
    as it is, in UCS-2, which loses nothing."""
    cdef str t
    cdef Py_ssize_t u, before, after
    gsm_units[0] = _gsm7_units(text)
    changed[0] = False
    if transliterate and gsm_units[0] < 0:
        t = _transliterate(text)
        if t is not text:
            u = _gsm7_units(t)
            if u >= 0:
                before = _parts_needed(text, False, _utf16_units(text), udh16)
                after = _parts_needed(t, True, u, udh16)
                if after <= before:
                    gsm_units[0] = u
                    changed[0] = True
                    return t
    return text


def plan(str text not None, *, ref=0, bint udh16=False, bint transliterate=False) -> Plan:
    """Encode and split a text into complete short_message payloads (see gateway.codec.plan)."""
    cdef Py_ssize_t gsm_units, units, nparts, k, udh_len
    cdef int cref
    cdef bint changed, gsm
    cdef Py_ssize_t starts[MAX_PARTS + 1]
    cdef Py_ssize_t sizes[MAX_PARTS]
    if type(ref) is not int and not isinstance(ref, int):
        raise TypeError(f"ref must be an int, not {type(ref).__name__}")
    if ref < 0 or ref > (0xFFFF if udh16 else 0xFF):
        raise ValueError(
            f"ref {ref} is out of range: a {'16' if udh16 else '8'}-bit concatenation reference "
            f"is 0 to {0xFFFF if udh16 else 0xFF}"
        )
    cref = ref
    text = _choose(text, transliterate, udh16, &gsm_units, &changed)
    gsm = gsm_units >= 0
    units = gsm_units if gsm else _utf16_units(text)
    cdef Plan p = Plan.__new__(Plan)
    p.encoding = GSM7 if gsm else UCS2
    p.data_coding = 0 if gsm else 8
    p.units = units
    p.transliterated = changed
    if units <= (GSM7_SINGLE if gsm else UCS2_SINGLE):
        p.esm_class = 0
        p.parts = (_payload(text, 0, PyUnicode_GET_LENGTH(text), units, gsm, 0, 0, 0, 0, 0),)
        p.texts = (text,)
        return p
    nparts = _split(text, gsm, _concat_cap(gsm, udh16), starts, sizes)
    if nparts > MAX_PARTS:
        raise _too_many(gsm, units, nparts, udh16)
    udh_len = UDH16_LEN if udh16 else UDH8_LEN
    parts = []
    texts = []
    for k in range(nparts):
        parts.append(_payload(text, starts[k], starts[k + 1], sizes[k], gsm, udh_len, udh16,
                              cref, nparts, k + 1))
        texts.append(PyUnicode_Substring(text, starts[k], starts[k + 1]))
    p.esm_class = ESM_UDHI
    p.parts = tuple(parts)
    p.texts = tuple(texts)
    return p


def count(str text not None, *, bint transliterate=False, bint udh16=False) -> Count:
    """What a text costs (see gateway.codec.count); no payload is built."""
    cdef Py_ssize_t gsm_units, units
    cdef bint changed, gsm
    text = _choose(text, transliterate, udh16, &gsm_units, &changed)
    gsm = gsm_units >= 0
    units = gsm_units if gsm else _utf16_units(text)
    cdef Count c = Count.__new__(Count)
    c.encoding = GSM7 if gsm else UCS2
    c.units = units
    c.transliterated = changed
    c.parts = _parts_needed(text, gsm, units, udh16)
    if c.parts == 1:
        c.per_part = GSM7_SINGLE if gsm else UCS2_SINGLE
    else:
        c.per_part = _concat_cap(gsm, udh16)
    return c


def encode_ucs2(str text not None) -> bytes:
    """UTF-16BE without BOM (data_coding 8); characters beyond the BMP become surrogate pairs."""
    cdef Py_ssize_t units = _utf16_units(text)
    return _payload(text, 0, PyUnicode_GET_LENGTH(text), units, False, 0, 0, 0, 0, 0)


def decode_ucs2(const uint8_t[::1] data) -> str:
    """UTF-16BE to text. An odd length is a truncated payload (DecodeError); a lone surrogate, as
    left by a sender that split a pair across parts, becomes U+FFFD."""
    if data.shape[0] & 1:
        raise DecodeError(f"UCS-2 payload has an odd number of octets ({data.shape[0]})")
    return bytes(data).decode("utf-16-be", "replace")


# ---------------------------------------------------------------------------------------------
# Received payloads


cdef tuple _parse_udh(const uint8_t[::1] payload):
    """(udh_length_in_octets, ref, total, seq) of a payload whose esm_class has UDHI."""
    cdef Py_ssize_t n = payload.shape[0], udhl, i, iedl
    cdef int iei
    ref = total = seq = None
    if n == 0:
        raise DecodeError("UDHI is set but the payload is empty")
    udhl = payload[0]
    if 1 + udhl > n:
        raise DecodeError(f"UDH length {udhl} runs past the {n}-octet payload")
    i = 1
    while i < 1 + udhl:
        if i + 2 > 1 + udhl:
            raise DecodeError(f"truncated information element at octet {i} of the UDH")
        iei = payload[i]
        iedl = payload[i + 1]
        if i + 2 + iedl > 1 + udhl:
            raise DecodeError(
                f"information element 0x{iei:02X} of length {iedl} runs past the UDH ({udhl} octets)"
            )
        if iei == 0x00 and iedl == 3:
            r, t, s = payload[i + 2], payload[i + 3], payload[i + 4]
        elif iei == 0x08 and iedl == 4:
            r, t, s = (payload[i + 2] << 8) | payload[i + 3], payload[i + 4], payload[i + 5]
        else:
            r = None
        if r is not None and t != 0 and s != 0 and s <= t:
            ref, total, seq = r, t, s
        i += 2 + iedl
    return 1 + udhl, ref, total, seq


#: data_coding values that carry GSM-7 text besides 0 (TS 23.038 DCS groups: message waiting
#: 0xC0-0xDF, message class 0xF0-0xF3 with bit 2 clear).
cdef inline int _text_kind(int dc):
    """0 GSM-7, 1 IA5/ASCII, 3 Latin-1, 8 UCS-2, -1 no text."""
    if dc == 0 or 0xC0 <= dc <= 0xDF or 0xF0 <= dc <= 0xF3:
        return 0
    if dc == 1 or dc == 3 or dc == 8:
        return dc
    if 0xE0 <= dc <= 0xEF:
        return 8
    return -1


def decode(payload, int data_coding, *, bint udhi=False, bint packed=False) -> Decoded:
    """Text and concatenation info of a received short_message (see gateway.codec.decode)."""
    # memoryview() first: bytes(5) would be five NULs, not a TypeError.
    cdef bytes raw = payload if type(payload) is bytes else bytes(memoryview(payload))
    cdef const uint8_t[::1] buf = raw
    cdef int kind = _text_kind(data_coding)
    cdef Py_ssize_t start = 0, fill = 0
    if kind < 0:
        raise DecodeError(f"data_coding 0x{data_coding:02X} does not carry text")
    cdef Decoded d = Decoded.__new__(Decoded)
    d.ref = d.total = d.seq = None
    d.udh = b""
    if udhi:
        start, d.ref, d.total, d.seq = _parse_udh(buf)
        d.udh = raw[:start]
    body = raw[start:]
    if kind == 0:
        if packed:
            # The text starts on the first septet boundary after the UDH (TS 23.040 9.2.3.24).
            fill = (7 - (start * 8) % 7) % 7
            d.text = decode_septets(unpack_septets(raw, None, 0)[(start * 8 + fill) // 7:])
        else:
            d.text = decode_septets(body)
    elif kind == 8:
        d.text = decode_ucs2(body)
    elif kind == 3:
        d.text = body.decode("latin-1")
    else:
        d.text = body.decode("ascii", "replace")
    return d
