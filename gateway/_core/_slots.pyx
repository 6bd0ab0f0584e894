# cython: freethreading_compatible = False
"""Makers of slotted dataclass instances without their ``__init__``.

A frozen dataclass's ``__init__`` sets every field with ``object.__setattr__``, a generic call
per field; the objects made once per message (parsed requests, session events, submit outcomes)
pay that tens of thousands of times a second. ``Maker(cls, names, defaults, missing)(**fields)``
allocates the instance as ``object.__new__`` does (the type's ``tp_alloc``) and stores each value
in its slot at the offset its member descriptor gives, as gateway._core._pdu does for PDUs. The
object is the one ``cls(**fields)`` makes: same type, same slots, frozen as before (nothing here
changes ``__setattr__``). gateway.frozen builds makers from the dataclass fields and checks the
class is one this can make.
"""

from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.dict cimport PyDict_GetItem, PyDict_Next

from types import MemberDescriptorType

cdef extern from "Python.h":
    ctypedef struct _Type "PyTypeObject":
        PyObject *(*tp_alloc)(_Type *, Py_ssize_t)
        Py_ssize_t tp_dictoffset
    Py_ssize_t PyLong_AsSsize_t(object o) except? -1

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
        int flags
    int T_OBJECT_EX
    int READONLY

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

cdef enum:
    MAX_FIELDS = 64


cdef Py_ssize_t slot_offset(type cls, str name) except -1:
    """The offset of slot ``name`` of ``cls`` (defined on ``cls`` or a base), checked to be a
    plain writable object slot."""
    descr = None
    for klass in cls.__mro__:
        descr = klass.__dict__.get(name)
        if descr is not None:
            break
    if type(descr) is not MemberDescriptorType:
        raise TypeError(f"{cls.__name__}.{name} is not a slot")
    cdef PyMemberDef *member = (<PyMemberDescrObject *><PyObject *>descr).d_member
    if member.type != T_OBJECT_EX or member.flags & READONLY:
        raise TypeError(f"{cls.__name__}.{name} is not a writable object slot")
    return member.offset


cdef class Maker:
    """``cls(**fields)`` for slotted class ``cls`` with fields ``names``; ``defaults[i]`` is
    ``missing`` for a required field. Keywords only, as the classes it serves."""

    cdef object cls
    cdef _Type *tp
    cdef Py_ssize_t n
    cdef Py_ssize_t offsets[MAX_FIELDS]
    cdef tuple names
    cdef tuple defaults
    cdef object missing
    cdef dict index

    def __init__(self, type cls, tuple names, tuple defaults, missing):
        cdef Py_ssize_t i
        if (<_Type *>cls).tp_dictoffset != 0:
            raise TypeError(f"{cls.__name__} instances have a __dict__: not a slotted class")
        if len(names) != len(defaults) or len(names) > MAX_FIELDS:
            raise ValueError(f"{cls.__name__}: {len(names)} names, {len(defaults)} defaults")
        self.cls = cls
        self.tp = <_Type *>cls
        self.n = len(names)
        self.names = names
        self.defaults = defaults
        self.missing = missing
        self.index = {}
        for i, name in enumerate(names):
            self.offsets[i] = slot_offset(cls, name)
            self.index[name] = i

    def __call__(self, *args, **kwargs):
        cdef Py_ssize_t i
        cdef Py_ssize_t at = 0
        cdef PyObject *name
        cdef PyObject *given
        cdef PyObject *found
        cdef PyObject **slot
        if args:
            raise TypeError(f"{self.cls.__name__}() takes keyword arguments only")
        cdef PyObject *p = self.tp.tp_alloc(self.tp, 0)
        if p == NULL:
            raise MemoryError()
        o = <object>p
        Py_DECREF(o)  # <object> took a second reference
        while PyDict_Next(kwargs, &at, &name, &given):
            found = PyDict_GetItem(self.index, <object>name)
            if found == NULL:
                raise TypeError(
                    f"{self.cls.__name__}() got an unexpected keyword argument {<object>name!r}"
                )
            slot = slot_at(p, self.offsets[PyLong_AsSsize_t(<object>found)])
            Py_INCREF(<object>given)
            slot[0] = given  # a new object's slot, and each keyword comes once: it was empty
        for i in range(self.n):
            slot = slot_at(p, self.offsets[i])
            if slot[0] == NULL:
                value = self.defaults[i]
                if value is self.missing:
                    raise TypeError(
                        f"{self.cls.__name__}() missing required keyword argument "
                        f"{self.names[i]!r}"
                    )
                Py_INCREF(value)
                slot[0] = <PyObject *>value
        return o
