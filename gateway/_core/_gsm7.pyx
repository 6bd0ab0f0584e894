# cython: language_level=3
"""GSM 03.38 7-bit default alphabet: unpacked septets (what SMPP data_coding 0 carries) and the
packed air-interface form (septets LSB-first, TS 23.038 6.1.2.1.1), both directions."""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memset

from gateway._core._text cimport (
    GW_GSM7_NONE, GW_GSM7_EXT, GW_GSM7_ESC, GW_GSM7_TO_UCS, gw_gsm7_ext_to_ucs, gw_gsm7_init,
    gw_gsm7_lookup, PyUnicode_KIND, PyUnicode_DATA, PyUnicode_READ, PyUnicode_GET_LENGTH,
    PyUnicode_FromKindAndData, PyUnicode_4BYTE_KIND, PyBytes_AS_STRING, PyBytes_FromStringAndSize,
)
from cpython.mem cimport PyMem_Malloc, PyMem_Free

from gateway._core.errors import DecodeError, InvalidText

gw_gsm7_init()

#: The character a receiver shows for an octet that is not a septet (> 0x7F) in unpacked GSM-7.
cdef uint32_t REPLACEMENT = 0xFFFD


def septet_count(str text not None) -> int:
    """Septets the text costs in GSM-7 (extension characters count 2), or -1 if some character
    is not in the GSM-7 alphabet or its extension table."""
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


def is_gsm7(str text not None) -> bool:
    """True when every character is in the GSM-7 alphabet or its extension table."""
    return septet_count(text) >= 0


def encode_septets(str text not None) -> bytes:
    """Encode to unpacked septets, one per octet, extension characters as ESC + code.

    Raises InvalidText naming the first character GSM-7 lacks: this function never substitutes.
    """
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t i, n = PyUnicode_GET_LENGTH(text), total = 0
    cdef uint16_t v
    cdef uint32_t cp
    for i in range(n):
        cp = PyUnicode_READ(kind, data, i)
        v = gw_gsm7_lookup(cp)
        if v == GW_GSM7_NONE:
            raise InvalidText(
                f"character {chr(cp)!r} (U+{cp:04X}) at index {i} is not in the GSM-7 alphabet"
            )
        total += 1 + ((v >> 8) & 1)
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    for i in range(n):
        v = gw_gsm7_lookup(PyUnicode_READ(kind, data, i))
        if v & GW_GSM7_EXT:
            p[0] = GW_GSM7_ESC
            p += 1
        p[0] = <uint8_t>(v & 0x7F)
        p += 1
    return out


cdef str _decode_septets(const uint8_t* s, Py_ssize_t n):
    """Unpacked septets to text. ESC + an unassigned code shows the default character for that
    code (TS 23.038 6.2.1.1); a trailing lone ESC shows as a space, as on a receiver without the
    extension table; an octet above 0x7F, which no septet is, becomes U+FFFD."""
    cdef uint32_t* buf = <uint32_t*>PyMem_Malloc((n if n > 0 else 1) * sizeof(uint32_t))
    if buf == NULL:
        raise MemoryError()
    cdef Py_ssize_t i = 0, k = 0
    cdef uint8_t c
    cdef uint16_t u
    try:
        while i < n:
            c = s[i]
            i += 1
            if c > 0x7F:
                buf[k] = REPLACEMENT
            elif c == GW_GSM7_ESC:
                if i == n:
                    buf[k] = 0x20
                else:
                    c = s[i]
                    i += 1
                    if c > 0x7F:
                        buf[k] = REPLACEMENT
                    else:
                        u = gw_gsm7_ext_to_ucs[c]
                        if u == 0:
                            u = GW_GSM7_TO_UCS[c]
                            if u == 0xFFFF:  # ESC ESC: reserved for a further table
                                u = 0x20
                        buf[k] = u
            else:
                buf[k] = GW_GSM7_TO_UCS[c]
            k += 1
        return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, k)
    finally:
        PyMem_Free(buf)


def decode_septets(const uint8_t[::1] septets) -> str:
    """Decode unpacked septets (one per octet) to text."""
    if septets.shape[0] == 0:
        return ""
    return _decode_septets(&septets[0], septets.shape[0])


def pack_septets(const uint8_t[::1] septets, int fill_bits=0) -> bytes:
    """Pack septets LSB-first after ``fill_bits`` zero bits (0-6: the fill that follows a UDH).

    The result holds ceil((fill_bits + 7 * n) / 8) octets; unused high bits of the last octet are 0.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0 to 6, not {fill_bits}")
    cdef Py_ssize_t n = septets.shape[0], i
    cdef Py_ssize_t nbits = fill_bits + 7 * n
    out = PyBytes_FromStringAndSize(NULL, (nbits + 7) // 8)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    memset(p, 0, (nbits + 7) // 8)
    cdef Py_ssize_t bit = fill_bits, byte
    cdef uint32_t v
    cdef int shift
    for i in range(n):
        v = septets[i]
        if v > 0x7F:
            raise ValueError(f"octet 0x{v:02X} at index {i} is not a septet (above 0x7F)")
        byte = bit >> 3
        shift = bit & 7
        p[byte] |= <uint8_t>((v << shift) & 0xFF)
        if shift > 1:
            p[byte + 1] |= <uint8_t>(v >> (8 - shift))
        bit += 7
    return out


def unpack_septets(const uint8_t[::1] octets, count=None, int fill_bits=0) -> bytes:
    """Unpack LSB-first septets that start after ``fill_bits`` bits.

    With ``count`` (the TP-UDL septet count, minus header septets) exactly that many are returned.
    Without it the count is inferred from the length; when the septets end exactly on an octet
    boundary and the last one is 0x00 (zero fill read as a phantom '@') or CR (the TS 23.038
    6.1.2.3.1 padding character) it is dropped, since packing alone cannot tell them from text.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0 to 6, not {fill_bits}")
    cdef Py_ssize_t nbytes = octets.shape[0]
    cdef Py_ssize_t avail = (nbytes * 8 - fill_bits) // 7 if nbytes * 8 >= fill_bits else 0
    cdef Py_ssize_t n, i, bit, byte
    cdef int shift
    cdef uint32_t v
    if count is None:
        n = avail
    else:
        n = count
        if n < 0 or n > avail:
            raise DecodeError(
                f"{nbytes} octets hold at most {avail} septets after {fill_bits} fill bits, not {n}"
            )
    out = PyBytes_FromStringAndSize(NULL, n)
    cdef uint8_t* p = <uint8_t*>PyBytes_AS_STRING(out)
    bit = fill_bits
    for i in range(n):
        byte = bit >> 3
        shift = bit & 7
        v = octets[byte] >> shift
        if shift > 1:
            v |= <uint32_t>octets[byte + 1] << (8 - shift)
        p[i] = <uint8_t>(v & 0x7F)
        bit += 7
    if count is None and n > 0 and fill_bits + 7 * n == 8 * nbytes and (p[n - 1] == 0 or p[n - 1] == 0x0D):
        return out[:n - 1]
    return out
