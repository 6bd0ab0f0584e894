# cython: language_level=3
"""Encoding choice, splitting with concatenation UDH, and the inverse for received payloads.

The inner loops read the str in place (PEP 393 storage) and write each part's octets straight into
a bytes object: no per-character Python objects. The splitting rule is the codec's contract (see
gateway.codec): GSM-7 when every character has a septet, else UCS-2 for the whole text; one part
up to 160 septets / 70 units; otherwise greedy parts of 153 / 67 (152 / 66 with 16-bit references)
in which an ESC pair or a surrogate pair is never cut.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

from gateway._core._text cimport (
    GW_GSM7_NONE, GW_GSM7_EXT, GW_GSM7_ESC, gw_gsm7_init, gw_gsm7_lookup, gw_gsm7_from_latin1,
    is_surrogate,
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
    cdef readonly bint transliterated
    # The encoded text and the UDH size, from which ``texts`` is derived on first use: the hot
    # path (building payloads) does not pay for substrings nobody reads.
    cdef str _text
    cdef bint _udh16
    cdef tuple _texts

    def __init__(self, *args, **kwargs):
        raise TypeError("Plan objects are made by gateway.codec.plan()")

    @property
    def texts(self) -> tuple:
        if self._texts is None:
            self._texts = _texts_of(self._text, self._udh16)
        return self._texts

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
# Encoding and splitting
#
# One pass encodes the whole text into a C buffer (unpacked septets, or UTF-16BE), with a loop
# specialised for each PEP 393 storage width. Splitting then works on the encoded buffer: a part
# ends ``cap`` units after it starts, one unit earlier when that would cut an ESC pair (an ESC
# octet is always the first of a pair: no extension code is 0x1B) or a surrogate pair (a high
# surrogate in the last unit). Each part's octets are one memcpy away.

cdef enum:
    STACK_BUFFER = 1024   # octets; longer texts take a heap buffer


cdef Py_ssize_t _encode_gsm7(str text, uint8_t* out) noexcept:
    """Unpacked septets of the text into ``out`` (room for 2 octets per character); returns the
    septet count, or -1 at the first character GSM-7 lacks."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text), k = 0
    cdef const uint8_t* s1
    cdef const uint16_t* s2
    cdef const uint32_t* s4
    cdef uint16_t v
    if kind == PyUnicode_1BYTE_KIND:
        s1 = <const uint8_t*>data
        for i in range(n):
            v = gw_gsm7_from_latin1[s1[i]]
            if v < 0x80:
                out[k] = <uint8_t>v
                k += 1
            elif v == GW_GSM7_NONE:
                return -1
            else:
                out[k] = GW_GSM7_ESC
                out[k + 1] = <uint8_t>(v & 0x7F)
                k += 2
        return k
    if kind == PyUnicode_2BYTE_KIND:
        s2 = <const uint16_t*>data
        for i in range(n):
            v = gw_gsm7_lookup(s2[i])
            if v < 0x80:
                out[k] = <uint8_t>v
                k += 1
            elif v == GW_GSM7_NONE:
                return -1
            else:
                out[k] = GW_GSM7_ESC
                out[k + 1] = <uint8_t>(v & 0x7F)
                k += 2
        return k
    s4 = <const uint32_t*>data
    for i in range(n):
        v = gw_gsm7_lookup(s4[i])
        if v < 0x80:
            out[k] = <uint8_t>v
            k += 1
        elif v == GW_GSM7_NONE:
            return -1
        else:
            out[k] = GW_GSM7_ESC
            out[k + 1] = <uint8_t>(v & 0x7F)
            k += 2
    return k


cdef Py_ssize_t _encode_utf16(str text, uint8_t* out) except -1:
    """UTF-16BE of the text into ``out`` (room for 4 octets per character); returns the units.
    A lone surrogate cannot be sent: InvalidText."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text), k = 0
    cdef const uint8_t* s1
    cdef const uint16_t* s2
    cdef const uint32_t* s4
    cdef uint32_t cp
    if kind == PyUnicode_1BYTE_KIND:
        s1 = <const uint8_t*>data
        for i in range(n):
            out[2 * i] = 0
            out[2 * i + 1] = s1[i]
        return n
    if kind == PyUnicode_2BYTE_KIND:
        s2 = <const uint16_t*>data
        for i in range(n):
            cp = s2[i]
            if is_surrogate(cp):
                raise _lone_surrogate(cp, i)
            out[2 * i] = <uint8_t>(cp >> 8)
            out[2 * i + 1] = <uint8_t>(cp & 0xFF)
        return n
    s4 = <const uint32_t*>data
    for i in range(n):
        cp = s4[i]
        if is_surrogate(cp):
            raise _lone_surrogate(cp, i)
        k += write_utf16be(out + k, cp)
    return k >> 1


cdef object _lone_surrogate(uint32_t cp, Py_ssize_t i):
    return InvalidText(f"lone surrogate U+{cp:04X} at index {i}: the text is not valid Unicode")


cdef struct Encoded:
    # A text encoded once: the buffer (the caller's stack buffer, or the heap for long texts),
    # the encoding, and the size in units.
    uint8_t* buf
    bint heap
    bint gsm
    Py_ssize_t units


cdef int _encode(Encoded* enc, str text, uint8_t* stack) except -1:
    """Encode into ``stack`` (STACK_BUFFER octets) when it fits, else into a heap buffer that
    ``_release`` frees."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    enc.heap = False
    enc.buf = stack
    if 4 * n > STACK_BUFFER:
        enc.buf = <uint8_t*>PyMem_Malloc(4 * n)
        if enc.buf == NULL:
            raise MemoryError()
        enc.heap = True
    enc.units = _encode_gsm7(text, enc.buf)
    enc.gsm = enc.units >= 0
    if not enc.gsm:
        try:
            enc.units = _encode_utf16(text, enc.buf)
        except BaseException:
            _release(enc)
            raise
    return 0


