"""Hypothesis properties of the SMPP codec: whatever bytes a peer sends, decode() and the Framer
raise nothing but their ProtocolError subclasses (never IndexError, struct.error,
UnicodeDecodeError, ...); valid PDUs survive encode/decode unchanged; the generated encoders
refuse exactly what the readable rules (``codec._problem``) refuse."""

from __future__ import annotations

import dataclasses
import struct

from hypothesis import example, given
from hypothesis import strategies as st

from gateway.smpp import codec
from gateway.smpp.errors import FramingError, PduDecodeError, PduEncodeError
from gateway.smpp.pdu import PDU_CLASSES, Kind, SubmitSm
from tests.helpers_smpp import ALL_CLASSES, FULL, any_pdu, encoded_pdus, pdus

HEADER = struct.Struct(">IIII")


def check_decode(frame: bytes) -> None:
    """decode() either returns a PDU that survives a re-encode, or raises a ProtocolError that
    carries the header's command_id and sequence_number whenever the header was readable."""
    try:
        pdu = codec.decode(frame)
    except (PduDecodeError, FramingError) as error:
        if len(frame) >= 16:
            _, cid, _, seq = HEADER.unpack_from(frame)
            assert (error.command_id, error.sequence_number) == (cid, seq)
        else:
            assert error.sequence_number is None
        return
    assert type(pdu).command_id == HEADER.unpack_from(frame)[1]
    # What we accept is sometimes more than we send (e.g. 65-octet addresses); what we can send
    # again must come back the same.
    try:
        again = codec.encode(pdu)
    except PduEncodeError:
        return
    assert codec.decode(again) == pdu


# -- decode: random and mutated input --------------------------------------------------------

commands = st.sampled_from([*PDU_CLASSES, 0x00000003, 0x00000021, 0x00000102, 0x12345678])


@st.composite
def random_frames(draw) -> bytes:
    """A header with a consistent command_length (so the body parser is what gets exercised),
    mostly a known command_id, and a random body."""
    body = draw(st.binary(max_size=300))
    cid = draw(commands)
    return HEADER.pack(16 + len(body), cid, draw(st.integers(0, 0xFFFFFFFF)), 7) + body


#: Encoded PDUs of every class with every field set: a cheap source of valid frames.
POOL = [codec.encode(pdu) for pdu in FULL.values()]

_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "u16", "insert", "delete", "truncate"]),
        st.integers(0, 1 << 16),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)
_ONE_IN_TEN = st.integers(0, 9)


@st.composite
def mutated_frames(draw, valid: st.SearchStrategy[bytes] = encoded_pdus) -> bytes:
    """A valid PDU with bytes flipped, overwritten, inserted or deleted, a 2-octet length
    rewritten, or the tail cut off; command_length is usually patched back to the new size
    (else decode just refuses the frame)."""
    data = bytearray(draw(valid))
    for op, where, value in draw(_MUTATIONS):
        i = where % (len(data) + 1)
        if op == "flip" and i < len(data):
            data[i] ^= 1 << (value % 8)
        elif op == "set" and i < len(data):
            data[i] = value
        elif op == "u16" and i + 2 <= len(data):  # e.g. a TLV length or tag
            struct.pack_into(">H", data, i, value * 257 if where & 1 else value)
        elif op == "insert":
            data.insert(i, value)
        elif op == "delete" and i < len(data):
            del data[i]
        elif op == "truncate":
            del data[max(i, 16) :]
    if len(data) >= 4 and draw(_ONE_IN_TEN) != 0:
        struct.pack_into(">I", data, 0, len(data))
    return bytes(data)


@given(st.binary(max_size=200))
@example(b"")
@example(b"\x00\x00\x00\x10")
def test_decode_random_bytes(frame):
    check_decode(frame)


@given(random_frames())
def test_decode_random_bodies(frame):
    check_decode(frame)


@given(mutated_frames(st.sampled_from(POOL) | encoded_pdus))
@example(codec.encode(SubmitSm())[:-1])
def test_decode_mutated_pdus(frame):
    check_decode(frame)


