# Shared C-level helpers of the compiled core: reading a str in place, GSM-7 table look-ups and
# UTF-16 unit counting. Everything here is inline so each module's inner loop stays one C loop.
from libc.stdint cimport uint8_t, uint16_t, uint32_t

cdef extern from "gsm7.h":
    const uint16_t GW_GSM7_TO_UCS[128]
    uint16_t gw_gsm7_ext_to_ucs[128]
    uint16_t gw_gsm7_from_latin1[256]
    void gw_gsm7_init()
    uint16_t gw_gsm7_lookup(uint32_t cp) nogil
    int GW_GSM7_ESC
    int GW_GSM7_EXT
    int GW_GSM7_NONE

cdef extern from "Python.h":
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    uint32_t PyUnicode_READ(int kind, const void* data, Py_ssize_t index) nogil
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    object PyUnicode_Substring(object text, Py_ssize_t start, Py_ssize_t end)
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    int PyUnicode_1BYTE_KIND
    int PyUnicode_2BYTE_KIND
    int PyUnicode_4BYTE_KIND
    char* PyBytes_AS_STRING(object b)
    object PyBytes_FromStringAndSize(const char* s, Py_ssize_t n)


cdef inline bint is_surrogate(uint32_t cp) noexcept nogil:
    return 0xD800 <= cp <= 0xDFFF


cdef inline Py_ssize_t write_utf16be(uint8_t* out, uint32_t cp) noexcept nogil:
    """Write one code point as UTF-16BE; returns the octets written (2 or 4)."""
    cdef uint32_t v
    if cp < 0x10000:
        out[0] = <uint8_t>(cp >> 8)
        out[1] = <uint8_t>(cp & 0xFF)
        return 2
    v = cp - 0x10000u
    out[0] = <uint8_t>(0xD8 | (v >> 18))
    out[1] = <uint8_t>((v >> 10) & 0xFF)
    out[2] = <uint8_t>(0xDC | ((v >> 8) & 0x03))
    out[3] = <uint8_t>(v & 0xFF)
    return 4