cdef inline void _release(Encoded* enc) noexcept:
    if enc.heap:
        PyMem_Free(enc.buf)
        enc.heap = False


cdef inline Py_ssize_t _single(const Encoded* enc) noexcept:
    return GSM7_SINGLE if enc.gsm else UCS2_SINGLE


cdef inline bint _cuts_pair(const Encoded* enc, Py_ssize_t end) noexcept:
    """Would a part ending before unit ``end`` cut an ESC or a surrogate pair?"""
    if enc.gsm:
        return enc.buf[end - 1] == GW_GSM7_ESC
    return (enc.buf[2 * (end - 1)] & 0xFC) == 0xD8


cdef Py_ssize_t _split(const Encoded* enc, Py_ssize_t cap, Py_ssize_t* ends) noexcept:
    """Unit offsets where each part ends (for the first MAX_PARTS parts); returns the number of
    parts, which may exceed MAX_PARTS."""
    cdef Py_ssize_t pos = 0, end, nparts = 0
    if enc.units <= _single(enc):
        ends[0] = enc.units
        return 1
    while pos < enc.units:
        end = pos + cap
        if end >= enc.units:
            end = enc.units
        elif _cuts_pair(enc, end):
            end -= 1
        if nparts < MAX_PARTS:
            ends[nparts] = end
        nparts += 1
        pos = end
    return nparts


