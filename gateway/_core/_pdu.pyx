# cython: language_level=3
"""The SMPP PDU codec's compiled fast path: ``encode``, ``decode``, the framer's cutting loop and
the PDU builders (gateway.smpp.codec is the API and documents the rules).

Each PDU class is described to this module once, by ``register``, from the same ``BODY`` and
``TLVS`` tables the Python codec compiles (gateway/smpp/pdu.py): a C array of fields per class,
walked by one C loop per direction. The objects are the codec's own frozen, slotted dataclasses,
allocated with their type's ``tp_alloc`` (what ``object.__new__`` does) and filled by storing into
their slots at the offsets their member descriptors give (what the generated Python decoders do
through the descriptors' ``__set__``).

This path only ever answers when it is sure: any defect in a frame, any value the Python encoder
would refuse or is not of the plain type this code reads (a str subclass, a bytearray payload, a
list of TLVs, ...), and the call goes to the Python codec (``configure``), which raises its exact
error or encodes the unusual value. Errors, and every rule they encode, therefore exist once,
in gateway/smpp/codec.py; the tests hold the two paths to the same objects and bytes.

This module imports nothing above gateway._core: the codec hands it the classes and fallbacks.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.string cimport memchr, memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_Next
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_AsSsize_t, PyLong_FromLong, PyLong_FromUnsignedLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_New, PyTuple_SET_ITEM

from gateway._core._slots cimport slot_at as _slot, slot_offset as _slot_offset

cdef extern from "Python.h":
    ctypedef struct _Type "PyTypeObject":
        PyObject *(*tp_alloc)(_Type *, Py_ssize_t)
        Py_ssize_t tp_dictoffset
        Py_ssize_t tp_basicsize
    void *PyUnicode_DATA(object o)
    object PyUnicode_New(Py_ssize_t size, uint32_t maxchar)
    bint PyByteArray_CheckExact(object o)
    # Borrowed-pointer forms for the encoder, which reads slots without taking references.
    bint _str_exact "PyUnicode_CheckExact"(PyObject *o)
    bint _str_ascii "PyUnicode_IS_COMPACT_ASCII"(PyObject *o)
    void *_str_data "PyUnicode_DATA"(PyObject *o)
    Py_ssize_t _str_len "PyUnicode_GET_LENGTH"(PyObject *o)
    bint _bytes_exact "PyBytes_CheckExact"(PyObject *o)
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *o)
    Py_ssize_t _bytes_len "PyBytes_GET_SIZE"(PyObject *o)
    bint _tuple_exact "PyTuple_CheckExact"(PyObject *o)
    Py_ssize_t _tuple_len "PyTuple_GET_SIZE"(PyObject *o)
    PyObject *_tuple_item "PyTuple_GET_ITEM"(PyObject *o, Py_ssize_t i)
    bint PyLong_Check(PyObject *o)
    long long PyLong_AsLongLongAndOverflow(PyObject *o, int *overflow)
    PyObject *Py_None

#: The most octets a PDU may have unless the caller says otherwise (codec checks it is its own).
DEFAULT_MAX_PDU_LENGTH = 64 * 1024

cdef enum:
    HEADER = 16
    MAX_BODY = 24
    MAX_TLVS = 24
    MAX_FIELDS = 48
    MAX_TLV_VALUE = 0xFFFF
    MAX_ID = 0x200  # command ids (response bit aside) below this are looked up in an array

cdef enum FieldKind:
    K_C_STRING = 1
    K_TIME = 2
    K_INT8 = 3
    K_SHORT_MESSAGE = 4
    K_INT16 = 5
    K_OCTETS = 6

cdef dict _KINDS = {
    "c_string": K_C_STRING,
    "time": K_TIME,
    "int8": K_INT8,
    "short_message": K_SHORT_MESSAGE,
    "int16": K_INT16,
    "octets": K_OCTETS,
}

cdef struct Field:
    int kind
    # Offset of the field's slot in the instance.
    Py_ssize_t offset
    # Body: the most octets sent, NUL included (C_STRING, TIME), or sm octets (SHORT_MESSAGE).
    # TLV: C_STRING max with its NUL; OCTETS exact size or 0.
    Py_ssize_t max_len
    # Body C_STRING / TIME: the most octets accepted, NUL included.
    Py_ssize_t decode_max_len
    uint16_t tag


cdef class _Layout:
    """One PDU class as this module sees it (built by ``register``)."""

    cdef object cls
    cdef _Type *tp
    cdef uint32_t command_id
    cdef bint header_only
    cdef bint response
    # 3.4's bodiless error response: a non-zero status and a body of empty C-strings only.
    cdef bint omit_empty_body
    cdef int n_body
    cdef int n_tlvs
    cdef int n_fields
    cdef Field body[MAX_BODY]
    cdef Field tlvs[MAX_TLVS]
    cdef Py_ssize_t off_seq
    cdef Py_ssize_t off_status
    cdef Py_ssize_t off_tlvs  # -1: header-only class
    cdef Py_ssize_t off_payload  # message_payload's slot, or -1
    # Every field's slot and default, in dataclass order.
    cdef Py_ssize_t field_off[MAX_FIELDS]
    cdef tuple names
    cdef tuple defaults


# Decoders by command_id: [response bit][id & 0x1FF], borrowed from _LAYOUTS.
cdef PyObject *_by_id[2][MAX_ID]
# Encoders by exact type.
cdef dict _by_type = {}
cdef list _LAYOUTS = []
cdef object _decode_python = None
cdef object _encode_python = None


# --------------------------------------------------------------------------------------------
# Registration (once per class, at codec import)
# --------------------------------------------------------------------------------------------


def register(type cls, uint32_t command_id, *, tuple fields, tuple body, tuple tlvs,
             bint response, bint omit_empty_body):
    """Describe PDU class ``cls`` (sent and received under ``command_id``).

    ``fields``: (name, default) of every dataclass field, in order, sequence_number and
    command_status first and ``tlvs`` last (absent for a header-only class). ``body``: (name,
    kind, max_len, decode_max_len) of each BODY field, in wire order, ``kind`` a ``Kind`` value.
    ``tlvs``: (name, tag, kind, size) of each named TLV, in sending order. ``response``: an empty
    body decodes to the defaults. ``omit_empty_body``: a non-zero status with an empty body is
    sent header-only.
    """
    cdef _Layout L = _Layout.__new__(_Layout)
    cdef _Type *tp = <_Type *>cls
    cdef Py_ssize_t i
    cdef Field *f
    if tp.tp_dictoffset != 0:
        raise TypeError(f"{cls.__name__} instances have a __dict__: not a slotted class")
    if not 2 <= len(fields) <= MAX_FIELDS or len(body) > MAX_BODY or len(tlvs) > MAX_TLVS:
        raise ValueError(f"{cls.__name__}: too many fields for this module")
    names = [name for name, _ in fields]
    if names[:2] != ["sequence_number", "command_status"]:
        raise ValueError(f"{cls.__name__}: the header fields must come first")
    L.cls = cls
    L.tp = tp
    L.command_id = command_id
    L.response = response
    L.omit_empty_body = omit_empty_body
    L.header_only = "tlvs" not in names
    L.n_fields = len(fields)
    L.names = tuple(names)
    L.defaults = tuple(default for _, default in fields)
    for i, name in enumerate(names):
        L.field_off[i] = _slot_offset(cls, name)
    L.off_seq = L.field_off[0]
    L.off_status = L.field_off[1]
    L.off_tlvs = -1
    L.off_payload = -1
    if not L.header_only:
        if names[L.n_fields - 1] != "tlvs" or L.defaults[L.n_fields - 1] != ():
            raise ValueError(f"{cls.__name__}: tlvs must be the last field, default ()")
        L.off_tlvs = L.field_off[L.n_fields - 1]
    elif body or tlvs:
        raise ValueError(f"{cls.__name__}: a class without tlvs must have no body")
    L.n_body = len(body)
    for i, (name, kind, max_len, decode_max_len) in enumerate(body):
        f = &L.body[i]
        f.kind = _KINDS[kind]
        if f.kind not in (K_C_STRING, K_TIME, K_INT8, K_SHORT_MESSAGE):
            raise ValueError(f"{cls.__name__}.{name}: kind {kind} in a body")
        if f.kind == K_TIME and (max_len != 17 or decode_max_len != 17):
            raise ValueError(f"{cls.__name__}.{name}: a time string takes 17 octets")
        if omit_empty_body and f.kind != K_C_STRING:
            raise ValueError(f"{cls.__name__}: an omitted empty body holds only C-strings")
        f.offset = _slot_offset(cls, name)
        f.max_len = max_len
        f.decode_max_len = decode_max_len
        f.tag = 0
    L.n_tlvs = len(tlvs)
    for i, (name, tag, kind, size) in enumerate(tlvs):
        f = &L.tlvs[i]
        f.kind = _KINDS[kind]
        if f.kind not in (K_C_STRING, K_INT8, K_INT16, K_OCTETS):
            raise ValueError(f"{cls.__name__}.{name}: kind {kind} in a TLV")
        if L.defaults[names.index(name)] is not None:
            raise ValueError(f"{cls.__name__}.{name}: a named TLV must default to None")
        f.offset = _slot_offset(cls, name)
        f.max_len = size
        f.decode_max_len = 0
        f.tag = tag
        if name == "message_payload":
            L.off_payload = f.offset
    if (command_id & 0x7FFFFFFF) >= MAX_ID:
        raise ValueError(f"command_id 0x{command_id:08X} is outside this module's table")
    _LAYOUTS.append(L)
    _by_id[1 if command_id & 0x80000000 else 0][command_id & 0x7FFFFFFF] = <PyObject *>L
    _by_type[cls] = L


def configure(decode_python, encode_python, *, int default_max_length):
    """The Python codec's ``decode`` and ``encode``: where every call this module does not
    answer goes (same arguments, same keywords)."""
    global _decode_python, _encode_python
    if default_max_length != DEFAULT_MAX_PDU_LENGTH:
        raise ValueError(
            f"the codec's default maximum {default_max_length} is not this module's "
            f"{DEFAULT_MAX_PDU_LENGTH}"
        )
    _decode_python = decode_python
    _encode_python = encode_python


def registered():
    """The classes registered so far (for tests)."""
    return tuple((<_Layout>L).cls for L in _LAYOUTS)


# --------------------------------------------------------------------------------------------
# Slots
# --------------------------------------------------------------------------------------------


cdef inline void _put(object o, Py_ssize_t offset, object value) noexcept:
    """Store ``value`` in the EMPTY slot at ``offset`` (a new object's: nothing to release)."""
    Py_INCREF(value)
    _slot(<PyObject *>o, offset)[0] = <PyObject *>value


cdef inline object _new(_Layout L):
    cdef PyObject *p = L.tp.tp_alloc(L.tp, 0)
    if p == NULL:
        raise MemoryError()
    o = <object>p
    Py_DECREF(o)  # <object> took a second reference
    return o


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


cdef inline uint32_t _be32(const uint8_t *p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline bint _is_ascii(const uint8_t *p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] & 0x80:
            return False
    return True


cdef inline bint _time_ok(const uint8_t *p) noexcept:
    """``[0-9]{13}(?:[0-3][0-9]|4[0-8])[-+R]`` on 16 octets (codec._TIME_OK)."""
    cdef int i
    for i in range(13):
        if not (48 <= p[i] <= 57):
            return False
    if 48 <= p[13] <= 51:
        if not (48 <= p[14] <= 57):
            return False
    elif p[13] == 52:
        if not (48 <= p[14] <= 56):
            return False
    else:
        return False
    return p[15] == 43 or p[15] == 45 or p[15] == 82


cdef inline object _ascii_str(const uint8_t *p, Py_ssize_t n):
    """A str of ``n`` octets already checked to be ASCII."""
    s = PyUnicode_New(n, 127)
    if n:
        memcpy(PyUnicode_DATA(s), p, n)
    return s


cdef object _decode_frame(_Layout L, bytes frame, Py_ssize_t end, uint32_t seq, uint32_t status):
    """The PDU in ``frame`` (its header already checked), or None when anything is wrong with
    it: the Python decoder then says what."""
    cdef const uint8_t *b = <const uint8_t *>PyBytes_AS_STRING(frame)
    cdef Py_ssize_t pos = HEADER, limit, n, vend, i, length
    cdef const uint8_t *nul
    cdef Field *f
    cdef int j, tag
    cdef PyObject **slot
    cdef list raw = None
    if L.header_only and end != HEADER:
        return None
    o = _new(L)
    _put(o, L.off_seq, PyLong_FromUnsignedLong(seq))
    _put(o, L.off_status, PyLong_FromUnsignedLong(status))
    if not L.header_only and not (L.response and end == HEADER):
        for j in range(L.n_body):
            f = &L.body[j]
            if pos >= end:
                return None  # a field cut off
            if f.kind == K_INT8:
                _put(o, f.offset, PyLong_FromLong(b[pos]))
                pos += 1
            elif f.kind == K_SHORT_MESSAGE:
                n = b[pos]
                pos += 1
                if pos + n > end:
                    return None  # sm_length runs past the end
                _put(o, f.offset, PyBytes_FromStringAndSize(<const char *>b + pos, n))
                pos += n
            elif b[pos] == 0:  # C_STRING or TIME, empty
                _put(o, f.offset, "")
                pos += 1
            else:
                limit = f.decode_max_len
                if limit > end - pos:
                    limit = end - pos
                nul = <const uint8_t *>memchr(b + pos, 0, limit)
                if nul == NULL:
                    return None  # cut short, or too long
                n = nul - (b + pos)
                if f.kind == K_TIME:
                    if n != 16 or not _time_ok(b + pos):
                        return None
                elif not _is_ascii(b + pos, n):
                    return None
                _put(o, f.offset, _ascii_str(b + pos, n))
                pos += n + 1
        while pos < end:
            if end - pos < 4:
                return None  # a TLV header cut off
            tag = (b[pos] << 8) | b[pos + 1]
            length = (b[pos + 2] << 8) | b[pos + 3]
            pos += 4
            vend = pos + length
            if vend > end:
                return None  # a TLV runs past the end
            f = NULL
            for j in range(L.n_tlvs):
                if L.tlvs[j].tag == tag:
                    if _slot(<PyObject *>o, L.tlvs[j].offset)[0] == NULL:
                        f = &L.tlvs[j]  # the first of its tag: the named field
                    break
            if f == NULL:
                if raw is None:
                    raw = []
                item = PyTuple_New(2)
                value = PyLong_FromLong(tag)
                Py_INCREF(value)
                PyTuple_SET_ITEM(item, 0, value)
                value = PyBytes_FromStringAndSize(<const char *>b + pos, length)
                Py_INCREF(value)
                PyTuple_SET_ITEM(item, 1, value)
                PyList_Append(raw, item)
            elif f.kind == K_INT8:
                if length != 1:
                    return None
                _put(o, f.offset, PyLong_FromLong(b[pos]))
            elif f.kind == K_INT16:
                if length != 2:
                    return None
                _put(o, f.offset, PyLong_FromLong((b[pos] << 8) | b[pos + 1]))
            elif f.kind == K_OCTETS:
                if f.max_len and length != f.max_len:
                    return None
                _put(o, f.offset, PyBytes_FromStringAndSize(<const char *>b + pos, length))
            else:  # C_STRING: the NUL is optional, what follows it is ignored
                nul = <const uint8_t *>memchr(b + pos, 0, length)
                n = length if nul == NULL else nul - (b + pos)
                if n >= f.max_len or not _is_ascii(b + pos, n):
                    return None
                _put(o, f.offset, _ascii_str(b + pos, n))
            pos = vend
        if raw is not None:
            _put(o, L.off_tlvs, tuple(raw))
    # Whatever the frame did not set takes its default: absent TLVs, an empty response's body.
    for i in range(2, L.n_fields):
        slot = _slot(<PyObject *>o, L.field_off[i])
        if slot[0] == NULL:
            value = <object>PyTuple_GET_ITEM(L.defaults, i)
            Py_INCREF(value)
            slot[0] = <PyObject *>value
    return o


def decode(frame, *, max_length=DEFAULT_MAX_PDU_LENGTH):
    """gateway.smpp.codec.decode, compiled: the same PDUs, and the same errors (raised by the
    Python decoder, which gets every frame this one does not fully accept)."""
    cdef Py_ssize_t size
    cdef const uint8_t *b
    cdef uint32_t length, cid
    cdef long long limit
    cdef int overflow = 0
    cdef PyObject *layout
    if type(frame) is bytes and type(max_length) is int:
        size = PyBytes_GET_SIZE(frame)
        limit = PyLong_AsLongLongAndOverflow(<PyObject *>max_length, &overflow)
        if size >= HEADER and not overflow:
            b = <const uint8_t *>PyBytes_AS_STRING(frame)
            length = _be32(b)
            cid = _be32(b + 4)
            if length == size and length <= limit and (cid & 0x7FFFFFFF) < MAX_ID:
                layout = _by_id[cid >> 31][cid & 0x7FFFFFFF]
                if layout != NULL:
                    pdu = _decode_frame(<_Layout>layout, <bytes>frame, size, _be32(b + 12),
                                        _be32(b + 8))
                    if pdu is not None:
                        return pdu
    return _decode_python(frame, max_length=max_length)


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


cdef inline bint _uint(PyObject *v, long long top, long long *out) noexcept:
    """``v`` is an int (bool and IntEnum included) from 0 to ``top``: store it in ``out``."""
    cdef int overflow = 0
    cdef long long x
    if v == NULL or not PyLong_Check(v):
        return False
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow or x < 0 or x > top:
        return False
    out[0] = x
    return True


cdef inline bint _ascii(PyObject *v, Py_ssize_t below, const char **data,
                        Py_ssize_t *size) noexcept:
    """``v`` is a plain ASCII str without NUL, shorter than ``below`` characters."""
    cdef Py_ssize_t n
    if v == NULL or not _str_exact(v) or not _str_ascii(v):
        return False
    n = _str_len(v)
    if n >= below:
        return False
    data[0] = <const char *>_str_data(v)
    if n and memchr(data[0], 0, n) != NULL:
        return False
    size[0] = n
    return True


cdef inline uint8_t *_w16(uint8_t *w, uint32_t v) noexcept:
    w[0] = <uint8_t>(v >> 8)
    w[1] = <uint8_t>v
    return w + 2


cdef inline uint8_t *_w32(uint8_t *w, uint32_t v) noexcept:
    w[0] = <uint8_t>(v >> 24)
    w[1] = <uint8_t>(v >> 16)
    w[2] = <uint8_t>(v >> 8)
    w[3] = <uint8_t>v
    return w + 4


cdef object _encode_pdu(_Layout L, object pdu, object sequence_number):
    """``pdu``'s octets, or None when the Python encoder must decide (a refusal, an unusual
    value type)."""
    cdef PyObject *o = <PyObject *>pdu
    cdef PyObject *v
    cdef PyObject *item
    cdef long long seq, status, x = 0
    cdef const char *data[MAX_BODY + MAX_TLVS]
    cdef Py_ssize_t sizes[MAX_BODY + MAX_TLVS]
    cdef long long ints[MAX_BODY + MAX_TLVS]
    cdef Py_ssize_t body = 0, n, i, count = 0
    cdef Field *f
    cdef int j
    cdef uint8_t *w
    cdef uint8_t *start
    cdef Py_ssize_t total
    cdef PyObject *raw = NULL
    if sequence_number is None:
        if not _uint(_slot(o, L.off_seq)[0], 0xFFFFFFFF, &seq):
            return None
    elif not _uint(<PyObject *>sequence_number, 0xFFFFFFFF, &seq):
        return None
    if not _uint(_slot(o, L.off_status)[0], 0xFFFFFFFF, &status):
        return None
    if not L.header_only:
        for j in range(L.n_body):
            f = &L.body[j]
            v = _slot(o, f.offset)[0]
            if f.kind == K_C_STRING:
                if not _ascii(v, f.max_len, &data[j], &sizes[j]):
                    return None
                body += sizes[j] + 1
            elif f.kind == K_TIME:
                if not _ascii(v, 17, &data[j], &sizes[j]):
                    return None
                if sizes[j] and (sizes[j] != 16 or not _time_ok(<const uint8_t *>data[j])):
                    return None
                body += sizes[j] + 1
            elif f.kind == K_INT8:
                if not _uint(v, 0xFF, &ints[j]):
                    return None
                body += 1
            else:  # SHORT_MESSAGE
                if v == NULL or not _bytes_exact(v):
                    return None
                n = _bytes_len(v)
                if n > f.max_len:
                    return None
                if n and L.off_payload >= 0 and _slot(o, L.off_payload)[0] != Py_None:
                    return None  # short_message with message_payload
                data[j] = _bytes_data(v)
                sizes[j] = n
                body += 1 + n
        for j in range(L.n_tlvs):
            f = &L.tlvs[j]
            i = MAX_BODY + j
            v = _slot(o, f.offset)[0]
            if v == NULL:
                return None
            if v == Py_None:
                sizes[i] = -1  # absent: not written
                continue
            sizes[i] = 0
            if f.kind == K_INT8:
                if not _uint(v, 0xFF, &ints[i]):
                    return None
                body += 5
            elif f.kind == K_INT16:
                if not _uint(v, 0xFFFF, &ints[i]):
                    return None
                body += 6
            elif f.kind == K_C_STRING:
                if not _ascii(v, f.max_len, &data[i], &sizes[i]):
                    return None
                body += 4 + sizes[i] + 1
            else:  # OCTETS
                if not _bytes_exact(v):
                    return None
                n = _bytes_len(v)
                if (f.max_len and n != f.max_len) or n > MAX_TLV_VALUE:
                    return None
                data[i] = _bytes_data(v)
                sizes[i] = n
                body += 4 + n
        raw = _slot(o, L.off_tlvs)[0]
        if raw == NULL or not _tuple_exact(raw):
            return None  # a list (or worse): the Python encoder decides
        count = _tuple_len(raw)
        for i in range(count):
            item = _tuple_item(raw, i)
            if not _tuple_exact(item) or _tuple_len(item) != 2:
                return None
            if not _uint(_tuple_item(item, 0), 0xFFFF, &x):
                return None
            v = _tuple_item(item, 1)
            if not _bytes_exact(v) or _bytes_len(v) > MAX_TLV_VALUE:
                return None
            body += 4 + _bytes_len(v)
        if L.omit_empty_body and status and body == L.n_body:
            body = -1  # 3.4: no body at all (every C-string empty, no TLV)
    if HEADER + body > 0xFFFFFFFF:
        return None
    total = HEADER + (body if body > 0 else 0)
    out = PyBytes_FromStringAndSize(NULL, total)
    start = <uint8_t *>PyBytes_AS_STRING(out)
    w = _w32(start, <uint32_t>total)
    w = _w32(w, L.command_id)
    w = _w32(w, <uint32_t>status)
    w = _w32(w, <uint32_t>seq)
    if L.header_only or body < 0:
        return out
    for j in range(L.n_body):
        f = &L.body[j]
        if f.kind == K_INT8:
            w[0] = <uint8_t>ints[j]
            w += 1
        elif f.kind == K_SHORT_MESSAGE:
            w[0] = <uint8_t>sizes[j]
            memcpy(w + 1, data[j], sizes[j])
            w += 1 + sizes[j]
        else:
            memcpy(w, data[j], sizes[j])
            w[sizes[j]] = 0
            w += sizes[j] + 1
    for j in range(L.n_tlvs):
        f = &L.tlvs[j]
        i = MAX_BODY + j
        if sizes[i] == -1:
            continue
        w = _w16(w, f.tag)
        if f.kind == K_INT8:
            w = _w16(w, 1)
            w[0] = <uint8_t>ints[i]
            w += 1
        elif f.kind == K_INT16:
            w = _w16(w, 2)
            w = _w16(w, <uint32_t>ints[i])
        elif f.kind == K_C_STRING:
            w = _w16(w, <uint32_t>(sizes[i] + 1))
            memcpy(w, data[i], sizes[i])
            w[sizes[i]] = 0
            w += sizes[i] + 1
        else:
            w = _w16(w, <uint32_t>sizes[i])
            memcpy(w, data[i], sizes[i])
            w += sizes[i]
    for i in range(count):
        item = _tuple_item(raw, i)
        _uint(_tuple_item(item, 0), 0xFFFF, &x)
        v = _tuple_item(item, 1)
        n = _bytes_len(v)
        w = _w16(w, <uint32_t>x)
        w = _w16(w, <uint32_t>n)
        memcpy(w, _bytes_data(v), n)
        w += n
    if w != start + total:  # the two passes disagree: a bug here, never send such a PDU
        raise AssertionError(f"encoded {w - start} octets of {total}")
    return out


def encode(pdu, *, sequence_number=None):
    """gateway.smpp.codec.encode, compiled: the same octets, and the same errors (raised by the
    Python encoder, which gets every PDU this one does not fully accept)."""
    cdef PyObject *layout = PyDict_GetItem(_by_type, type(pdu))
    if layout != NULL:
        out = _encode_pdu(<_Layout>layout, pdu, sequence_number)
        if out is not None:
            return out
    return _encode_python(pdu, sequence_number=sequence_number)


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------


def cut_frames(buf, Py_ssize_t off, max_length, list frames):
    """Append each whole frame of ``buf`` (bytes or bytearray) from ``off`` to ``frames``; return
    the offset after the last one. A command_length below 16 or above ``max_length`` (an int)
    stops the cut: the result is then ``-1 - offset`` of that bad header (codec.Framer raises)."""
    cdef const uint8_t *p
    cdef Py_ssize_t n, length, end
    cdef long long limit
    cdef int overflow = 0
    if type(buf) is bytes:
        p = <const uint8_t *>PyBytes_AS_STRING(buf)
        n = PyBytes_GET_SIZE(buf)
    elif PyByteArray_CheckExact(buf):
        p = <const uint8_t *>PyByteArray_AS_STRING(buf)
        n = PyByteArray_GET_SIZE(buf)
    else:
        raise TypeError(f"cut_frames takes bytes or bytearray, not {type(buf).__name__}")
    if type(max_length) is not int:
        raise TypeError(f"max_length must be an int, not {type(max_length).__name__}")
    if off < 0:
        raise ValueError(f"offset {off} is negative")
    limit = PyLong_AsLongLongAndOverflow(<PyObject *>max_length, &overflow)
    if overflow > 0:
        limit = 0xFFFFFFFF  # above any command_length
    elif overflow < 0:
        limit = -1  # below any command_length
    # Nothing below runs Python code or allocates a GC-tracked object: ``p`` stays valid.
    while n - off >= 4:
        length = _be32(p + off)
        if length < HEADER or length > limit:
            return -1 - off
        end = off + length
        if end > n:
            break
        PyList_Append(frames, PyBytes_FromStringAndSize(<const char *>p + off, length))
        off = end
    return off


# --------------------------------------------------------------------------------------------
# The submit_sm builder (dispatch builds one per part)
# --------------------------------------------------------------------------------------------

#: The fields ``build_submit_sm`` fills, in order; the codec checks they are SubmitSm's.
SUBMIT_SM_FIELDS = (
    "sequence_number", "command_status", "service_type", "source_addr_ton", "source_addr_npi",
    "source_addr", "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class",
    "protocol_id", "priority_flag", "schedule_delivery_time", "validity_period",
    "registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id",
    "short_message", "user_message_reference", "source_port", "destination_port",
    "sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum", "more_messages_to_send",
    "message_payload", "language_indicator", "tlvs",
)
cdef _Layout _submit_sm = None


def bind_submit_sm(type cls):
    """Make ``build_submit_sm`` build ``cls`` (registered, with SUBMIT_SM_FIELDS)."""
    global _submit_sm
    cdef PyObject *layout = PyDict_GetItem(_by_type, cls)
    if layout == NULL:
        raise ValueError(f"{cls.__name__} is not registered")
    cdef _Layout L = <_Layout>layout
    if L.n_fields != len(SUBMIT_SM_FIELDS):
        raise ValueError(f"{cls.__name__} does not have the fields of SUBMIT_SM_FIELDS")
    for i, name in enumerate(SUBMIT_SM_FIELDS):
        if L.field_off[i] != _slot_offset(cls, name):
            raise ValueError(f"{cls.__name__}.{name} is not field {i}")
    _submit_sm = L


def build_submit_sm(
    *, sequence_number=0, command_status=0, service_type="", source_addr_ton=0,
    source_addr_npi=0, source_addr="", dest_addr_ton=0, dest_addr_npi=0, destination_addr="",
    esm_class=0, protocol_id=0, priority_flag=0, schedule_delivery_time="", validity_period="",
    registered_delivery=0, replace_if_present_flag=0, data_coding=0, sm_default_msg_id=0,
    short_message=b"", user_message_reference=None, source_port=None, destination_port=None,
    sar_msg_ref_num=None, sar_total_segments=None, sar_segment_seqnum=None,
    more_messages_to_send=None, message_payload=None, language_indicator=None, tlvs=(),
):
    """``SubmitSm(...)`` with the same keywords and defaults (codec.builder(SubmitSm)); like the
    class, it checks nothing (encode does)."""
    cdef _Layout L = _submit_sm
    if L is None:
        raise RuntimeError("bind_submit_sm was not called")
    o = _new(L)
    cdef Py_ssize_t *off = L.field_off
    _put(o, off[0], sequence_number)
    _put(o, off[1], command_status)
    _put(o, off[2], service_type)
    _put(o, off[3], source_addr_ton)
    _put(o, off[4], source_addr_npi)
    _put(o, off[5], source_addr)
    _put(o, off[6], dest_addr_ton)
    _put(o, off[7], dest_addr_npi)
    _put(o, off[8], destination_addr)
    _put(o, off[9], esm_class)
    _put(o, off[10], protocol_id)
    _put(o, off[11], priority_flag)
    _put(o, off[12], schedule_delivery_time)
    _put(o, off[13], validity_period)
    _put(o, off[14], registered_delivery)
    _put(o, off[15], replace_if_present_flag)
    _put(o, off[16], data_coding)
    _put(o, off[17], sm_default_msg_id)
    _put(o, off[18], short_message)
    _put(o, off[19], user_message_reference)
    _put(o, off[20], source_port)
    _put(o, off[21], destination_port)
    _put(o, off[22], sar_msg_ref_num)
    _put(o, off[23], sar_total_segments)
    _put(o, off[24], sar_segment_seqnum)
    _put(o, off[25], more_messages_to_send)
    _put(o, off[26], message_payload)
    _put(o, off[27], language_indicator)
    _put(o, off[28], tlvs)
    return o


# --------------------------------------------------------------------------------------------
# Builders for the other classes (the session answers each deliver_sm with one)
# --------------------------------------------------------------------------------------------


cdef class Builder:
    """``cls(**fields)`` for a registered PDU class ``cls``, without the frozen dataclass's
    ``__init__`` (codec.builder). Keywords only; like the class, it checks no value."""

    cdef _Layout _layout
    cdef dict _index  # field name -> position

    def __init__(self, type cls):
        cdef PyObject *layout = PyDict_GetItem(_by_type, cls)
        if layout == NULL:
            raise ValueError(f"{cls.__name__} is not registered")
        self._layout = <_Layout>layout
        self._index = {name: i for i, name in enumerate(self._layout.names)}

    def __call__(self, *args, **kwargs):
        cdef _Layout L = self._layout
        cdef Py_ssize_t i
        cdef PyObject *index
        cdef PyObject **slot
        if args:
            raise TypeError(f"{L.cls.__name__}() takes keyword arguments only")
        cdef Py_ssize_t at = 0
        cdef PyObject *name
        cdef PyObject *given
        o = _new(L)
        while PyDict_Next(kwargs, &at, &name, &given):
            index = PyDict_GetItem(self._index, <object>name)
            if index == NULL:
                raise TypeError(
                    f"{L.cls.__name__}() got an unexpected keyword argument {<object>name!r}"
                )
            _put(o, L.field_off[PyLong_AsSsize_t(<object>index)], <object>given)
        for i in range(L.n_fields):
            slot = _slot(<PyObject *>o, L.field_off[i])
            if slot[0] == NULL:
                value = <object>PyTuple_GET_ITEM(L.defaults, i)
                Py_INCREF(value)
                slot[0] = <PyObject *>value
        return o