# -- framer ----------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_framer_random_chunks_raise_only_framing_errors(chunks):
    framer = codec.Framer(max_length=4096)
    for chunk in chunks:
        try:
            frames = framer.feed(chunk)
        except FramingError:
            return
        for f in frames:
            assert HEADER.unpack_from(f)[0] == len(f)
            check_decode(f)


@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=5), st.data())
def test_framer_recovers_frames_whatever_the_chunking(wires, data):
    stream = b"".join(wires)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = codec.Framer()
    frames = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames += framer.feed(stream[start:end])
    assert frames == wires
    assert framer.buffered == 0


@given(
    st.lists(mutated_frames(st.sampled_from(POOL)), min_size=1, max_size=4), st.integers(5, 64)
)
def test_framer_on_mutated_streams(wires, chunk):
    stream = b"".join(wires)
    framer = codec.Framer()
    for i in range(0, len(stream), chunk):
        try:
            frames = framer.feed(stream[i : i + chunk])
        except FramingError as error:
            for f in error.frames:
                check_decode(f)
            return
        for f in frames:
            check_decode(f)


# -- round trip ------------------------------------------------------------------------------


@given(any_pdu, st.none() | st.integers(0, 0xFFFFFFFF))
def test_round_trip(pdu, seq):
    wire = codec.encode(pdu, sequence_number=seq)
    assert HEADER.unpack_from(wire)[:2] == (len(wire), pdu.command_id)
    if seq is not None:
        pdu = dataclasses.replace(pdu, sequence_number=seq)
    assert codec.decode(wire) == pdu


# -- encode: the fast checks and the readable rules agree ------------------------------------

_junk = st.sampled_from([None, -1, 256, 65536, 1.5, "1", b"", "é", "a\0", "x" * 70, b"\0" * 3])
_bad_raw_tlvs = st.one_of(
    st.lists(
        st.tuples(st.integers(-1, 0x10000), st.binary(max_size=4) | st.text(max_size=2)),
        max_size=2,
    ).map(tuple),
    _junk,
)
# Any text (not only ASCII), up to a little past the longest C-string (256 with its NUL).
_bad_text = st.text(max_size=260) | _junk
_bad_other = st.integers(-2, 70000) | st.binary(max_size=300) | _junk
_ONE_IN_EIGHT = st.integers(0, 7)
_PDUS = {cls: pdus(cls) for cls in ALL_CLASSES}


@st.composite
def maybe_invalid_pdus(draw):
    """Instances of any class with some fields given wrong values (out of range, wrong type,
    too long, not ASCII, ...)."""
    cls = draw(st.sampled_from(ALL_CLASSES))
    pdu = draw(_PDUS[cls])
    strings = {x.name for x in (*cls.BODY, *cls.TLVS) if x.kind in (Kind.C_STRING, Kind.TIME)}
    changes = {}
    for f in dataclasses.fields(cls):
        if draw(_ONE_IN_EIGHT) != 0:
            continue
        if f.name == "tlvs":
            changes["tlvs"] = draw(_bad_raw_tlvs)
        elif f.name in strings:
            changes[f.name] = draw(_bad_text)
        else:
            changes[f.name] = draw(_bad_other)
    return dataclasses.replace(pdu, **changes)


@given(maybe_invalid_pdus(), st.one_of(st.none(), st.integers(-1, 1 << 32)))
def test_encode_refuses_exactly_what_the_rules_refuse(pdu, seq):
    # The fast path's %c also takes a 1-octet bytes for a 1-octet integer of the body: a known
    # leniency, not worth a check per field on the hot path.
    for f in type(pdu).BODY:
        value = getattr(pdu, f.name)
        if f.kind is Kind.INT8 and isinstance(value, bytes) and len(value) == 1:
            return
    verdict = codec._problem(pdu, pdu.sequence_number if seq is None else seq)
    try:
        wire = codec.encode(pdu, sequence_number=seq)
    except PduEncodeError as error:
        assert verdict is not None, error
        assert str(error) == f"{type(pdu).__name__}: {verdict[0]}"
        assert error.command_status == verdict[1]
    else:
        assert verdict is None, verdict
        assert codec.decode(wire).command_id == pdu.command_id
