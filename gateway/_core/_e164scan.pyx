# cython: language_level=3
"""The bulk import's inner loops: canonical E.164 lines to 64-bit numbers, sorting them, and
making their LMDB keys, without a Python object per number until each key is written.

An opt-out import reads millions of lines that are nearly all ``+<digits>``: a Python loop
over them (split, regex, decode, ``int``, ``struct.pack``) cost more than LMDB itself. Here a
chunk of complete lines is walked in C, next to the same chunk with its accepted lines emptied
(:meth:`gateway.numbers.FastLines.strip`, the validation rule run over the whole chunk by one
regex call). A line that is canonical *and* empty in the stripped chunk is accepted: its digits
go straight into a ``uint64`` array. Every other line (blank, comment, header, national
spelling, rejected or unknown number, too long) stops the walk and goes back to the caller,
which judges it with the per-line rules: so the C side only ever says "accepted", never
"invalid", and the line order of everything the caller sees is the file's.

A number is its E.164 digits read as an integer, as in :mod:`gateway._core._numset`.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcpy, memset

#: Radix sort digit: 11 bits, 2,048 counters (16 KiB) per pass; five passes cover the 50 bits
#: of any E.164 number, and a pass whose digit is the same for every number is skipped.
cdef int _RADIX_BITS = 11
cdef Py_ssize_t _RADIX = 1 << 11
cdef int _PASSES = 6  # 66 bits: any uint64_t


cdef inline bint _canonical(const unsigned char *p, Py_ssize_t n, uint64_t *value) noexcept:
    """``\\+[1-9][0-9]{1,14}\\r?`` (the store's ``_CANONICAL_LINE``, in full), and its value."""
    cdef Py_ssize_t i
    cdef unsigned char c
    cdef uint64_t v = 0
    if n > 0 and p[n - 1] == 13:  # '\r'
        n -= 1
    if n < 3 or n > 16 or p[0] != 43 or p[1] < 49 or p[1] > 57:  # '+', '1'..'9'
        return False
    for i in range(1, n):
        c = p[i] - 48
        if c > 9:
            return False
        v = v * 10 + c
    value[0] = v
    return True


def scan(bytes data, Py_ssize_t pos, bytes stripped, Py_ssize_t spos, uint64_t[::1] out,
         Py_ssize_t count):
    """Walk the lines of ``data`` (complete lines: it ends with ``\\n``) from offset ``pos``,
    and those of ``stripped`` (the same lines with the accepted ones emptied, or None: none
    accepted) from ``spos``, putting each accepted line's number in ``out[count]``.

    Stops after the line that fills ``out``, after the first line that is not accepted, or at
    the end of ``data``. Returns ``(pos, spos, count, lines, slow)``: where to go on, the new
    count, the lines walked, and the offset in ``data`` of the line it stopped at if that line
    was not accepted (the last line walked: ``data[slow:pos - 1]``), else -1.
    """
    cdef const unsigned char *d = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(data)
    cdef const unsigned char *s = NULL
    cdef Py_ssize_t send = 0
    cdef Py_ssize_t cap = out.shape[0], lines = 0, start
    cdef const unsigned char *nl
    cdef const unsigned char *snl = NULL
    cdef uint64_t value
    cdef bint empty
    if stripped is not None:
        s = <const unsigned char *>PyBytes_AS_STRING(stripped)
        send = PyBytes_GET_SIZE(stripped)
    if not 0 <= pos <= end or not 0 <= spos <= send or not 0 <= count < cap:
        raise ValueError("scan: offset or count out of range")
    while pos < end:
        nl = <const unsigned char *>memchr(d + pos, 10, <size_t>(end - pos))
        if nl == NULL:
            raise ValueError("scan: the data does not end with a newline")
        empty = False
        if s != NULL:
            if spos >= send:
                raise ValueError("scan: the stripped data has fewer lines")
            snl = <const unsigned char *>memchr(s + spos, 10, <size_t>(send - spos))
            if snl == NULL:
                raise ValueError("scan: the stripped data has fewer lines")
            empty = snl == s + spos
            spos = snl - s + 1
        start = pos
        pos = nl - d + 1
        lines += 1
        if empty and _canonical(d + start, pos - 1 - start, &value):
            out[count] = value
            count += 1
            if count == cap:
                break
            continue
        return pos, spos, count, lines, start
    return pos, spos, count, lines, -1


def sort_numbers(uint64_t[::1] numbers, Py_ssize_t count) -> None:
    """Sort ``numbers[:count]`` in place, ascending (so their big-endian keys are in cursor
    order): an LSD radix sort, a few milliseconds for a million, against a second for a list of
    ``bytes``."""
    cdef Py_ssize_t n = count, i, p, total
    cdef uint64_t *a
    cdef uint64_t *tmp
    cdef uint64_t *src
    cdef uint64_t *dst
    cdef uint64_t *swap
    cdef Py_ssize_t *counts
    cdef Py_ssize_t *c
    cdef int shift
    if not 0 <= n <= numbers.shape[0]:
        raise ValueError("sort_numbers: count out of range")
    if n < 2:
        return
    a = &numbers[0]
    tmp = <uint64_t *>PyMem_RawMalloc(<size_t>n * sizeof(uint64_t))
    counts = <Py_ssize_t *>PyMem_RawMalloc(<size_t>(_PASSES * _RADIX) * sizeof(Py_ssize_t))
    if tmp == NULL or counts == NULL:
        PyMem_RawFree(tmp)
        PyMem_RawFree(counts)
        raise MemoryError()
    with nogil:
        memset(counts, 0, <size_t>(_PASSES * _RADIX) * sizeof(Py_ssize_t))
        for i in range(n):
            for p in range(_PASSES):
                counts[p * _RADIX + <Py_ssize_t>((a[i] >> (p * _RADIX_BITS)) & (_RADIX - 1))] += 1
        src, dst = a, tmp
        for p in range(_PASSES):
            c = counts + p * _RADIX
            shift = p * _RADIX_BITS
            if c[<Py_ssize_t>((src[0] >> shift) & (_RADIX - 1))] == n:
                continue  # one value of this digit for all: the order stays
            total = 0
            for i in range(_RADIX):
                total, c[i] = total + c[i], total
            for i in range(n):
                dst[c[<Py_ssize_t>((src[i] >> shift) & (_RADIX - 1))]] = src[i]
                c[<Py_ssize_t>((src[i] >> shift) & (_RADIX - 1))] += 1
            swap = src
            src = dst
            dst = swap
        if src != a:
            memcpy(a, src, <size_t>n * sizeof(uint64_t))
    PyMem_RawFree(tmp)
    PyMem_RawFree(counts)


cdef class PackedItems:
    """The LMDB keys of ``numbers[:count]``, one at a time: each number as 8 bytes big-endian
    (what :func:`gateway.numbers.pack` makes of its E.164 form) followed by ``suffix``; or
    ``(key, value)`` pairs when ``value`` is given, what ``Cursor.putmulti`` reads. Made on
    demand, so a batch of a million numbers never holds a million key objects (8 bytes a
    number for the batch, not 56). ``numbers`` must not change while this is iterated."""

    cdef const uint64_t[::1] _numbers
    cdef Py_ssize_t _count, _i
    cdef bytes _suffix
    cdef object _value

    def __init__(self, const uint64_t[::1] numbers, Py_ssize_t count, bytes suffix,
                 value=None):
        if not 0 <= count <= numbers.shape[0]:
            raise ValueError("PackedItems: count out of range")
        self._numbers = numbers
        self._count = count
        self._i = 0
        self._suffix = suffix
        self._value = value

    def __iter__(self):
        return self

    def __next__(self):
        cdef Py_ssize_t b, s = PyBytes_GET_SIZE(self._suffix)
        cdef uint64_t v
        cdef bytes key
        cdef unsigned char *k
        if self._i >= self._count:
            raise StopIteration
        v = self._numbers[self._i]
        self._i += 1
        key = PyBytes_FromStringAndSize(NULL, 8 + s)
        k = <unsigned char *>PyBytes_AS_STRING(key)
        for b in range(8):
            k[7 - b] = <unsigned char>(v >> (8 * b))
        memcpy(k + 8, PyBytes_AS_STRING(self._suffix), <size_t>s)
        if self._value is None:
            return key
        return (key, self._value)
