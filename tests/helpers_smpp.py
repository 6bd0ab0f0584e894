"""Shared material for the SMPP codec tests: one fully populated instance of every PDU class,
and Hypothesis strategies for valid PDUs built from each class's layout tables."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from gateway.smpp import codec
from gateway.smpp.pdu import (
    PDU_CLASSES,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Kind,
    Outbind,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

ALL_CLASSES = tuple(PDU_CLASSES.values())

# A 3-part concatenated GSM-7 message, part 2: UDH (IEI 0x00, ref 0x2A, 3 parts, part 2) + text.
UDH_PART = b"\x05\x00\x03\x2a\x03\x02" + b"Soldes -50% ce week-end ! STOP au 36184"

RECEIPT_TEXT = (
    b"id:0705641595 sub:001 dlvrd:001 submit date:2506010830 done date:2506010831 "
    b"stat:DELIVRD err:000 text:Soldes -50% ce w"
)

_BIND = dict(
    system_id="gateway01",
    password="s3cr3t",
    system_type="VMA",
    interface_version=0x34,
    addr_ton=1,
    addr_npi=1,
    address_range="^336",
    tlvs=((0x1401, b"vendor"),),
)
_BIND_RESP = dict(system_id="SMSC-A", sc_interface_version=0x34, tlvs=((0x1402, b"\x01"),))
_SM = dict(
    service_type="CMT",
    source_addr_ton=5,
    source_addr_npi=0,
    source_addr="MyShop",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="33612345678",
    esm_class=0x40,
    protocol_id=0,
    priority_flag=1,
    schedule_delivery_time="250601083000004+",
    validity_period="000002000000000R",
    registered_delivery=1,
    replace_if_present_flag=0,
    data_coding=0,
    sm_default_msg_id=0,
    short_message=UDH_PART,
    user_message_reference=0x1234,
    source_port=0x0B84,
    destination_port=0x23F0,
    sar_msg_ref_num=42,
    sar_total_segments=3,
    sar_segment_seqnum=2,
    language_indicator=2,
    tlvs=((0x1500, b"\x00\x01"), (0x0019, b"\x00")),
)

#: One instance of every PDU class with every field set away from its default (where the rules
#: allow: message_payload excludes short_message, so the message PDUs carry short_message).
FULL: dict[type, object] = {
    GenericNack: GenericNack(sequence_number=0x7FFFFFFF, command_status=0x03),
    EnquireLink: EnquireLink(sequence_number=1),
    EnquireLinkResp: EnquireLinkResp(sequence_number=1),
    Unbind: Unbind(sequence_number=77),
    UnbindResp: UnbindResp(sequence_number=77),
    BindTransmitter: BindTransmitter(sequence_number=1, **_BIND),
    BindReceiver: BindReceiver(sequence_number=2, **_BIND),
    BindTransceiver: BindTransceiver(sequence_number=3, **_BIND),
    BindTransmitterResp: BindTransmitterResp(sequence_number=1, **_BIND_RESP),
    BindReceiverResp: BindReceiverResp(sequence_number=2, **_BIND_RESP),
    BindTransceiverResp: BindTransceiverResp(sequence_number=3, **_BIND_RESP),
    Outbind: Outbind(
        sequence_number=9, system_id="SMSC-A", password="pw", tlvs=((0x2000, b"x"),)
    ),
    SubmitSm: SubmitSm(sequence_number=1000, more_messages_to_send=1, **_SM),
    DeliverSm: DeliverSm(
        sequence_number=2000,
        network_error_code=b"\x03\x00\x2a",
        message_state=2,
        receipted_message_id="2A0F3C7B",
        **_SM,
    ),
    DataSm: DataSm(
        sequence_number=3000,
        service_type="WAP",
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33612345678",
        dest_addr_ton=3,
        dest_addr_npi=0,
        destination_addr="36184",
        esm_class=0x04,
        registered_delivery=1,
        data_coding=8,
        source_port=1,
        destination_port=2,
        sar_msg_ref_num=3,
        sar_total_segments=4,
        sar_segment_seqnum=4,
        more_messages_to_send=0,
        message_payload="Bonjour ☺".encode("utf-16-be"),
        receipted_message_id="abc123",
        message_state=5,
        network_error_code=b"\x03\x00\x01",
        user_message_reference=65535,
        language_indicator=1,
        tlvs=((0x1600, b""),),
    ),
    SubmitSmResp: SubmitSmResp(
        sequence_number=1000,
        message_id="2A0F3C7B",
        additional_status_info_text="accepted",
        tlvs=((0x1403, b"\x00"),),
    ),
    DeliverSmResp: DeliverSmResp(
        sequence_number=2000,
        command_status=0x14,
        additional_status_info_text="queue full",
        tlvs=((0x1403, b"\x00"),),
    ),
    DataSmResp: DataSmResp(
        sequence_number=3000,
        command_status=0xFE,
        message_id="m-1",
        delivery_failure_reason=3,
        network_error_code=b"\x03\x00\x22",
        additional_status_info_text="temporary network error",
        tlvs=((0x1403, b"\x00"),),
    ),
}
assert set(FULL) == set(ALL_CLASSES)


# -- strategies ------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def ascii_text(max_size: int) -> st.SearchStrategy[str]:
    """C-octet string content: ASCII without NUL."""
    return st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=max_size)


time_strings = st.one_of(
    st.just(""),
    st.from_regex(r"[0-9]{13}(?:[0-3][0-9]|4[0-8])[-+R]", fullmatch=True),
)


def _tlv_value(t) -> st.SearchStrategy:
    if t.kind is Kind.INT8:
        return u8
    if t.kind is Kind.INT16:
        return u16
    if t.kind is Kind.C_STRING:
        return ascii_text(t.size - 1)
    if t.size:
        return st.binary(min_size=t.size, max_size=t.size)
    return st.binary(max_size=300)


def raw_tlvs(cls) -> st.SearchStrategy[tuple[tuple[int, bytes], ...]]:
    """Raw TLVs whose tags have no named field in ``cls`` (else they would decode into it)."""
    named = {int(t.tag) for t in cls.TLVS}
    tags = u16.filter(lambda tag: tag not in named)
    return st.lists(st.tuples(tags, st.binary(max_size=40)), max_size=3).map(tuple)


def pdus(cls) -> st.SearchStrategy:
    """Valid instances of PDU class ``cls``, from its BODY and TLVS layouts."""
    kw: dict[str, st.SearchStrategy] = {"sequence_number": u32, "command_status": u32}
    for f in cls.BODY:
        if f.kind is Kind.C_STRING:
            kw[f.name] = ascii_text(f.max_len - 1)
        elif f.kind is Kind.TIME:
            kw[f.name] = time_strings
        elif f.kind is Kind.INT8:
            kw[f.name] = u8
        elif f.kind is Kind.SHORT_MESSAGE:
            kw[f.name] = st.binary(max_size=f.max_len)
    for t in cls.TLVS:
        kw[t.name] = st.none() | _tlv_value(t)
    if "tlvs" in {f.name for f in dataclasses.fields(cls)}:
        kw["tlvs"] = raw_tlvs(cls)

    def build(values: dict) -> object:
        if values.get("message_payload") is not None and "short_message" in values:
            values["short_message"] = b""
        return cls(**values)

    return st.fixed_dictionaries(kw).map(build)


any_pdu = st.one_of([pdus(cls) for cls in ALL_CLASSES])
encoded_pdus = any_pdu.map(codec.encode)