cdef Py_ssize_t _pairs(const Encoded* enc, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Characters that take two units between units ``start`` and ``end``."""
    cdef Py_ssize_t i, count = 0
    if enc.gsm:
        for i in range(start, end):
            count += enc.buf[i] == GW_GSM7_ESC
    else:
        for i in range(start, end):
            count += (enc.buf[2 * i] & 0xFC) == 0xD8
    return count


cdef inline Py_ssize_t _concat_cap(bint gsm, bint udh16) noexcept:
    if gsm:
        return GSM7_CONCAT16 if udh16 else GSM7_CONCAT8
    return UCS2_CONCAT16 if udh16 else UCS2_CONCAT8


cdef bytes _part(const Encoded* enc, Py_ssize_t start, Py_ssize_t end, bint udh16, int ref,
                 int total, int seq):
    """One part's short_message: the concatenation UDH then the units [start, end)."""
    cdef Py_ssize_t width = 1 if enc.gsm else 2
    cdef Py_ssize_t udh_len = UDH16_LEN if udh16 else UDH8_LEN
    cdef bytes out = PyBytes_FromStringAndSize(NULL, udh_len + width * (end - start))
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    if udh16:
        p[0] = 6; p[1] = 0x08; p[2] = 4
        p[3] = <uint8_t>(ref >> 8); p[4] = <uint8_t>(ref & 0xFF)
        p[5] = <uint8_t>total; p[6] = <uint8_t>seq
    else:
        p[0] = 5; p[1] = 0x00; p[2] = 3
        p[3] = <uint8_t>ref; p[4] = <uint8_t>total; p[5] = <uint8_t>seq
    memcpy(p + udh_len, enc.buf + width * start, width * (end - start))
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


cdef Py_ssize_t _parts_of(const Encoded* enc, bint udh16) noexcept:
    cdef Py_ssize_t ends[MAX_PARTS]
    return _split(enc, _concat_cap(enc.gsm, udh16), ends)


cdef str _choose(str text, bint transliterate, bint udh16, Encoded* enc, uint8_t* stack,
                 bint* changed):
    """Encode the text to send into ``enc`` and return it. The transliterated text is chosen
    only when it makes the text GSM-7 without costing more parts ('…' is 1 UCS-2 unit but 3
    septets); otherwise the message goes as it is, in UCS-2, which loses nothing."""
    cdef Encoded alt
    cdef uint8_t* alt_stack
    cdef str t
    changed[0] = False
    _encode(enc, text, stack)
    if not transliterate or enc.gsm:
        return text
    t = _transliterate(text)
    if t is text:
        return text
    alt_stack = <uint8_t*>PyMem_Malloc(STACK_BUFFER)
    if alt_stack == NULL:
        _release(enc)
        raise MemoryError()
    try:
        _encode(&alt, t, alt_stack)
    except BaseException:
        PyMem_Free(alt_stack)
        _release(enc)
        raise
    if alt.gsm and _parts_of(&alt, udh16) <= _parts_of(enc, udh16):
        # The transliterated encoding wins: copy it into the caller's buffers.
        _release(enc)
        if alt.heap:
            enc.buf = alt.buf
            enc.heap = True
        else:
            enc.buf = stack
            enc.heap = False
            memcpy(stack, alt.buf, alt.units)
        enc.gsm = True
        enc.units = alt.units
        changed[0] = True
        PyMem_Free(alt_stack)
        return t
    _release(&alt)
    PyMem_Free(alt_stack)
    return text


cdef tuple _texts_of(str text, bint udh16):
    """The text each part of a multi-part plan carries (the split again, without payloads)."""
    cdef Encoded enc
    cdef uint8_t stack[STACK_BUFFER]
    cdef Py_ssize_t ends[MAX_PARTS]
    cdef Py_ssize_t nparts, k, start = 0, cstart = 0, chars
    _encode(&enc, text, stack)
    try:
        nparts = _split(&enc, _concat_cap(enc.gsm, udh16), ends)
        texts = []
        for k in range(nparts):
            chars = ends[k] - start - _pairs(&enc, start, ends[k])
            texts.append(PyUnicode_Substring(text, cstart, cstart + chars))
            cstart += chars
            start = ends[k]
        return tuple(texts)
    finally:
        _release(&enc)


def plan(str text not None, *, ref=0, bint udh16=False, bint transliterate=False) -> Plan:
    """Encode and split a text into complete short_message payloads (see gateway.codec.plan)."""
    cdef Py_ssize_t nparts, k, start
    cdef int cref
    cdef bint changed
    cdef Encoded enc
    cdef uint8_t stack[STACK_BUFFER]
    cdef Py_ssize_t ends[MAX_PARTS]
    cdef long long wide
    if type(ref) is not int and not isinstance(ref, int):
        raise TypeError(f"ref must be an int, not {type(ref).__name__}")
    try:
        wide = ref
    except OverflowError:
        wide = -1
    if wide < 0 or wide > (0xFFFF if udh16 else 0xFF):
        raise ValueError(
            f"ref {ref} is out of range: a {'16' if udh16 else '8'}-bit concatenation reference "
            f"is 0 to {0xFFFF if udh16 else 0xFF}"
        )
    cref = <int>wide
    text = _choose(text, transliterate, udh16, &enc, stack, &changed)
    try:
        p = <Plan>Plan.__new__(Plan)
        p.encoding = GSM7 if enc.gsm else UCS2
        p.data_coding = 0 if enc.gsm else 8
        p.units = enc.units
        p.transliterated = changed
        if enc.units <= _single(&enc):
            p.esm_class = 0
            p.parts = (PyBytes_FromStringAndSize(<char*>enc.buf,
                                                 enc.units if enc.gsm else 2 * enc.units),)
            p._texts = (text,)
            return p
        nparts = _split(&enc, _concat_cap(enc.gsm, udh16), ends)
        if nparts > MAX_PARTS:
            raise _too_many(enc.gsm, enc.units, nparts, udh16)
        parts = PyTuple_New(nparts)
        start = 0
        for k in range(nparts):
            part = _part(&enc, start, ends[k], udh16, cref, nparts, k + 1)
            Py_INCREF(part)
            PyTuple_SET_ITEM(parts, k, part)
            start = ends[k]
        p.esm_class = ESM_UDHI
        p.parts = parts
        p._text = text
        p._udh16 = udh16
        return p
    finally:
        _release(&enc)


def count(str text not None, *, bint transliterate=False, bint udh16=False) -> Count:
    """What a text costs (see gateway.codec.count); no payload is built."""
    cdef bint changed
    cdef Encoded enc
    cdef uint8_t stack[STACK_BUFFER]
    _choose(text, transliterate, udh16, &enc, stack, &changed)
    try:
        c = <Count>Count.__new__(Count)
        c.encoding = GSM7 if enc.gsm else UCS2
        c.units = enc.units
        c.transliterated = changed
        c.parts = _parts_of(&enc, udh16)
        c.per_part = _single(&enc) if c.parts == 1 else _concat_cap(enc.gsm, udh16)
        return c
    finally:
        _release(&enc)


def encode_ucs2(str text not None) -> bytes:
    """UTF-16BE without BOM (data_coding 8); characters beyond the BMP become surrogate pairs."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef uint8_t* buf = <uint8_t*>PyMem_Malloc(4 * n + 1)
    if buf == NULL:
        raise MemoryError()
    try:
        return PyBytes_FromStringAndSize(<char*>buf, 2 * _encode_utf16(text, buf))
    finally:
        PyMem_Free(buf)


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
