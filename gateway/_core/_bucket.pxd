# The state of one token bucket, declared here so that other compiled modules can cimport the
# type and call its C-level methods without going through Python (uvloop's handles/timer.pxd).

cdef class TokenBucket:
    cdef readonly double rate
    cdef readonly double burst
    cdef double _tokens   # may be negative: debt run up by take()
    cdef double _last     # the latest time seen; earlier times count as no time passing

    cdef inline void _refill(self, double now) noexcept
    cdef double _take(self, double now, double n) noexcept
