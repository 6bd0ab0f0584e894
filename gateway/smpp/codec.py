"""SMPP 3.4 wire format: ``encode(pdu) -> bytes``, ``decode(frame) -> Pdu`` and a ``Framer`` that
cuts a byte stream into frames. Sans-IO: bytes in, values out (reference sections 7-9).

The codec is table-driven: at import it compiles each PDU class's ``BODY`` and ``TLVS`` layouts
(gateway/smpp/pdu.py) into one straight-line encoder and one decoder function, the way
``dataclasses`` writes ``__init__``, with no hand-written code to drift from the tables.
``generated_source(cls)`` shows the code made for a class.

``encode``, ``decode``, the framer's cutting loop and the ``builder`` constructors are compiled
(gateway/_core/_pdu.pyx), fed the same tables at import. The compiled path answers only what it
fully accepts: every other frame or PDU (any defect, any value of an unusual type) goes to the
generated Python functions, ``decode_python`` and ``encode_python``, which raise the errors
below. Those, ``builder_python`` and ``Framer._cut_python`` are also the oracle the compiled path
is tested against (tests/test_pdu_compiled.py).

Be strict in what we send, liberal in what we accept (reference sections 7, 8 and 14):

encode
  - C-octet strings are ASCII without NUL, at most the spec's max (which counts the NUL); we send
    addresses of at most 20 characters. Time strings are "" or 16 characters (``YYMMDDhhmmsstnnp``,
    nn 00-48, p ``+``/``-``/``R``). Integers must fit their octets. short_message is at most 254
    octets and may not be combined with message_payload. Anything else raises PduEncodeError
    naming the field.
  - A response with a non-zero status and an otherwise empty body (no message_id / system_id,
    no TLV) is sent header-only, as 3.4 says; deliver_sm_resp always carries its single NUL.
  - Named TLVs are written in the order of the class's ``TLVS``, then ``tlvs`` as given.

decode
  - Responses: an empty body is accepted whatever the status (the 16-octet error form; a
    message_id of a lone NUL is the 17-octet form some stacks send). Addresses up to 65 octets.
  - TLVs may come in any order. A tag the class has no field for, or a repeated known tag, is
    kept raw in ``tlvs``. A C-string TLV without its NUL is accepted.
  - The status each defect is answered with (carried by the error):

    - FramingError ESME_RINVCMDLEN: the frame is shorter than 16 octets, its command_length
      differs from its size, or exceeds ``max_length``.
    - ESME_RINVCMDID: unknown command_id, or one we do not implement (query_sm, replace_sm,
      cancel_sm, submit_multi, alert_notification, the 5.0 broadcasts); the session answers
      generic_nack and keeps the session.
    - ESME_RINVCMDLEN: the body is cut short (a fixed field cut off, a C-string without its NUL
      before the end), or a header-only PDU has a body.
    - The field's own status (ESME_RINVSRCADR, RINVDSTADR, RINVSERTYP, RINVSYSID, RINVPASWD,
      RINVSYSTYP, RINVMSGID): a C-string longer than its max, or not ASCII.
    - ESME_RINVSCHED / ESME_RINVEXPIRY: a bad schedule_delivery_time / validity_period.
    - ESME_RINVMSGLEN: sm_length runs past the end of the PDU.
    - ESME_RINVOPTPARSTREAM: a TLV header cut off, or a TLV length past the end.
    - ESME_RINVPARLEN: a known TLV of the wrong size, or a C-string TLV too long.
    - ESME_RINVOPTPARAMVAL: a C-string TLV that is not ASCII.

Every PduDecodeError carries the frame's command_id and sequence_number.
"""

from __future__ import annotations

import linecache
import re
import struct
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from gateway._core import _pdu
from gateway.smpp.errors import FramingError, PduDecodeError, PduEncodeError
from gateway.smpp.pdu import (
    PDU_CLASSES,
    RESPONSE_BIT,
    BodyField,
    CommandId,
    CommandStatus,
    DeliverSmResp,
    Kind,
    Pdu,
    SubmitSm,
    Tlv,
    TlvField,
)

__all__ = [
    "DEFAULT_MAX_PDU_LENGTH",
    "HEADER",
    "Framer",
    "builder",
    "builder_python",
    "decode",
    "decode_python",
    "encode",
    "encode_python",
    "generated_source",
]

#: The largest PDU we accept, header included. Our biggest legitimate PDU is a submit_sm or
#: deliver_sm whose text travels in message_payload: a concatenated SMS has at most 255 parts of
#: 140 octets (35,700 octets), so 64 KiB holds any SMS payload with room to spare, while a
#: command_length beyond it is a lost frame, not a message (reference section 7, "framing
#: defence"; h11 bounds its buffers the same way). A message_payload TLV can in theory reach
#: 65,535 octets, which with the mandatory fields exceeds this bound: raise it per link if an
#: operator really sends such PDUs.
DEFAULT_MAX_PDU_LENGTH = 64 * 1024

