# cython: language_level=3
"""A set of phone numbers as 64-bit integers: the opt-out list's in-memory membership filter.

A number is its E.164 digits read as an integer ("+33612345678" is 33612345678), the value that
:func:`gateway.numbers.pack` stores big-endian in 8 bytes. E.164 has at most 15 digits and no
leading zero, so every number is in ``[10, 10**15)`` and 0 can mark an empty slot.

The table is open addressing with linear probing over a power-of-two array of ``uint64_t``,
kept at most ``MAX_LOAD`` full (3/4), with backward-shift deletion (no tombstones, so a long run
of adds and removes never degrades probing). Memory is ``8 * capacity`` bytes: 10 million
numbers fit in 2**24 slots, 128 MiB, 13.4 bytes per number (between 8 and 21 bytes per number
at any size, by where the count sits between two doublings; :meth:`NumberSet.reserve` sizes the
table once for a known count, so loading does not double it repeatedly).

:meth:`NumberSet.find` answers a whole batch in one call: it reads the E.164 strings (or ints)
straight from the list, so the check costs tens of nanoseconds per number, not a Python call.
The pure-Python oracle is ``tests/numset_oracle.py``; the two are checked against each other.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)

#: Smallest number a key can be ("+10": two digits) and one past the largest (16 digits).
MIN_NUMBER = 10
END_NUMBER = 10 ** 15
#: Capacity of the first table: small stores cost 512 bytes.
cdef Py_ssize_t MIN_CAPACITY = 64
#: Grow when more than 3/4 full: linear probing stays at ~2.5 expected probes for a miss.
MAX_LOAD = 0.75


cdef inline uint64_t _mix(uint64_t x) noexcept:
    # splitmix64's finaliser: numbers that differ in their last digits land far apart.
    x ^= x >> 30
    x *= 0xbf58476d1ce4e5b9ULL
    x ^= x >> 27
    x *= 0x94d049bb133111ebULL
    x ^= x >> 31
    return x


cdef inline Py_ssize_t _fits(Py_ssize_t count) noexcept:
    cdef Py_ssize_t cap = MIN_CAPACITY
    while count > (cap >> 1) + (cap >> 2):
        cap <<= 1
    return cap


cdef uint64_t _key(object number) except 0:
    """The integer of an E.164 str ("+" and 2 to 15 digits, the first not 0) or of an int."""
    cdef const char *s
    cdef Py_ssize_t n, i
    cdef uint64_t v = 0
    cdef char c
    if isinstance(number, str):
        if PyUnicode_IS_COMPACT_ASCII(number):
            n = PyUnicode_GET_LENGTH(number)
            s = <const char *>PyUnicode_DATA(number)
            if 3 <= n <= 16 and s[0] == c'+' and c'1' <= s[1] <= c'9':
                for i in range(1, n):
                    c = s[i]
                    if c < c'0' or c > c'9':
                        break
                    v = v * 10 + <uint64_t>(c - c'0')
                else:
                    return v
        shown = number if len(number) <= 64 else number[:64] + "…"
        raise ValueError(f"{shown!r} is not E.164 (normalize() it first)")
    if isinstance(number, int) and not isinstance(number, bool):
        if MIN_NUMBER <= number < END_NUMBER:
            return <uint64_t>number
        raise ValueError(f"{number} is not the integer of an E.164 number (10 to 10**15 - 1)")
    raise TypeError(f"a number is an E.164 str or an int, not {type(number).__name__}")


cdef inline uint64_t _be64(const unsigned char *p) noexcept:
    return ((<uint64_t>p[0] << 56) | (<uint64_t>p[1] << 48) | (<uint64_t>p[2] << 40)
            | (<uint64_t>p[3] << 32) | (<uint64_t>p[4] << 24) | (<uint64_t>p[5] << 16)
            | (<uint64_t>p[6] << 8) | <uint64_t>p[7])


cdef class NumberSet:
    """Phone numbers (E.164 str or their int) with O(1) add, discard and membership.

    ``NumberSet(capacity)`` reserves room for ``capacity`` numbers up front.
    """

    def __cinit__(self):
        self._slots = NULL
        self._capacity = 0
        self._count = 0

    def __init__(self, Py_ssize_t capacity=0):
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, not {capacity}")
        if capacity:
            self._resize(_fits(capacity))

    def __dealloc__(self):
        PyMem_RawFree(self._slots)

    cdef int _resize(self, Py_ssize_t capacity) except -1:
        cdef uint64_t *old = self._slots
        cdef Py_ssize_t old_capacity = self._capacity, i, j
        cdef uint64_t key, mask = <uint64_t>(capacity - 1)
        cdef uint64_t *slots = <uint64_t *>PyMem_RawCalloc(<size_t>capacity, sizeof(uint64_t))
        if slots == NULL:
            raise MemoryError(f"cannot allocate {capacity * 8} bytes for a NumberSet")
        for i in range(old_capacity):
            key = old[i]
            if key:
                j = <Py_ssize_t>(_mix(key) & mask)
                while slots[j]:
                    j = <Py_ssize_t>((<uint64_t>j + 1) & mask)
                slots[j] = key
        self._slots = slots
        self._capacity = capacity
        PyMem_RawFree(old)
        return 0

    cdef bint _has(self, uint64_t key) noexcept:
        if self._capacity == 0:
            return False
        cdef uint64_t mask = <uint64_t>(self._capacity - 1)
        cdef uint64_t j = _mix(key) & mask
        cdef uint64_t k
        while True:
            k = self._slots[j]
            if k == key:
                return True
            if k == 0:
                return False
            j = (j + 1) & mask

    cdef int _add(self, uint64_t key) except -1:
        """1 if added, 0 if it was there."""
        if self._count + 1 > (self._capacity >> 1) + (self._capacity >> 2):
            self._resize(_fits(self._count + 1))
        cdef uint64_t mask = <uint64_t>(self._capacity - 1)
        cdef uint64_t j = _mix(key) & mask
        cdef uint64_t k
        while True:
            k = self._slots[j]
            if k == key:
                return 0
            if k == 0:
                self._slots[j] = key
                self._count += 1
                return 1
            j = (j + 1) & mask

    cdef bint _discard(self, uint64_t key) noexcept:
        if self._capacity == 0:
            return False
        cdef uint64_t mask = <uint64_t>(self._capacity - 1)
        cdef uint64_t i = _mix(key) & mask
        cdef uint64_t j, home, k
        while True:
            k = self._slots[i]
            if k == 0:
                return False
            if k == key:
                break
            i = (i + 1) & mask
        # Backward shift: pull later members of the run into the hole unless their home slot
        # lies cyclically in (hole, their slot], where they are already reachable.
        j = i
        while True:
            j = (j + 1) & mask
            k = self._slots[j]
            if k == 0:
                break
            home = _mix(k) & mask
            if (i <= j and i < home <= j) or (i > j and (home > i or home <= j)):
                continue
            self._slots[i] = k
            i = j
        self._slots[i] = 0
        self._count -= 1
        return True

    # ---- Python API ---------------------------------------------------------------------

    def reserve(self, Py_ssize_t count) -> None:
        """Size the table for ``count`` numbers now (it never shrinks)."""
        cdef Py_ssize_t cap = _fits(count)
        if cap > self._capacity:
            self._resize(cap)

    def add(self, number) -> bool:
        """Add one number; True if it was not there."""
        return self._add(_key(number)) == 1

    def discard(self, number) -> bool:
        """Remove one number; True if it was there."""
        return self._discard(_key(number))

    def __contains__(self, number) -> bool:
        return self._has(_key(number))

    def __len__(self) -> int:
        return self._count

    def add_all(self, numbers) -> int:
        """Add every number of an iterable (E.164 str or int); how many were new."""
        cdef Py_ssize_t added = 0
        for number in numbers:
            added += self._add(_key(number))
        return added

    def add_keys(self, keys) -> int:
        """Add the number at the head of each key of an iterable of ``bytes`` (a packed key,
        8 bytes big-endian, then anything: the LMDB keys of the opt-out DB, straight from a
        cursor); how many were new. Keys are not checked beyond their length."""
        cdef Py_ssize_t added = 0
        cdef bytes b
        for key in keys:
            b = key if type(key) is bytes else bytes(key)
            if PyBytes_GET_SIZE(b) < 8:
                raise ValueError(f"a packed key has at least 8 bytes, not {b!r}")
            added += self._add(_be64(<const unsigned char *>PyBytes_AS_STRING(b)))
        return added

    def find(self, numbers) -> list:
        """Positions in ``numbers`` (a list or tuple of E.164 str or int) of the numbers in
        the set, in order. Every item is checked: a malformed one raises ValueError."""
        cdef list out = []
        cdef Py_ssize_t i
        seq = numbers if type(numbers) is list or type(numbers) is tuple else list(numbers)
        for i in range(len(seq)):
            if self._has(_key(seq[i])):
                out.append(i)
        return out

    def find_keys(self, numbers, bytes suffix=b"") -> tuple:
        """:meth:`find`, and for each position found the packed key of its number followed
        by ``suffix``: ``(positions, keys)``, ready for an LMDB lookup."""
        cdef list positions = []
        cdef list keys = []
        cdef Py_ssize_t i, b, s = len(suffix)
        cdef uint64_t key
        cdef unsigned char buf[72]
        if s > 64:
            raise ValueError("suffix is longer than 64 bytes")
        memcpy(&buf[8], PyBytes_AS_STRING(suffix), <size_t>s)
        seq = numbers if type(numbers) is list or type(numbers) is tuple else list(numbers)
        for i in range(len(seq)):
            key = _key(seq[i])
            if self._has(key):
                positions.append(i)
                for b in range(8):
                    buf[7 - b] = <unsigned char>(key >> (8 * b))
                keys.append(PyBytes_FromStringAndSize(<char *>buf, 8 + s))
        return positions, keys

    def __iter__(self):
        """The numbers as ints, in table order (no order to rely on)."""
        cdef Py_ssize_t i
        cdef Py_ssize_t capacity = self._capacity
        for i in range(capacity):
            if capacity != self._capacity:
                raise RuntimeError("NumberSet changed size during iteration")
            if self._slots[i]:
                yield self._slots[i]

    def clear(self) -> None:
        """Remove every number and free the table."""
        PyMem_RawFree(self._slots)
        self._slots = NULL
        self._capacity = 0
        self._count = 0

    @property
    def capacity(self) -> int:
        """Slots in the table (0 before the first add)."""
        return self._capacity

    @property
    def nbytes(self) -> int:
        """Bytes the table holds: 8 per slot."""
        return self._capacity * 8

    def __repr__(self) -> str:
        return f"NumberSet({self._count} numbers, {self._capacity} slots)"
