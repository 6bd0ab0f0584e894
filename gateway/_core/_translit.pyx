# cython: language_level=3
"""Transliteration ("smart encoding"): characters outside GSM-7 that have a close GSM-7 form.

One such character (a typographic apostrophe, a non-breaking space before '!', an 'ê') switches a
whole message to UCS-2 and cuts its capacity from 160 to 70 characters. Replacing them keeps French
texts in GSM-7. It only ever runs when the caller asks: it changes what the recipient reads.

Characters that GSM-7 already has are never touched, and characters without an entry here are left
as they are (the message then stays in UCS-2).
"""

from libc.stdint cimport uint16_t, uint32_t
from cpython.mem cimport PyMem_Malloc, PyMem_Free

from gateway._core._text cimport (
    GW_GSM7_NONE, gw_gsm7_init, gw_gsm7_lookup, PyUnicode_KIND, PyUnicode_DATA, PyUnicode_READ,
    PyUnicode_GET_LENGTH, PyUnicode_FromKindAndData, PyUnicode_4BYTE_KIND,
)

gw_gsm7_init()

#: Replacement for each code point; every replacement is itself GSM-7 (checked at import).
TABLE: dict[str, str] = {
    # Quotes, apostrophes and primes.
    "\u2018": "'", "\u2019": "'", "\u201A": "'", "\u201B": "'", "\u2032": "'", "\u00B4": "'",
    "`": "'",
    "\u201C": '"', "\u201D": '"', "\u201E": '"', "\u201F": '"', "\u2033": '"',
    "\u00AB": '"', "\u00BB": '"', "\u2039": "'", "\u203A": "'",
    # Dashes and minus signs.
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-",
    # Ellipsis, bullets.
    "\u2026": "...", "\u2022": "-", "\u00B7": ".",
    # Spaces: no-break (French typography before : ; ! ?), narrow, thin, figure, em/en, tab.
    "\u00A0": " ", "\u202F": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ",
    "\u2004": " ", "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ",
    "\u200A": " ", "\u205F": " ", "\u3000": " ", "\t": " ",
    # Invisible characters: zero-width space and joiners, byte-order mark, soft hyphen.
    "\u200B": "", "\u200C": "", "\u200D": "", "\u2060": "", "\uFEFF": "", "\u00AD": "",
    # Ligatures.
    "\u0153": "oe", "\u0152": "OE", "\uFB01": "fi", "\uFB02": "fl",
    # French accented letters GSM-7 lacks (it has é è à ù É Ç ü Ü ä Ä ö Ö ñ Ñ).
    "\u00E2": "a", "\u00EA": "e", "\u00EE": "i", "\u00F4": "o", "\u00FB": "u",
    "\u00EB": "e", "\u00EF": "i", "\u00FF": "y",
    "\u00C0": "A", "\u00C2": "A", "\u00C8": "E", "\u00CA": "E", "\u00CB": "E",
    "\u00CE": "I", "\u00CF": "I", "\u00D4": "O", "\u00D9": "U", "\u00DB": "U", "\u0178": "Y",
    # c-cedilla: GSM-7 has only the capital (0x09, ETSI table; Android shows it as the capital
    # too), so "reçu" becomes "recu", the form French readers know from accent-less typing,
    # rather than "reÇu".
    "\u00E7": "c",
    # Other Latin letters common in names and imported words.
    "\u00E1": "a", "\u00ED": "i", "\u00F3": "o", "\u00FA": "u", "\u00E3": "a", "\u00F5": "o",
    "\u00C1": "A", "\u00CD": "I", "\u00D3": "O", "\u00DA": "U", "\u00C3": "A", "\u00D5": "O",
    "\u00FD": "y", "\u00DD": "Y",
    # Greek capitals that look Latin (not code points of the GSM-7 table).
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039A": "K", "\u039C": "M", "\u039D": "N", "\u039F": "O", "\u03A1": "P", "\u03A4": "T",
    "\u03A5": "Y", "\u03A7": "X",
    # Symbols.
    "\u2122": "TM", "\u00A9": "(c)", "\u00AE": "(R)", "\u00B0": "o", "\u00D7": "x",
    "\u2044": "/", "\u00F7": "/",
}