#: command_length, command_id, command_status, sequence_number.
HEADER = struct.Struct(">IIII")
_HEADER_LENGTH = HEADER.size

S = CommandStatus

#: Commands we know but do not implement: decoded as PduDecodeError ESME_RINVCMDID, which the
#: session answers with generic_nack (keeping the session), like an unknown command.
_UNSUPPORTED = frozenset(cid for cid in CommandId if cid not in PDU_CLASSES)

# 16 characters: YYMMDDhhmmss, tenths, quarter hours from UTC (00-48), then +/- or R (relative).
_TIME_OK = re.compile(rb"[0-9]{13}(?:[0-3][0-9]|4[0-8])[-+R]").fullmatch

#: Tags a decoder tests first: those of receipts and of long messages.
_HOT_TAGS = frozenset(
    {
        Tlv.RECEIPTED_MESSAGE_ID,
        Tlv.MESSAGE_STATE,
        Tlv.NETWORK_ERROR_CODE,
        Tlv.MESSAGE_PAYLOAD,
        Tlv.SC_INTERFACE_VERSION,
    }
)

_U16 = struct.Struct(">H").unpack_from
_TLV_HEADER = struct.Struct(">HH")
_TLV_HEAD_UNPACK = _TLV_HEADER.unpack_from
_TLV_HEAD_PACK = _TLV_HEADER.pack
_TLV_INT8 = struct.Struct(">HHB").pack
_TLV_INT16 = struct.Struct(">HHH").pack
_MAX_TLV_VALUE = 0xFFFF


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


class _Bad(Exception):
    """A defect found by a generated decoder; ``decode`` adds command_id and sequence_number."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _bad_c_string(buf: bytes, pos: int, max_len: int, name: str, status: int) -> _Bad:
    """No NUL within ``max_len`` octets of ``pos``: the PDU is cut short, or the field too long."""
    if buf.find(b"\0", pos) < 0:
        return _Bad(S.ESME_RINVCMDLEN, f"{name}: no terminating NUL before the end of the PDU")
    return _Bad(status, f"{name} is longer than {max_len - 1} octets")


def _decode_time(raw: bytes, name: str, status: int) -> str:
    if not _TIME_OK(raw):
        raise _Bad(status, f"{name} is not a 16-character SMPP time string: {raw!r}")
    return raw.decode("ascii")


def _decode_tlv_c_string(value: bytes, tag: int, size: int) -> str:
    """A C-string TLV value; its NUL is optional here (some SMSCs leave it out)."""
    nul = value.find(b"\0")
    if nul >= 0:
        value = value[:nul]
    if len(value) >= size:
        raise _Bad(S.ESME_RINVPARLEN, f"TLV 0x{tag:04X} is longer than {size - 1} characters")
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise _Bad(S.ESME_RINVOPTPARAMVAL, f"TLV 0x{tag:04X} is not ASCII") from None


def _bad_tlv_length(tag: int, length: int, expected: int) -> _Bad:
    return _Bad(
        S.ESME_RINVPARLEN, f"TLV 0x{tag:04X} has length {length}, expected {expected}"
    )


Decoder = Callable[[bytes, int, int, int], Any]
_DECODERS: dict[int, Decoder] = {}


def decode_python(
    frame: bytes | bytearray | memoryview, *, max_length: int = DEFAULT_MAX_PDU_LENGTH
) -> Pdu:
    """Decode ONE complete frame (as returned by ``Framer.feed``) into its PDU: the generated
    Python decoders (``decode`` is the compiled path, which falls back to this one).

    Raises FramingError when ``frame`` is not one frame (shorter than a header, command_length
    different from its size, or above ``max_length``), PduDecodeError when its command is
    unknown or unsupported or its body is bad (see the module docstring for the statuses).
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    size = len(frame)
    if size < _HEADER_LENGTH:
        raise FramingError(f"a PDU has at least 16 octets, got {size}")
    length, cid, status, seq = HEADER.unpack_from(frame)
    if length != size or length > max_length:
        reason = (
            f"command_length {length} but the frame has {size} octets"
            if length != size
            else f"command_length {length} exceeds the maximum of {max_length}"
        )
        raise FramingError(reason, command_id=cid, sequence_number=seq)
    decoder = _DECODERS.get(cid)
    if decoder is None:
        what = "unsupported" if cid in _UNSUPPORTED else "unknown"
        raise PduDecodeError(
            f"{what} command_id 0x{cid:08X}",
            command_status=S.ESME_RINVCMDID,
            command_id=cid,
            sequence_number=seq,
        )
    try:
        return decoder(frame, size, seq, status)
    except _Bad as exc:
        error = PduDecodeError(
            f"{CommandId(cid).name.lower()}: {exc}",
            command_status=exc.status,
            command_id=cid,
            sequence_number=seq,
        )
    except (struct.error, IndexError):  # a fixed field or a string's first octet cut off
        error = PduDecodeError(
            f"{CommandId(cid).name.lower()} body is cut short",
            command_status=S.ESME_RINVCMDLEN,
            command_id=cid,
            sequence_number=seq,
        )
    raise error


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """Raised by a generated encoder's quick checks; ``_diagnose`` then finds the field."""


