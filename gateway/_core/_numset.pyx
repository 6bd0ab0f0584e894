# cython: language_level=3
"""A set of phone numbers as 64-bit integers, each with a small tag: the opt-out list's
in-memory membership filter.

A number is its E.164 digits read as an integer ("+33612345678" is 33612345678), the value that
:func:`gateway.numbers.pack` stores big-endian in 8 bytes. E.164 has at most 15 digits and no
leading zero, so every number is in ``[10, 10**15)`` and 0 can mark an empty slot.

Tags. ``10**15 < 2**50``, so a number takes the low ``NUMBER_BITS`` (50) bits of its slot and the
14 high bits are free: they hold the number's *tag*, ``0`` to ``MAX_TAG`` (16,383). The set gives
tags no meaning; the opt-out store uses 0 for "has some entry: read LMDB" and ``k > 0`` for "has
exactly the entries number ``k`` of my table". Adding a number that is already there clears its
tag (an added number is a candidate again); :meth:`NumberSet.set_tag`, :meth:`tag_keys` and
:meth:`load` set tags; :meth:`find_tagged` reports them.

The table is open addressing with linear probing over a power-of-two array of ``uint64_t``,
kept at most ``MAX_LOAD`` full (3/4), with backward-shift deletion (no tombstones, so a long run
of adds and removes never degrades probing). Memory is ``8 * capacity`` bytes, tags included:
10 million numbers fit in 2**24 slots, 128 MiB, 13.4 bytes per number (between 8 and 21 bytes per
number at any size, by where the count sits between two doublings; :meth:`NumberSet.reserve`
sizes the table once for a known count, so loading does not double it repeatedly).

:meth:`NumberSet.find` and :meth:`NumberSet.find_tagged` answer a whole batch in one call: they
read the E.164 strings (or ints) straight from the list, so the check costs tens of nanoseconds
per number, not a Python call. The pure-Python oracle is ``tests/numset_oracle.py``; the two are
checked against each other.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    # Only the allocator: how tuple_subtype_new builds an instance of a tuple subclass.
    ctypedef struct _Type "PyTypeObject":
        PyObject *(*tp_alloc)(_Type *, Py_ssize_t)

cdef extern from *:
    """
    #define GATEWAY_PREFETCH(p) __builtin_prefetch((p), 1)
    """
    void GATEWAY_PREFETCH(const void *p) noexcept nogil

#: How many numbers ahead :meth:`NumberSet.mark_numbers` and :meth:`NumberSet.tag_numbers`
#: fetch their home slot: a large table is one cache (and TLB) miss per number, and 16 misses
#: in flight hide most of the latency.
cdef Py_ssize_t _AHEAD = 16

#: Smallest number a key can be ("+10": two digits) and one past the largest (16 digits).
MIN_NUMBER = 10
END_NUMBER = 10 ** 15
#: Low bits of a slot that hold the number (``END_NUMBER <= 2**NUMBER_BITS``); the rest is the tag.
NUMBER_BITS = 50
#: Largest tag: 14 bits.
MAX_TAG = (1 << (64 - NUMBER_BITS)) - 1
cdef uint64_t _NUMBER_MASK = (<uint64_t>1 << 50) - 1
cdef int _SHIFT = 50
cdef uint64_t _MIN = 10
cdef uint64_t _END = 1000000000000000ULL
#: Capacity of the first table: small stores cost 512 bytes.
cdef Py_ssize_t MIN_CAPACITY = 64
#: Grow when more than 3/4 full: linear probing stays at ~2.5 expected probes for a miss.
MAX_LOAD = 0.75

assert END_NUMBER <= 1 << NUMBER_BITS


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


cdef uint64_t _packed(object key) except 0:
    """The number at the head of a packed key (8 bytes big-endian, then anything)."""
    cdef bytes b = key if type(key) is bytes else bytes(key)
    if PyBytes_GET_SIZE(b) < 8:
        raise ValueError(f"a packed key has at least 8 bytes, not {b!r}")
    cdef uint64_t v = _be64(<const unsigned char *>PyBytes_AS_STRING(b))
    if v < _MIN or v >= _END:
        raise ValueError(f"{v} is not the integer of an E.164 number (10 to 10**15 - 1)")
    return v


cdef object _row(type cls, object number, tuple rest):
    """``tuple.__new__(cls, (number, *rest))`` for ``cls`` tuple or a tuple subclass without
    fields of its own (a NamedTuple), built as ``tuple_subtype_new`` does."""
    cdef Py_ssize_t n = PyTuple_GET_SIZE(rest), i
    cdef PyObject *p
    cdef object row
    if cls is tuple:
        row = PyTuple_New(n + 1)
    else:
        p = (<_Type *>cls).tp_alloc(<_Type *>cls, n + 1)
        if p == NULL:
            raise MemoryError()
        row = <object>p
        Py_DECREF(row)  # <object> took a second reference
    Py_INCREF(number)
    PyTuple_SET_ITEM(row, 0, number)
    for i in range(n):
        item = <object>PyTuple_GET_ITEM(rest, i)
        Py_INCREF(item)
        PyTuple_SET_ITEM(row, i + 1, item)
    return row


cdef inline uint64_t _tag(object tag) except? 0xffffffffffffffff:
    if not 0 <= tag <= MAX_TAG:
        raise ValueError(f"a tag is 0 to {MAX_TAG}, not {tag}")
    return <uint64_t>tag


cdef class _LastSingle:
    """The last one-pair run :meth:`NumberSet.load` interned, and its tag (declared in the
    .pxd)."""


cdef class NumberSet:
    """Phone numbers (E.164 str or their int), each with a tag, with O(1) add, discard,
    membership and tag.

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
        cdef uint64_t slot, mask = <uint64_t>(capacity - 1)
        cdef uint64_t *slots = <uint64_t *>PyMem_RawCalloc(<size_t>capacity, sizeof(uint64_t))
        if slots == NULL:
            raise MemoryError(f"cannot allocate {capacity * 8} bytes for a NumberSet")
        for i in range(old_capacity):
            slot = old[i]
            if slot:
                j = <Py_ssize_t>(_mix(slot & _NUMBER_MASK) & mask)
                while slots[j]:
                    j = <Py_ssize_t>((<uint64_t>j + 1) & mask)
                slots[j] = slot
        self._slots = slots
        self._capacity = capacity
        PyMem_RawFree(old)
        return 0

    cdef int _grow_for_one(self) except -1:
        if self._count + 1 > (self._capacity >> 1) + (self._capacity >> 2):
            self._resize(_fits(self._count + 1))
        return 0

    cdef unsigned char _mark(self, uint64_t key, const unsigned char *keep,
                             Py_ssize_t nkeep) noexcept:
        """Put ``key`` in (the caller made room) and return its mark (see mark_keys): 1 new,
        2 kept its tag (``t > 0`` with ``keep[t]`` nonzero), 0 there and now untagged."""
        cdef Py_ssize_t j = self._probe(key)
        cdef uint64_t t = self._slots[j] >> _SHIFT
        if self._slots[j] == 0:
            self._slots[j] = key
            self._count += 1
            return 1
        if t and <Py_ssize_t>t < nkeep and keep[t]:
            return 2
        self._slots[j] = key
        return 0

    cdef Py_ssize_t _probe(self, uint64_t key) noexcept:
        """The slot of ``key``, or the empty slot where it would go; the table must have room
        (``_capacity > 0``: it is never full)."""
        cdef uint64_t mask = <uint64_t>(self._capacity - 1)
        cdef uint64_t j = _mix(key) & mask
        cdef uint64_t slot
        while True:
            slot = self._slots[j]
            if slot == 0 or (slot & _NUMBER_MASK) == key:
                return <Py_ssize_t>j
            j = (j + 1) & mask

    cdef Py_ssize_t _index(self, uint64_t key) noexcept:
        """The slot of ``key``, or -1."""
        if self._capacity == 0:
            return -1
        cdef Py_ssize_t j = self._probe(key)
        return j if self._slots[j] else -1

    cdef bint _has(self, uint64_t key) noexcept:
        return self._index(key) >= 0

    cdef int _add(self, uint64_t key) except -1:
        """1 if added, 0 if it was there (its tag is cleared)."""
        self._grow_for_one()
        cdef Py_ssize_t j = self._probe(key)
        if self._slots[j]:
            self._slots[j] = key
            return 0
        self._slots[j] = key
        self._count += 1
        return 1

    cdef bint _discard(self, uint64_t key) noexcept:
        cdef Py_ssize_t found = self._index(key)
        if found < 0:
            return False
        cdef uint64_t mask = <uint64_t>(self._capacity - 1)
        cdef uint64_t i = <uint64_t>found
        cdef uint64_t j, home, slot
        # Backward shift: pull later members of the run into the hole unless their home slot
        # lies cyclically in (hole, their slot], where they are already reachable.
        j = i
        while True:
            j = (j + 1) & mask
            slot = self._slots[j]
            if slot == 0:
                break
            home = _mix(slot & _NUMBER_MASK) & mask
            if (i <= j and i < home <= j) or (i > j and (home > i or home <= j)):
                continue
            self._slots[i] = slot
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
        """Add one number, untagged; True if it was not there (if it was, its tag is now 0)."""
        return self._add(_key(number)) == 1

    def discard(self, number) -> bool:
        """Remove one number; True if it was there."""
        return self._discard(_key(number))

    def __contains__(self, number) -> bool:
        return self._has(_key(number))

    def __len__(self) -> int:
        return self._count

    def tag_of(self, number):
        """The number's tag, or None if it is not in the set."""
        cdef Py_ssize_t j = self._index(_key(number))
        return None if j < 0 else self._slots[j] >> _SHIFT

    def set_tag(self, number, tag) -> bool:
        """Give a number of the set the tag ``tag`` (0 clears it); False, and nothing added,
        if the number is not in the set."""
        cdef uint64_t t = _tag(tag)
        cdef uint64_t key = _key(number)
        cdef Py_ssize_t j = self._index(key)
        if j < 0:
            return False
        self._slots[j] = key | (t << _SHIFT)
        return True

    def add_all(self, numbers) -> int:
        """Add every number of an iterable (E.164 str or int), untagged; how many were new."""
        cdef Py_ssize_t added = 0
        for number in numbers:
            added += self._add(_key(number))
        return added

    def add_keys(self, keys) -> int:
        """Add, untagged, the number at the head of each key of an iterable of ``bytes`` (a
        packed key, 8 bytes big-endian, then anything: the LMDB keys of the opt-out DB,
        straight from a cursor); how many were new. A key shorter than 8 bytes, or whose head
        is not a number (10 to 10**15 - 1), raises ValueError."""
        cdef Py_ssize_t added = 0
        for key in keys:
            added += self._add(_packed(key))
        return added

    def mark_keys(self, keys, const unsigned char[:] keep=None) -> bytearray:
        """:meth:`add_keys`, except that a number whose tag ``t > 0`` has ``keep[t]`` nonzero
        keeps its tag. One mark per key: 1 if the number was not in the set (it is now,
        untagged), 2 if it kept its tag, 0 if it was there and is now untagged (so a number
        repeated in ``keys`` is marked 1 only the first time)."""
        cdef list seq = keys if type(keys) is list else list(keys)
        cdef Py_ssize_t n = len(seq), i
        cdef Py_ssize_t nkeep = 0 if keep is None else keep.shape[0]
        cdef uint64_t key
        cdef bytearray marks = bytearray(n)
        cdef unsigned char *m = marks
        cdef const unsigned char *kept = &keep[0] if nkeep else NULL
        for i in range(n):
            key = _packed(seq[i])
            self._grow_for_one()
            m[i] = self._mark(key, kept, nkeep)
        return marks

    def tag_keys(self, keys, tag, const unsigned char[:] marks=None) -> int:
        """Give the tag ``tag`` to the number at the head of each key (those marked 1 in
        ``marks`` only, if given: the result of :meth:`mark_keys` on the same keys) that is in
        the set; how many were tagged. Numbers not in the set are not added."""
        cdef uint64_t t = _tag(tag)
        cdef list seq = keys if type(keys) is list else list(keys)
        cdef Py_ssize_t n = len(seq), i, j, tagged = 0
        cdef uint64_t key
        if marks is not None and marks.shape[0] != n:
            raise ValueError(f"{marks.shape[0]} marks for {n} keys")
        for i in range(n):
            if marks is not None and marks[i] != 1:
                continue
            key = _packed(seq[i])
            j = self._index(key)
            if j >= 0:
                self._slots[j] = key | (t << _SHIFT)
                tagged += 1
        return tagged

    def mark_numbers(self, const uint64_t[::1] numbers, Py_ssize_t count,
                     const unsigned char[:] keep=None) -> bytearray:
        """:meth:`mark_keys` for the numbers ``numbers[:count]`` (a uint64 array: how the
        bulk import holds them) instead of packed keys: same marks, same effect, and each number's
        slot fetched ahead of its turn (the probes of a large table are cache misses, the
        bulk of the cost). A number out of range raises ValueError, before any change."""
        cdef Py_ssize_t n = count, i
        cdef Py_ssize_t nkeep = 0 if keep is None else keep.shape[0]
        if not 0 <= n <= numbers.shape[0]:
            raise ValueError(f"count {n} for {numbers.shape[0]} numbers")
        for i in range(n):
            if numbers[i] < _MIN or numbers[i] >= _END:
                raise ValueError(f"{numbers[i]} is not the integer of an E.164 number "
                                 "(10 to 10**15 - 1)")
        cdef bytearray marks = bytearray(n)
        cdef unsigned char *m = marks
        cdef const unsigned char *kept = &keep[0] if nkeep else NULL
        for i in range(n):
            self._grow_for_one()
            if i + _AHEAD < n:
                GATEWAY_PREFETCH(&self._slots[_mix(numbers[i + _AHEAD])
                                              & <uint64_t>(self._capacity - 1)])
            m[i] = self._mark(numbers[i], kept, nkeep)
        return marks

    def tag_numbers(self, const uint64_t[::1] numbers, Py_ssize_t count, tag,
                    const unsigned char[:] marks=None) -> int:
        """:meth:`tag_keys` for the numbers ``numbers[:count]`` (as for :meth:`mark_numbers`,
        whose result ``marks`` may be)."""
        cdef uint64_t t = _tag(tag)
        cdef Py_ssize_t n = count, i, j, tagged = 0
        cdef uint64_t key, mask
        if not 0 <= n <= numbers.shape[0]:
            raise ValueError(f"count {n} for {numbers.shape[0]} numbers")
        if marks is not None and marks.shape[0] != n:
            raise ValueError(f"{marks.shape[0]} marks for {n} numbers")
        if self._capacity == 0:
            return 0
        mask = <uint64_t>(self._capacity - 1)
        for i in range(n):
            if i + _AHEAD < n and (marks is None or marks[i + _AHEAD] == 1):
                GATEWAY_PREFETCH(&self._slots[_mix(numbers[i + _AHEAD]) & mask])
            if marks is not None and marks[i] != 1:
                continue
            key = numbers[i]
            if key < _MIN or key >= _END:
                continue  # never in the set
            j = self._probe(key)
            if self._slots[j]:
                self._slots[j] = key | (t << _SHIFT)
                tagged += 1
        return tagged

    def load(self, items, intern) -> int:
        """Add the numbers of ``(key, value)`` pairs (packed keys as for :meth:`add_keys`:
        the LMDB items of the opt-out DB, straight from a cursor), tagged by their *runs*: the
        consecutive pairs of one number (in key order, all its entries). A run gets the tag
        ``intern(run)``, ``run`` being the tuple of its ``(key[8:], value)`` pairs, and
        ``intern`` returning an int, 0 to ``MAX_TAG``; a number met in a second run, or already
        in the set, gets 0. So a number keeps a tag only if all its entries came in one run,
        whatever the order of the pairs. ``intern`` is not called for a one-pair run equal to
        the previous one-pair run interned (an import gives every number the same value).
        How many numbers were new."""
        cdef Py_ssize_t added = 0
        cdef uint64_t key, run_key = 0
        cdef bytes k, v, run_k = None, run_v = None
        cdef list extra = None
        cdef _LastSingle last = _LastSingle()
        for pair in items:
            raw_key, raw_value = pair
            k = raw_key if type(raw_key) is bytes else bytes(raw_key)
            v = raw_value if type(raw_value) is bytes else bytes(raw_value)
            key = _packed(k)
            if key == run_key:
                if extra is None:
                    extra = []
                extra.append((k[8:], v))
                continue
            if run_key:
                added += self._close_run(run_key, run_k, run_v, extra, intern, last)
            run_key, run_k, run_v, extra = key, k, v, None
        if run_key:
            added += self._close_run(run_key, run_k, run_v, extra, intern, last)
        return added

    cdef int _close_run(self, uint64_t key, bytes k, bytes v, list extra, object intern,
                        _LastSingle last) except -1:
        """:meth:`load` of one run; 1 if its number was new."""
        cdef uint64_t t
        cdef Py_ssize_t j
        cdef const char *kp = PyBytes_AS_STRING(k) + 8
        cdef Py_ssize_t klen = PyBytes_GET_SIZE(k) - 8
        self._grow_for_one()
        j = self._probe(key)
        if self._slots[j]:
            self._slots[j] = key  # met before: untagged
            return 0
        if extra is None and last.suffix is not None \
                and klen == PyBytes_GET_SIZE(last.suffix) \
                and PyBytes_GET_SIZE(v) == PyBytes_GET_SIZE(last.value) \
                and memcmp(kp, PyBytes_AS_STRING(last.suffix), <size_t>klen) == 0 \
                and memcmp(PyBytes_AS_STRING(v), PyBytes_AS_STRING(last.value),
                           <size_t>PyBytes_GET_SIZE(v)) == 0:
            t = last.tag
        else:
            run = ((PyBytes_FromStringAndSize(kp, klen), v),)
            if extra is None:
                t = _tag(intern(run))
                last.suffix, last.value, last.tag = run[0][0], v, t
            else:
                t = _tag(intern(run + tuple(extra)))
            self._grow_for_one()
            j = self._probe(key)  # intern() may have changed the set
            if self._slots[j]:
                self._slots[j] = key
                return 0
        self._slots[j] = key | (t << _SHIFT)
        self._count += 1
        return 1

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

    def find_tagged(self, numbers) -> tuple:
        """The numbers of ``numbers`` (as for :meth:`find`) in the set, split by tag, in one
        pass: ``(positions, tags, untagged, keys)``: the positions of the tagged ones and their
        tags, the positions of the untagged ones (tag 0) and their packed keys (8 bytes)."""
        cdef list positions = []
        cdef list tags = []
        cdef list untagged = []
        cdef list keys = []
        cdef Py_ssize_t i, j, b
        cdef uint64_t key, t
        cdef unsigned char buf[8]
        seq = numbers if type(numbers) is list or type(numbers) is tuple else list(numbers)
        for i in range(len(seq)):
            key = _key(seq[i])
            j = self._index(key)
            if j < 0:
                continue
            t = self._slots[j] >> _SHIFT
            if t:
                positions.append(i)
                tags.append(t)
            else:
                untagged.append(i)
                for b in range(8):
                    buf[7 - b] = <unsigned char>(key >> (8 * b))
                keys.append(PyBytes_FromStringAndSize(<char *>buf, 8))
        return positions, tags, untagged, keys

    def answer(self, numbers, rows, list out, type cls=tuple) -> tuple:
        """:meth:`find_tagged`, deciding the tagged numbers here. ``rows(tag)`` (called once
        per distinct tag of the call) gives a tuple ``row``: ``out[i]`` becomes
        ``tuple.__new__(cls, (numbers[i], *row))``; or None: ``out[i]`` is left as it is. ``cls`` is tuple or
        a tuple subclass without fields of its own (a NamedTuple). Returns ``(untagged,
        keys)``: the positions of the untagged members and their packed keys (8 bytes)."""
        cdef list untagged = []
        cdef list keys = []
        cdef dict seen = {}
        cdef Py_ssize_t i, j, b, n
        cdef uint64_t key, t, last_tag = 0
        cdef object last_row = None, row, number
        cdef unsigned char buf[8]
        if not issubclass(cls, tuple) or cls.__basicsize__ != tuple.__basicsize__ \
                or cls.__dictoffset__ or cls.__weakrefoffset__:
            raise TypeError(f"cls must be tuple or a NamedTuple, not {cls.__name__}")
        seq = numbers if type(numbers) is list or type(numbers) is tuple else list(numbers)
        n = len(seq)
        if len(out) < n:
            raise ValueError(f"out has {len(out)} items for {n} numbers")
        for i in range(n):
            number = seq[i]
            key = _key(number)
            j = self._index(key)
            if j < 0:
                continue
            t = self._slots[j] >> _SHIFT
            if t == 0:
                untagged.append(i)
                for b in range(8):
                    buf[7 - b] = <unsigned char>(key >> (8 * b))
                keys.append(PyBytes_FromStringAndSize(<char *>buf, 8))
                continue
            if t != last_tag:
                row = seen.get(t, seen)
                if row is seen:
                    row = rows(t)
                    if row is not None and type(row) is not tuple:
                        raise TypeError(f"rows({t}) must be a tuple or None, not "
                                        f"{type(row).__name__}")
                    seen[t] = row
                last_tag, last_row = t, row
            if last_row is not None:
                out[i] = _row(cls, number, <tuple>last_row)
        return untagged, keys

    def __iter__(self):
        """The numbers as ints, in table order (no order to rely on)."""
        cdef Py_ssize_t i
        cdef Py_ssize_t capacity = self._capacity
        for i in range(capacity):
            if capacity != self._capacity:
                raise RuntimeError("NumberSet changed size during iteration")
            if self._slots[i]:
                yield self._slots[i] & _NUMBER_MASK

    def items(self):
        """``(number, tag)`` pairs, in table order (no order to rely on)."""
        cdef Py_ssize_t i
        cdef Py_ssize_t capacity = self._capacity
        for i in range(capacity):
            if capacity != self._capacity:
                raise RuntimeError("NumberSet changed size during iteration")
            if self._slots[i]:
                yield self._slots[i] & _NUMBER_MASK, self._slots[i] >> _SHIFT

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
        """Bytes the table holds: 8 per slot, tags included."""
        return self._capacity * 8

    def __repr__(self) -> str:
        return f"NumberSet({self._count} numbers, {self._capacity} slots)"
