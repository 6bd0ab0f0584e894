"""The compiled SMPP codec (gateway/_core/_pdu.pyx) against the generated Python codec, its
oracle: equal objects (same type, same fields), equal octets, and on every refusal the same
exception (type, message, command_status, command_id, sequence_number).

``codec.decode`` / ``codec.encode`` are the compiled functions; ``codec.decode_python`` /
``codec.encode_python`` the oracle. The compiled path hands the oracle whatever it does not fully
accept, so agreement alone would also hold for a compiled path that always gave up: the
``fallbacks`` fixture counts those hand-overs, and the tests require none for valid PDUs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import struct
import tracemalloc

import pytest
import smpplib.smpp
from hypothesis import example, given
from hypothesis import strategies as st

from gateway._core import _pdu
from gateway.smpp import codec
from gateway.smpp.errors import FramingError, ProtocolError
from gateway.smpp.pdu import (
    PDU_CLASSES,
    CommandId,
    CommandStatus,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    Kind,
    SubmitSm,
    SubmitSmResp,
    Tlv,
)
from tests.helpers_smpp import ALL_CLASSES, FULL, RECEIPT_TEXT, UDH_PART, any_pdu

HEADER = struct.Struct(">IIII")
S = CommandStatus


# -- helpers ---------------------------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.decode = 0
        self.encode = 0


@contextlib.contextmanager
def counting():
    """Counts the calls the compiled path hands to the Python codec meanwhile."""
    counter = Counter()

    def decode(frame, **kw):
        counter.decode += 1
        return codec.decode_python(frame, **kw)

    def encode(pdu, **kw):
        counter.encode += 1
        return codec.encode_python(pdu, **kw)

    default = codec.DEFAULT_MAX_PDU_LENGTH
    _pdu.configure(decode, encode, default_max_length=default)
    try:
        yield counter
    finally:
        _pdu.configure(codec.decode_python, codec.encode_python, default_max_length=default)


@pytest.fixture
def fallbacks():
    with counting() as counter:
        yield counter


def outcome(fn, *args, **kw):
    """What a call gives: ("ok", type, value) or ("error", type, message, status, cid, seq)."""
    try:
        value = fn(*args, **kw)
    except ProtocolError as exc:
        return ("error", type(exc), str(exc), exc.command_status, exc.command_id,
                exc.sequence_number)
    except (TypeError, ValueError) as exc:
        return ("error", type(exc), str(exc))
    return ("ok", type(value), value)


def same_decode(frame, **kw):
    """Compiled and Python decoders agree on ``frame``; returns the outcome."""
    compiled = outcome(codec.decode, frame, **kw)
    python = outcome(codec.decode_python, frame, **kw)
    assert compiled == python, frame
    if compiled[0] == "ok":
        assert all(  # every field of the same type too (1 == True, b"" == bytearray())
            type(getattr(compiled[2], f.name)) is type(getattr(python[2], f.name))
            for f in dataclasses.fields(compiled[2])
        )
    return compiled


def same_encode(pdu, **kw):
    compiled = outcome(codec.encode, pdu, **kw)
    python = outcome(codec.encode_python, pdu, **kw)
    assert compiled == python, pdu
    return compiled


def frame(cid: int, body: bytes = b"", *, status: int = 0, seq: int = 7) -> bytes:
    return HEADER.pack(16 + len(body), cid, status, seq) + body


def tlv(tag: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">HH", tag, len(value) if length is None else length) + value


def sm_body(
    *,
    service_type=b"",
    source=b"33612345678",
    destination=b"MyShop",
    esm_class=0x04,
    schedule=b"",
    validity=b"",
    short_message=RECEIPT_TEXT,
    sm_length=None,
) -> bytes:
    """A submit_sm / deliver_sm body (mandatory part)."""
    return (
        service_type + b"\0" + bytes([1, 1]) + source + b"\0" + bytes([5, 0]) + destination
        + b"\0" + bytes([esm_class, 0, 0]) + schedule + b"\0" + validity + b"\0"
        + bytes([0, 0, 0, 0, len(short_message) if sm_length is None else sm_length])
        + short_message
    )


RECEIPT_TLVS = (
    tlv(Tlv.RECEIPTED_MESSAGE_ID, b"2A0F3C7B\0")
    + tlv(Tlv.MESSAGE_STATE, b"\x02")
    + tlv(Tlv.NETWORK_ERROR_CODE, b"\x03\x00\x00")
)


# -- wiring ----------------------------------------------------------------------------------


def test_the_codec_entry_points_are_the_compiled_ones():
    assert codec.decode is _pdu.decode
    assert codec.encode is _pdu.encode
    assert codec.builder(SubmitSm) is _pdu.build_submit_sm
    assert isinstance(codec.builder(DeliverSmResp), _pdu.Builder)
    assert set(_pdu.registered()) == set(PDU_CLASSES.values())
    assert _pdu.DEFAULT_MAX_PDU_LENGTH == codec.DEFAULT_MAX_PDU_LENGTH
    assert _pdu.decode.__kwdefaults__ == {"max_length": codec.DEFAULT_MAX_PDU_LENGTH}


def test_register_refuses_what_it_cannot_handle():
    @dataclasses.dataclass
    class NotSlotted:
        sequence_number: int = 0
        command_status: int = 0

    with pytest.raises(TypeError, match="__dict__"):
        _pdu.register(NotSlotted, 0x100, fields=(("sequence_number", 0), ("command_status", 0)),
                      body=(), tlvs=(), response=False, omit_empty_body=False)
    with pytest.raises(ValueError, match="header fields"):
        _pdu.register(SubmitSm, 4, fields=(("command_status", 0), ("sequence_number", 0)),
                      body=(), tlvs=(), response=False, omit_empty_body=False)
    with pytest.raises(ValueError, match="not this module's"):
        _pdu.configure(codec.decode_python, codec.encode_python, default_max_length=100)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_full_pdus_without_fallback(cls, fallbacks):
    pdu = FULL[cls]
    data = codec.encode(pdu)
    assert data == codec.encode_python(pdu)
    assert codec.encode(pdu, sequence_number=0xFFFFFFFF) == codec.encode_python(
        pdu, sequence_number=0xFFFFFFFF
    )
    decoded = codec.decode(data)
    assert type(decoded) is cls
    assert decoded == codec.decode_python(data) == pdu
    assert hash(decoded) == hash(pdu) and repr(decoded) == repr(pdu)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.sequence_number = 1  # type: ignore[misc]
    assert (fallbacks.decode, fallbacks.encode) == (0, 0)


# -- valid PDUs: random ----------------------------------------------------------------------


@given(any_pdu, st.none() | st.integers(0, 0xFFFFFFFF))
def test_random_valid_pdus_round_trip_without_fallback(pdu, seq):
    with counting() as fallbacks:
        data = codec.encode(pdu, sequence_number=seq)
        assert data == codec.encode_python(pdu, sequence_number=seq)
        decoded = codec.decode(data)
        assert decoded == codec.decode_python(data)
    assert (fallbacks.decode, fallbacks.encode) == (0, 0), pdu


# -- decode: edge cases ----------------------------------------------------------------------

SUBMIT_SM_RESP = CommandId.SUBMIT_SM_RESP
DELIVER_SM = CommandId.DELIVER_SM


@pytest.mark.parametrize("status", [0, 0x14, 0x45, 0xFFFFFFFF])
@pytest.mark.parametrize(
    "body",
    [
        b"",  # 16 octets: the 3.4 error form
        b"\0",  # 17 octets: a lone NUL
        b"1234567890\0",
        b"x" * 64 + b"\0",  # the longest message_id
        b"x" * 65 + b"\0",  # one too long
        b"x" * 65,  # no NUL, too long
        b"abc",  # no NUL before the end
        b"caf\xc3\xa9\0",  # not ASCII
        b"\x80\0",
        b"\x7f\0",
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"accepted\0"),
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"no nul"),  # NUL optional in a TLV
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"a\0trailing"),  # after the NUL: ignored
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b""),
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"x" * 255),
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"x" * 256),  # too long
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"\xe9t\xe9\0"),  # not ASCII
        b"id\0" + tlv(Tlv.ADDITIONAL_STATUS_INFO_TEXT, b"a\0") * 2,  # repeated: the second raw
        b"id\0" + tlv(0x1403, b"\x00") + tlv(0x1403, b""),  # unknown tags, raw, in order
        b"id\0" + tlv(0x1403, b"abc", 4),  # runs past the end
        b"id\0\x14",  # TLV header cut off
        b"id\0\x14\x03\x00",
        b"\0" + tlv(0x0019, b"\x00"),
    ],
)
def test_submit_sm_resp_edges(body, status, fallbacks):
    result = same_decode(frame(SUBMIT_SM_RESP, body, status=status, seq=0xFFFFFFFF))
    if result[0] == "ok":
        assert fallbacks.decode == 0


@pytest.mark.parametrize(
    "body",
    [
        sm_body(),
        sm_body() + RECEIPT_TLVS,
        sm_body() + tlv(Tlv.NETWORK_ERROR_CODE, b"\x03\x00\x01")
        + tlv(Tlv.MESSAGE_STATE, b"\x05") + tlv(Tlv.RECEIPTED_MESSAGE_ID, b"9"),  # any order
        sm_body() + RECEIPT_TLVS + RECEIPT_TLVS,  # repeated known tags: raw
        sm_body(short_message=b"") + tlv(Tlv.MESSAGE_PAYLOAD, "Bonjour ☺ 😀".encode("utf-16-be")),
        sm_body(short_message=b"") + tlv(Tlv.MESSAGE_PAYLOAD, b""),
        sm_body(short_message=b"") + tlv(Tlv.MESSAGE_PAYLOAD, b"x" * 40000),
        sm_body(short_message="Éléphant ☺".encode("utf-16-be")),
        sm_body(short_message=UDH_PART, esm_class=0x40),
        sm_body(short_message=b"x" * 255),  # sm_length 255 is readable (we send 254 at most)
        sm_body(short_message=b"x" * 10, sm_length=11),  # sm_length past the end
        sm_body(short_message=b"", sm_length=1),
        sm_body(short_message=b"abc", sm_length=3)[:-1],
        sm_body(service_type=b"CMT"),
        sm_body(service_type=b"USSDX"),  # 5 characters: the most
        sm_body(service_type=b"USSDXY"),  # 6: too long
        sm_body(service_type=b"C\xc9T"),
        sm_body(source=b"3" * 64),  # the longest address accepted
        sm_body(source=b"3" * 65),
        sm_body(destination=b"3" * 64),
        sm_body(destination=b"3" * 65),
        sm_body(destination=b"\xff"),
        sm_body(source=b""),
        sm_body(schedule=b"250601083000004+"),
        sm_body(schedule=b"250601083000048-", validity=b"000002000000000R"),
        sm_body(schedule=b"250601083000049+"),  # quarter hours above 48
        sm_body(schedule=b"250601083000050+"),
        sm_body(schedule=b"250601083000004X"),
        sm_body(schedule=b"2506010830000a4+"),
        sm_body(validity=b"25060108300004+"),  # 15 characters
        sm_body(validity=b"2506010830000040+"),  # 17 characters
        sm_body(validity=b"00000200000000R"),
        sm_body() + tlv(Tlv.MESSAGE_STATE, b"\x02\x00"),  # wrong sizes
        sm_body() + tlv(Tlv.MESSAGE_STATE, b""),
        sm_body() + tlv(Tlv.USER_MESSAGE_REFERENCE, b"\x00"),
        sm_body() + tlv(Tlv.USER_MESSAGE_REFERENCE, b"\xff\xff"),
        sm_body() + tlv(Tlv.SOURCE_PORT, b"\x0b\x84") + tlv(Tlv.DESTINATION_PORT, b"\x23\xf0"),
        sm_body() + tlv(Tlv.SAR_MSG_REF_NUM, b"\x00\x2a") + tlv(Tlv.SAR_TOTAL_SEGMENTS, b"\x03")
        + tlv(Tlv.SAR_SEGMENT_SEQNUM, b"\x02") + tlv(Tlv.LANGUAGE_INDICATOR, b"\x01"),
        sm_body() + tlv(Tlv.SAR_TOTAL_SEGMENTS, b"\x03\x00"),
        sm_body() + tlv(Tlv.NETWORK_ERROR_CODE, b"\x03\x00"),
        sm_body() + tlv(Tlv.NETWORK_ERROR_CODE, b"\x03\x00\x00\x00"),
        sm_body() + tlv(Tlv.RECEIPTED_MESSAGE_ID, b"x" * 64),
        sm_body() + tlv(Tlv.RECEIPTED_MESSAGE_ID, b"x" * 64 + b"\0"),
        sm_body() + tlv(Tlv.RECEIPTED_MESSAGE_ID, b"x" * 65),  # too long
        sm_body() + tlv(Tlv.RECEIPTED_MESSAGE_ID, b"\xc3\xa9\0"),  # not ASCII
        sm_body() + tlv(Tlv.RECEIPTED_MESSAGE_ID, b"\0"),
        sm_body() + tlv(Tlv.MORE_MESSAGES_TO_SEND, b"\x01"),  # not a deliver_sm TLV: raw
        sm_body() + tlv(Tlv.SC_INTERFACE_VERSION, b"\x34"),
        sm_body() + tlv(0xFFFF, b"") + tlv(0x0000, b"z"),
        sm_body() + tlv(0x1400, b"abc", 5),
        sm_body() + b"\x04",
        sm_body() + b"\x04\x27\x00",
        sm_body()[:20],  # body cut short
        sm_body()[:1],
        sm_body()[:-1],
        b"",
        b"\0",
        b"CMT",
    ],
)
def test_deliver_sm_edges(body, fallbacks):
    for status, seq in ((0, 1), (0x45, 0xFFFFFFFF)):
        before = fallbacks.decode
        result = same_decode(frame(DELIVER_SM, body, status=status, seq=seq))
        if result[0] == "ok":
            assert fallbacks.decode == before
    for cid in (CommandId.SUBMIT_SM, CommandId.DATA_SM):  # the same body under other layouts
        same_decode(frame(cid, body))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00\x00\x10",
        frame(SUBMIT_SM_RESP, b"id\0")[:-1],  # command_length one more than the frame
        frame(SUBMIT_SM_RESP, b"id\0") + b"\0",  # one less
        HEADER.pack(15, SUBMIT_SM_RESP, 0, 1),
        frame(0x00000003, b"abc"),  # query_sm: unsupported
        frame(0x80000021, b""),  # submit_multi_resp: unsupported
        frame(0x12345678, b""),  # unknown
        frame(0x7FFFFFFF, b""),
        frame(0x80000200, b""),
        frame(CommandId.ENQUIRE_LINK, b""),
        frame(CommandId.ENQUIRE_LINK, b"\0"),  # a header-only PDU with a body
        frame(CommandId.GENERIC_NACK, b"", status=3, seq=0),
        frame(CommandId.UNBIND_RESP, b"x" * 3),
        frame(CommandId.DELIVER_SM_RESP, b""),
        frame(CommandId.DELIVER_SM_RESP, b"\0"),
        frame(CommandId.DELIVER_SM_RESP, b"x" * 64 + b"\0"),  # accepted up to 64
        frame(CommandId.DELIVER_SM_RESP, b"x" * 65 + b"\0"),
        frame(CommandId.BIND_TRANSCEIVER_RESP, b"SMSC\0" + tlv(Tlv.SC_INTERFACE_VERSION, b"4")),
        frame(CommandId.BIND_TRANSCEIVER_RESP, b"", status=0x0E),
        frame(CommandId.BIND_TRANSMITTER, b"sys\0pw\0\0\x34\x01\x01\0"),
        frame(CommandId.BIND_TRANSMITTER, b"sys\0pw\0\0\x34\x01\x01"),
        frame(CommandId.OUTBIND, b"sys\0pw\0"),
    ],
)
def test_framing_and_command_edges(data, fallbacks):
    result = same_decode(data)
    if result[0] == "ok":
        assert fallbacks.decode == 0


@pytest.mark.parametrize("max_length", [16, 17, 19, 20, 100, 2**40, 2**70, -1, True, 19.5])
def test_max_length_argument(max_length):
    for data in (frame(SUBMIT_SM_RESP, b""), frame(SUBMIT_SM_RESP, b"id\0"),
                 frame(SUBMIT_SM_RESP, b"1234\0")):
        same_decode(data, max_length=max_length)


def test_buffers_other_than_bytes_decode_alike():
    data = codec.encode(FULL[DeliverSm])
    for buf in (bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        assert same_decode(buf)[2] == FULL[DeliverSm]


# -- decode: random and mutated frames -------------------------------------------------------

POOL = [codec.encode(pdu) for pdu in FULL.values()] + [
    frame(DELIVER_SM, sm_body() + RECEIPT_TLVS),
    frame(SUBMIT_SM_RESP, b"1234567890\0"),
    frame(SUBMIT_SM_RESP, b""),
]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(POOL) | any_pdu.map(codec.encode_python)))
    for op, where, value in draw(st.lists(
        st.tuples(st.sampled_from(["flip", "set", "u16", "insert", "delete", "truncate"]),
                  st.integers(0, 1 << 16), st.integers(0, 255)),
        min_size=1, max_size=4,
    )):
        i = where % (len(data) + 1)
        if op == "flip" and i < len(data):
            data[i] ^= 1 << (value % 8)
        elif op == "set" and i < len(data):
            data[i] = value
        elif op == "u16" and i + 2 <= len(data):
            struct.pack_into(">H", data, i, value * 257 if where & 1 else value)
        elif op == "insert":
            data.insert(i, value)
        elif op == "delete" and i < len(data):
            del data[i]
        elif op == "truncate":
            del data[max(i, 16):]
    if len(data) >= 4 and draw(st.integers(0, 9)):
        struct.pack_into(">I", data, 0, len(data))
    return bytes(data)


@given(mutated())
@example(frame(DELIVER_SM, sm_body() + RECEIPT_TLVS)[:-1])
def test_mutated_frames_decode_alike(data):
    same_decode(data)


@given(st.sampled_from([*PDU_CLASSES, 0x3, 0x80000021, 0x12345678]), st.binary(max_size=300),
       st.integers(0, 0xFFFFFFFF))
def test_random_bodies_decode_alike(cid, body, status):
    same_decode(frame(cid, body, status=status))


# -- encode: edge cases and values the Python encoder refuses or takes unusually ------------


class Small(enum.IntEnum):
    ONE = 1


class Text(str):
    pass


#: Per kind, values that are wrong, or right but of a type the compiled path leaves to Python.
ODD_VALUES = {
    Kind.C_STRING: ["é", "a\0b", 5, None, b"abc", Text("abc"), "x" * 70],
    Kind.TIME: ["250601083000049+", "25060108300004+", "250601083000004X", "é" * 16, 0, None,
                Text("250601083000004+"), "2506010830000040+", "000002000000000R"],
    Kind.INT8: [-1, 256, 2**64, True, Small.ONE, 1.0, "1", None, b"\x01"],
    Kind.INT16: [-1, 65536, True, Small.ONE, 2.0, None, "x"],
    Kind.SHORT_MESSAGE: [bytearray(b"abc"), memoryview(b"abc"), b"x" * 254, b"x" * 255, "abc",
                         None],
    Kind.OCTETS: [bytearray(b"abc"), memoryview(b"\x03\x00\x01"), b"", b"x" * 3, b"x" * 70000,
                  "abc", 5],
}
ODD_TLVS = [[(0x1400, b"x")], ((0x1400, bytearray(b"x")),), ((0x1400, b"x", 1),), ((-1, b""),),
            ((0x10000, b""),), ((True, b"x"),), ([0x1400, b"x"],), ((0x1400, b"x" * 70000),),
            None, "ab", ((0x1400, memoryview(b"ab")),), ((Small.ONE, b""),), []]


def _odd_cases():
    for cls in (SubmitSm, DeliverSm, SubmitSmResp, DeliverSmResp, DataSm, GenericNack):
        base = FULL[cls]
        for f in cls.BODY:
            for value in ODD_VALUES[f.kind]:
                yield base, {f.name: value}
        for t in cls.TLVS:
            for value in ODD_VALUES[t.kind] + (["x" * 300] if t.kind is Kind.C_STRING else []):
                yield base, {t.name: value}
        if hasattr(base, "tlvs"):
            for value in ODD_TLVS:
                yield base, {"tlvs": value}
        for value in (-1, 2**32, True, Small.ONE, "1", None):
            yield base, {"command_status": value}
            yield base, {"sequence_number": value}
    yield FULL[SubmitSm], {"message_payload": b"x"}  # with short_message: refused
    yield FULL[SubmitSm], {"message_payload": b"x", "short_message": b""}
    yield FULL[SubmitSm], {"short_message": bytearray(), "message_payload": b"x"}


ODD_CASES = list(_odd_cases())


@pytest.mark.parametrize("base, change", ODD_CASES)
def test_odd_values_encode_alike(base, change):
    pdu = dataclasses.replace(base, **change)
    for seq in (None, 0, 0xFFFFFFFF, 2**32, -1, True, "1"):
        same_encode(pdu, sequence_number=seq)


@pytest.mark.parametrize("status", [0, 1, 0x45])
@pytest.mark.parametrize("cls", [SubmitSmResp, DeliverSmResp, GenericNack, EnquireLink])
def test_error_responses_encode_alike(cls, status, fallbacks):
    for kw in ({}, {"message_id": "1"}, {"additional_status_info_text": ""}, {"tlvs": []},
               {"tlvs": ((0x1400, b""),)}):
        if not all(hasattr(cls(), k) for k in kw):
            continue
        same_encode(cls(command_status=status, sequence_number=9, **kw))
    assert codec.encode(SubmitSmResp(command_status=status)) == (
        HEADER.pack(16, SUBMIT_SM_RESP, status, 0) if status else
        HEADER.pack(17, SUBMIT_SM_RESP, 0, 0) + b"\0"
    )


def test_not_a_pdu_is_a_type_error():
    for value in (None, object(), b"abc", FULL[SubmitSm].__class__):
        same_encode(value)
    with pytest.raises(TypeError):
        codec.encode(None)


def test_a_pdu_missing_a_slot_encodes_alike():
    pdu = object.__new__(SubmitSm)  # every slot empty: AttributeError inside, diagnosed
    with pytest.raises(AttributeError):
        codec.encode_python(pdu)
    with pytest.raises(AttributeError):
        codec.encode(pdu)


@st.composite
def odd_pdus(draw):
    """A valid PDU with a few fields replaced by odd values."""
    pdu = draw(any_pdu)
    cls = type(pdu)
    change = {}
    kinds = {f.name: f.kind for f in cls.BODY} | {t.name: t.kind for t in cls.TLVS}
    for name in draw(st.lists(st.sampled_from(sorted(kinds) or ["command_status"]), max_size=3)):
        if name in kinds:
            change[name] = draw(st.sampled_from(ODD_VALUES[kinds[name]]))
    return dataclasses.replace(pdu, **change)


@given(odd_pdus(), st.sampled_from([None, 5, -1, 2**32]))
def test_random_odd_pdus_encode_alike(pdu, seq):
    same_encode(pdu, sequence_number=seq)


# -- builder ---------------------------------------------------------------------------------


SUBMIT_SM_FIELDS = [f.name for f in dataclasses.fields(SubmitSm)]


def test_build_submit_sm_fields_are_submit_sms():
    assert list(_pdu.SUBMIT_SM_FIELDS) == SUBMIT_SM_FIELDS
    assert _pdu.build_submit_sm() == SubmitSm() == codec.builder_python(SubmitSm)()


@given(st.data())
def test_build_submit_sm_equals_the_class(data):
    names = data.draw(st.lists(st.sampled_from(SUBMIT_SM_FIELDS), unique=True))
    kw = {name: data.draw(st.sampled_from([0, 1, "x", b"y", None, (), 3.5])) for name in names}
    built = _pdu.build_submit_sm(**kw)
    assert type(built) is SubmitSm
    assert built == SubmitSm(**kw) == codec.builder_python(SubmitSm)(**kw)
    assert same_encode(built)[0] in ("ok", "error")


def test_build_submit_sm_refuses_what_the_class_refuses():
    for args, kw in (((1,), {}), ((), {"no_such_field": 1}), ((), {"tlvs": (), "x": 1})):
        with pytest.raises(TypeError):
            SubmitSm(*args, **kw)
        with pytest.raises(TypeError):
            _pdu.build_submit_sm(*args, **kw)
        with pytest.raises(TypeError):
            codec.builder_python(SubmitSm)(*args, **kw)


@given(st.sampled_from(ALL_CLASSES), st.data())
def test_builders_equal_the_class(cls, data):
    names = [f.name for f in dataclasses.fields(cls)]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
    kw = {name: data.draw(st.sampled_from([0, 1, "x", b"y", None, (), 3.5])) for name in chosen}
    built = codec.builder(cls)(**kw)
    assert type(built) is cls
    assert built == cls(**kw) == codec.builder_python(cls)(**kw)
    assert same_encode(built)[0] in ("ok", "error")


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_builders_refuse_what_the_class_refuses(cls):
    for args, kw in (((1,), {}), ((), {"no_such_field": 1}), ((), {"sequence_number": 1, "x": 1})):
        for build in (cls, codec.builder(cls), codec.builder_python(cls)):
            with pytest.raises(TypeError):
                build(*args, **kw)
    with pytest.raises(ValueError, match="not registered"):
        _pdu.Builder(int)


# -- framer ----------------------------------------------------------------------------------


class PythonFramer(codec.Framer):
    """The framer with its Python cutting loop (the oracle)."""

    __slots__ = ()
    _cut = codec.Framer._cut_python


def run_framer(framer_cls, chunks, max_length):
    framer = framer_cls(max_length=max_length)
    out = []
    for chunk in chunks:
        try:
            out.append(("frames", framer.feed(chunk), framer.buffered))
        except FramingError as exc:
            out.append(("error", str(exc), exc.command_status, exc.command_id,
                        exc.sequence_number, exc.frames))
    return out


STREAM = b"".join(POOL * 2)


@given(st.lists(st.integers(0, 200), max_size=12), st.integers(0, 3), st.binary(max_size=30),
       st.sampled_from([16, 40, 200, codec.DEFAULT_MAX_PDU_LENGTH, 2**64]),
       st.sampled_from([bytes, bytearray, memoryview]))
@example([], 0, b"", 16, bytes)
def test_framer_cuts_like_the_python_loop(cuts, junk_at, junk, max_length, kind):
    stream = STREAM
    if junk_at:  # garbage in the stream: a bad command_length somewhere (or not)
        at = len(stream) * junk_at // 4
        stream = stream[:at] + junk + stream[at:]
    chunks, pos = [], 0
    for n in cuts:
        chunks.append(kind(stream[pos:pos + n]))
        pos += n
    chunks.append(kind(stream[pos:]))
    assert run_framer(codec.Framer, chunks, max_length) == run_framer(
        PythonFramer, chunks, max_length
    )


def test_framer_with_a_float_max_length_uses_the_python_loop():
    chunks = [STREAM[:100], STREAM[100:]]
    assert run_framer(codec.Framer, chunks, 100.5) == run_framer(PythonFramer, chunks, 100.5)


def test_cut_frames_arguments():
    frames = []
    with pytest.raises(TypeError):
        _pdu.cut_frames(memoryview(STREAM), 0, 100, frames)
    with pytest.raises(TypeError):
        _pdu.cut_frames(STREAM, 0, 100.0, frames)
    with pytest.raises(ValueError):
        _pdu.cut_frames(STREAM, -1, 100, frames)
    assert _pdu.cut_frames(b"\x00\x00\x00\x0f" + b"\0" * 20, 0, 100, frames) == -1
    assert _pdu.cut_frames(b"\0" * 4 + b"\x00\x00\x00\x0f", 4, 100, frames) == -5
    assert _pdu.cut_frames(STREAM, 0, 2**70, frames) == len(STREAM)
    assert _pdu.cut_frames(STREAM, 0, -(2**70), []) == -1
    assert b"".join(frames) == STREAM


# -- smpplib cross-check ---------------------------------------------------------------------


class _Client:
    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def test_smpplib_pdus_decode_alike(fallbacks):
    client = _Client()
    made = [
        smpplib.smpp.make_pdu("submit_sm", client=client, source_addr_ton=5, source_addr="MyShop",
                              dest_addr_ton=1, dest_addr_npi=1, destination_addr="33612345678",
                              registered_delivery=1, data_coding=8,
                              short_message="Été ☺".encode("utf-16-be")),
        smpplib.smpp.make_pdu("deliver_sm", client=client, source_addr="33612345678",
                              destination_addr="MyShop", esm_class=4, short_message=RECEIPT_TEXT,
                              receipted_message_id="2A0F3C7B", message_state=2),
        smpplib.smpp.make_pdu("submit_sm_resp", client=client, message_id="2A0F3C7B"),
        smpplib.smpp.make_pdu("deliver_sm_resp", client=client),
    ]
    for pdu in made:
        pdu.sequence = 42
        result = same_decode(pdu.generate())
        assert result[0] == "ok" and result[2].sequence_number == 42
    assert fallbacks.decode == 0
    # And the other way: what the compiled encoder writes, smpplib reads.
    ours = smpplib.smpp.parse_pdu(codec.encode(FULL[SubmitSm], sequence_number=5), client=client,
                                  allow_unknown_opt_params=True)
    assert (ours.command, ours.sequence, ours.short_message) == ("submit_sm", 5, UDH_PART)
    assert ours.destination_addr == b"33612345678"


# -- memory ----------------------------------------------------------------------------------


def test_no_leak_on_hot_and_fallback_paths():
    receipt = frame(DELIVER_SM, sm_body() + RECEIPT_TLVS + tlv(0x1400, b"vendor"))
    bad = frame(DELIVER_SM, sm_body() + RECEIPT_TLVS + tlv(Tlv.MESSAGE_STATE, b"\x02\x00")[:-1])
    submit = FULL[SubmitSm]
    odd = dataclasses.replace(submit, esm_class=256)

    def work():
        for _ in range(2000):
            codec.decode(receipt)
            codec.decode(frame(SUBMIT_SM_RESP, b"1234567890\0"))
            with contextlib.suppress(ProtocolError):
                codec.decode(bad)
            codec.encode(submit, sequence_number=3)
            with contextlib.suppress(ProtocolError):
                codec.encode(odd)
            _pdu.build_submit_sm(source_addr="x", short_message=b"y")
            codec.Framer().feed(receipt * 3)

    work()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown  # 2000 leaked receipts alone would be ~1 MB


def test_status_names_survive(fallbacks):
    result = same_decode(frame(SUBMIT_SM_RESP, b"x" * 65 + b"\0", seq=3))
    assert result[3] is S.ESME_RINVMSGID and result[4] == SUBMIT_SM_RESP and result[5] == 3
    assert type(codec.decode(frame(CommandId.GENERIC_NACK, status=3))) is GenericNack