def _encode_tlv_c_string(tag: int, value: str, size: int) -> bytes:
    raw = value.encode("ascii")
    if len(raw) >= size or b"\0" in raw:
        raise _Invalid
    return _TLV_HEAD_PACK(tag, len(raw) + 1) + raw + b"\0"


def _encode_tlv_octets(tag: int, value: bytes, size: int) -> bytes:
    n = len(value)
    if (size and n != size) or n > _MAX_TLV_VALUE:
        raise _Invalid
    return _TLV_HEAD_PACK(tag, n) + value


def _encode_raw_tlvs(tlvs: tuple[tuple[int, bytes], ...]) -> bytes:
    if not isinstance(tlvs, tuple | list):
        raise _Invalid
    out = []
    for tag, value in tlvs:
        if len(value) > _MAX_TLV_VALUE:
            raise _Invalid
        out.append(_TLV_HEAD_PACK(tag, len(value)))
        out.append(value)
    return b"".join(out)


_BYTES_LIKE = (bytes, bytearray, memoryview)


def _is_uint(value: object, bits: int) -> bool:
    return isinstance(value, int) and 0 <= value < (1 << bits)


def _check_c_string(value: object, max_len: int, name: str) -> str | None:
    if not isinstance(value, str):
        return f"{name} must be a str, not {type(value).__name__}"
    if not value.isascii():
        return f"{name} must be ASCII: {value!r}"
    if "\0" in value:
        return f"{name} must not contain NUL: {value!r}"
    if len(value) > max_len - 1:
        if max_len == 1:
            return f"{name} is unused and must be empty: {value!r}"
        return f"{name} is longer than {max_len - 1} characters: {value!r}"
    return None


def _check_body_field(pdu: Pdu, f: BodyField) -> str | None:
    value = getattr(pdu, f.name)
    if f.kind is Kind.C_STRING:
        return _check_c_string(value, f.max_len, f.name)
    if f.kind is Kind.TIME:
        if not isinstance(value, str):
            return f"{f.name} must be a str, not {type(value).__name__}"
        if value and not (value.isascii() and _TIME_OK(value.encode("ascii"))):
            return f"{f.name} must be '' or a 16-character SMPP time string: {value!r}"
        return None
    if f.kind is Kind.INT8:
        return None if _is_uint(value, 8) else f"{f.name} must be an int 0-255: {value!r}"
    if f.kind is Kind.SHORT_MESSAGE:
        if not isinstance(value, _BYTES_LIKE):
            return f"{f.name} must be bytes, not {type(value).__name__}"
        if len(value) > f.max_len:
            return f"{f.name} is {len(value)} octets, more than {f.max_len} (use message_payload)"
        if len(value) and getattr(pdu, "message_payload", None) is not None:
            return f"{f.name} must be empty when message_payload is present"
        return None
    raise AssertionError(f.kind)  # pragma: no cover


def _check_tlv_field(value: object, f: TlvField) -> str | None:
    if f.kind is Kind.INT8:
        return None if _is_uint(value, 8) else f"{f.name} must be an int 0-255: {value!r}"
    if f.kind is Kind.INT16:
        return None if _is_uint(value, 16) else f"{f.name} must be an int 0-65535: {value!r}"
    if f.kind is Kind.C_STRING:
        return _check_c_string(value, f.size, f.name)
    if f.kind is Kind.OCTETS:
        if not isinstance(value, _BYTES_LIKE):
            return f"{f.name} must be bytes, not {type(value).__name__}"
        if f.size and len(value) != f.size:
            return f"{f.name} must be {f.size} octets, not {len(value)}"
        if len(value) > _MAX_TLV_VALUE:
            return f"{f.name} is {len(value)} octets, more than a TLV holds ({_MAX_TLV_VALUE})"
        return None
    raise AssertionError(f.kind)  # pragma: no cover


