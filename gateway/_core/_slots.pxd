# The slot helpers shared by the compiled modules that build slotted objects directly
# (_slots.Maker, the PDU decoders and builders of _pdu).
from cpython.object cimport PyObject


cdef Py_ssize_t slot_offset(type cls, str name) except -1


cdef inline PyObject **slot_at(PyObject *o, Py_ssize_t offset) noexcept:
    """The address of the object slot at ``offset`` in ``o``."""
    return <PyObject **>((<char *>o) + offset)
