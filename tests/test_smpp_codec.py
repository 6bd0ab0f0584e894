"""The SMPP 3.4 PDU codec: exact bytes written by hand from the specification, round trips of
every PDU, the decode policy (what is accepted, and the status every defect is answered with),
encode validation, and the Framer."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from gateway.smpp import codec
from gateway.smpp.errors import FramingError, PduDecodeError, PduEncodeError, ProtocolError
from gateway.smpp.pdu import (
    PDU_CLASSES,
    RETRYABLE,
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageState,
    Outbind,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Unbind,
    UnbindResp,
    is_response,
    is_retryable,
    response_id,
)
from tests.helpers_smpp import ALL_CLASSES, FULL, RECEIPT_TEXT

S = CommandStatus


def frame(command_id: int, body: bytes = b"", *, seq: int = 7, status: int = 0) -> bytes:
    """A PDU with a correct command_length around ``body``."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def h(text: str) -> bytes:
    """Hex with spaces, line breaks and ``#`` comments, as written from the spec."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()).replace(" ", ""))


# -- exact bytes, written by hand from the spec ----------------------------------------------


def test_enquire_link_exact_bytes():
    assert codec.encode(EnquireLink(sequence_number=1)) == h("00000010 00000015 00000000 00000001")


@pytest.mark.parametrize(
    ("pdu", "wire"),
    [
        (EnquireLinkResp(sequence_number=1), "00000010 80000015 00000000 00000001"),
        (Unbind(sequence_number=0x7FFFFFFF), "00000010 00000006 00000000 7FFFFFFF"),
        (UnbindResp(sequence_number=2), "00000010 80000006 00000000 00000002"),
        (GenericNack(sequence_number=5, command_status=3), "00000010 80000000 00000003 00000005"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_header_only_exact_bytes(pdu, wire):
    assert codec.encode(pdu) == h(wire)
    assert codec.decode(h(wire)) == pdu


def test_bind_transmitter_exact_bytes():
    pdu = BindTransmitter(sequence_number=1, system_id="gateway01", password="s3cr3t")
    wire = h(
        """
        00000026 00000002 00000000 00000001
        67 61 74 65 77 61 79 30 31 00   # system_id "gateway01"
        73 33 63 72 33 74 00            # password "s3cr3t"
        00                              # system_type ""
        34                              # interface_version 3.4
        00 00                           # addr_ton, addr_npi
        00                              # address_range ""
        """
    )
    assert codec.encode(pdu) == wire
    assert codec.decode(wire) == pdu


def test_bind_transceiver_resp_with_sc_interface_version_exact_bytes():
    pdu = BindTransceiverResp(sequence_number=1, system_id="SMSC", sc_interface_version=0x34)
    wire = h("0000001A 80000009 00000000 00000001  534D534300  0210 0001 34")
    assert codec.encode(pdu) == wire
    assert codec.decode(wire) == pdu


UDH_HELLO = b"\x05\x00\x03\x2a\x02\x01Hello"

SUBMIT_SM = SubmitSm(
    sequence_number=5,
    source_addr_ton=5,
    source_addr="MyShop",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="33612345678",
    esm_class=0x40,
    registered_delivery=1,
    short_message=UDH_HELLO,
    user_message_reference=0x0102,
    tlvs=((0x1400, b"\xab"),),
)
SUBMIT_SM_WIRE = (
    h("00000048 00000004 00000000 00000005")
    + h("00")  # service_type ""
    + h("05 00")  # source_addr_ton 5 (alphanumeric), source_addr_npi 0
    + b"MyShop\0"
    + h("01 01")  # dest_addr_ton 1, dest_addr_npi 1
    + b"33612345678\0"
    + h("40 00 00")  # esm_class UDHI, protocol_id, priority_flag
    + h("00 00")  # schedule_delivery_time "", validity_period ""
    + h("01 00 00 00")  # registered_delivery 1, replace_if_present, data_coding, default_msg_id
    + h("0B")  # sm_length 11
    + h("05 00 03 2A 02 01")  # UDH: concatenation, ref 0x2A, 2 parts, part 1
    + b"Hello"
    + h("0204 0002 0102")  # user_message_reference
    + h("1400 0001 AB")  # a vendor TLV, kept raw
)


def test_submit_sm_with_udh_and_tlvs_exact_bytes():
    assert len(SUBMIT_SM_WIRE) == 0x48
    assert codec.encode(SUBMIT_SM) == SUBMIT_SM_WIRE
    assert codec.decode(SUBMIT_SM_WIRE) == SUBMIT_SM


def test_submit_sm_time_strings_and_message_payload():
    pdu = SubmitSm(
        source_addr="a",
        destination_addr="b",
        schedule_delivery_time="250601083000004+",
        validity_period="000002000000000R",
        message_payload=b"x" * 300,
    )
    wire = codec.encode(pdu)
    assert b"250601083000004+\x00" b"000002000000000R\x00" in wire
    assert wire.endswith(h("0424 012C") + b"x" * 300)
    sm_length_at = wire.index(b"000002000000000R\0") + 17 + 4
    assert wire[sm_length_at] == 0
    assert codec.decode(wire) == pdu


def test_submit_sm_resp_exact_bytes():
    ok = SubmitSmResp(sequence_number=5, message_id="2A0F3C7B")
    assert codec.encode(ok) == h("00000019 80000004 00000000 00000005") + b"2A0F3C7B\0"


def test_error_responses_have_no_body_in_3_4():
    assert codec.encode(SubmitSmResp(sequence_number=5, command_status=0x58)) == h(
        "00000010 80000004 00000058 00000005"
    )
    assert codec.encode(DataSmResp(sequence_number=5, command_status=0x08)) == h(
        "00000010 80000103 00000008 00000005"
    )
    assert codec.encode(BindReceiverResp(sequence_number=1, command_status=0x0E)) == h(
        "00000010 80000001 0000000E 00000001"
    )


def test_error_response_with_tlvs_keeps_an_empty_message_id():
    pdu = DataSmResp(sequence_number=5, command_status=0xFE, delivery_failure_reason=2)
    assert codec.encode(pdu) == h("00000016 80000103 000000FE 00000005 00 0425 0001 02")


def test_deliver_sm_resp_is_always_a_single_nul():
    for status in (0, 0x08, 0x14):
        assert codec.encode(DeliverSmResp(sequence_number=9, command_status=status)) == h(
            f"00000011 80000005 {status:08X} 00000009 00"
        )


def test_encode_sequence_number_override():
    wire = codec.encode(EnquireLink(sequence_number=1), sequence_number=0x1234)
    assert wire == h("00000010 00000015 00000000 00001234")
    assert codec.encode(SUBMIT_SM, sequence_number=9)[12:16] == h("00000009")


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_round_trip_with_every_field(cls):
    pdu = FULL[cls]
    wire = codec.encode(pdu)
    assert struct.unpack_from(">II", wire) == (len(wire), cls.command_id)
    assert codec.decode(wire) == pdu
    assert type(codec.decode(wire)) is cls


def test_full_samples_set_every_named_tlv():
    for cls, pdu in FULL.items():
        unset = [t.name for t in cls.TLVS if getattr(pdu, t.name) is None]
        # short_message and message_payload exclude each other: FULL uses short_message.
        assert unset == (["message_payload"] if cls in (SubmitSm, DeliverSm) else []), cls


@pytest.mark.parametrize("cls", [SubmitSm, DeliverSm])
def test_round_trip_with_message_payload(cls):
    pdu = dataclasses.replace(FULL[cls], short_message=b"", message_payload=b"\x00\x01" * 2000)
    assert codec.decode(codec.encode(pdu)) == pdu


def test_decode_accepts_memoryview_and_bytearray():
    wire = codec.encode(FULL[DeliverSm])
    assert codec.decode(memoryview(wire)) == FULL[DeliverSm]
    assert codec.decode(bytearray(wire)) == FULL[DeliverSm]
    assert type(codec.decode(bytearray(wire)).short_message) is bytes


def test_every_pdu_class_is_frozen_slotted_and_keyword_only():
    for cls in ALL_CLASSES:
        pdu = cls()
        with pytest.raises(dataclasses.FrozenInstanceError):
            pdu.sequence_number = 1
        assert not hasattr(pdu, "__dict__")
        with pytest.raises(TypeError):
            cls(1)
        assert [f.name for f in dataclasses.fields(cls)][:2] == [
            "sequence_number",
            "command_status",
        ]


def test_pdu_classes_table():
    assert set(PDU_CLASSES.values()) == set(ALL_CLASSES)
    assert len(ALL_CLASSES) == 18
    for cid, cls in PDU_CLASSES.items():
        assert cls.command_id == cid
    assert codec.generated_source(SubmitSm).startswith("def decode_SubmitSm(")


# -- decode: what practice demands we accept -------------------------------------------------


def test_decode_submit_sm_resp_error_forms():
    # 3.4: no body; some stacks (smpplib among them) send a lone NUL.
    for body in (b"", b"\0"):
        pdu = codec.decode(frame(0x80000004, body, status=0x58))
        assert pdu == SubmitSmResp(sequence_number=7, command_status=0x58)


def test_decode_bodiless_responses_of_every_kind():
    for cls in ALL_CLASSES:
        if is_response(cls.command_id):
            assert codec.decode(frame(cls.command_id, status=0x45)) == cls(
                sequence_number=7, command_status=0x45
            )


def test_decode_receipt_written_by_hand():
    body = (
        b"\0"  # service_type
        + b"\x01\x01" + b"33612345678\0"  # source: the recipient
        + b"\x05\x00" + b"MyShop\0"  # destination: our sender ID
        + b"\x04\x00\x00"  # esm_class: SMSC delivery receipt
        + b"\0\0"
        + b"\x00\x00\x00\x00"
        + bytes([len(RECEIPT_TEXT)]) + RECEIPT_TEXT
        # TLVs in another order than we send them, a vendor TLV in the middle, and a
        # receipted_message_id without its NUL (some SMSCs leave it out).
        + tlv(0x0427, b"\x02")
        + tlv(0x1410, b"\x99\x98")
        + tlv(0x001E, b"2A0F3C7B")
        + tlv(0x0423, b"\x03\x00\x00")
    )
    pdu = codec.decode(frame(0x00000005, body, seq=42))
    assert pdu == DeliverSm(
        sequence_number=42,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33612345678",
        dest_addr_ton=5,
        destination_addr="MyShop",
        esm_class=0x04,
        short_message=RECEIPT_TEXT,
        message_state=MessageState.DELIVRD,
        receipted_message_id="2A0F3C7B",
        network_error_code=b"\x03\x00\x00",
        tlvs=((0x1410, b"\x99\x98"),),
    )


def test_decode_keeps_a_repeated_known_tlv_raw():
    pdu = dataclasses.replace(FULL[DeliverSm], tlvs=((0x0427, b"\x05"),))
    decoded = codec.decode(codec.encode(pdu))
    assert decoded.message_state == 2
    assert decoded.tlvs == ((0x0427, b"\x05"),)


def test_decode_keeps_tlvs_unknown_to_the_class_raw():
    # message_state is not a submit_sm parameter: kept raw, not lost.
    body = codec.encode(SubmitSm())[16:] + tlv(0x0427, b"\x02")
    assert codec.decode(frame(4, body)).tlvs == ((0x0427, b"\x02"),)


def test_decode_bind_resp_of_a_3_3_smsc_has_no_interface_version():
    pdu = codec.decode(frame(0x80000002, b"SMSC\0"))
    assert pdu == BindTransmitterResp(sequence_number=7, system_id="SMSC")
    assert pdu.sc_interface_version is None


def test_decode_addresses_up_to_65_octets():
    long = "9" * 64
    body = b"\0\x01\x01" + long.encode() + b"\0\x01\x01" + long.encode() + b"\0" + bytes(10)
    pdu = codec.decode(frame(0x00000005, body))
    assert pdu.source_addr == pdu.destination_addr == long
    with pytest.raises(PduEncodeError, match="source_addr"):
        codec.encode(pdu)  # we send at most 20 characters


def test_decode_keeps_unknown_statuses_as_ints():
    pdu = codec.decode(frame(0x80000004, status=0x0000040B))
    assert pdu.command_status == 0x40B
    assert not is_retryable(pdu.command_status)


# -- decode: defects and the status they are answered with -----------------------------------

SM_HEAD = b"\0" + b"\x01\x01" + b"336\0" + b"\x01\x01" + b"337\0" + b"\x00\x00\x00"
SM_TAIL = b"\0\0" + b"\x00\x00\x00\x00"


def sm_body(*, message: bytes = b"hi", tlvs: bytes = b"") -> bytes:
    return SM_HEAD + SM_TAIL + bytes([len(message)]) + message + tlvs


DEFECTS = {
    "unknown command": (frame(0x00000099), S.ESME_RINVCMDID),
    "unknown response": (frame(0x80000099), S.ESME_RINVCMDID),
    "query_sm": (frame(0x00000003, b"1\0\0\0\0"), S.ESME_RINVCMDID),
    "replace_sm": (frame(0x00000007, b"1\0"), S.ESME_RINVCMDID),
    "cancel_sm": (frame(0x00000008, b"\0"), S.ESME_RINVCMDID),
    "submit_multi": (frame(0x00000021, b"\0"), S.ESME_RINVCMDID),
    "alert_notification": (frame(0x00000102, b"\0"), S.ESME_RINVCMDID),
    "broadcast_sm": (frame(0x00000111, b"\0"), S.ESME_RINVCMDID),
    "enquire_link with a body": (frame(0x00000015, b"\0"), S.ESME_RINVCMDLEN),
    "generic_nack with a body": (frame(0x80000000, b"\0\0\0\0"), S.ESME_RINVCMDLEN),
    "submit_sm cut after service_type": (frame(4, b"\0"), S.ESME_RINVCMDLEN),
    "submit_sm cut inside source_addr": (frame(4, b"\0\x01\x0133"), S.ESME_RINVCMDLEN),
    "submit_sm cut before sm_length": (frame(4, SM_HEAD + SM_TAIL), S.ESME_RINVCMDLEN),
    "submit_sm empty": (frame(4), S.ESME_RINVCMDLEN),
    "service_type too long": (frame(4, b"CMTCMTX\0" + sm_body()[1:]), S.ESME_RINVSERTYP),
    "source_addr of 66 octets": (
        frame(4, b"\0\x01\x01" + b"1" * 65 + b"\0" + sm_body()[7:]),
        S.ESME_RINVSRCADR,
    ),
    "source_addr not ASCII": (
        frame(4, b"\0\x01\x01" + "é".encode() + b"\0" + sm_body()[7:]),
        S.ESME_RINVSRCADR,
    ),
    "destination_addr of 66 octets": (
        frame(4, SM_HEAD[:9] + b"2" * 65 + b"\0" + sm_body()[13:]),
        S.ESME_RINVDSTADR,
    ),
    "schedule_delivery_time too short": (
        frame(4, SM_HEAD + b"2506\0\0" + bytes(4) + b"\0"),
        S.ESME_RINVSCHED,
    ),
    "schedule_delivery_time with offset 49": (
        frame(4, SM_HEAD + b"250601083000049+\0\0" + bytes(4) + b"\0"),
        S.ESME_RINVSCHED,
    ),
    "schedule_delivery_time without NUL in 17": (
        frame(4, SM_HEAD + b"250601083000004+X\0" + bytes(6)),
        S.ESME_RINVSCHED,
    ),
    "validity_period not a time": (
        frame(4, SM_HEAD + b"\0" + b"tomorrow morning\0" + bytes(4) + b"\0"),
        S.ESME_RINVEXPIRY,
    ),
    "sm_length past the end": (
        frame(4, SM_HEAD + SM_TAIL + b"\x0a" + b"short"),
        S.ESME_RINVMSGLEN,
    ),
    "TLV header cut off": (frame(4, sm_body(tlvs=b"\x02\x04")), S.ESME_RINVOPTPARSTREAM),
    "TLV length past the end": (
        frame(4, sm_body(tlvs=b"\x04\x24\x00\x10abc")),
        S.ESME_RINVOPTPARSTREAM,
    ),
    "TLV length past the end (unknown tag)": (
        frame(4, sm_body(tlvs=b"\x14\x00\x00\x01")),
        S.ESME_RINVOPTPARSTREAM,
    ),
    "message_state of 2 octets": (
        frame(5, sm_body(tlvs=tlv(0x0427, b"\x00\x02"))),
        S.ESME_RINVPARLEN,
    ),
    "user_message_reference of 1 octet": (
        frame(4, sm_body(tlvs=tlv(0x0204, b"\x01"))),
        S.ESME_RINVPARLEN,
    ),
    "network_error_code of 2 octets": (
        frame(5, sm_body(tlvs=tlv(0x0423, b"\x03\x00"))),
        S.ESME_RINVPARLEN,
    ),
    "receipted_message_id of 70 characters": (
        frame(5, sm_body(tlvs=tlv(0x001E, b"7" * 70 + b"\0"))),
        S.ESME_RINVPARLEN,
    ),
    "receipted_message_id not ASCII": (
        frame(5, sm_body(tlvs=tlv(0x001E, b"\xff\0"))),
        S.ESME_RINVOPTPARAMVAL,
    ),
    "bind system_id too long": (
        frame(2, b"x" * 16 + b"\0pw\0\0\x34\0\0\0"),
        S.ESME_RINVSYSID,
    ),
    "bind password too long": (frame(2, b"id\0" + b"p" * 9 + b"\0\0\x34\0\0\0"), S.ESME_RINVPASWD),
    "bind system_type too long": (
        frame(9, b"id\0pw\0" + b"t" * 13 + b"\0\x34\0\0\0"),
        S.ESME_RINVSYSTYP,
    ),
    "bind without address_range": (frame(1, b"id\0pw\0\0\x34\0\0"), S.ESME_RINVCMDLEN),
    "submit_sm_resp message_id of 65 characters": (
        frame(0x80000004, b"m" * 65 + b"\0"),
        S.ESME_RINVMSGID,
    ),
    "submit_sm_resp message_id without NUL": (
        frame(0x80000004, b"2A0F3C7B"),
        S.ESME_RINVCMDLEN,
    ),
    "data_sm cut after the addresses": (
        frame(0x103, b"\0\x01\x01336\0\x01\x01337\0\x00"),
        S.ESME_RINVCMDLEN,
    ),
}


@pytest.mark.parametrize(("wire", "status"), DEFECTS.values(), ids=DEFECTS.keys())
def test_decode_defect_status(wire, status):
    with pytest.raises(PduDecodeError) as info:
        codec.decode(wire)
    error = info.value
    assert error.command_status == status
    assert error.command_id == struct.unpack_from(">I", wire, 4)[0]
    assert error.sequence_number == 7


def test_unsupported_and_unknown_commands_are_named():
    with pytest.raises(PduDecodeError, match="unsupported command_id 0x00000003"):
        codec.decode(frame(3))
    with pytest.raises(PduDecodeError, match="unknown command_id 0x00001234"):
        codec.decode(frame(0x1234))


@pytest.mark.parametrize(
    ("wire", "seq"),
    [
        (b"", None),
        (h("00000010 00000015 000000"), None),  # 15 octets
        (h("00000011 00000015 00000000 00000003"), 3),  # says 17, is 16
        (h("00000010 00000015 00000000 00000004 00"), 4),  # says 16, is 17
    ],
)
def test_decode_refuses_what_is_not_one_frame(wire, seq):
    with pytest.raises(FramingError) as info:
        codec.decode(wire)
    assert info.value.command_status == S.ESME_RINVCMDLEN
    assert info.value.sequence_number == seq


def test_decode_max_length():
    wire = codec.encode(SubmitSm(message_payload=b"x" * 2000))
    assert codec.decode(wire).message_payload == b"x" * 2000
    with pytest.raises(FramingError, match="exceeds the maximum of 1000"):
        codec.decode(wire, max_length=1000)


def test_a_full_size_message_payload_fits_the_default_bound():
    # 255 parts of 140 octets: the largest payload a concatenated SMS can carry.
    pdu = SubmitSm(source_addr="x" * 20, destination_addr="1" * 20, message_payload=b"p" * 35_700)
    assert len(codec.encode(pdu)) < codec.DEFAULT_MAX_PDU_LENGTH


# -- encode: what we refuse to send ----------------------------------------------------------

ENCODE_ERRORS = [
    (SubmitSm(source_addr="x" * 21), "source_addr is longer than 20", S.ESME_RINVSRCADR),
    (SubmitSm(destination_addr="3" * 21), "destination_addr", S.ESME_RINVDSTADR),
    (SubmitSm(service_type="ABCDEF"), "service_type", S.ESME_RINVSERTYP),
    (SubmitSm(source_addr="Café"), "source_addr must be ASCII", S.ESME_RINVSRCADR),
    (SubmitSm(source_addr="a\0b"), "must not contain NUL", S.ESME_RINVSRCADR),
    (SubmitSm(source_addr=None), "source_addr must be a str", S.ESME_RINVSRCADR),
    (SubmitSm(schedule_delivery_time="2506010830"), "schedule_delivery_time", S.ESME_RINVSCHED),
    (SubmitSm(validity_period="000002000000000X"), "validity_period", S.ESME_RINVEXPIRY),
    (SubmitSm(esm_class=256), "esm_class must be an int 0-255", S.ESME_RINVESMCLASS),
    (SubmitSm(priority_flag=-1), "priority_flag", S.ESME_RINVPRTFLG),
    (SubmitSm(data_coding="8"), "data_coding", S.ESME_RINVCMDLEN),
    (SubmitSm(short_message=b"x" * 255), "short_message is 255 octets", S.ESME_RINVMSGLEN),
    (SubmitSm(short_message="text"), "short_message must be bytes", S.ESME_RINVMSGLEN),
    (
        SubmitSm(short_message=b"x", message_payload=b"y"),
        "short_message must be empty when message_payload",
        S.ESME_RINVMSGLEN,
    ),
    (SubmitSm(sar_total_segments=256), "sar_total_segments", S.ESME_RINVOPTPARAMVAL),
    (SubmitSm(sar_msg_ref_num=65536), "sar_msg_ref_num", S.ESME_RINVOPTPARAMVAL),
    (SubmitSm(message_payload="text"), "message_payload must be bytes", S.ESME_RINVPARLEN),
    (SubmitSm(message_payload=bytes(65536)), "message_payload is 65536", S.ESME_RINVPARLEN),
    (DeliverSm(network_error_code=b"\x03"), "network_error_code must be 3", S.ESME_RINVPARLEN),
    (DeliverSm(receipted_message_id="r" * 65), "receipted_message_id", S.ESME_RINVOPTPARAMVAL),
    (SubmitSm(tlvs=((0x10000, b""),)), "tag must be an int", S.ESME_RINVOPTPARSTREAM),
    (SubmitSm(tlvs=((0x1400, "x"),)), "must be bytes", S.ESME_RINVOPTPARSTREAM),
    (SubmitSm(tlvs=(0x1400, b"x")), "pairs", S.ESME_RINVOPTPARSTREAM),
    (BindTransmitter(system_id="s" * 16), "system_id", S.ESME_RINVSYSID),
    (BindTransmitter(password="p" * 9), "password", S.ESME_RINVPASWD),
    (BindTransmitter(interface_version=0x100), "interface_version", S.ESME_RINVCMDLEN),
    (Outbind(password="p" * 9), "password", S.ESME_RINVPASWD),
    (SubmitSmResp(message_id="m" * 65), "message_id", S.ESME_RINVMSGID),
    (DeliverSmResp(message_id="x"), "message_id is unused", S.ESME_RINVMSGID),
    (EnquireLink(command_status=-1), "command_status", S.ESME_RSYSERR),
    (EnquireLink(sequence_number=2**32), "sequence_number", S.ESME_RSYSERR),
    (SubmitSm(sequence_number=None), "sequence_number", S.ESME_RSYSERR),
]


@pytest.mark.parametrize(("pdu", "match", "status"), ENCODE_ERRORS, ids=lambda v: str(v)[:40])
def test_encode_refuses(pdu, match, status):
    with pytest.raises(PduEncodeError, match=match) as info:
        codec.encode(pdu)
    assert info.value.command_status == status
    assert info.value.command_id == pdu.command_id
    assert str(info.value).startswith(type(pdu).__name__ + ":")
    assert isinstance(info.value, ValueError)


def test_encode_error_carries_the_sequence_number():
    with pytest.raises(PduEncodeError) as info:
        codec.encode(SubmitSm(source_addr="x" * 30), sequence_number=12)
    assert info.value.sequence_number == 12


def test_encode_refuses_what_is_not_a_pdu():
    with pytest.raises(TypeError):
        codec.encode(object())


# -- Framer ----------------------------------------------------------------------------------

STREAM = [codec.encode(FULL[cls]) for cls in (SubmitSm, EnquireLink, DeliverSm, SubmitSmResp)]


def test_framer_several_pdus_in_one_feed():
    framer = codec.Framer()
    assert framer.feed(b"".join(STREAM)) == STREAM
    assert framer.buffered == 0


def test_framer_one_pdu_byte_by_byte():
    framer = codec.Framer()
    out = []
    wire = b"".join(STREAM)
    for i in range(len(wire)):
        out += framer.feed(wire[i : i + 1])
        assert framer.buffered == len(wire[: i + 1]) - sum(map(len, out))
    assert out == STREAM
    assert framer.buffered == 0


def test_framer_split_at_every_offset():
    wire = b"".join(STREAM[:2])
    for cut in range(len(wire) + 1):
        framer = codec.Framer()
        frames = framer.feed(wire[:cut]) + framer.feed(wire[cut:])
        assert frames == STREAM[:2], cut
        assert framer.buffered == 0


def test_framer_accepts_bytearray_and_memoryview_and_returns_bytes():
    framer = codec.Framer()
    frames = framer.feed(bytearray(STREAM[0][:5])) + framer.feed(memoryview(STREAM[0])[5:])
    assert frames == STREAM[:1]
    assert all(type(f) is bytes for f in frames)


def test_framer_keeps_a_partial_frame():
    framer = codec.Framer()
    assert framer.feed(STREAM[0] + STREAM[1][:10]) == STREAM[:1]
    assert framer.buffered == 10
    assert framer.feed(STREAM[1][10:]) == STREAM[1:2]


def test_framer_compacts_a_long_stream():
    framer = codec.Framer()
    wire = codec.encode(EnquireLink(sequence_number=1))
    # Always leave a partial frame behind so the buffer never empties by itself.
    framer.feed(wire[:8])
    for _ in range(10_000):
        assert framer.feed(wire[8:] + wire[:8]) == [wire]
    assert framer.buffered == 8
    assert len(framer._buf) < codec._COMPACT_AT + 64


@pytest.mark.parametrize("length", [0, 15, 64 * 1024 + 1, 0xFFFFFFFF])
def test_framer_bad_command_length(length):
    framer = codec.Framer()
    good = codec.encode(EnquireLink(sequence_number=1))
    bad = struct.pack(">IIII", length, 4, 0, 99)
    with pytest.raises(FramingError) as info:
        framer.feed(good + bad)
    error = info.value
    assert error.command_status == S.ESME_RINVCMDLEN
    assert (error.command_id, error.sequence_number) == (4, 99)
    assert error.frames == (good,)  # the intact frame before the bad header is not lost
    with pytest.raises(FramingError, match="unusable"):
        framer.feed(good)


def test_framer_bad_command_length_before_the_rest_of_the_header():
    framer = codec.Framer()
    with pytest.raises(FramingError) as info:
        framer.feed(b"\x00\x00\x00\x05")
    assert info.value.sequence_number is None
    assert info.value.command_id is None


def test_framer_bound_is_configurable():
    wire = codec.encode(SubmitSm(message_payload=b"x" * 500))
    assert codec.Framer(max_length=len(wire)).feed(wire) == [wire]
    with pytest.raises(FramingError):
        codec.Framer(max_length=len(wire) - 1).feed(wire)
    with pytest.raises(ValueError):
        codec.Framer(max_length=15)


# -- enums and helpers -----------------------------------------------------------------------


def test_command_ids_of_the_spec_table():
    table = {
        "generic_nack": (None, 0x80000000),
        "bind_receiver": (0x01, 0x80000001),
        "bind_transmitter": (0x02, 0x80000002),
        "query_sm": (0x03, 0x80000003),
        "submit_sm": (0x04, 0x80000004),
        "deliver_sm": (0x05, 0x80000005),
        "unbind": (0x06, 0x80000006),
        "replace_sm": (0x07, 0x80000007),
        "cancel_sm": (0x08, 0x80000008),
        "bind_transceiver": (0x09, 0x80000009),
        "outbind": (0x0B, None),
        "enquire_link": (0x15, 0x80000015),
        "submit_multi": (0x21, 0x80000021),
        "alert_notification": (0x102, None),
        "data_sm": (0x103, 0x80000103),
    }
    for name, (request, response) in table.items():
        if request is not None:
            assert CommandId[name.upper()] == request
            assert not is_response(request)
            if response is None:
                with pytest.raises(ValueError):
                    response_id(request)
            else:
                assert response_id(request) == response
                assert response_id(request) is CommandId(response)
        if response is not None:
            resp_name = name.upper() if request is None else name.upper() + "_RESP"
            assert CommandId[resp_name] == response
            assert is_response(response)
            with pytest.raises(ValueError):
                response_id(response)


def test_command_status_names_and_retry_set():
    assert S.ESME_RTHROTTLED == 0x58
    assert S.ESME_RINVCMDID == 0x03
    assert S.ESME_RDELIVERYFAILURE == 0xFE
    assert S.ESME_RINVOPTPARSTREAM == 0xC0 and S.ESME_RINVOPTPARAMVAL == 0xC4
    assert {0x08, 0x14, 0x45, 0x58, 0x64, 0xFF} == RETRYABLE
    assert {s for s in S if is_retryable(s)} == {
        S.ESME_RSYSERR,
        S.ESME_RMSGQFUL,
        S.ESME_RSUBMITFAIL,
        S.ESME_RTHROTTLED,
        S.ESME_RX_T_APPN,
        S.ESME_RUNKNOWNERR,
    }
    assert not is_retryable(S.ESME_RINVDSTADR)


def test_message_states_match_receipt_words():
    words = ["ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"]
    assert [MessageState[w] for w in words] == list(range(1, 9))
    assert MessageState.SCHEDULED == 0 and MessageState.SKIPPED == 9


def test_tlv_tags():
    assert Tlv.RECEIPTED_MESSAGE_ID == 0x001E
    assert Tlv.MESSAGE_PAYLOAD == 0x0424
    assert Tlv.SC_INTERFACE_VERSION == 0x0210
    assert Tlv.MESSAGE_STATE == 0x0427


def test_enum_members_are_documented():
    import inspect

    from gateway.smpp import pdu as pdu_module

    source = inspect.getsource(pdu_module)
    for enum in (CommandId, CommandStatus, Tlv, MessageState):
        for member in enum:
            before = source.split(f"    {member.name} = ")[0].rstrip().splitlines()[-1]
            assert before.strip().startswith("#:"), f"{enum.__name__}.{member.name}"


# -- errors ----------------------------------------------------------------------------------


def test_error_attributes():
    error = PduDecodeError("bad", command_status=0x0A, command_id=4, sequence_number=9)
    assert error.command_status is S.ESME_RINVSRCADR
    assert (error.command_id, error.sequence_number) == (4, 9)
    assert str(error) == "bad"
    assert "ESME_RINVSRCADR" in repr(error) and "0x00000004" in repr(error)
    assert isinstance(error, ProtocolError)
    assert PduDecodeError("x", command_status=0x40B).command_status == 0x40B
    assert FramingError("x").command_status == S.ESME_RINVCMDLEN
    assert FramingError("x").frames == ()
    assert ProtocolError("x").command_status == S.ESME_RSYSERR
    assert issubclass(PduEncodeError, ValueError)
    with pytest.raises(TypeError):
        ProtocolError("x", 3)


# -- builder: the hot-path constructor -------------------------------------------------------


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_builder_makes_the_same_pdu_as_the_class(cls):
    build = codec.builder(cls)
    assert build() == cls()
    full = FULL[cls]
    values = {f.name: getattr(full, f.name) for f in dataclasses.fields(cls)}
    built = build(**values)
    assert type(built) is cls
    assert built == full and hash(built) == hash(full)
    assert codec.encode(built) == codec.encode(full)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.sequence_number = 1  # type: ignore[misc]


def test_builder_takes_keywords_only_and_known_fields():
    build = codec.builder(SubmitSm)
    with pytest.raises(TypeError):
        build(0)
    with pytest.raises(TypeError):
        build(no_such_field=1)