def _check_raw_tlvs(tlvs: object) -> str | None:
    if not isinstance(tlvs, tuple | list):
        return f"tlvs must be a tuple of (tag, bytes) pairs, not {type(tlvs).__name__}"
    for item in tlvs:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            return f"tlvs must hold (tag, bytes) pairs: {item!r}"
        tag, value = item
        if not _is_uint(tag, 16):
            return f"tlvs: tag must be an int 0-65535: {tag!r}"
        if not isinstance(value, _BYTES_LIKE):
            return f"tlvs: value of tag 0x{tag:04X} must be bytes, not {type(value).__name__}"
        if len(value) > _MAX_TLV_VALUE:
            return f"tlvs: value of tag 0x{tag:04X} is longer than {_MAX_TLV_VALUE} octets"
    return None


def _problem(pdu: Pdu, seq: object) -> tuple[str, int] | None:
    """The first rule ``pdu`` breaks, as (message, status), or None when it can be encoded.

    This is the slow, readable statement of the encoding rules. The generated encoders check the
    same rules in bulk and call it only to explain a refusal; the tests hold both to the same
    verdicts."""
    cls = type(pdu)
    if not _is_uint(seq, 32):
        return f"sequence_number must be an int 0-0xFFFFFFFF: {seq!r}", S.ESME_RSYSERR
    if not _is_uint(pdu.command_status, 32):
        return (
            f"command_status must be an int 0-0xFFFFFFFF: {pdu.command_status!r}",
            S.ESME_RSYSERR,
        )
    for f in cls.BODY:
        problem = _check_body_field(pdu, f)
        if problem:
            return problem, f.status
    for t in cls.TLVS:
        value = getattr(pdu, t.name)
        if value is not None:
            problem = _check_tlv_field(value, t)
            if problem:
                return problem, S.ESME_RINVPARLEN if t.kind is Kind.OCTETS else (
                    S.ESME_RINVOPTPARAMVAL
                )
    if hasattr(pdu, "tlvs"):
        problem = _check_raw_tlvs(pdu.tlvs)
        if problem:
            return problem, S.ESME_RINVOPTPARSTREAM
    return None


def _diagnose(pdu: Pdu, seq: object, cause: BaseException) -> PduEncodeError:
    """The error for a PDU a generated encoder refused, naming the field."""
    found = _problem(pdu, seq)
    if found is None:  # pragma: no cover - the quick checks and the rules disagree: a bug
        found = (f"cannot encode: {cause!r}", S.ESME_RSYSERR)
    message, status = found
    return PduEncodeError(
        f"{type(pdu).__name__}: {message}",
        command_status=status,
        command_id=type(pdu).command_id,
        sequence_number=seq if _is_uint(seq, 32) else None,
    )


Encoder = Callable[[Any, "int | None"], bytes]
_ENCODERS: dict[type, Encoder] = {}


def encode_python(pdu: Pdu, *, sequence_number: int | None = None) -> bytes:
    """Serialize ``pdu``, header included (command_length computed): the generated Python
    encoders (``encode`` is the compiled path, which falls back to this one).

    ``sequence_number`` overrides ``pdu.sequence_number`` (the session numbers its requests
    without rebuilding the PDU). Raises PduEncodeError naming the field when the PDU is not
    legal SMPP 3.4, TypeError when ``pdu`` is not a PDU.
    """
    try:
        encoder = _ENCODERS[type(pdu)]
    except KeyError:
        raise TypeError(f"not an SMPP PDU: {pdu!r}") from None
    return encoder(pdu, sequence_number)


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------

_U32 = struct.Struct(">I").unpack_from

# Compact the buffer once this many consumed octets sit in front of a partial frame.
_COMPACT_AT = 64 * 1024


