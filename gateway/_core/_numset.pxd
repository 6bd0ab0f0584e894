# The state of one NumberSet, declared here so that other compiled modules can cimport the type
# (uvloop's handles/timer.pxd; as gateway/_core/_bucket.pxd).

from libc.stdint cimport uint64_t

cdef class NumberSet:
    cdef uint64_t *_slots      # open addressing, linear probing; 0 marks an empty slot
    cdef Py_ssize_t _capacity  # a power of two (0 before the first add)
    cdef Py_ssize_t _count

    cdef int _resize(self, Py_ssize_t capacity) except -1
    cdef bint _has(self, uint64_t key) noexcept
    cdef int _add(self, uint64_t key) except -1
    cdef bint _discard(self, uint64_t key) noexcept