#: Longest replacement, in characters (bounds the output buffer).
cdef Py_ssize_t MAX_REPLACEMENT = 3

cdef Py_ssize_t _count = 0
cdef uint32_t* _keys = NULL          # sorted code points
cdef Py_ssize_t* _offsets = NULL     # replacement i is _chars[_offsets[i]:_offsets[i + 1]]
cdef uint32_t* _chars = NULL


def _build() -> None:
    global _count, _keys, _offsets, _chars
    items = sorted(TABLE.items())
    total = sum(len(r) for _, r in items)
    _keys = <uint32_t*>PyMem_Malloc(len(items) * sizeof(uint32_t))
    _offsets = <Py_ssize_t*>PyMem_Malloc((len(items) + 1) * sizeof(Py_ssize_t))
    _chars = <uint32_t*>PyMem_Malloc((total + 1) * sizeof(uint32_t))
    if _keys == NULL or _offsets == NULL or _chars == NULL:
        raise MemoryError()
    cdef Py_ssize_t i, k = 0
    for i, (src, dst) in enumerate(items):
        if gw_gsm7_lookup(ord(src)) != GW_GSM7_NONE:
            raise AssertionError(f"{src!r} is GSM-7 already and must not be transliterated")
        if len(dst) > MAX_REPLACEMENT or any(gw_gsm7_lookup(ord(c)) == GW_GSM7_NONE for c in dst):
            raise AssertionError(f"replacement {dst!r} for {src!r} must be 0-3 GSM-7 characters")
        _keys[i] = ord(src)
        _offsets[i] = k
        for c in dst:
            _chars[k] = ord(c)
            k += 1
    _offsets[len(items)] = k
    _count = len(items)


_build()


cdef inline Py_ssize_t _find(uint32_t cp) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = _count - 1, mid
    while lo <= hi:
        mid = (lo + hi) >> 1
        if _keys[mid] < cp:
            lo = mid + 1
        elif _keys[mid] > cp:
            hi = mid - 1
        else:
            return mid
    return -1


cpdef str transliterate(str text):
    """Replace the characters outside GSM-7 that have a close GSM-7 form; leave everything else.

    Returns the very same object when nothing changes, so callers can test ``result is text``.
    """
    if text is None:
        raise TypeError("transliterate() needs a str, not None")
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i, j, first = -1, k, m
    cdef uint32_t cp
    for i in range(n):
        cp = PyUnicode_READ(kind, data, i)
        if gw_gsm7_lookup(cp) == GW_GSM7_NONE and _find(cp) >= 0:
            first = i
            break
    if first < 0:
        return text
    cdef uint32_t* buf = <uint32_t*>PyMem_Malloc(n * MAX_REPLACEMENT * sizeof(uint32_t))
    if buf == NULL:
        raise MemoryError()
    try:
        k = 0
        for i in range(n):
            cp = PyUnicode_READ(kind, data, i)
            j = _find(cp) if i >= first and gw_gsm7_lookup(cp) == GW_GSM7_NONE else -1
            if j < 0:
                buf[k] = cp
                k += 1
            else:
                for m in range(_offsets[j], _offsets[j + 1]):
                    buf[k] = _chars[m]
                    k += 1
        return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, k)
    finally:
        PyMem_Free(buf)


def changes(str text not None) -> list[tuple[str, str]]:
    """The distinct replacements transliterate() would make, in order of first appearance."""
    cdef dict seen = {}
    cdef str ch
    cdef uint32_t cp
    for cp in text:
        if gw_gsm7_lookup(cp) == GW_GSM7_NONE and _find(cp) >= 0:
            ch = chr(cp)
            if ch not in seen:
                seen[ch] = TABLE[ch]
    return list(seen.items())