class Framer:
    """Cuts a byte stream into whole PDU frames (sans-IO: feed it what the socket read).

    ``feed`` returns every frame the new data completes: several PDUs in one read and one PDU
    over many reads both work. Leftover octets stay buffered (``buffered``). A command_length
    below 16 or above ``max_length`` raises FramingError, carrying the frames that preceded it,
    and poisons the framer: the stream cannot be resynchronised, the connection must close.

    Memory is bounded: what stays buffered is less than one frame (so under ``max_length``),
    plus at most ``_COMPACT_AT`` octets already handed out and not yet compacted away.
    """

    __slots__ = ("_buf", "_error", "_off", "max_length")

    def __init__(self, *, max_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        if max_length < _HEADER_LENGTH:
            raise ValueError(f"max_length must be at least 16, not {max_length}")
        self.max_length = max_length
        self._buf = bytearray()
        self._off = 0  # octets of _buf already handed out as frames
        self._error: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a returned frame."""
        return len(self._buf) - self._off

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``data``; return the complete frames now available, in order (possibly none)."""
        if self._error is not None:
            raise FramingError(
                f"framer is unusable after an earlier error: {self._error}",
                command_id=self._error.command_id,
                sequence_number=self._error.sequence_number,
            )
        frames: list[bytes] = []
        buf = self._buf
        if not buf and type(data) is bytes:
            # Common case: nothing pending. Cut frames straight out of ``data``; buffer only a
            # trailing partial frame.
            off = self._cut(data, 0, frames)
            if off < len(data):
                buf += memoryview(data)[off:]
            return frames
        buf += data
        off = self._cut(buf, self._off, frames)
        if off == len(buf):
            buf.clear()
            off = 0
        elif off >= _COMPACT_AT:
            del buf[:off]
            off = 0
        self._off = off
        return frames

    def _cut(self, buf: bytes | bytearray, off: int, frames: list[bytes]) -> int:
        """Append each whole frame of ``buf`` from ``off`` to ``frames``; return the new offset."""
        max_length = self.max_length
        if type(max_length) is not int:  # the compiled loop takes a plain int
            return self._cut_python(buf, off, frames)
        end = _cut_frames(buf, off, max_length, frames)
        if end < 0:  # a bad command_length at offset -1 - end
            off = -1 - end
            (length,) = _U32(buf, off)
            self._fail(buf, off, length, frames)
        return end

    def _cut_python(self, buf: bytes | bytearray, off: int, frames: list[bytes]) -> int:
        """``_cut`` in Python (the compiled loop's oracle)."""
        n = len(buf)
        max_length = self.max_length
        while n - off >= 4:
            (length,) = _U32(buf, off)
            if length < _HEADER_LENGTH or length > max_length:
                self._fail(buf, off, length, frames)
            end = off + length
            if end > n:
                break
            frames.append(bytes(buf[off:end]) if type(buf) is not bytes else buf[off:end])
            off = end
        return off

    def _fail(self, buf: bytes | bytearray, off: int, length: int, frames: list[bytes]) -> None:
        cid = seq = None
        if len(buf) - off >= _HEADER_LENGTH:  # the rest of the header is there: report it
            _, cid, _, seq = HEADER.unpack_from(buf, off)
        bound = "less than 16" if length < _HEADER_LENGTH else f"more than {self.max_length}"
        error = FramingError(
            f"command_length {length} is {bound}: the stream has lost its framing",
            command_id=cid,
            sequence_number=seq,
            frames=tuple(frames),
        )
        self._error = error
        self._buf = bytearray()
        self._off = 0
        raise error


# --------------------------------------------------------------------------------------------
# Code generation: one decoder and one encoder per PDU class, from its BODY and TLVS.
# --------------------------------------------------------------------------------------------

_SOURCES: dict[type, str] = {}


def generated_source(cls: type) -> str:
    """The source of the encoder, decoder and builder compiled for PDU class ``cls`` (for
    debugging)."""
    return _SOURCES[cls]


_BUILDERS: dict[type, Callable[..., Any]] = {}


def builder(cls: type) -> Callable[..., Any]:
    """A constructor for PDU class ``cls`` taking the same keyword arguments (and defaults) as
    ``cls(...)`` and returning an equal object, for hot paths: it fills the slots the way the
    decoders do instead of going through the frozen dataclass's ``__init__`` (a submit_sm costs
    about a third; the builders are compiled: a fifth for a submit_sm). The PDU classes validate
    nothing when built (``encode`` does), so nothing is skipped."""
    return _COMPILED_BUILDERS[cls]


def builder_python(cls: type) -> Callable[..., Any]:
    """The generated Python builder of ``cls`` (the compiled one's oracle)."""
    return _BUILDERS[cls]


def _runs(body: tuple[BodyField, ...]) -> list[tuple[str, Any]]:
    """Group the layout into steps: consecutive INT8 fields (and sm_length) become one run."""
    steps: list[tuple[str, Any]] = []
    for f in body:
        if f.kind in (Kind.INT8, Kind.SHORT_MESSAGE):
            names = [f.name] if f.kind is Kind.INT8 else ["sm_length"]
            if steps and steps[-1][0] == "ints":
                steps[-1][1].extend(names)
            else:
                steps.append(("ints", names))
            if f.kind is Kind.SHORT_MESSAGE:
                steps.append(("sm", f))
        else:
            steps.append(("field", f))
    return steps


def _decoder_source(cls: type, ns: dict[str, Any]) -> str:
    name = cls.__name__
    field_names = [f.name for f in fields(cls)]
    header_only = "tlvs" not in field_names
    lines = [f"def decode_{name}(buf, end, seq, status):"]
    w = lines.append
    if header_only:
        w("    if end != 16:")
        w(f"        raise _Bad(_RINVCMDLEN, '{cls.command_id.name.lower()} takes no body')")
    else:
        parse: list[str] = []
        w = parse.append
        w("    find = buf.find")
        w("    pos = 16")
        for kind, arg in _runs(cls.BODY):
            if kind == "ints":
                fmt = struct.Struct(">" + "B" * len(arg))
                ns[f"_ints{len(arg)}"] = fmt.unpack_from
                target = ", ".join(arg) + ("," if len(arg) == 1 else "")
                w(f"    {target} = _ints{len(arg)}(buf, pos)")
                w(f"    pos += {len(arg)}")
            elif kind == "sm":
                w("    short_message = buf[pos:pos + sm_length]")
                w("    pos += sm_length")
                w("    if pos > end:")
                w("        raise _Bad(_RINVMSGLEN, f'sm_length {sm_length} runs past the end')")
            else:
                f: BodyField = arg
                limit = f.decode_max_len or f.max_len
                ns[f"_status_{f.name}"] = f.status
                # An empty string (a lone NUL) is common: skip the find() call for it.
                w("    if buf[pos] == 0:")
                w(f"        {f.name} = ''")
                w("        pos += 1")
                w("    else:")
                w(f"        nul = find(b'\\0', pos, pos + {limit})")
                w("        if nul < 0:")
                w(f"            raise _bad_c_string(buf, pos, {limit}, {f.name!r}, "
                  f"_status_{f.name})")
                if f.kind is Kind.TIME:
                    w(f"        {f.name} = _decode_time(buf[pos:nul], {f.name!r}, "
                      f"_status_{f.name})")
                else:
                    w("        try:")
                    w(f"            {f.name} = buf[pos:nul].decode('ascii')")
                    w("        except UnicodeDecodeError:")
                    w(f"            raise _Bad(_status_{f.name}, '{f.name} is not ASCII') "
                      "from None")
                w("        pos = nul + 1")
        for t in cls.TLVS:
            w(f"    {t.name} = None")
        w("    tlvs = ()")
        w("    if pos < end:")
        w("        raw = []")
        w("        while pos < end:")
        w("            if end - pos < 4:")
        w("                raise _Bad(_RINVOPTPARSTREAM, 'TLV header cut off at the end')")
        w("            tag, length = _tlv_head(buf, pos)")
        w("            pos += 4")
        w("            vend = pos + length")
        w("            if vend > end:")
        w("                raise _Bad(_RINVOPTPARSTREAM, "
          "f'TLV 0x{tag:04X} of length {length} runs past the end')")
        keyword = "if"
        # Test the tags receipts and long messages use first (the order of TLVS is send order).
        for t in sorted(cls.TLVS, key=lambda t: t.tag not in _HOT_TAGS):
            w(f"            {keyword} tag == 0x{int(t.tag):04X} and {t.name} is None:")
            keyword = "elif"
            if t.kind is Kind.INT8:
                w("                if length != 1:")
                w("                    raise _bad_tlv_length(tag, length, 1)")
                w(f"                {t.name} = buf[pos]")
            elif t.kind is Kind.INT16:
                w("                if length != 2:")
                w("                    raise _bad_tlv_length(tag, length, 2)")
                w(f"                ({t.name},) = _u16(buf, pos)")
            elif t.kind is Kind.C_STRING:
                w(f"                {t.name} = _decode_tlv_c_string(buf[pos:vend], tag, {t.size})")
            elif t.kind is Kind.OCTETS:
                if t.size:
                    w(f"                if length != {t.size}:")
                    w(f"                    raise _bad_tlv_length(tag, length, {t.size})")
                w(f"                {t.name} = buf[pos:vend]")
        if cls.TLVS:
            w("            else:")
            w("                raw.append((tag, buf[pos:vend]))")
        else:
            w("            raw.append((tag, buf[pos:vend]))")
        w("            pos = vend")
        w("        if raw:")
        w("            tlvs = tuple(raw)")
        w = lines.append
        if cls.command_id & RESPONSE_BIT:
            # An empty body is how 3.4 sends an error response; accept it whatever the status.
            w("    if end == 16:")
            for f in fields(cls)[2:]:
                ns[f"_default_{f.name}"] = f.default
                w(f"        {f.name} = _default_{f.name}")
            w("    else:")
            lines.extend("    " + line for line in parse)
        else:
            lines.extend(parse)
    w("    o = _new(_cls)")
    w("    _set_sequence_number(o, seq)")
    w("    _set_command_status(o, status)")
    for fname in field_names[2:]:
        w(f"    _set_{fname}(o, {fname})")
    w("    return o")
    return "\n".join(lines) + "\n"


def _encoder_source(cls: type, ns: dict[str, Any]) -> str:
    name = cls.__name__
    cid = f"0x{int(cls.command_id):08X}"
    has_tlvs = "tlvs" in {f.name for f in fields(cls)}
    lines = [f"def encode_{name}(p, seq):"]
    w = lines.append
    w("    if seq is None:")
    w("        seq = p.sequence_number")
    if not has_tlvs:
        w("    try:")
        w(f"        return _header(16, {cid}, p.command_status, seq)")
        w("    except struct.error as exc:")
        w("        cause = exc")
        w("    raise _diagnose(p, seq, cause)")
        return "\n".join(lines) + "\n"
    w("    try:")
    w("        status = p.command_status")
    strings = [f for f in cls.BODY if f.kind in (Kind.C_STRING, Kind.TIME)]
    for f in strings:
        w(f"        {f.name} = p.{f.name}.encode('ascii')")
    checks = []
    fmt = b""
    args = []
    for f in cls.BODY:
        if f.kind is Kind.C_STRING:
            checks.append(f"len({f.name}) >= {f.max_len} or b'\\0' in {f.name}")
            fmt += b"%b\0"
            args.append(f.name)
        elif f.kind is Kind.TIME:
            checks.append(f"({f.name} and not _time_ok({f.name}))")
            fmt += b"%b\0"
            args.append(f.name)
        elif f.kind is Kind.INT8:
            fmt += b"%c"
            args.append(f"p.{f.name}")
        elif f.kind is Kind.SHORT_MESSAGE:
            w("        short_message = p.short_message")
            checks.append(f"len(short_message) > {f.max_len}")
            if any(t.name == "message_payload" for t in cls.TLVS):
                checks.append("(short_message and p.message_payload is not None)")
            fmt += b"%c%b"
            args.extend(["len(short_message)", "short_message"])
    ns["_fmt"] = fmt
    if checks:
        w("        if (" + "\n                or ".join(checks) + "):")
        w("            raise _Invalid")
    w(f"        body = _fmt % ({', '.join(args)},)")
    for t in cls.TLVS:
        w(f"        v = p.{t.name}")
        w("        if v is not None:")
        tag = f"0x{int(t.tag):04X}"
        if t.kind is Kind.INT8:
            w(f"            body += _tlv_int8({tag}, 1, v)")
        elif t.kind is Kind.INT16:
            w(f"            body += _tlv_int16({tag}, 2, v)")
        elif t.kind is Kind.C_STRING:
            w(f"            body += _encode_tlv_c_string({tag}, v, {t.size})")
        elif t.kind is Kind.OCTETS:
            w(f"            body += _encode_tlv_octets({tag}, v, {t.size})")
    w("        tlvs = p.tlvs")
    w("        if tlvs is not _no_tlvs:  # the () singleton: nothing to add")
    w("            body += _encode_raw_tlvs(tlvs)")
    if cls.command_id & RESPONSE_BIT and cls is not DeliverSmResp:
        # 3.4: "the body is not returned if command_status is non-zero" - when it says nothing
        # (every field of these bodies is a C-string: empty ones are lone NULs).
        assert all(f.kind is Kind.C_STRING for f in cls.BODY), cls
        ns["_empty_body"] = bytes(len(cls.BODY))
        w("        if status and body == _empty_body:")
        w("            body = b''")
    w(f"        return _header(16 + len(body), {cid}, status, seq) + body")
    w("    except (_Invalid, struct.error, TypeError, ValueError, OverflowError,")
    w("            AttributeError) as exc:")
    w("        cause = exc")
    w("    raise _diagnose(p, seq, cause)")
    return "\n".join(lines) + "\n"


#: Local names of the generated functions (``tlvs`` is one on purpose: it holds that field).
_GENERATED_LOCALS = frozenset(
    {"buf", "end", "seq", "status", "find", "pos", "nul", "raw", "tag", "length", "vend", "o",
     "p", "v", "body", "cause", "exc", "sm_length"}
)


def _builder_source(cls: type, ns: dict[str, Any]) -> str:
    params = []
    for f in fields(cls):
        ns[f"_default_{f.name}"] = f.default
        params.append(f"{f.name}=_default_{f.name}")
    lines = [f"def build_{cls.__name__}(*, {', '.join(params)}):", "    o = _new(_cls)"]
    lines += [f"    _set_{f.name}(o, {f.name})" for f in fields(cls)]
    lines.append("    return o")
    return "\n".join(lines) + "\n"


def _compile(cls: type) -> None:
    ns: dict[str, Any] = {
        "_cls": cls,
        "_new": object.__new__,
        "_Bad": _Bad,
        "_Invalid": _Invalid,
        "_RINVCMDLEN": S.ESME_RINVCMDLEN,
        "_RINVMSGLEN": S.ESME_RINVMSGLEN,
        "_RINVOPTPARSTREAM": S.ESME_RINVOPTPARSTREAM,
        "_bad_c_string": _bad_c_string,
        "_bad_tlv_length": _bad_tlv_length,
        "_decode_time": _decode_time,
        "_decode_tlv_c_string": _decode_tlv_c_string,
        "_diagnose": _diagnose,
        "_encode_raw_tlvs": _encode_raw_tlvs,
        "_encode_tlv_c_string": _encode_tlv_c_string,
        "_encode_tlv_octets": _encode_tlv_octets,
        "_header": HEADER.pack,
        "_no_tlvs": (),
        "_time_ok": _TIME_OK,
        "_tlv_head": _TLV_HEAD_UNPACK,
        "_tlv_int16": _TLV_INT16,
        "_tlv_int8": _TLV_INT8,
        "_u16": _U16,
        "struct": struct,
    }
    clash = {f.name for f in fields(cls)} & _GENERATED_LOCALS
    assert not clash, f"{cls.__name__} fields {clash} clash with the generated code's locals"
    for f in fields(cls):
        # Decoders fill the slots directly: a frozen dataclass's __init__ costs ~100 ns a field
        # through object.__setattr__; the slot descriptor does the same store in a third of that.
        ns[f"_set_{f.name}"] = _slot_setter(cls, f.name)
        assert f.default is not MISSING, f"{cls.__name__}.{f.name} needs a default"
    source = (
        _decoder_source(cls, ns)
        + "\n\n"
        + _encoder_source(cls, ns)
        + "\n\n"
        + _builder_source(cls, ns)
    )
    filename = f"<gateway.smpp.codec: {cls.__name__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    _SOURCES[cls] = source
    _DECODERS[cls.command_id] = ns[f"decode_{cls.__name__}"]
    _ENCODERS[cls] = ns[f"encode_{cls.__name__}"]
    _BUILDERS[cls] = ns[f"build_{cls.__name__}"]


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    """The slot descriptor's setter for ``name``, defined on ``cls`` or one of its bases."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name].__set__
    raise AssertionError(f"{cls.__name__} has no slot {name}")  # pragma: no cover


for _cls in PDU_CLASSES.values():
    _compile(_cls)
del _cls


# --------------------------------------------------------------------------------------------
# The compiled path (gateway/_core/_pdu.pyx), fed the same tables
# --------------------------------------------------------------------------------------------


def _register(cls: type) -> None:
    _pdu.register(
        cls,
        int(cls.command_id),
        fields=tuple((f.name, f.default) for f in fields(cls)),
        body=tuple(
            (f.name, f.kind.value, f.max_len, f.decode_max_len or f.max_len) for f in cls.BODY
        ),
        tlvs=tuple((t.name, int(t.tag), t.kind.value, t.size) for t in cls.TLVS),
        response=bool(cls.command_id & RESPONSE_BIT),
        omit_empty_body=bool(cls.command_id & RESPONSE_BIT) and cls is not DeliverSmResp,
    )


for _cls in PDU_CLASSES.values():
    _register(_cls)
del _cls
_pdu.configure(decode_python, encode_python, default_max_length=DEFAULT_MAX_PDU_LENGTH)
_pdu.bind_submit_sm(SubmitSm)
if _pdu.build_submit_sm.__kwdefaults__ != {f.name: f.default for f in fields(SubmitSm)}:
    raise AssertionError("_pdu.build_submit_sm's keywords are not SubmitSm's fields")
_COMPILED_BUILDERS: dict[type, Callable[..., Any]] = {
    cls: _pdu.Builder(cls) for cls in PDU_CLASSES.values()
}
_COMPILED_BUILDERS[SubmitSm] = _pdu.build_submit_sm  # the hottest: its own function, faster
_cut_frames = _pdu.cut_frames

#: Decode ONE complete frame (as returned by ``Framer.feed``) into its PDU:
#: ``decode(frame, *, max_length=DEFAULT_MAX_PDU_LENGTH) -> Pdu``.
#:
#: Raises FramingError when ``frame`` is not one frame (shorter than a header, command_length
#: different from its size, or above ``max_length``), PduDecodeError when its command is unknown
#: or unsupported or its body is bad (see the module docstring for the statuses). Compiled;
#: ``decode_python`` is the same in Python.
decode = _pdu.decode

#: Serialize ``pdu``, header included (command_length computed):
#: ``encode(pdu, *, sequence_number=None) -> bytes``.
#:
#: ``sequence_number`` overrides ``pdu.sequence_number`` (the session numbers its requests
#: without rebuilding the PDU). Raises PduEncodeError naming the field when the PDU is not legal
#: SMPP 3.4, TypeError when ``pdu`` is not a PDU. Compiled; ``encode_python`` is the same in
#: Python.
encode = _pdu.encode
