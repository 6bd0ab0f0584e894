# The state of one NumberSet, declared here so that other compiled modules can cimport the type
# (uvloop's handles/timer.pxd; as gateway/_core/_bucket.pxd).

from libc.stdint cimport uint64_t

cdef class _LastSingle:
    cdef bytes suffix, value
    cdef uint64_t tag


cdef class NumberSet:
    # Open addressing, linear probing; 0 marks an empty slot. A slot is the number in its low
    # NUMBER_BITS (50) bits and its tag in the 14 bits above.
    cdef uint64_t *_slots
    cdef Py_ssize_t _capacity  # a power of two (0 before the first add)
    cdef Py_ssize_t _count

    cdef int _resize(self, Py_ssize_t capacity) except -1
    cdef int _grow_for_one(self) except -1
    cdef unsigned char _mark(self, uint64_t key, const unsigned char *keep,
                             Py_ssize_t nkeep) noexcept
    cdef Py_ssize_t _probe(self, uint64_t key) noexcept
    cdef Py_ssize_t _index(self, uint64_t key) noexcept
    cdef bint _has(self, uint64_t key) noexcept
    cdef int _add(self, uint64_t key) except -1
    cdef bint _discard(self, uint64_t key) noexcept
    cdef int _close_run(self, uint64_t key, bytes k, bytes v, list extra, object intern,
                        _LastSingle last) except -1
